//go:build !race

package e2e

// raceEnabled is true when the test binary runs under the race detector;
// the binaries under test are then built with -race too.
const raceEnabled = false

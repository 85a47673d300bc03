//go:build !linux

package stripemock

import "os/exec"

// bindToParent does nothing where the kernel offers no parent-death signal;
// there a test binary that dies without its cleanups leaves stripe-mock
// running.
func bindToParent(*exec.Cmd) {}

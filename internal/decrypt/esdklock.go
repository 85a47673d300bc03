//go:build !race

package decrypt

// lockESDK is a no-op outside race-detector builds. esdklock_race.go
// explains why race builds serialize ESDK calls.
func lockESDK() (unlock func()) { return func() {} }

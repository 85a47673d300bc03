package redact

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind, such as
// a loopback server that was not closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

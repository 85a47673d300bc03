//go:build leakcheck

// This file is compiled only into the binary that the leak test in e2e/
// builds with -tags leakcheck. It adds two things the service must never do
// on its own. The first is a handler panic whose text carries a card number.
// The second, on request, is a deliberate leak that the scan must report.

package httpapi

import (
	"fmt"
	"net/http"
	"os"
)

// Names and canary values shared with e2e/leak_test.go.
const (
	// leakcheckPanicHeader makes createValidation panic when its value is "1".
	leakcheckPanicHeader = "X-Leakcheck-Panic"
	// leakcheckPanicPAN is the Luhn-valid card number in the panic text.
	leakcheckPanicPAN = "4000000000000077"
	// leakcheckLeakVariable, set to "1", makes the binary print
	// leakcheckLeakPAN at start-up: plain on standard output and grouped by
	// four on standard error, one leak for the scan to find on each stream.
	leakcheckLeakVariable = "LEAKCHECK_DELIBERATE_LEAK"
	leakcheckLeakPAN      = "4000000000000010"
)

func init() {
	testPanicHook = func(r *http.Request) {
		if r.Header.Get(leakcheckPanicHeader) == "1" {
			panic("leakcheck: injected panic while handling card number " + leakcheckPanicPAN)
		}
	}
	if os.Getenv(leakcheckLeakVariable) == "1" {
		fmt.Fprintln(os.Stdout, "leakcheck: deliberate leak of card number", leakcheckLeakPAN)
		fmt.Fprintln(os.Stderr, "leakcheck: deliberate leak of card number 4000 0000 0000 0010")
	}
}

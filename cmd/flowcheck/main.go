// Command flowcheck proves the PCI properties of Amazon Connect contact flows
// (see internal/flowcheck) and prints the first offending path of each
// violation as a list of action identifiers.
//
//	go run ./cmd/flowcheck deploy/connect/*.json
//
// It exits 0 when every flow passes, 1 when a flow breaks a rule, and 2 when
// a file cannot be read or is not a valid flow.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/connect-secure-input/processor/internal/flowcheck"
)

// Exit codes.
const (
	exitOK        = 0
	exitViolation = 1
	exitInvalid   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run checks every flow file named in args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flowcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: flowcheck FLOW.json...")
		fmt.Fprintln(stderr, "Checks Amazon Connect flows: recording suspended around every card capture and")
		fmt.Fprintln(stderr, "resumed before every exit, encrypted stored input, no card data in contact attributes.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitInvalid
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitInvalid
	}

	code := exitOK
	for _, path := range fs.Args() {
		violations, err := checkFile(path)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			code = exitInvalid
		case len(violations) > 0:
			for _, v := range violations {
				fmt.Fprintf(stdout, "%s: %s\n", path, v)
			}
			code = max(code, exitViolation)
		default:
			fmt.Fprintf(stdout, "%s: ok\n", path)
		}
	}
	return code
}

func checkFile(path string) ([]flowcheck.Violation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	flow, err := flowcheck.Parse(data)
	if err != nil {
		return nil, err
	}
	return flowcheck.Check(flow)
}

// Command demo runs the processor end to end on embedded defaults, on this
// machine only: it makes a throw-away development PKI and Amazon Connect key
// pair, starts local-kms and the real processor binary on 127.0.0.1, plays a
// scripted phone payment with ciphertexts made exactly as Connect and the
// Lex fulfillment Lambda make them, shows a few metrics, stops everything and
// scans every byte the processor wrote for the card numbers it was given.
//
// Run it with `make demo`. Nothing it creates outlives it, unless the
// environment variable DEMO_KEEP_FILES is set, which keeps the run's folder
// (logs and throw-away keys) for inspection.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// demoTimeout bounds the whole run, so a stuck step cannot hang a terminal.
const demoTimeout = 3 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	p := newPrinter(out)
	p.title("Connect secure-input payment processor: demo on 127.0.0.1 with throw-away keys")

	env, err := setUp(ctx, p)
	if env != nil {
		defer env.cleanUp()
	}
	if err != nil {
		return err
	}
	if err := playPayment(ctx, p, env); err != nil {
		env.stopProcessor(p)
		return err
	}
	if err := env.showMetrics(ctx, p); err != nil {
		return err
	}
	if err := env.stopProcessor(p); err != nil {
		return err
	}
	return env.leakScan(p)
}

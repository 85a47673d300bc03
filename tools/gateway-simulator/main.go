// Command gateway-simulator is a TEST ONLY command that serves one simulator
// gateway over HTTP on a loopback address (package simhttp), so that several
// processor processes share its authorizations and an authorization
// survives the process that made it. It writes the server's URL (to -url,
// or to standard output) and serves until it receives SIGINT or SIGTERM.
//
//	gateway-simulator -addr 127.0.0.1:0 -url /tmp/simulator.url
//
// Point processors at it with PROCESSOR_GATEWAY=simulator and
// PROCESSOR_SIMULATOR_URL=<url>. Card numbers travel to it in request
// bodies on loopback, as they do to stripe-mock; it logs no request.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/connect-secure-input/processor/internal/gateway/simulator"
	"github.com/connect-secure-input/processor/internal/gateway/simulator/simhttp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gateway-simulator:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("gateway-simulator", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintln(stderr, "gateway-simulator: TEST ONLY. Serves the simulator gateway over HTTP on a loopback address.")
		fmt.Fprintln(stderr, "\nUsage: gateway-simulator [-addr 127.0.0.1:0] [-url file] [-latency 0s] [-slow-delay 7s]")
		flags.PrintDefaults()
	}
	addr := flags.String("addr", "127.0.0.1:0", "loopback `address` to listen on; port 0 picks a free port")
	urlPath := flags.String("url", "", "`file` to write the server URL to; empty writes it to standard output")
	latency := flags.Duration("latency", 0, "delay of every response except the slow and never-responding cards (`duration`)")
	slowDelay := flags.Duration("slow-delay", simulator.DefaultSlowDelay, "delay of the slow test card's response (`duration`)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: all settings are flags", flags.Args())
	}

	sim, err := simulator.New(simulator.Config{BaseLatency: *latency, SlowDelay: *slowDelay})
	if err != nil {
		return err
	}
	server, err := simhttp.Serve(*addr, sim)
	if err != nil {
		return err
	}
	if err := writeURL(server.URL, *urlPath, stdout); err != nil {
		_ = server.Close()
		return err
	}
	fmt.Fprintf(stderr, "gateway-simulator: serving %s until SIGINT or SIGTERM\n", server.URL)

	select {
	case <-ctx.Done():
	case <-server.Done():
	}
	return server.Close()
}

// writeURL writes url and a newline. A file is written under a temporary
// name and renamed, so a reader polling for it never reads half of it.
func writeURL(url, path string, stdout io.Writer) error {
	line := []byte(url + "\n")
	if path == "" {
		_, err := stdout.Write(line)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gateway-simulator-url-*")
	if err != nil {
		return fmt.Errorf("write simulator URL: %w", err)
	}
	if _, err := tmp.Write(line); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write simulator URL to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write simulator URL to %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write simulator URL to %s: %w", path, err)
	}
	return nil
}

// Command processor is the PCI-scoped service that decrypts Amazon Connect
// card-input ciphertexts, validates the card data and authorizes it with a
// card gateway, over a mutual-TLS API. Run without arguments it serves;
// sub-commands help operators:
//
//	processor              serve (configuration from PROCESSOR_* variables)
//	processor inspect      describe one ciphertext read from stdin, without decrypting
//	processor keygen       make the RSA key pair and certificate for Connect
//	processor healthcheck  probe /healthz, for the ECS container health check
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/connect-secure-input/processor/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	command := ""
	if len(args) > 0 {
		command = args[0]
	}
	switch command {
	case "", "serve":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if err := serve(ctx, os.Getenv, os.Environ(), stderr); err != nil {
			fmt.Fprintf(stderr, "processor: %v\n", err)
			return 1
		}
		return 0
	case "inspect":
		return inspect(stdin, stdout, stderr)
	case "keygen":
		return keygen(args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheck(os.Getenv, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		fmt.Fprint(stdout, config.Help())
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, version)
		return 0
	}
	fmt.Fprintf(stderr, "processor: unknown command %q\n\n%s", command, usage)
	return 2
}

const usage = `Usage: processor [command]

Commands:
  serve (default)  run the API (mTLS) and ops (metrics, health) listeners
  inspect          read one base64 ciphertext from stdin and print its header as JSON; never decrypts
  keygen           make an RSA key pair and the X.509 certificate to upload to Amazon Connect
  healthcheck      exit 0 when /healthz on the ops listener returns 200 (probes 127.0.0.1 on the port
                   of PROCESSOR_OPS_ADDR, default 9090)
  version          print the build version

`

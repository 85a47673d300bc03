// Command local-kms-serve is a TEST ONLY command that runs local-kms, the KMS
// emulator, on a loopback address with the seeded test keys of
// internal/testkit/localkms, for the vector generator and the demo. It
// writes the endpoint and key ARNs as JSON (to -info, or to standard output)
// and serves until it receives SIGINT or SIGTERM.
//
//	local-kms-serve -addr 127.0.0.1:0 -info /tmp/local-kms.json
//
// Point clients at it with AWS_ENDPOINT_URL_KMS=<endpoint>, AWS_REGION, static
// credentials and AWS_EC2_METADATA_DISABLED=true.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/connect-secure-input/processor/internal/testkit/localkms"
)

// Info is the JSON document the command writes once local-kms is listening.
type Info struct {
	Endpoint        string        `json:"endpoint"`
	AccountID       string        `json:"account_id"`
	Region          string        `json:"region"`
	ReplicaRegion   string        `json:"replica_region"`
	AccessKeyID     string        `json:"access_key_id"`
	SecretAccessKey string        `json:"secret_access_key"`
	KeyARNs         []string      `json:"key_arns"`
	AliasARNs       []string      `json:"alias_arns"`
	Keys            localkms.Keys `json:"keys"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "local-kms-serve:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("local-kms-serve", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintln(stderr, "local-kms-serve: TEST ONLY. Runs local-kms with public test keys on a loopback address.")
		fmt.Fprintln(stderr, "\nUsage: local-kms-serve [-addr 127.0.0.1:0] [-seed seed.yaml] [-info info.json]")
		flags.PrintDefaults()
	}
	addr := flags.String("addr", "127.0.0.1:0", "loopback `address` to listen on; port 0 picks a free port")
	seedPath := flags.String("seed", "", "local-kms seed `file`; empty uses the built-in test seed")
	infoPath := flags.String("info", "", "`file` to write the endpoint and key ARNs to as JSON; empty writes to standard output")
	if err := flags.Parse(args); err != nil {
		return err
	}

	server, err := localkms.Serve(ctx, *addr, *seedPath)
	if err != nil {
		return err
	}
	info := Info{
		Endpoint:        server.URL,
		AccountID:       localkms.AccountID,
		Region:          localkms.Region,
		ReplicaRegion:   localkms.ReplicaRegion,
		AccessKeyID:     localkms.AccessKeyID,
		SecretAccessKey: localkms.SecretAccessKey,
		KeyARNs:         server.KeyARNs,
		AliasARNs:       server.AliasARNs,
	}
	if *seedPath == "" {
		info.Keys = localkms.DefaultKeys()
	}
	if err := writeInfo(info, *infoPath, stdout); err != nil {
		_ = server.Close()
		return err
	}
	fmt.Fprintf(stderr, "local-kms-serve: serving %s until SIGINT or SIGTERM\n", server.URL)

	<-server.Done()
	return server.Err()
}

// writeInfo writes info as one JSON document. A file is written under a
// temporary name and renamed, so a reader polling for it never reads half of it.
func writeInfo(info Info, path string, stdout io.Writer) error {
	encoded, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("encode local-kms info: %w", err)
	}
	encoded = append(encoded, '\n')
	if path == "" {
		_, err := stdout.Write(encoded)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".local-kms-info-*")
	if err != nil {
		return fmt.Errorf("write local-kms info: %w", err)
	}
	if _, err := tmp.Write(encoded); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write local-kms info: %w", err)
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write local-kms info: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write local-kms info: %w", err)
	}
	return nil
}

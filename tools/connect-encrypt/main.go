// Command connect-encrypt is a TEST ONLY tool that makes ciphertexts exactly
// as Amazon Connect's "Store customer input" block (dtmf) and the Lex
// fulfillment Lambda (lex) do. It also generates Connect RSA key pairs
// (keygen). Tests and the demo use it to feed the processor realistic input,
// made with the official AWS Encryption SDK for Go.
//
// Card data is read from standard input, never from arguments, so it stays
// out of shell history and process listings.
//
//	connect-encrypt dtmf -key <KeyID>=<public.pem> [-key ...] < digits
//	connect-encrypt lex -key-arn <ARN> [-intent CollectPayment] < value
//	connect-encrypt keygen -bits 2048 -dir <folder>
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/connect-secure-input/processor/internal/testkit/connectcrypt"
)

const banner = `connect-encrypt: TEST ONLY. Never use it with real card data or real keys.`

const usage = banner + `

Makes ciphertexts as Amazon Connect and the Lex fulfillment Lambda do, with
the official AWS Encryption SDK for Go, and generates Connect key pairs.

Usage:
  connect-encrypt dtmf -key <KeyID>=<public.pem> [-key <KeyID>=<public.pem>] < digits
      Encrypts the digits on standard input as Connect's "Store customer
      input" block does (raw RSA keyring, namespace AmazonConnect, key name =
      Key ID, RSA-OAEP-SHA512, suite 0x0378) and prints base64. Give -key
      twice to wrap for two active keys.
  connect-encrypt lex -key-arn <ARN> [-purpose connect-secure-input] [-intent CollectPayment] < value
      Encrypts the value on standard input as the Lex fulfillment Lambda does
      (AWS KMS keyring, suite 0x0578, context purpose and intent) and prints
      base64. The KMS client uses the AWS SDK default configuration, so
      AWS_ENDPOINT_URL_KMS aims it at local-kms.
  connect-encrypt keygen -bits <2048|3072|4096> -dir <folder>
      Generates an RSA key pair with a random UUID Key ID and writes
      <KeyID>.private.pem (PKCS#8, mode 0600) and <KeyID>.public.pem.

One trailing newline on standard input is dropped.
`

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "connect-encrypt:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return errors.New("missing sub-command: dtmf, lex or keygen")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "dtmf":
		return runDTMF(ctx, args[1:], stdin, stdout, stderr)
	case "lex":
		return runLex(ctx, args[1:], stdin, stdout, stderr)
	case "keygen":
		return runKeygen(args[1:], stdout, stderr)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown sub-command %q: use dtmf, lex or keygen", args[0])
	}
}

func runDTMF(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	flags := newFlagSet("dtmf", stderr)
	var keys keyFlags
	flags.Var(&keys, "key", "`KeyID=path` of a Connect public key (PEM); repeat for two active keys")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if len(keys) == 0 {
		return errors.New("missing -key: give at least one KeyID=public.pem")
	}

	publicKeys := make([]connectcrypt.PublicKey, 0, len(keys))
	for _, k := range keys {
		pemBytes, err := os.ReadFile(k.path)
		if err != nil {
			return fmt.Errorf("read public key for Key ID %s: %w", k.keyID, err)
		}
		publicKey, err := connectcrypt.ParsePublicKeyPEM(k.keyID, pemBytes)
		if err != nil {
			return err
		}
		publicKeys = append(publicKeys, publicKey)
	}

	digits, err := readInput(stdin)
	if err != nil {
		return err
	}
	defer clear(digits)
	ciphertext, err := connectcrypt.EncryptDTMF(ctx, digits, publicKeys...)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, ciphertext)
	return err
}

func runLex(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	flags := newFlagSet("lex", stderr)
	keyARN := flags.String("key-arn", "", "ARN of the KMS key to encrypt under")
	purpose := flags.String("purpose", connectcrypt.DefaultPurpose, "value of the purpose encryption-context key")
	intent := flags.String("intent", connectcrypt.DefaultIntent, "value of the intent encryption-context key")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *keyARN == "" {
		return errors.New("missing -key-arn")
	}

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	value, err := readInput(stdin)
	if err != nil {
		return err
	}
	defer clear(value)
	encryptionContext := map[string]string{connectcrypt.PurposeKey: *purpose, connectcrypt.IntentKey: *intent}
	ciphertext, err := connectcrypt.EncryptLex(ctx, kms.NewFromConfig(cfg), *keyARN, encryptionContext, value)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, ciphertext)
	return err
}

func runKeygen(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("keygen", stderr)
	bits := flags.Int("bits", 2048, "RSA key size in bits: 2048, 3072 or 4096")
	dir := flags.String("dir", ".", "folder to write the PEM files into")
	if err := flags.Parse(args); err != nil {
		return err
	}
	pair, err := connectcrypt.GenerateKeyPair(*bits)
	if err != nil {
		return err
	}
	privatePath, publicPath, err := pair.WriteFiles(*dir)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "Key ID: %s\nprivate key: %s\npublic key: %s\n", pair.KeyID, privatePath, publicPath)
	return err
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nUsage of connect-encrypt %s:\n", banner, name)
		flags.PrintDefaults()
	}
	return flags
}

// readInput reads standard input whole and drops one trailing newline, so
// `echo 4111111111111111 | connect-encrypt dtmf ...` encrypts the digits only.
func readInput(stdin io.Reader) ([]byte, error) {
	input, err := io.ReadAll(bufio.NewReader(stdin))
	if err != nil {
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	input = bytes.TrimSuffix(input, []byte("\n"))
	input = bytes.TrimSuffix(input, []byte("\r"))
	if len(input) == 0 {
		return nil, errors.New("empty standard input: pipe the value to encrypt")
	}
	return input, nil
}

type keyFlag struct {
	keyID string
	path  string
}

// keyFlags collects repeated -key KeyID=path flags.
type keyFlags []keyFlag

func (k *keyFlags) String() string {
	parts := make([]string, len(*k))
	for i, f := range *k {
		parts[i] = f.keyID + "=" + f.path
	}
	return strings.Join(parts, ",")
}

func (k *keyFlags) Set(value string) error {
	keyID, path, ok := strings.Cut(value, "=")
	if !ok || keyID == "" || path == "" {
		return fmt.Errorf("invalid -key %q: want KeyID=path", value)
	}
	*k = append(*k, keyFlag{keyID: keyID, path: path})
	return nil
}

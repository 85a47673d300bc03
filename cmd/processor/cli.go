package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/connect-secure-input/processor/internal/decrypt"
)

// maxInspectInput bounds what inspect reads from stdin.
const maxInspectInput = 4 << 20

// inspect prints the header of one message as JSON. It needs no keys.
func inspect(stdin io.Reader, stdout, stderr io.Writer) int {
	text, err := io.ReadAll(io.LimitReader(stdin, maxInspectInput+1))
	if err != nil {
		fmt.Fprintf(stderr, "processor inspect: read stdin: %v\n", err)
		return 1
	}
	if len(text) > maxInspectInput {
		fmt.Fprintf(stderr, "processor inspect: input exceeds %d bytes\n", maxInspectInput)
		return 1
	}
	// Inspection uses the largest ciphertext limit so that an operator can
	// look at a message the service rejected as too large.
	d, err := decrypt.New(decrypt.Config{MaxCiphertextBytes: 1 << 20, MaxEncryptedDataKeys: decrypt.MaxEncryptedDataKeysLimit}, nil, nil)
	if err != nil {
		fmt.Fprintf(stderr, "processor inspect: %v\n", err)
		return 1
	}
	out, err := d.Inspect(string(text))
	if err != nil {
		fmt.Fprintf(stderr, "processor inspect: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "processor inspect: %v\n", err)
		return 1
	}
	return 0
}

// keygen writes an RSA private key (0600) and a self-signed X.509
// certificate holding its public key, which is what Amazon Connect's
// "Store customer input" encryption settings take.
func keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bits := fs.Int("bits", 4096, "RSA key size in bits: 2048, 3072 or 4096")
	dir := fs.String("out", ".", "folder to write the key and certificate to (created with mode 0700 if missing)")
	name := fs.String("name", "connect-secure-input", "file name prefix and certificate common name")
	days := fs.Int("days", 730, "certificate validity in days")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *bits != 2048 && *bits != 3072 && *bits != 4096 {
		fmt.Fprintf(stderr, "processor keygen: -bits %d is not 2048, 3072 or 4096\n", *bits)
		return 2
	}
	if *days < 1 || *days > 3650 {
		fmt.Fprintf(stderr, "processor keygen: -days %d is outside 1 to 3650\n", *days)
		return 2
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintf(stderr, "processor keygen: create folder %s: %v\n", *dir, errors.Unwrap(err))
		return 1
	}
	keyPath, certPath, err := writeConnectKey(*dir, *name, *bits, time.Duration(*days)*24*time.Hour)
	if err != nil {
		fmt.Fprintf(stderr, "processor keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, `Wrote %s (private key, mode 0600) and %s (certificate).

Next steps:
  1. In the Amazon Connect console, open the instance, then Data storage > Encryption
     (or the "Store customer input" block's encryption settings), and add the certificate
     %s as a new key.
  2. Connect shows a Key ID (a UUID) for it. Use that Key ID in the contact flow's
     "Store customer input" block.
  3. Store the private key in AWS Secrets Manager and give the processor task both values:
     PROCESSOR_CONNECT_KEY_1_ID=<Key ID> and PROCESSOR_CONNECT_KEY_1_PEM=<secret>.
  4. Delete the local copy of the private key once it is stored.
For a rotation, add the new key as PROCESSOR_CONNECT_KEY_2_* before switching the flow.
`, keyPath, certPath, certPath)
	return 0
}

func writeConnectKey(dir, name string, bits int, validity time.Duration) (string, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return "", "", fmt.Errorf("generate RSA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("create certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	keyPath := filepath.Join(dir, name+"-private-key.pem")
	certPath := filepath.Join(dir, name+"-certificate.pem")
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	defer clear(keyPEM)
	defer clear(pkcs8)
	if err := writeExclusive(keyPath, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeExclusive(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return keyPath, certPath, nil
}

// writeExclusive refuses to overwrite an existing key or certificate.
func writeExclusive(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; keygen never overwrites a key or certificate, so choose another -out folder or -name", path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, errors.Unwrap(err))
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// healthcheckTimeout bounds the probe; ECS runs it every few seconds.
const healthcheckTimeout = 2 * time.Second

// healthcheck probes /healthz on the ops listener over loopback.
func healthcheck(getenv func(string) string, stderr io.Writer) int {
	addr := getenv("PROCESSOR_OPS_ADDR")
	if addr == "" {
		addr = ":9090"
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(stderr, "processor healthcheck: PROCESSOR_OPS_ADDR %q: %v\n", addr, err)
		return 1
	}
	client := &http.Client{Timeout: healthcheckTimeout}
	resp, err := client.Get("http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz")
	if err != nil {
		fmt.Fprintf(stderr, "processor healthcheck: %v\n", errors.Unwrap(err))
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "processor healthcheck: /healthz returned %d: %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
		return 1
	}
	return 0
}

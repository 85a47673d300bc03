package e2e

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/config"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// cliTimeout bounds one run of a sub-command.
const cliTimeout = 30 * time.Second

// cliResult is the outcome of one run of the binary.
type cliResult struct {
	stdout string
	stderr string
	code   int
}

// runCLI runs the processor binary with args and stdin in the environment
// minimalEnv plus env, and returns what it printed and its exit code.
func runCLI(t *testing.T, env map[string]string, stdin io.Reader, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ProcessorBinary(t), args...)
	dir := t.TempDir()
	cmd.Dir = dir
	cmd.Env = minimalEnv(dir)
	for name, value := range env {
		cmd.Env = append(cmd.Env, name+"="+value)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run processor %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

func TestCLIHelpListsEveryVariable(t *testing.T) {
	out := runCLI(t, nil, nil, "--help")
	if out.code != 0 {
		t.Fatalf("exit code = %d, want 0; stderr:\n%s", out.code, out.stderr)
	}

	// Summary names every variable that the configuration reads.
	var zero config.Config
	for name := range zero.Summary(func(string) string { return "" }) {
		if !strings.HasPrefix(name, "PROCESSOR_") {
			continue
		}
		if !strings.Contains(out.stdout, "  "+name+" ") && !strings.Contains(out.stdout, "  "+name+"\n") {
			t.Errorf("--help does not list %s", name)
		}
	}
	for _, want := range []string{
		"PROCESSOR_LISTEN_ADDR [:8443]",
		"PROCESSOR_OPS_ADDR [:9090]",
		"PROCESSOR_TLS_CERT_FILE [required]",
		"PROCESSOR_CONNECT_KEY_<n>_ID / _PEM",
		"PROCESSOR_MAX_BODY_BYTES [65536]",
		"PROCESSOR_REQUEST_BUDGET [6s]",
		"PROCESSOR_SAD_TTL [60s]",
		"PROCESSOR_DRAIN_TIMEOUT [25s]",
		"PROCESSOR_LOG_LEVEL [info]",
		"AWS_REGION",
		"AWS_ENDPOINT_URL_KMS",
		"inspect", "keygen", "healthcheck",
	} {
		if !strings.Contains(out.stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// inspection is the part of `processor inspect` output the test checks.
type inspection struct {
	AlgorithmSuite struct {
		ID string `json:"id"`
	} `json:"algorithmSuite"`
	EncryptedDataKeys []struct {
		ProviderID   string `json:"providerId"`
		ProviderInfo string `json:"providerInfo"`
	} `json:"encryptedDataKeys"`
	EncryptionContext []struct {
		Key string `json:"key"`
	} `json:"encryptionContext"`
}

// countingListener counts the connections made to a loopback port, to show
// that a command made none.
func countingListener(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var count atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			count.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return "http://" + ln.Addr().String(), &count
}

func TestCLIInspect(t *testing.T) {
	m := vectors.Load(t)
	// No key is configured, and KMS points at a listener that counts
	// connections: inspect reads headers only, so it needs neither.
	kmsEndpoint, kmsCalls := countingListener(t)
	env := map[string]string{"AWS_ENDPOINT_URL_KMS": kmsEndpoint, "AWS_REGION": "eu-west-2",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}

	cases := []struct {
		vector       string
		wantProvider string
		wantKeys     func(v vectors.Vector) []string
		wantContext  []string
	}{
		{vector: "connect-2048-pan16", wantProvider: "AmazonConnect", wantKeys: func(v vectors.Vector) []string { return []string{v.KeyID} },
			wantContext: []string{"aws-crypto-public-key"}},
		{vector: "connect-two-keys-2048-3072", wantProvider: "AmazonConnect", wantKeys: func(v vectors.Vector) []string { return v.KeyIDs },
			wantContext: []string{"aws-crypto-public-key"}},
		{vector: "kms-pan16", wantProvider: "aws-kms", wantKeys: func(v vectors.Vector) []string { return []string{v.KeyARN} },
			wantContext: []string{"aws-crypto-public-key", "intent", "purpose"}},
	}
	for _, tc := range cases {
		t.Run(tc.vector, func(t *testing.T) {
			v := m.Vector(t, tc.vector)
			out := runCLI(t, env, bytes.NewReader(v.Input(t)), "inspect")
			if out.code != 0 {
				t.Fatalf("exit code = %d, want 0; stderr:\n%s", out.code, out.stderr)
			}
			if strings.Contains(out.stdout, v.PlaintextText) {
				t.Errorf("the output contains the plaintext:\n%s", out.stdout)
			}
			var got inspection
			if err := json.Unmarshal([]byte(out.stdout), &got); err != nil {
				t.Fatalf("the output is not JSON: %v\n%s", err, out.stdout)
			}
			if got.AlgorithmSuite.ID != v.Suite {
				t.Errorf("algorithmSuite.id = %q, want %q", got.AlgorithmSuite.ID, v.Suite)
			}
			var keys []string
			for _, edk := range got.EncryptedDataKeys {
				if edk.ProviderID != tc.wantProvider {
					t.Errorf("providerId = %q, want %q", edk.ProviderID, tc.wantProvider)
				}
				keys = append(keys, edk.ProviderInfo)
			}
			if want := tc.wantKeys(v); !slices.Equal(keys, want) {
				t.Errorf("key ids = %q, want %q", keys, want)
			}
			var contextKeys []string
			for _, e := range got.EncryptionContext {
				contextKeys = append(contextKeys, e.Key)
			}
			slices.Sort(contextKeys)
			if !slices.Equal(contextKeys, tc.wantContext) {
				t.Errorf("encryption-context keys = %q, want %q", contextKeys, tc.wantContext)
			}
		})
	}

	t.Run("plain PAN", func(t *testing.T) {
		v := m.Vector(t, "plain-pan")
		out := runCLI(t, env, bytes.NewReader(v.Input(t)), "inspect")
		if out.code == 0 {
			t.Errorf("exit code = 0 for a plain PAN, want a failure; stdout:\n%s", out.stdout)
		}
		if digits := strings.TrimSpace(string(v.Input(t))); strings.Contains(out.stdout+out.stderr, digits) {
			t.Errorf("the output repeats the input:\n%s%s", out.stdout, out.stderr)
		}
	})

	if n := kmsCalls.Load(); n != 0 {
		t.Errorf("inspect opened %d connections to the KMS endpoint, want none", n)
	}
}

func TestCLIKeygen(t *testing.T) {
	dir := t.TempDir()
	out := runCLI(t, nil, nil, "keygen", "-out", dir, "-bits", "2048")
	if out.code != 0 {
		t.Fatalf("exit code = %d, want 0; stderr:\n%s", out.code, out.stderr)
	}
	keyPath := filepath.Join(dir, "connect-secure-input-private-key.pem")
	certPath := filepath.Join(dir, "connect-secure-input-certificate.pem")

	info, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("private key mode = %o, want 600", mode)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatal("the private key file holds no PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse the private key: %v", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok || key.N.BitLen() != 2048 {
		t.Fatalf("private key = %T, want a 2048-bit RSA key", parsed)
	}

	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	certBlock, _ := pem.Decode(certPEM)
	if certBlock == nil {
		t.Fatal("the certificate file holds no PEM block")
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		t.Fatalf("parse the certificate: %v", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("the certificate does not hold the generated key's public key")
	}
	if !strings.Contains(out.stdout, "Key ID") {
		t.Errorf("the output does not explain the Connect Key ID step:\n%s", out.stdout)
	}

	t.Run("refuses to overwrite", func(t *testing.T) {
		again := runCLI(t, nil, nil, "keygen", "-out", dir, "-bits", "2048")
		if again.code == 0 {
			t.Error("a second keygen into the same folder exited 0")
		}
		if !strings.Contains(again.stderr, "exists") {
			t.Errorf("stderr does not say that the file exists:\n%s", again.stderr)
		}
		after, err := os.ReadFile(keyPath)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, keyPEM) {
			t.Error("the second keygen changed the private key file")
		}
	})
}

func TestCLIHealthcheck(t *testing.T) {
	p := StartProcessor(t, Options{})

	t.Run("processor running", func(t *testing.T) {
		out := runCLI(t, map[string]string{"PROCESSOR_OPS_ADDR": p.OpsAddr}, nil, "healthcheck")
		if out.code != 0 {
			t.Errorf("exit code = %d, want 0; stderr:\n%s", out.code, out.stderr)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		out := runCLI(t, map[string]string{"PROCESSOR_OPS_ADDR": freeLoopbackAddr(t)}, nil, "healthcheck")
		if out.code != 1 {
			t.Errorf("exit code = %d, want 1; stderr:\n%s", out.code, out.stderr)
		}
	})
}

// TestCLIBadConfiguration starts the processor with invalid settings: it
// must exit non-zero, name the variable, and never print a secret value.
func TestCLIBadConfiguration(t *testing.T) {
	m := vectors.Load(t)
	pkiEnv := NewPKI(t).Env()
	key := m.ConfiguredConnectKeys()[0]
	realPEM := string(key.PrivatePEM(t))
	// A line from the middle of the private key's base64 body.
	pemLine := strings.Split(realPEM, "\n")[5]

	cases := []struct {
		name        string
		env         map[string]string
		wantName    string
		mustNotShow []string
	}{
		{name: "TLS files missing", wantName: "PROCESSOR_TLS_CERT_FILE",
			env: map[string]string{"PROCESSOR_CONNECT_KEYS": key.KeyID + "=" + filepath.Join(vectors.Root(t), key.PrivateKey)}},
		{name: "fingerprint key not hex", wantName: "PROCESSOR_FINGERPRINT_KEY", mustNotShow: []string{"e2eFingerprintSecret"},
			env: map[string]string{"PROCESSOR_FINGERPRINT_KEY": "zz-e2eFingerprintSecret-0123456789abcdef0123456789abcdef0123456789"}},
		{name: "budget not a duration beside a Stripe key", wantName: "PROCESSOR_REQUEST_BUDGET", mustNotShow: []string{"sk_test_e2eStripeSecret"},
			env: map[string]string{"PROCESSOR_REQUEST_BUDGET": "fast", "PROCESSOR_GATEWAY": "stripe", "PROCESSOR_STRIPE_API_KEY": "sk_test_e2eStripeSecret"}},
		{name: "log level unknown beside a database URL", wantName: "PROCESSOR_LOG_LEVEL", mustNotShow: []string{"e2eDatabaseSecret"},
			env: map[string]string{"PROCESSOR_LOG_LEVEL": "verbose", "PROCESSOR_STORE": "postgres",
				"PROCESSOR_DATABASE_URL": "postgres://processor:e2eDatabaseSecret@127.0.0.1:1/processor"}},
		{name: "Stripe gateway without a key", wantName: "PROCESSOR_STRIPE_API_KEY",
			env: map[string]string{"PROCESSOR_GATEWAY": "stripe"}},
		{name: "Connect key PEM without its ID", wantName: "PROCESSOR_CONNECT_KEY_1_ID", mustNotShow: []string{pemLine},
			env: map[string]string{"PROCESSOR_CONNECT_KEY_1_PEM": realPEM}},
		{name: "Connect key PEM that is no key", wantName: "PROCESSOR_CONNECT_KEY_1_PEM", mustNotShow: []string{"ZTJlTm90QUtleVNlY3JldA"},
			env: map[string]string{"PROCESSOR_CONNECT_KEY_1_ID": key.KeyID,
				"PROCESSOR_CONNECT_KEY_1_PEM": "-----BEGIN PRIVATE KEY-----\nZTJlTm90QUtleVNlY3JldA==\n-----END PRIVATE KEY-----\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"PROCESSOR_LISTEN_ADDR": "127.0.0.1:0", "PROCESSOR_OPS_ADDR": "127.0.0.1:0"}
			if tc.wantName != "PROCESSOR_TLS_CERT_FILE" {
				for name, value := range pkiEnv {
					env[name] = value
				}
			}
			for name, value := range tc.env {
				env[name] = value
			}
			out := runCLI(t, env, nil)
			if out.code == 0 {
				t.Fatalf("exit code = 0, want a failure; stderr:\n%s", out.stderr)
			}
			if !strings.Contains(out.stderr, tc.wantName) {
				t.Errorf("stderr does not name %s:\n%s", tc.wantName, out.stderr)
			}
			for _, secret := range tc.mustNotShow {
				if strings.Contains(out.stdout+out.stderr, secret) {
					t.Errorf("the output shows the secret value %q:\n%s", secret, out.stderr)
				}
			}
		})
	}
}

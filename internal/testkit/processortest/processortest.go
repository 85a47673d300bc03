// Package processortest starts the real processor for tests: the same
// service.New and Run that cmd/processor uses, with real mTLS certificates
// from a test PKI, the committed test-only Connect keys, an in-process
// local-kms and the simulator gateway, all on 127.0.0.1. TEST ONLY.
//
//	p := processortest.Start(t, processortest.Options{})
//	resp, err := p.Client.Post(p.URL+"/v1/validations", "application/json", body)
package processortest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/config"
	"github.com/connect-secure-input/processor/internal/metrics"
	"github.com/connect-secure-input/processor/internal/redact"
	"github.com/connect-secure-input/processor/internal/service"
	"github.com/connect-secure-input/processor/internal/testkit/localkms"
	"github.com/connect-secure-input/processor/internal/testkit/pki"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// ClientURI is the URI SAN of the client certificate the harness issues; the
// processor's allow-list contains it.
const ClientURI = "spiffe://test.local/forwarder"

// Options change the processor's configuration; zero fields keep the
// harness defaults.
type Options struct {
	// Env adds or overrides PROCESSOR_* variables, for example
	// "PROCESSOR_REQUEST_BUDGET": "500ms".
	Env map[string]string
	// KMS is a running local-kms to share; nil starts one for the test.
	KMS *localkms.Server
	// LogOutput receives the processor's log lines; nil keeps them in Logs.
	LogOutput io.Writer
}

// Processor is a running processor.
type Processor struct {
	// URL is the API base URL, "https://127.0.0.1:<port>".
	URL string
	// OpsURL is the ops base URL, "http://127.0.0.1:<port>".
	OpsURL string
	// Client calls the API with the allowed client certificate and trusts
	// only the test CA.
	Client *http.Client
	// CA issued the server and client certificates; tests use it to make
	// more client certificates.
	CA *pki.CA
	// ClientCert is the allowed client certificate.
	ClientCert *pki.Cert
	// Dir holds the certificate files.
	Dir string
	// KMS is the local-kms the processor uses.
	KMS *localkms.Server
	// Manifest describes the test keys and the interoperability vectors.
	Manifest vectors.Manifest

	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// Start starts a processor and stops it in t.Cleanup. It fails the test if
// the processor does not become ready.
func Start(t testing.TB, opts Options) *Processor {
	t.Helper()
	p := &Processor{Dir: t.TempDir(), Manifest: vectors.Load(t), logs: &lockedBuffer{}}
	p.KMS = opts.KMS
	if p.KMS == nil {
		p.KMS = localkms.Start(t)
	}
	env := p.environment(t, opts.Env)

	cfg, err := config.Load(func(name string) string { return env[name] }, envList(env))
	if err != nil {
		t.Fatalf("processortest: configuration: %v", err)
	}
	out := io.Writer(p.logs)
	if opts.LogOutput != nil {
		out = opts.LogOutput
	}
	m := metrics.New("test", false)
	logger, err := redact.NewLogger(redact.Options{Level: "debug", Output: out, Scrubs: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	svc, err := service.New(ctx, cfg, logger, m)
	if err != nil {
		cancel()
		t.Fatalf("processortest: start: %v\nlogs:\n%s", err, p.logs.String())
	}
	p.URL = "https://" + svc.APIAddr()
	p.OpsURL = "http://" + svc.OpsAddr()
	p.done = make(chan error, 1)
	go func() { p.done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("processortest: stop: %v", err)
		}
		_ = logger.Sync()
	})
	p.waitReady(t)
	return p
}

// environment returns the PROCESSOR_* and AWS_* variables of the test run.
func (p *Processor) environment(t testing.TB, overrides map[string]string) map[string]string {
	t.Helper()
	ca := pki.NewCA(t, "processortest CA")
	server := ca.Issue(t, pki.ServerOptions())
	clientOpts := pki.ClientOptions("forwarder")
	clientOpts.URIs = []string{ClientURI}
	p.CA, p.ClientCert = ca, ca.Issue(t, clientOpts)
	serverFiles := server.Write(t, p.Dir, "server")
	caFile := filepath.Join(p.Dir, "client-ca.pem")
	if err := pki.WriteBundle(caFile, ca); err != nil {
		t.Fatal(err)
	}
	p.Client = p.NewClient(p.ClientCert)

	var keys []string
	for _, k := range p.Manifest.ConfiguredConnectKeys() {
		keys = append(keys, k.KeyID+"="+filepath.Join(vectors.Root(t), k.PrivateKey))
	}
	env := map[string]string{
		"PROCESSOR_LISTEN_ADDR":       "127.0.0.1:0",
		"PROCESSOR_OPS_ADDR":          "127.0.0.1:0",
		"PROCESSOR_TLS_CERT_FILE":     serverFiles.CertFile,
		"PROCESSOR_TLS_KEY_FILE":      serverFiles.KeyFile,
		"PROCESSOR_CLIENT_CA_FILE":    caFile,
		"PROCESSOR_ALLOWED_CLIENTS":   "uri:" + ClientURI,
		"PROCESSOR_CONNECT_KEYS":      strings.Join(keys, ","),
		"PROCESSOR_KMS_KEY_ARNS":      strings.Join(p.Manifest.KMS.ConfiguredKeyARNs, ","),
		"PROCESSOR_SIMULATOR_LATENCY": "5ms",
		"PROCESSOR_LOG_LEVEL":         "debug",
		"PROCESSOR_TASK_ID":           "processortest",
	}
	for k, v := range overrides {
		env[k] = v
	}
	// The AWS SDK reads its settings from the process environment.
	p.KMS.SetEnv(t)
	return env
}

// NewClient returns an mTLS client that presents cert and trusts the test CA.
func (p *Processor) NewClient(cert *pki.Cert) *http.Client {
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			RootCAs:      p.CA.CertPool(),
			Certificates: []tls.Certificate{cert.TLSCertificate()},
		}},
	}
}

func (p *Processor) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.OpsURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("processortest: not ready after 15s\nlogs:\n%s", p.logs.String())
}

// Stop shuts the processor down as SIGTERM would and returns Run's result.
// It is safe to call more than once.
func (p *Processor) Stop() error {
	var err error
	p.once.Do(func() {
		p.cancel()
		select {
		case err = <-p.done:
		case <-time.After(40 * time.Second):
			err = fmt.Errorf("processor did not stop within 40s")
		}
	})
	return err
}

// Logs returns what the processor logged so far (when Options.LogOutput was
// nil).
func (p *Processor) Logs() string { return p.logs.String() }

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Package e2e tests the real processor binary from the outside. It builds
// ./cmd/processor and starts it as a subprocess with real key and
// certificate files, beside a local-kms subprocess (tools/local-kms-serve),
// with the simulator gateway, all on 127.0.0.1. The tests call it over mTLS
// as the Connect forwarder does. Every byte the processor writes to standard
// output and standard error is kept for log assertions and the leak scan.
//
// The helpers in this file are shared by every test of the package:
//
//	kms := StartKMS(t)
//	p := StartProcessor(t, Options{KMS: kms, Env: map[string]string{"PROCESSOR_REQUEST_BUDGET": "1s"}})
//	resp := p.Client(t).Post("/v1/validations", map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, "4242424242424242")})
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/testkit/apicontract"
	"github.com/connect-secure-input/processor/internal/testkit/connectcrypt"
	"github.com/connect-secure-input/processor/internal/testkit/pki"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// Timeouts of the harness. They are generous because two cores are shared
// with other builds and tests; a healthy run takes a fraction of each.
const (
	// buildTimeout bounds one `go build`.
	buildTimeout = 5 * time.Minute
	// startTimeout bounds the wait for a subprocess to listen and, for the
	// processor, for /readyz to return 200.
	startTimeout = 30 * time.Second
	// stopTimeout bounds the wait for a subprocess to exit after SIGTERM,
	// above the processor's largest drain timeout in these tests.
	stopTimeout = 60 * time.Second
	// clientTimeout bounds one HTTP exchange of a test client.
	clientTimeout = 20 * time.Second
	// pollInterval is how often a condition is checked while waiting.
	pollInterval = 20 * time.Millisecond
)

// ClientURI is the URI SAN of the client certificate that NewPKI issues and
// that the processor's allow-list contains.
const ClientURI = "spiffe://e2e.test/forwarder"

// buildDir holds the binaries built for this test binary; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "processor-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create the build folder:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		// Every subprocess is waited for and every client's idle
		// connections are closed in cleanups, so no goroutine may remain.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// build is one `go build` of a package with a set of tags, done once per
// test binary.
type build struct {
	once sync.Once
	path string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*build{}
)

// ProcessorBinary builds ./cmd/processor with tags (none, "leakcheck", ...)
// once per test binary and returns the path of the executable.
func ProcessorBinary(t testing.TB, tags ...string) string {
	t.Helper()
	return buildBinary(t, "./cmd/processor", "processor", tags)
}

func localKMSBinary(t testing.TB) string {
	t.Helper()
	return buildBinary(t, "./tools/local-kms-serve", "local-kms-serve", nil)
}

func buildBinary(t testing.TB, pkg, name string, tags []string) string {
	t.Helper()
	key := pkg + " " + strings.Join(tags, ",")
	buildsMu.Lock()
	b, ok := builds[key]
	if !ok {
		b = &build{}
		builds[key] = b
	}
	buildsMu.Unlock()

	b.once.Do(func() {
		suffix := strings.Join(tags, "-")
		if suffix != "" {
			suffix = "-" + suffix
		}
		b.path = filepath.Join(buildDir, name+suffix)
		args := []string{"build", "-o", b.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		if len(tags) > 0 {
			args = append(args, "-tags", strings.Join(tags, ","))
		}
		args = append(args, pkg)
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = vectors.Root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// syncBuffer is a bytes.Buffer safe for one writer goroutine and concurrent
// readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of everything written so far.
func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// subprocess is a started command whose exit is awaited by one goroutine.
type subprocess struct {
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

func startSubprocess(cmd *exec.Cmd) (*subprocess, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &subprocess{cmd: cmd, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

func (s *subprocess) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// terminate sends SIGTERM and waits up to timeout for the exit. It returns
// the exit code (-1 when a signal ended the process), the time from the
// signal to the exit, and an error when the process had to be killed.
func (s *subprocess) terminate(timeout time.Duration) (int, time.Duration, error) {
	start := time.Now()
	if !s.exited() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-s.done:
		return s.cmd.ProcessState.ExitCode(), time.Since(start), nil
	case <-time.After(timeout):
		s.kill()
		return -1, time.Since(start), fmt.Errorf("%s did not exit within %s of SIGTERM and was killed", filepath.Base(s.cmd.Path), timeout)
	}
}

// kill sends SIGKILL and waits for the exit.
func (s *subprocess) kill() {
	if !s.exited() {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
}

// minimalEnv returns the variables every subprocess gets besides its own:
// PATH, a private HOME, AWS files that do not exist (so a developer's ~/.aws
// cannot change a result), no instance metadata lookups, and GODEBUG, so that
// a test run with GODEBUG=fips140=on runs the binaries in FIPS mode too.
func minimalEnv(dir string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if v, ok := os.LookupEnv("GODEBUG"); ok {
		env = append(env, "GODEBUG="+v)
	}
	return env
}

// waitFor polls cond every pollInterval until it holds or timeout passes,
// and reports whether it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// tail returns the last n lines of text, for failure messages.
func tail(text []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(text), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// KMS is a local-kms subprocess (tools/local-kms-serve) with the seeded test
// keys of internal/testkit/localkms.
type KMS struct {
	// Endpoint is the base URL, "http://127.0.0.1:<port>".
	Endpoint        string `json:"endpoint"`
	Region          string `json:"region"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`

	proc      *subprocess
	logPath   string
	transport *http.Transport
	stopOnce  sync.Once
}

// StartKMS starts local-kms on a free loopback port and stops it in
// t.Cleanup. Its output goes to a file in the test's temporary folder.
func StartKMS(t testing.TB) *KMS {
	t.Helper()
	dir := t.TempDir()
	infoPath := filepath.Join(dir, "local-kms.json")
	k := &KMS{logPath: filepath.Join(dir, "local-kms.log"), transport: &http.Transport{}}
	logFile, err := os.Create(k.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	cmd := exec.Command(localKMSBinary(t), "-addr", "127.0.0.1:0", "-info", infoPath)
	cmd.Env = minimalEnv(dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if k.proc, err = startSubprocess(cmd); err != nil {
		t.Fatalf("start local-kms: %v", err)
	}
	t.Cleanup(func() { k.Stop(t) })

	ready := waitFor(startTimeout, func() bool {
		data, err := os.ReadFile(infoPath)
		return k.proc.exited() || (err == nil && json.Unmarshal(data, k) == nil && k.Endpoint != "")
	})
	if !ready || k.proc.exited() {
		log, _ := os.ReadFile(k.logPath)
		t.Fatalf("local-kms did not start within %s:\n%s", startTimeout, tail(log, 20))
	}
	return k
}

// Env returns the AWS variables that aim the processor's KMS client at this
// local-kms with its static test credentials.
func (k *KMS) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_KMS":  k.Endpoint,
		"AWS_REGION":            k.Region,
		"AWS_ACCESS_KEY_ID":     k.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": k.SecretAccessKey,
	}
}

// Client returns a KMS client for the test itself (to encrypt Lex tokens or
// disable a key), aimed at this local-kms.
func (k *KMS) Client() *kms.Client {
	return kms.New(kms.Options{
		Region:       k.Region,
		BaseEndpoint: aws.String(k.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, ""),
		HTTPClient:   &http.Client{Transport: k.transport, Timeout: clientTimeout},
	})
}

// EncryptLex encrypts digits as the Lex fulfillment Lambda does: under keyARN
// with the encryption context {"purpose": "connect-secure-input", "intent":
// "CollectPayment"}, suite 0x0578.
func (k *KMS) EncryptLex(t testing.TB, keyARN, digits string) string {
	t.Helper()
	text, err := connectcrypt.EncryptLex(context.Background(), k.Client(), keyARN,
		connectcrypt.LexContext(connectcrypt.DefaultIntent), []byte(digits))
	if err != nil {
		t.Fatalf("encrypt a Lex token under %s: %v", keyARN, err)
	}
	return text
}

// Stop sends SIGTERM and waits for local-kms to exit; it is safe to call more
// than once. Requests to the endpoint fail from then on (connection refused).
func (k *KMS) Stop(t testing.TB) {
	t.Helper()
	k.stopOnce.Do(func() {
		if _, _, err := k.proc.terminate(stopTimeout); err != nil {
			t.Error(err)
		}
		k.transport.CloseIdleConnections()
	})
}

// PKI is a throw-away CA with a server certificate for 127.0.0.1 and an
// allowed client certificate, written to files as ECS would mount them.
// Processors that share a PKI accept the same clients.
type PKI struct {
	CA *pki.CA
	// Client is the allowed client certificate (URI SAN ClientURI).
	Client *pki.Cert
	// Server holds the paths of the server certificate and key.
	Server pki.Files
	// ClientCAFile is the path of the client CA bundle.
	ClientCAFile string
}

// NewPKI creates the CA and the certificates and writes the files into a
// temporary folder of t.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	ca := pki.NewCA(t, "processor e2e CA")
	clientOpts := pki.ClientOptions("forwarder")
	clientOpts.URIs = []string{ClientURI}
	p := &PKI{
		CA:           ca,
		Client:       ca.Issue(t, clientOpts),
		Server:       ca.Issue(t, pki.ServerOptions()).Write(t, dir, "server"),
		ClientCAFile: filepath.Join(dir, "client-ca.pem"),
	}
	if err := pki.WriteBundle(p.ClientCAFile, ca); err != nil {
		t.Fatal(err)
	}
	return p
}

// Env returns the TLS variables of the processor.
func (p *PKI) Env() map[string]string {
	return map[string]string{
		"PROCESSOR_TLS_CERT_FILE":   p.Server.CertFile,
		"PROCESSOR_TLS_KEY_FILE":    p.Server.KeyFile,
		"PROCESSOR_CLIENT_CA_FILE":  p.ClientCAFile,
		"PROCESSOR_ALLOWED_CLIENTS": "uri:" + ClientURI,
	}
}

// Options configure StartProcessor; zero fields keep the defaults.
type Options struct {
	// Env adds or overrides variables of the processor, for example
	// "PROCESSOR_REQUEST_BUDGET": "1s". An empty value removes a default.
	Env map[string]string
	// KMS is the local-kms to use; nil starts one for the test.
	KMS *KMS
	// PKI is the certificate set to use; nil creates one. Share one between
	// processors that the same client calls.
	PKI *PKI
	// Tags are the build tags of the binary, such as "leakcheck".
	Tags []string
}

// Processor is a running processor binary.
type Processor struct {
	// URL is the API base URL, "https://127.0.0.1:<port>"; APIAddr is its
	// host:port.
	URL     string
	APIAddr string
	// OpsURL is the ops base URL, "http://127.0.0.1:<port>"; OpsAddr is its
	// host:port.
	OpsURL  string
	OpsAddr string
	// Env is the full environment the binary was started with.
	Env []string
	PKI *PKI
	KMS *KMS
	// Manifest describes the test keys and the interoperability vectors.
	Manifest vectors.Manifest

	proc   *subprocess
	stdout *syncBuffer
	stderr *syncBuffer
	// responses and ops keep every response the test clients received from
	// the API and the ops listener, status line, headers and body, for the
	// leak scan.
	responses *syncBuffer
	ops       *syncBuffer
	stopped   atomic.Bool
}

// processorCount numbers processors for their task ids.
var processorCount atomic.Int64

// StartProcessor starts the processor binary and waits until /readyz returns
// 200. The API and ops listeners take free ports on 127.0.0.1, read back from
// the "processor ready" log line. The process is killed in t.Cleanup unless
// the test stopped it.
func StartProcessor(t testing.TB, opts Options) *Processor {
	t.Helper()
	p := &Processor{
		PKI: opts.PKI, KMS: opts.KMS, Manifest: vectors.Load(t),
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, responses: &syncBuffer{}, ops: &syncBuffer{},
	}
	if p.PKI == nil {
		p.PKI = NewPKI(t)
	}
	if p.KMS == nil {
		p.KMS = StartKMS(t)
	}
	dir := t.TempDir()
	p.Env = p.environment(t, dir, opts.Env)

	cmd := exec.Command(ProcessorBinary(t, opts.Tags...))
	cmd.Env = p.Env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	var err error
	if p.proc, err = startSubprocess(cmd); err != nil {
		t.Fatalf("start the processor: %v", err)
	}
	t.Cleanup(func() {
		if !p.stopped.Load() {
			p.proc.kill()
		}
		if stderr := p.Stderr(); bytes.Contains(stderr, []byte("WARNING: DATA RACE")) {
			at := bytes.Index(stderr, []byte("WARNING: DATA RACE"))
			t.Errorf("the race detector reported a data race in the processor:\n%s", tail(stderr[at:min(len(stderr), at+6000)], 80))
		}
		if t.Failed() {
			t.Logf("processor stderr (last 30 lines):\n%s", tail(p.Stderr(), 30))
		}
	})
	p.waitReady(t)
	return p
}

func (p *Processor) environment(t testing.TB, dir string, overrides map[string]string) []string {
	t.Helper()
	var keys []string
	for _, k := range p.Manifest.ConfiguredConnectKeys() {
		keys = append(keys, k.KeyID+"="+filepath.Join(vectors.Root(t), k.PrivateKey))
	}
	vars := map[string]string{
		"PROCESSOR_LISTEN_ADDR":       "127.0.0.1:0",
		"PROCESSOR_OPS_ADDR":          "127.0.0.1:0",
		"PROCESSOR_CONNECT_KEYS":      strings.Join(keys, ","),
		"PROCESSOR_KMS_KEY_ARNS":      strings.Join(p.Manifest.KMS.ConfiguredKeyARNs, ","),
		"PROCESSOR_SIMULATOR_LATENCY": "5ms",
		"PROCESSOR_LOG_LEVEL":         "debug",
		"PROCESSOR_TASK_ID":           fmt.Sprintf("e2e-%d", processorCount.Add(1)),
	}
	for _, source := range []map[string]string{p.PKI.Env(), p.KMS.Env(), overrides} {
		for name, value := range source {
			vars[name] = value
		}
	}
	env := minimalEnv(dir)
	for name, value := range vars {
		if value != "" {
			env = append(env, name+"="+value)
		}
	}
	slices.Sort(env)
	return env
}

// waitReady reads the listener addresses from the "processor ready" line and
// polls /readyz until it returns 200.
func (p *Processor) waitReady(t testing.TB) {
	t.Helper()
	ops := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ready := waitFor(startTimeout, func() bool {
		if p.proc.exited() {
			return true
		}
		if p.APIAddr == "" {
			for _, line := range p.LogLines() {
				if line.Message() == "processor ready" {
					p.APIAddr, p.OpsAddr = line.String("api_addr"), line.String("ops_addr")
					p.URL, p.OpsURL = "https://"+p.APIAddr, "http://"+p.OpsAddr
				}
			}
			if p.APIAddr == "" {
				return false
			}
		}
		resp, err := ops.Get(p.OpsURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if p.proc.exited() {
		t.Fatalf("the processor exited during start-up (%v):\n%s", p.proc.waitErr, tail(p.Stderr(), 30))
	}
	if !ready {
		t.Fatalf("the processor was not ready within %s:\n%s", startTimeout, tail(p.Stderr(), 30))
	}
}

// Stop sends SIGTERM and waits for the exit. It returns the exit code and
// the time from the signal to the exit; a process that outlives stopTimeout
// is killed and fails the test.
func (p *Processor) Stop(t testing.TB) (exitCode int, elapsed time.Duration) {
	t.Helper()
	p.stopped.Store(true)
	code, elapsed, err := p.proc.terminate(stopTimeout)
	if err != nil {
		t.Error(err)
	}
	return code, elapsed
}

// Signal sends SIGTERM without waiting; Done reports the exit.
func (p *Processor) Signal(t testing.TB) {
	t.Helper()
	p.stopped.Store(true)
	if err := p.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM to the processor: %v", err)
	}
}

// Done is closed when the process has exited.
func (p *Processor) Done() <-chan struct{} { return p.proc.done }

// ExitCode returns the exit code once Done is closed (-1 when a signal
// ended the process).
func (p *Processor) ExitCode() int {
	<-p.proc.done
	return p.proc.cmd.ProcessState.ExitCode()
}

// Kill ends the process with SIGKILL, as a crashed task, and waits for it.
func (p *Processor) Kill() {
	p.stopped.Store(true)
	p.proc.kill()
}

// Stdout and Stderr return a copy of everything the process wrote so far.
func (p *Processor) Stdout() []byte { return p.stdout.Bytes() }
func (p *Processor) Stderr() []byte { return p.stderr.Bytes() }

// Responses returns every API response the test clients received so far:
// status line, headers and body.
func (p *Processor) Responses() []byte { return p.responses.Bytes() }

// OpsResponses returns every response of the ops listener that Ops fetched.
func (p *Processor) OpsResponses() []byte { return p.ops.Bytes() }

// Ops sends GET path to the ops listener and returns the response, kept for
// the leak scan like the API responses.
func (p *Processor) Ops(t testing.TB, path string) Response {
	t.Helper()
	transport := &http.Transport{DisableKeepAlives: true}
	client := &http.Client{Timeout: clientTimeout, Transport: captureTransport{base: transport, out: p.ops}}
	resp, err := client.Get(p.OpsURL + path)
	if err != nil {
		t.Fatalf("GET %s on the ops listener: %v", path, err)
	}
	return readResponse(t, resp)
}

// Metric returns the value of one series in a /metrics scrape, for example
// `processor_tls_handshake_failures_total{reason="unknown_authority"}`, or 0
// when the series is absent.
func (p *Processor) Metric(t testing.TB, series string) float64 {
	t.Helper()
	return metricValue(string(p.Ops(t, "/metrics").Body), series)
}

// MetricSum returns the sum of every series of the metric name in a
// /metrics scrape, whatever their labels.
func (p *Processor) MetricSum(t testing.TB, name string) float64 {
	t.Helper()
	sum := 0.0
	for _, line := range strings.Split(string(p.Ops(t, "/metrics").Body), "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err == nil {
			sum += v
		}
	}
	return sum
}

func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		value, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err == nil {
			return v
		}
	}
	return 0
}

// EncryptDTMF encrypts digits as Amazon Connect's Store customer input block
// does, under the first configured test Connect key.
func (p *Processor) EncryptDTMF(t testing.TB, digits string) string {
	t.Helper()
	key := p.Manifest.ConfiguredConnectKeys()[0]
	pub, err := connectcrypt.ParsePublicKeyPEM(key.KeyID, key.PublicPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	text, err := connectcrypt.EncryptDTMF(context.Background(), []byte(digits), pub)
	if err != nil {
		t.Fatalf("encrypt DTMF digits: %v", err)
	}
	return text
}

// PaymentKeyARN returns the ARN of the seeded local-kms key that Lex tokens
// are encrypted under and that the processor is configured with.
func (p *Processor) PaymentKeyARN() string { return p.Manifest.KMS.Keys["payment"] }

// EncryptLex encrypts digits as the Lex fulfillment Lambda does, under the
// payment key of the processor's local-kms.
func (p *Processor) EncryptLex(t testing.TB, digits string) string {
	t.Helper()
	return p.KMS.EncryptLex(t, p.PaymentKeyARN(), digits)
}

// Client returns an API client that presents the allowed client certificate,
// holds every exchange to api/openapi.yaml and keeps every response for the
// leak scan.
func (p *Processor) Client(t testing.TB) *Client {
	t.Helper()
	cert := p.PKI.Client.TLSCertificate()
	return p.ClientWithTLS(t, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      p.PKI.CA.CertPool(),
		Certificates: []tls.Certificate{cert},
	})
}

// ClientHTTP1 is Client limited to HTTP/1.1: each concurrent request takes a
// connection of its own, where Client multiplexes requests over one HTTP/2
// connection.
func (p *Processor) ClientHTTP1(t testing.TB) *Client {
	t.Helper()
	c := p.Client(t)
	c.transport.ForceAttemptHTTP2 = false
	// A non-nil empty map turns HTTP/2 off (net/http package documentation).
	c.transport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return c
}

// ClientWithTLS returns an API client with the TLS configuration cfg, for
// mTLS tests. A certificate that the processor's CA did not issue must be
// given through GetClientCertificate: crypto/tls sends a certificate from
// Certificates only when its issuer is among the CAs the server names.
func (p *Processor) ClientWithTLS(t testing.TB, cfg *tls.Config) *Client {
	t.Helper()
	transport := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(transport.CloseIdleConnections)
	base := &http.Client{Timeout: clientTimeout, Transport: captureTransport{base: transport, out: p.responses}}
	return &Client{t: t, http: apicontract.WrapClient(t, base), base: p.URL, transport: transport}
}

// uncheckedClient is Client without the contract check, for the one request
// that the contract does not describe (see testPositiveVectors).
func (p *Processor) uncheckedClient(t testing.TB) *Client {
	t.Helper()
	c := p.Client(t)
	c.http = &http.Client{Timeout: clientTimeout, Transport: captureTransport{base: c.transport, out: p.responses}}
	return c
}

// captureTransport appends every response, status line, headers and body,
// to out.
type captureTransport struct {
	base http.RoundTripper
	out  io.Writer
}

func (c captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	var record bytes.Buffer
	// Only what the service sent is recorded: the request path may carry
	// test data on purpose.
	fmt.Fprintf(&record, "%s %s\n", resp.Proto, resp.Status)
	_ = resp.Header.Write(&record)
	record.WriteString("\n")
	record.Write(body)
	record.WriteString("\n\n")
	_, _ = c.out.Write(record.Bytes())
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, err
}

// Client is an API client bound to one test.
type Client struct {
	t         testing.TB
	http      *http.Client
	base      string
	transport *http.Transport
}

// Response is one HTTP response, read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrorCode returns error.code of an error envelope, or "".
func (r Response) ErrorCode() string {
	var envelope struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &envelope)
	return envelope.Error.Code
}

// JSON decodes the body into a generic map; it fails the test when the body
// is not a JSON object.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatalf("response %d is not a JSON object: %v\n%s", r.Status, err, r.Body)
	}
	return out
}

// Post sends body to path as application/json and fails the test on a
// transport error. body is sent as is when it is a string or []byte and
// encoded as JSON otherwise. headers are name, value pairs that are set on
// the request, Content-Type included.
func (c *Client) Post(path string, body any, headers ...string) Response {
	c.t.Helper()
	resp, err := c.Send(http.MethodPost, path, body, headers...)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// Get sends GET path and fails the test on a transport error.
func (c *Client) Get(path string, headers ...string) Response {
	c.t.Helper()
	resp, err := c.Send(http.MethodGet, path, nil, headers...)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// Send sends one request and returns the response or the transport error;
// it is safe to call from goroutines.
func (c *Client) Send(method, path string, body any, headers ...string) (Response, error) {
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		encoded, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		reader = bytes.NewReader(encoded)
	}

	req, err := http.NewRequest(method, c.base+path, reader)
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: read the body: %w", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// CloseIdleConnections closes the client's kept-alive connections, so that
// the next request opens a new one.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

func readResponse(t testing.TB, resp *http.Response) Response {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// LogLine is one JSON log line of the processor.
type LogLine map[string]any

// Message returns the "msg" field.
func (l LogLine) Message() string { return l.String("msg") }

// Logger returns the logger name, such as "api.audit".
func (l LogLine) Logger() string { return l.String("logger") }

// String returns a string field, or "" when it is absent or not a string.
func (l LogLine) String(name string) string {
	s, _ := l[name].(string)
	return s
}

// LogLines parses the processor's standard error as JSON lines; lines that
// are not JSON (none are expected once the logger exists) are skipped.
func (p *Processor) LogLines() []LogLine {
	var out []LogLine
	scanner := bufio.NewScanner(bytes.NewReader(p.Stderr()))
	scanner.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for scanner.Scan() {
		var line LogLine
		if json.Unmarshal(scanner.Bytes(), &line) == nil {
			out = append(out, line)
		}
	}
	return out
}

// WaitForLog waits until a log line matches and returns the lines logged so
// far; it fails the test after timeout.
func (p *Processor) WaitForLog(t testing.TB, timeout time.Duration, what string, match func(LogLine) bool) []LogLine {
	t.Helper()
	var lines []LogLine
	found := waitFor(timeout, func() bool {
		lines = p.LogLines()
		return slices.ContainsFunc(lines, match)
	})
	if !found {
		t.Fatalf("no log line %s within %s; last lines:\n%s", what, timeout, tail(p.Stderr(), 20))
	}
	return lines
}

// AccessLogged waits for the access-log line of requestID, which the API
// writes after the handler returns and so after every other line of the
// request, and returns all lines logged so far.
func (p *Processor) AccessLogged(t testing.TB, requestID string) []LogLine {
	t.Helper()
	return p.WaitForLog(t, 10*time.Second, "for request "+requestID, func(l LogLine) bool {
		return l.Message() == "request" && l.String("request_id") == requestID
	})
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a
// moment ago, for a probe that must find nothing listening.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// isConnectionRefused reports whether err is a refused TCP connection.
func isConnectionRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

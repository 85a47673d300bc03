package tlsconfig_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/connect-secure-input/processor/internal/testkit/pki"
	"github.com/connect-secure-input/processor/internal/tlsconfig"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait for a condition. Conditions are re-checked
// on each event, so a passing test waits far less.
const waitTimeout = 15 * time.Second

// signal wakes every waiter when an event happens: a hook call, a log
// entry, or a request of a traffic loop.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal {
	return &signal{ch: make(chan struct{})}
}

func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

func (s *signal) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// waitFor waits until cond returns true, checking it again after every
// event of sig, and fails the test after waitTimeout.
func waitFor(t *testing.T, sig *signal, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		// Take the channel before checking, so an event between the check
		// and the select still wakes this loop.
		event := sig.next()
		if cond() {
			return
		}
		select {
		case <-event:
		case <-timeout.C:
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
	}
}

// recordingHooks records Hooks calls and wakes waiters on each.
type recordingHooks struct {
	sig *signal

	mu       sync.Mutex
	failures map[string]int
	loaded   map[string][]time.Time
}

var _ tlsconfig.Hooks = (*recordingHooks)(nil)

func newRecordingHooks(sig *signal) *recordingHooks {
	return &recordingHooks{sig: sig, failures: make(map[string]int), loaded: make(map[string][]time.Time)}
}

func (h *recordingHooks) HandshakeFailed(reason string) {
	h.mu.Lock()
	h.failures[reason]++
	h.mu.Unlock()
	h.sig.broadcast()
}

func (h *recordingHooks) CertificateLoaded(which string, notAfter time.Time) {
	h.mu.Lock()
	h.loaded[which] = append(h.loaded[which], notAfter)
	h.mu.Unlock()
	h.sig.broadcast()
}

func (h *recordingHooks) failureCount(reason string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failures[reason]
}

func (h *recordingHooks) totalFailures() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	total := 0
	for _, n := range h.failures {
		total += n
	}
	return total
}

func (h *recordingHooks) loads(which string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.loaded[which]...)
}

// newObservedLogger returns a logger that records entries in memory and
// wakes sig after each one.
func newObservedLogger(sig *signal) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	hooked := zapcore.RegisterHooks(core, func(zapcore.Entry) error {
		sig.broadcast()
		return nil
	})
	return zap.New(hooked), logs
}

// fixture is a TLS server on 127.0.0.1 built from tlsconfig, with its PKI
// and files.
type fixture struct {
	dir          string
	serverCA     *pki.CA
	clientCA     *pki.CA
	serverCert   *pki.Cert
	serverFiles  pki.Files
	clientCAFile string

	sig   *signal
	hooks *recordingHooks
	logs  *observer.ObservedLogs
	tls   *tlsconfig.Server
	url   string
}

// fixtureOptions change the tlsconfig.Config of a fixture.
type fixtureOptions struct {
	allowedClients     []string
	reloadInterval     time.Duration
	minVersion         uint16
	failureLogInterval time.Duration
}

// startFixture makes a server CA, a client CA, a server certificate and the
// files, then serves HTTPS on 127.0.0.1 until the test ends. The handler
// writes "<Identity>|<client certificate serial>".
func startFixture(t *testing.T, opts fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{
		dir:      t.TempDir(),
		serverCA: pki.NewCA(t, "test server CA"),
		clientCA: pki.NewCA(t, "test client CA"),
		sig:      newSignal(),
	}
	f.serverCert = f.serverCA.Issue(t, pki.ServerOptions())
	f.serverFiles = f.serverCert.Write(t, f.dir, "server")
	f.clientCAFile = filepath.Join(f.dir, "client-ca.pem")
	if err := pki.WriteBundle(f.clientCAFile, f.clientCA); err != nil {
		t.Fatal(err)
	}
	f.hooks = newRecordingHooks(f.sig)
	logger, logs := newObservedLogger(f.sig)
	f.logs = logs

	if opts.reloadInterval == 0 {
		opts.reloadInterval = -1 // tests call Reload unless they ask for polling
	}
	server, err := tlsconfig.New(tlsconfig.Config{
		CertFile:           f.serverFiles.CertFile,
		KeyFile:            f.serverFiles.KeyFile,
		ClientCAFile:       f.clientCAFile,
		AllowedClients:     opts.allowedClients,
		ReloadInterval:     opts.reloadInterval,
		MinVersion:         opts.minVersion,
		FailureLogInterval: opts.failureLogInterval,
	}, logger, f.hooks)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.tls = server
	t.Cleanup(server.Close)

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.url = "https://" + listener.Addr().String() + "/"
	httpServer := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s|%x", server.Identity(r), r.TLS.PeerCertificates[0].SerialNumber)
		}),
		TLSConfig:         server.TLSConfig(),
		ErrorLog:          server.HandshakeErrorLog(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- httpServer.ServeTLS(listener, "", "") }()
	t.Cleanup(func() {
		if err := httpServer.Close(); err != nil {
			t.Errorf("close HTTP server: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS returned %v, want http.ErrServerClosed", err)
		}
	})
	return f
}

// clientOptions describe a test client. A nil cert sends no client
// certificate.
type clientOptions struct {
	roots      *x509.CertPool
	cert       func() *tls.Certificate
	minVersion uint16
	maxVersion uint16
	suites     []uint16
}

// newClient returns an HTTP client that opens a new TLS connection per
// request, so each request is a full handshake.
func newClient(t *testing.T, opts clientOptions) *http.Client {
	t.Helper()
	config := &tls.Config{
		RootCAs:      opts.roots,
		MinVersion:   opts.minVersion,
		MaxVersion:   opts.maxVersion,
		CipherSuites: opts.suites,
	}
	if opts.cert != nil {
		// GetClientCertificate sends the certificate whatever CAs the
		// server lists. With Certificates instead, Go would leave out a
		// certificate from a CA the server does not list.
		config.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return opts.cert(), nil
		}
	}
	transport := &http.Transport{
		TLSClientConfig:   config,
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: waitTimeout}
}

// fixedCert returns a cert function for clientOptions.
func fixedCert(cert *pki.Cert) func() *tls.Certificate {
	tlsCert := cert.TLSCertificate()
	return func() *tls.Certificate { return &tlsCert }
}

// response is what the test handler returned for one request.
type response struct {
	identity     string
	clientSerial string
	version      uint16
	proto        int
	serverSerial string
}

// get sends one request and returns the parsed response or the error.
func get(client *http.Client, url string) (response, error) {
	resp, err := client.Get(url)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return response{}, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	identity, serial, _ := strings.Cut(string(body), "|")
	return response{
		identity:     identity,
		clientSerial: serial,
		version:      resp.TLS.Version,
		proto:        resp.ProtoMajor,
		serverSerial: fmt.Sprintf("%x", resp.TLS.PeerCertificates[0].SerialNumber),
	}, nil
}

// poolOf returns a pool of the CAs' certificates.
func poolOf(cas ...*pki.CA) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca.Certificate)
	}
	return pool
}

// entriesWithMessage returns the log entries with message.
func entriesWithMessage(logs *observer.ObservedLogs, message string) []observer.LoggedEntry {
	return logs.FilterMessage(message).All()
}

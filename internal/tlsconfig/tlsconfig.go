// Package tlsconfig is the mutual-TLS side of the processor's API listener:
// the server certificate, the client CA bundle, the allow-list of client
// identities, reloading of the files without a restart, and counting and
// logging of failed handshakes.
//
// Wire it into an http.Server like this:
//
//	tlsServer, err := tlsconfig.New(cfg, logger, hooks)
//	...
//	defer tlsServer.Close()
//	srv := &http.Server{
//		TLSConfig: tlsServer.TLSConfig(),
//		ErrorLog:  tlsServer.HandshakeErrorLog(),
//		...
//	}
//	err = srv.ServeTLS(listener, "", "")
//
// How each failure reason is seen: the Go TLS stack verifies the client
// certificate chain itself (tls.RequireAndVerifyClientCert) and returns the
// failure only as the handshake error, which http.Server writes to its
// ErrorLog as "http: TLS handshake error from <addr>: <error>". The
// allow-list check runs afterwards in VerifyConnection and returns an error
// of this package. HandshakeErrorLog's writer classifies every such line in
// one table (see handshake.go), so each failed handshake is counted exactly
// once, with its remote address, whichever check rejected it. A TLS server
// that is not an http.Server with this ErrorLog rejects the same handshakes
// but counts none of them.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Defaults for the zero values of Config fields.
const (
	// DefaultReloadInterval is how often the files are checked for changes.
	// A certificate rotated by a secrets sidecar is served at most this long
	// after the new files are in place.
	DefaultReloadInterval = 30 * time.Second
	// DefaultFailureLogInterval is the window in which at most one failed
	// handshake per reason is logged.
	DefaultFailureLogInterval = time.Minute
)

// Names of the certificates passed to Hooks.CertificateLoaded, matching the
// certificate label of processor_certificate_expiry_timestamp_seconds.
const (
	CertificateServer   = "server"
	CertificateClientCA = "client_ca"
)

// Config locates the TLS material of the API listener and sets its policy.
type Config struct {
	// CertFile is the PEM server certificate, leaf first, followed by any
	// intermediate CA certificates that clients need to build the chain.
	CertFile string
	// KeyFile is the PEM private key of the server certificate (PKCS#8,
	// PKCS#1 or SEC 1, unencrypted).
	KeyFile string
	// ClientCAFile is a PEM bundle of the CA certificates that issue client
	// certificates. Only CA certificates are accepted.
	ClientCAFile string
	// AllowedClients lists the client identities allowed to connect, as
	// "uri:<URI SAN>", "dns:<DNS SAN>", "cn:<subject CN>", or a bare value
	// that matches any of the three. An empty list allows any certificate
	// issued by a client CA.
	AllowedClients []string
	// ReloadInterval is how often the three files are checked for changes.
	// Zero means DefaultReloadInterval, and a negative value turns polling
	// off so that only Reload loads new files.
	ReloadInterval time.Duration
	// MinVersion is the lowest TLS version accepted: tls.VersionTLS12 (the
	// default when zero) or tls.VersionTLS13.
	MinVersion uint16
	// FailureLogInterval is the window in which at most one failed handshake
	// per reason is logged. Zero means DefaultFailureLogInterval, and a
	// negative value logs every failure. Every failure is counted through
	// Hooks regardless.
	FailureLogInterval time.Duration
}

// Hooks receives the events that the metrics package turns into series. A
// nil Hooks passed to New drops them. Methods are called from handshake and
// reload goroutines and must be safe for concurrent use.
type Hooks interface {
	// HandshakeFailed is called once per failed handshake with one of the
	// Reason constants.
	HandshakeFailed(reason string)
	// CertificateLoaded is called after each successful load with
	// CertificateServer and the server certificate's NotAfter, then with
	// CertificateClientCA and the earliest NotAfter in the CA bundle.
	CertificateLoaded(which string, notAfter time.Time)
}

type noHooks struct{}

func (noHooks) HandshakeFailed(string)              {}
func (noHooks) CertificateLoaded(string, time.Time) {}

var _ Hooks = noHooks{}

// Server serves the current TLS material to handshakes and reloads it when
// its files change. Create it with New and stop it with Close.
type Server struct {
	files      files
	allowed    allowList
	minVersion uint16
	logger     *zap.Logger
	hooks      Hooks
	failures   *failureLimiter
	errorLog   *log.Logger

	// current is the material that new handshakes use. Reload replaces it
	// as a whole, so a handshake never pairs a certificate with the client
	// CAs of another load.
	current atomic.Pointer[material]

	// reloadMu serializes Reload. lastAttempt and lastErr describe the last
	// file set that differed from current, so that a bad file is logged once
	// rather than on every poll.
	reloadMu    sync.Mutex
	lastAttempt string
	lastErr     error

	stop      chan struct{}
	done      chan struct{} // closed when the poller returns; nil when polling is off
	closeOnce sync.Once
}

// New loads the certificate, key and client CA files named in cfg, checks
// the allow-list syntax, and starts polling the files for changes. Errors
// name the file or setting and what is wrong with it. A nil logger discards
// logs and nil hooks drop events.
func New(cfg Config, logger *zap.Logger, hooks Hooks) (*Server, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if hooks == nil {
		hooks = noHooks{}
	}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	allowed, err := parseAllowList(cfg.AllowedClients)
	if err != nil {
		return nil, err
	}

	s := &Server{
		files:      files{cert: cfg.CertFile, key: cfg.KeyFile, clientCA: cfg.ClientCAFile},
		allowed:    allowed,
		minVersion: cfg.MinVersion,
		logger:     logger,
		hooks:      hooks,
		failures:   newFailureLimiter(durationOr(cfg.FailureLogInterval, DefaultFailureLogInterval), time.Now),
		stop:       make(chan struct{}),
	}
	if s.minVersion == 0 {
		s.minVersion = tls.VersionTLS12
	}
	s.errorLog = log.New(errorLogWriter{server: s}, "", 0)

	contents, err := s.files.read()
	if err != nil {
		return nil, err
	}
	m, err := s.parse(contents)
	if err != nil {
		return nil, err
	}
	s.current.Store(m)
	s.reportLoaded("TLS material loaded", m)

	if allowed.empty() {
		logger.Warn("no allowed clients configured: any certificate issued by a client CA is accepted",
			zap.String("client_ca_file", cfg.ClientCAFile))
	}

	interval := durationOr(cfg.ReloadInterval, DefaultReloadInterval)
	if interval > 0 {
		s.done = make(chan struct{})
		go s.poll(interval)
	}
	return s, nil
}

func checkConfig(cfg Config) error {
	switch {
	case cfg.CertFile == "":
		return errors.New("server certificate file is not set")
	case cfg.KeyFile == "":
		return errors.New("server key file is not set")
	case cfg.ClientCAFile == "":
		return errors.New("client CA file is not set")
	}
	switch cfg.MinVersion {
	case 0, tls.VersionTLS12, tls.VersionTLS13:
	default:
		return fmt.Errorf("invalid minimum TLS version 0x%04x: use TLS 1.2 (0x0303) or TLS 1.3 (0x0304)", cfg.MinVersion)
	}
	return nil
}

// tls12CipherSuites are the TLS 1.2 suites offered: ECDHE key exchange for
// forward secrecy and AEAD ciphers only. Go orders them itself (since Go
// 1.17), so the order here does not matter. The RSA variants are listed so
// that an RSA server certificate works as well as an ECDSA one.
var tls12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig returns the configuration for the API listener's http.Server.
// Every handshake takes the material loaded last through
// GetConfigForClient, so a reload takes effect on the next connection
// without a restart.
//
// NOTE: the per-handshake configuration advertises "h2" and "http/1.1" by
// ALPN whatever the http.Server's Protocols field sets, because
// http.Server adjusts only the outer configuration. Keep HTTP/2 enabled on
// the server (the default) or clients that pick h2 fail.
func (s *Server) TLSConfig() *tls.Config {
	// The outer configuration is used only to reach GetConfigForClient,
	// which always returns a configuration. Its ClientCAs is an empty pool
	// rather than nil, because nil would make Go verify client certificates
	// against the system roots if a handshake ever used it.
	config := s.newConfig(x509.NewCertPool(), s.getCertificate)
	config.GetConfigForClient = s.getConfigForClient
	return config
}

// newConfig builds every TLS setting of the API listener in one place.
func (s *Server) newConfig(clientCAs *x509.CertPool, getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		// TLS 1.2 is the floor. Go negotiates the highest version both
		// sides support, so a TLS 1.3 client always gets TLS 1.3.
		MinVersion: s.minVersion,
		// Go applies CipherSuites to TLS 1.2 only, and every TLS 1.3 suite
		// is AEAD. With GODEBUG=fips140=on Go further drops ChaCha20-Poly1305.
		CipherSuites: tls12CipherSuites,
		// CurvePreferences stays nil so that Go's defaults apply, including
		// the hybrid post-quantum X25519MLKEM768 key exchange in TLS 1.3.

		// The Go TLS stack verifies the client chain against ClientCAs,
		// with the client-authentication extended key usage, before
		// VerifyConnection runs. A missing or unverifiable certificate
		// fails the handshake.
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  clientCAs,
		// GetCertificate serves the server certificate of the same load as
		// ClientCAs. There is one certificate, so SNI is not consulted.
		GetCertificate: getCertificate,
		// VerifyConnection applies the allow-list to the verified leaf.
		VerifyConnection: s.verifyConnection,
		// Resumed sessions skip chain verification against the current
		// ClientCAs, so after a client CA is removed a ticket would still
		// admit its certificates for the ticket lifetime (up to 7 days).
		// Turning tickets off makes every connection a full handshake.
		SessionTicketsDisabled: true,
		NextProtos:             []string{"h2", "http/1.1"},
	}
}

func (s *Server) getConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	return s.current.Load().config, nil
}

func (s *Server) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.current.Load().certificate, nil
}

// Close stops the file poller and logs the count of failed handshakes that
// the rate limit left unlogged. It waits for a poll in progress to finish
// and is safe to call more than once. Reload stays usable after Close.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		if s.done != nil {
			<-s.done
		}
		s.logSuppressedFailures()
	})
}

// HandshakeErrorLog returns the logger to set as http.Server.ErrorLog. Its
// writer counts and logs "TLS handshake error" lines (see the package
// documentation) and passes any other line of the server to zap at error
// level.
func (s *Server) HandshakeErrorLog() *log.Logger {
	return s.errorLog
}

// durationOr returns d, or fallback when d is zero.
func durationOr(d, fallback time.Duration) time.Duration {
	if d == 0 {
		return fallback
	}
	return d
}

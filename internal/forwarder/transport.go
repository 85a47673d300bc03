package forwarder

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Connection settings of the mTLS client. The per-call deadline comes from
// the context (Config.Timeout), so these only stop one stage from taking
// all of it.
const (
	// dialTimeout bounds the TCP connect to the interface endpoint.
	dialTimeout = 2 * time.Second
	// tlsHandshakeTimeout bounds the mTLS handshake.
	tlsHandshakeTimeout = 3 * time.Second
	// idleConnTimeout drops a kept-alive connection unused this long.
	// Lambda freezes an environment between invocations; a connection the
	// processor closed meanwhile is replaced transparently (see
	// idempotencyKeyHeader).
	idleConnTimeout = 60 * time.Second
	// maxIdleConns is generous: Lambda runs one invocation at a time per
	// environment, and HTTP/2 multiplexes over one connection anyway.
	maxIdleConns = 4
	// maxResponseHeaderBytes bounds the processor's response headers.
	maxResponseHeaderBytes = 16 << 10
)

// NewHTTPClient returns the mTLS client of the processor API. Build it once
// per cold start: its transport keeps connections alive across warm
// invocations, which saves a TCP and TLS handshake per call.
func NewHTTPClient(m Material) (*http.Client, error) {
	tlsConfig, err := clientTLSConfig(m)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{
		// No proxy: the processor is reached only through the interface
		// VPC endpoint, never through HTTPS_PROXY.
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           maxIdleConns,
		MaxIdleConnsPerHost:    maxIdleConns,
		IdleConnTimeout:        idleConnTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	return &http.Client{
		Transport: transport,
		// The API never redirects; following one would send ciphertext to
		// a host that the configuration does not name.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// clientTLSConfig builds the client side of the processor's mutual TLS:
// TLS 1.2 or newer (the API's minimum), the client certificate, and the
// server CA pinned as the only root, so a certificate from any public or
// system CA is rejected. The server name comes from the processor URL.
func clientTLSConfig(m Material) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(m.ClientCertPEM, m.ClientKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("load the client certificate and key: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse the client certificate: %w", err)
	}
	if time.Now().After(leaf.NotAfter) {
		return nil, fmt.Errorf("the client certificate %q expired at %s: issue a new one and update its secret", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	cert.Leaf = leaf

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(m.ServerCAPEM) {
		return nil, errors.New("the server CA has no PEM CERTIFICATE block: set the CA certificate that issued the processor's server certificate")
	}

	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
	}, nil
}

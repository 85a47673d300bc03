package tlsconfig_test

import (
	"crypto/fips140"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/testkit/pki"
	"github.com/connect-secure-input/processor/internal/tlsconfig"
)

func TestHandshakeRejected(t *testing.T) {
	foreignCA := pki.NewCA(t, "foreign CA")

	tests := []struct {
		name       string
		fixture    fixtureOptions
		client     func(t *testing.T, f *fixture) clientOptions
		wantReason string
	}{
		{
			name: "no client certificate",
			client: func(t *testing.T, f *fixture) clientOptions {
				return clientOptions{roots: f.serverCA.CertPool()}
			},
			wantReason: tlsconfig.ReasonNoClientCertificate,
		},
		{
			name: "certificate from another CA",
			client: func(t *testing.T, f *fixture) clientOptions {
				return clientOptions{roots: f.serverCA.CertPool(), cert: fixedCert(foreignCA.Issue(t, pki.ClientOptions("forwarder")))}
			},
			wantReason: tlsconfig.ReasonUnknownAuthority,
		},
		{
			name: "expired certificate",
			client: func(t *testing.T, f *fixture) clientOptions {
				cert := f.clientCA.Issue(t, pki.ExpiredOptions(pki.ClientOptions("forwarder")))
				return clientOptions{roots: f.serverCA.CertPool(), cert: fixedCert(cert)}
			},
			wantReason: tlsconfig.ReasonExpiredCertificate,
		},
		{
			name:    "certificate outside allow-list",
			fixture: fixtureOptions{allowedClients: []string{"cn:forwarder"}},
			client: func(t *testing.T, f *fixture) clientOptions {
				cert := f.clientCA.Issue(t, pki.ClientOptions("intruder"))
				return clientOptions{roots: f.serverCA.CertPool(), cert: fixedCert(cert)}
			},
			wantReason: tlsconfig.ReasonClientNotAllowed,
		},
		{
			name: "TLS 1.1 client",
			client: func(t *testing.T, f *fixture) clientOptions {
				cert := f.clientCA.Issue(t, pki.ClientOptions("forwarder"))
				return clientOptions{
					roots:      f.serverCA.CertPool(),
					cert:       fixedCert(cert),
					minVersion: tls.VersionTLS10,
					maxVersion: tls.VersionTLS11,
				}
			},
			wantReason: tlsconfig.ReasonProtocolVersion,
		},
		{
			name:    "TLS 1.2 client when 1.3 required",
			fixture: fixtureOptions{minVersion: tls.VersionTLS13},
			client: func(t *testing.T, f *fixture) clientOptions {
				cert := f.clientCA.Issue(t, pki.ClientOptions("forwarder"))
				return clientOptions{roots: f.serverCA.CertPool(), cert: fixedCert(cert), maxVersion: tls.VersionTLS12}
			},
			wantReason: tlsconfig.ReasonProtocolVersion,
		},
		{
			name: "CBC cipher suite only",
			client: func(t *testing.T, f *fixture) clientOptions {
				cert := f.clientCA.Issue(t, pki.ClientOptions("forwarder"))
				return clientOptions{
					roots:      f.serverCA.CertPool(),
					cert:       fixedCert(cert),
					maxVersion: tls.VersionTLS12,
					suites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
				}
			},
			wantReason: tlsconfig.ReasonOther,
		},
		{
			name: "server certificate used as client certificate",
			client: func(t *testing.T, f *fixture) clientOptions {
				cert := f.clientCA.Issue(t, pki.ServerOptions())
				return clientOptions{roots: f.serverCA.CertPool(), cert: fixedCert(cert)}
			},
			wantReason: tlsconfig.ReasonOther,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "TLS 1.1 client" && fips140.Enabled() {
				// In FIPS 140-3 mode Go's TLS client cannot offer TLS 1.1; the
				// end-to-end test sends a TLS 1.1 ClientHello by hand instead.
				t.Skip("Go's TLS client offers no TLS 1.1 in FIPS 140-3 mode")
			}
			f := startFixture(t, tt.fixture)
			client := newClient(t, tt.client(t, f))

			if resp, err := get(client, f.url); err == nil {
				t.Fatalf("request succeeded with identity %q, want a handshake failure", resp.identity)
			}

			waitFor(t, f.sig, "the failure to be counted", func() bool {
				return f.hooks.totalFailures() > 0
			})
			if got := f.hooks.failureCount(tt.wantReason); got != 1 {
				t.Errorf("failures counted as %s = %d, want 1", tt.wantReason, got)
			}
			if got := f.hooks.totalFailures(); got != 1 {
				t.Errorf("failures counted in total = %d, want 1", got)
			}

			entries := entriesWithMessage(f.logs, "TLS handshake failed")
			if len(entries) != 1 {
				t.Fatalf("got %d handshake failure log entries, want 1", len(entries))
			}
			fields := entries[0].ContextMap()
			if fields["reason"] != tt.wantReason {
				t.Errorf("logged reason = %v, want %s", fields["reason"], tt.wantReason)
			}
			if addr, _ := fields["remote_addr"].(string); !strings.HasPrefix(addr, "127.0.0.1:") {
				t.Errorf("logged remote_addr = %q, want 127.0.0.1:<port>", addr)
			}
			text, _ := fields["error"].(string)
			if text == "" {
				t.Error("logged error is empty, want the TLS error text")
			}
			if strings.Contains(text, "BEGIN") {
				t.Errorf("logged error = %q, want no PEM data", text)
			}
		})
	}
}

func TestAllowedClientAccepted(t *testing.T) {
	tests := []struct {
		name         string
		maxVersion   uint16
		wantVersion  uint16
		wantProtocol int
	}{
		{name: "TLS 1.3 by default", wantVersion: tls.VersionTLS13, wantProtocol: 2},
		{name: "TLS 1.2 client", maxVersion: tls.VersionTLS12, wantVersion: tls.VersionTLS12, wantProtocol: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFixture(t, fixtureOptions{allowedClients: []string{"cn:forwarder"}})
			cert := f.clientCA.Issue(t, pki.ClientOptions("forwarder"))
			client := newClient(t, clientOptions{roots: f.serverCA.CertPool(), cert: fixedCert(cert), maxVersion: tt.maxVersion})

			resp, err := get(client, f.url)
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}

			if resp.identity != "cn:forwarder" {
				t.Errorf("identity = %q, want cn:forwarder", resp.identity)
			}
			if resp.version != tt.wantVersion {
				t.Errorf("TLS version = %s, want %s", tls.VersionName(resp.version), tls.VersionName(tt.wantVersion))
			}
			if resp.proto != tt.wantProtocol {
				t.Errorf("HTTP major version = %d, want %d", resp.proto, tt.wantProtocol)
			}
			if got := f.hooks.totalFailures(); got != 0 {
				t.Errorf("failures counted = %d, want 0", got)
			}
		})
	}
}

func TestAllowListSyntax(t *testing.T) {
	forwarder := pki.ClientOptions("forwarder")
	forwarder.DNSNames = []string{"forwarder.example"}
	forwarder.URIs = []string{"spiffe://example.org/forwarder"}

	tests := []struct {
		name         string
		allowed      []string
		cert         pki.Options
		wantIdentity string // "" means the handshake must fail as client_not_allowed
	}{
		{name: "uri entry", allowed: []string{"uri:spiffe://example.org/forwarder"}, cert: forwarder, wantIdentity: "uri:spiffe://example.org/forwarder"},
		{name: "dns entry", allowed: []string{"dns:forwarder.example"}, cert: forwarder, wantIdentity: "dns:forwarder.example"},
		{name: "dns entry ignores case", allowed: []string{"dns:FORWARDER.example"}, cert: forwarder, wantIdentity: "dns:forwarder.example"},
		{name: "cn entry", allowed: []string{"cn:forwarder"}, cert: forwarder, wantIdentity: "cn:forwarder"},
		{name: "prefix ignores case", allowed: []string{"CN:forwarder"}, cert: forwarder, wantIdentity: "cn:forwarder"},
		{name: "spaces trimmed", allowed: []string{"  cn:forwarder "}, cert: forwarder, wantIdentity: "cn:forwarder"},
		{name: "bare value matches URI", allowed: []string{"spiffe://example.org/forwarder"}, cert: forwarder, wantIdentity: "uri:spiffe://example.org/forwarder"},
		{name: "bare value matches DNS", allowed: []string{"forwarder.example"}, cert: forwarder, wantIdentity: "dns:forwarder.example"},
		{name: "bare value matches CN", allowed: []string{"forwarder"}, cert: forwarder, wantIdentity: "cn:forwarder"},
		{name: "first matching entry wins", allowed: []string{"cn:other", "dns:forwarder.example", "cn:forwarder"}, cert: forwarder, wantIdentity: "dns:forwarder.example"},
		{name: "cn entry ignores DNS SAN", allowed: []string{"cn:forwarder.example"}, cert: forwarder},
		{name: "dns entry ignores CN", allowed: []string{"dns:forwarder"}, cert: forwarder},
		{name: "uri entry is exact", allowed: []string{"uri:spiffe://example.org/forwarder/"}, cert: forwarder},
		{name: "cn entry is case-sensitive", allowed: []string{"cn:Forwarder"}, cert: forwarder},
		{name: "empty list allows any", cert: forwarder, wantIdentity: "uri:spiffe://example.org/forwarder"},
		{name: "empty list identity falls back to CN", cert: pki.ClientOptions("bare"), wantIdentity: "cn:bare"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFixture(t, fixtureOptions{allowedClients: tt.allowed})
			cert := f.clientCA.Issue(t, tt.cert)
			client := newClient(t, clientOptions{roots: f.serverCA.CertPool(), cert: fixedCert(cert)})

			resp, err := get(client, f.url)

			if tt.wantIdentity == "" {
				if err == nil {
					t.Fatalf("request succeeded with identity %q, want rejection", resp.identity)
				}
				waitFor(t, f.sig, "the rejection to be counted", func() bool {
					return f.hooks.failureCount(tlsconfig.ReasonClientNotAllowed) == 1
				})
				return
			}
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			if resp.identity != tt.wantIdentity {
				t.Errorf("identity = %q, want %q", resp.identity, tt.wantIdentity)
			}
		})
	}
}

func TestEmptyAllowListWarnsOnce(t *testing.T) {
	const warning = "no allowed clients configured: any certificate issued by a client CA is accepted"

	tests := []struct {
		name         string
		allowed      []string
		wantWarnings int
	}{
		{name: "empty list", wantWarnings: 1},
		{name: "one entry", allowed: []string{"cn:forwarder"}, wantWarnings: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFixture(t, fixtureOptions{allowedClients: tt.allowed})

			if got := len(entriesWithMessage(f.logs, warning)); got != tt.wantWarnings {
				t.Errorf("got %d warnings, want %d", got, tt.wantWarnings)
			}
		})
	}
}

func TestFailureLogRateLimited(t *testing.T) {
	f := startFixture(t, fixtureOptions{failureLogInterval: time.Hour})
	client := newClient(t, clientOptions{roots: f.serverCA.CertPool()})

	for range 3 {
		if _, err := get(client, f.url); err == nil {
			t.Fatal("request without client certificate succeeded")
		}
	}
	waitFor(t, f.sig, "three failures to be counted", func() bool {
		return f.hooks.failureCount(tlsconfig.ReasonNoClientCertificate) == 3
	})

	if got := len(entriesWithMessage(f.logs, "TLS handshake failed")); got != 1 {
		t.Errorf("got %d handshake failure log entries within the interval, want 1", got)
	}

	f.tls.Close()
	flushed := entriesWithMessage(f.logs, "TLS handshake failures not logged because of the rate limit")
	if len(flushed) != 1 {
		t.Fatalf("got %d entries for suppressed failures at Close, want 1", len(flushed))
	}
	fields := flushed[0].ContextMap()
	if fields["reason"] != tlsconfig.ReasonNoClientCertificate {
		t.Errorf("suppressed reason = %v, want %s", fields["reason"], tlsconfig.ReasonNoClientCertificate)
	}
	if fields["suppressed"] != int64(2) {
		t.Errorf("suppressed = %v, want 2", fields["suppressed"])
	}
}

func TestHandshakeErrorLogLines(t *testing.T) {
	tests := []struct {
		name        string
		line        string
		wantReason  string // "" means the line is not a handshake failure
		wantAddress string
	}{
		{name: "IPv6 peer closed early", line: "http: TLS handshake error from [::1]:50123: EOF", wantReason: tlsconfig.ReasonOther, wantAddress: "[::1]:50123"},
		{name: "plain HTTP to TLS port", line: "http: TLS handshake error from 127.0.0.1:4000: client sent an HTTP request to an HTTPS server", wantReason: tlsconfig.ReasonOther, wantAddress: "127.0.0.1:4000"},
		{name: "SSL 2 hello", line: "http: TLS handshake error from 127.0.0.1:4001: tls: unsupported SSLv2 handshake received", wantReason: tlsconfig.ReasonProtocolVersion, wantAddress: "127.0.0.1:4001"},
		{name: "other server line", line: "http: Accept error: too many open files; retrying in 5ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFixture(t, fixtureOptions{})

			f.tls.HandshakeErrorLog().Print(tt.line)

			if tt.wantReason == "" {
				if got := f.hooks.totalFailures(); got != 0 {
					t.Errorf("failures counted = %d, want 0", got)
				}
				entries := entriesWithMessage(f.logs, "HTTP server error")
				if len(entries) != 1 {
					t.Fatalf("got %d HTTP server error entries, want 1", len(entries))
				}
				if got := entries[0].ContextMap()["message"]; got != tt.line {
					t.Errorf("message = %q, want %q", got, tt.line)
				}
				return
			}
			if got := f.hooks.failureCount(tt.wantReason); got != 1 {
				t.Errorf("failures counted as %s = %d, want 1", tt.wantReason, got)
			}
			entries := entriesWithMessage(f.logs, "TLS handshake failed")
			if len(entries) != 1 {
				t.Fatalf("got %d handshake failure entries, want 1", len(entries))
			}
			if got := entries[0].ContextMap()["remote_addr"]; got != tt.wantAddress {
				t.Errorf("remote_addr = %q, want %q", got, tt.wantAddress)
			}
		})
	}
}

func TestHandshakeFailureReasonsComplete(t *testing.T) {
	want := []string{
		"no_client_certificate", "unknown_authority", "expired_certificate",
		"client_not_allowed", "protocol_version", "other",
	}
	got := tlsconfig.HandshakeFailureReasons()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("HandshakeFailureReasons() = %v, want %v", got, want)
	}
}

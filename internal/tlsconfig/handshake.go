package tlsconfig

import (
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// Reasons for a failed handshake, the values of the reason label of
// processor_tls_handshake_failures_total.
const (
	// ReasonNoClientCertificate: the client sent no certificate.
	ReasonNoClientCertificate = "no_client_certificate"
	// ReasonUnknownAuthority: no CA in the client CA file issued the
	// client certificate.
	ReasonUnknownAuthority = "unknown_authority"
	// ReasonExpiredCertificate: a certificate in the client chain is
	// expired or not yet valid.
	ReasonExpiredCertificate = "expired_certificate"
	// ReasonClientNotAllowed: the certificate verified but matches no
	// allow-list entry.
	ReasonClientNotAllowed = "client_not_allowed"
	// ReasonProtocolVersion: the client offered only TLS versions below
	// Config.MinVersion, or SSL 2.
	ReasonProtocolVersion = "protocol_version"
	// ReasonOther: any other failure, such as no shared cipher suite, a
	// client certificate without the client-authentication key usage, a
	// timeout, or a connection closed before the handshake finished
	// ("EOF"). TCP health checks of a load balancer produce the last, so
	// point them at the ops listener.
	ReasonOther = "other"
)

// HandshakeFailureReasons returns every reason, so that the metrics package
// can start each series at zero.
func HandshakeFailureReasons() []string {
	return []string{
		ReasonNoClientCertificate,
		ReasonUnknownAuthority,
		ReasonExpiredCertificate,
		ReasonClientNotAllowed,
		ReasonProtocolVersion,
		ReasonOther,
	}
}

// handshakeErrorPrefix starts the line that net/http writes to ErrorLog for
// a failed handshake (net/http server.go, Go 1.26), followed by
// "<remote address>: <error>".
const handshakeErrorPrefix = "http: TLS handshake error from "

// handshakeFailureRules map a handshake error text to a reason. The first
// rule whose substring occurs wins. Except for the first, the substrings are
// the messages of crypto/tls and crypto/x509 in Go 1.26. The handshake tests
// run each case against the real TLS stack, so a Go release that rewords one
// fails them rather than miscounting silently.
var handshakeFailureRules = []struct {
	substring string
	reason    string
}{
	// Returned by verifyConnection. It comes first so that a client
	// identity quoted in it cannot match a later rule.
	{notAllowedMessage, ReasonClientNotAllowed},
	{"tls: client didn't provide a certificate", ReasonNoClientCertificate},
	{"x509: certificate signed by unknown authority", ReasonUnknownAuthority},
	{"x509: certificate has expired or is not yet valid", ReasonExpiredCertificate},
	{"tls: client offered only unsupported versions", ReasonProtocolVersion},
	{"tls: unsupported SSLv2 handshake received", ReasonProtocolVersion},
}

// classifyHandshakeError returns the reason for a handshake error text.
func classifyHandshakeError(text string) string {
	for _, rule := range handshakeFailureRules {
		if strings.Contains(text, rule.substring) {
			return rule.reason
		}
	}
	return ReasonOther
}

// maxLoggedErrorLength bounds the error text in a log line, in bytes.
const maxLoggedErrorLength = 512

// errorLogWriter is the writer behind HandshakeErrorLog. log.Logger calls
// Write once per line and serializes the calls.
type errorLogWriter struct {
	server *Server
}

// Write classifies a handshake error line, or passes any other line of the
// HTTP server to zap. It always returns len(p) and a nil error.
func (w errorLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	rest, isHandshake := strings.CutPrefix(line, handshakeErrorPrefix)
	if !isHandshake {
		w.server.logger.Error("HTTP server error", zap.String("message", truncate(line)))
		return len(p), nil
	}

	// The remote address has no ": " in it, IPv6 included ("[::1]:443").
	remoteAddr, cause, _ := strings.Cut(rest, ": ")
	w.server.handshakeFailed(remoteAddr, cause)
	return len(p), nil
}

// handshakeFailed logs a failed handshake within the rate limit and counts
// it. The log line carries the remote address, the reason and the error
// text, which Go's TLS stack builds from fixed messages, never from
// certificate bytes.
func (s *Server) handshakeFailed(remoteAddr, cause string) {
	reason := classifyHandshakeError(cause)
	if logIt, suppressed := s.failures.admit(reason); logIt {
		s.logger.Warn("TLS handshake failed",
			zap.String("remote_addr", remoteAddr),
			zap.String("reason", reason),
			zap.String("error", truncate(cause)),
			zap.Int("suppressed", suppressed))
	}
	s.hooks.HandshakeFailed(reason)
}

// logSuppressedFailures logs, per reason, the failures that the rate limit
// held back and no later line reported.
func (s *Server) logSuppressedFailures() {
	for reason, count := range s.failures.drain() {
		s.logger.Warn("TLS handshake failures not logged because of the rate limit",
			zap.String("reason", reason),
			zap.Int("suppressed", count))
	}
}

// failureLimiter lets one log line per reason through per interval and
// counts the rest, so that the next line of that reason can report them.
type failureLimiter struct {
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	reasons map[string]*failureWindow
}

type failureWindow struct {
	lastLogged time.Time
	suppressed int
}

func newFailureLimiter(interval time.Duration, now func() time.Time) *failureLimiter {
	return &failureLimiter{interval: interval, now: now, reasons: make(map[string]*failureWindow)}
}

// admit reports whether a failure of reason should be logged now and, if
// so, how many of the same reason were suppressed since the previous line.
func (l *failureLimiter) admit(reason string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()

	now := l.now()
	window, seen := l.reasons[reason]
	if !seen {
		window = &failureWindow{}
		l.reasons[reason] = window
	}
	if seen && now.Sub(window.lastLogged) < l.interval {
		window.suppressed++
		return false, 0
	}
	suppressed := window.suppressed
	window.lastLogged, window.suppressed = now, 0
	return true, suppressed
}

// drain returns the suppressed count of each reason that has one and resets
// them.
func (l *failureLimiter) drain() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()

	counts := make(map[string]int)
	for reason, window := range l.reasons {
		if window.suppressed > 0 {
			counts[reason] = window.suppressed
			window.suppressed = 0
		}
	}
	return counts
}

// truncate bounds text to maxLoggedErrorLength bytes without splitting a
// UTF-8 sequence.
func truncate(text string) string {
	if len(text) <= maxLoggedErrorLength {
		return text
	}
	cut := maxLoggedErrorLength
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}

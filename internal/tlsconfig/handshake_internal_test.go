package tlsconfig

import (
	"strings"
	"testing"
	"time"
)

func TestClassifyHandshakeError(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{name: "allow-list rejection", text: `tlsconfig: client certificate "cn:intruder" ` + notAllowedMessage, want: ReasonClientNotAllowed},
		{name: "allow-list rejection quoting another rule", text: `tlsconfig: client certificate "cn:x509: certificate signed by unknown authority" ` + notAllowedMessage, want: ReasonClientNotAllowed},
		{name: "no certificate", text: "tls: client didn't provide a certificate", want: ReasonNoClientCertificate},
		{name: "unknown authority", text: "tls: failed to verify certificate: x509: certificate signed by unknown authority", want: ReasonUnknownAuthority},
		{name: "expired", text: "tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-01-02T00:00:00Z is after 2026-01-01T00:00:00Z", want: ReasonExpiredCertificate},
		{name: "old version", text: "tls: client offered only unsupported versions: [302 301]", want: ReasonProtocolVersion},
		{name: "SSL 2", text: "tls: unsupported SSLv2 handshake received", want: ReasonProtocolVersion},
		{name: "EOF", text: "EOF", want: ReasonOther},
		{name: "no shared suite", text: "tls: no cipher suite supported by both client and server", want: ReasonOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyHandshakeError(tt.text); got != tt.want {
				t.Errorf("classifyHandshakeError(%q) = %s, want %s", tt.text, got, tt.want)
			}
		})
	}
}

func TestClassifierRulesCovered(t *testing.T) {
	for _, rule := range handshakeFailureRules {
		if got := classifyHandshakeError("prefix " + rule.substring + " suffix"); got != rule.reason {
			t.Errorf("text with %q classified as %s, want %s", rule.substring, got, rule.reason)
		}
	}
}

// fakeClock is a clock that tests move by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestFailureLimiterWindows(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	limiter := newFailureLimiter(time.Minute, clock.Now)

	type step struct {
		advance        time.Duration
		reason         string
		wantLogged     bool
		wantSuppressed int
	}
	steps := []step{
		{reason: ReasonOther, wantLogged: true},
		{advance: time.Second, reason: ReasonOther},
		{advance: time.Second, reason: ReasonOther},
		{reason: ReasonUnknownAuthority, wantLogged: true}, // reasons have separate windows
		{advance: time.Minute, reason: ReasonOther, wantLogged: true, wantSuppressed: 2},
		{advance: time.Second, reason: ReasonOther},
		{advance: 2 * time.Minute, reason: ReasonOther, wantLogged: true, wantSuppressed: 1},
		{reason: ReasonOther},
	}
	for i, s := range steps {
		clock.now = clock.now.Add(s.advance)
		logged, suppressed := limiter.admit(s.reason)
		if logged != s.wantLogged || suppressed != s.wantSuppressed {
			t.Errorf("step %d (%s): admit = (%v, %d), want (%v, %d)", i+1, s.reason, logged, suppressed, s.wantLogged, s.wantSuppressed)
		}
	}

	drained := limiter.drain()
	if len(drained) != 1 || drained[ReasonOther] != 1 {
		t.Errorf("drain() = %v, want map[other:1]", drained)
	}
	if again := limiter.drain(); len(again) != 0 {
		t.Errorf("second drain() = %v, want empty", again)
	}
}

func TestTruncate(t *testing.T) {
	short := "tls: bad record MAC"
	if got := truncate(short); got != short {
		t.Errorf("truncate(%q) = %q, want it unchanged", short, got)
	}

	long := strings.Repeat("a", maxLoggedErrorLength-1) + "é" + "tail"
	got := truncate(long)
	if want := strings.Repeat("a", maxLoggedErrorLength-1) + "…"; got != want {
		t.Errorf("truncate cut inside a UTF-8 sequence or at the wrong place: got %d bytes ending %q", len(got), got[len(got)-8:])
	}
}

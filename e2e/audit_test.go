package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// auditFields are the fields of every validation and authorization audit
// event (an access to card data under PCI DSS 10.2).
var auditFields = []string{"event", "request_id", "client", "contact_id", "field", "scheme", "key_id", "outcome", "card_fingerprint"}

// decryptAuditFields are the fields of every decrypt audit event: the same
// as the others, with an empty card fingerprint.
var decryptAuditFields = auditFields

// isAuditLine reports whether l comes from the audit logger, which is named
// "audit" so that log routing can send it to the one-year archive.
func isAuditLine(l LogLine) bool {
	return l.Logger() == "audit"
}

// auditCase is one request and the audit events it must produce.
type auditCase struct {
	name    string
	path    string
	body    map[string]any
	want    map[string]int // audit events by "event" value
	outcome string         // outcome of the validation or authorization event
	field   string
	scheme  string
	// fingerprint is the PAN whose card_fingerprint the event carries, or
	// "" when no valid PAN was read.
	fingerprint string
	// bug names a known defect that makes the case fail; the case is
	// skipped with it until the defect is fixed.
	bug string
}

// TestAuditEventPerAccess reads the binary's JSON log. Every validation and
// authorization must emit exactly one audit event of its kind with every
// field, and every decrypt exactly one decrypt event. Requests that touch no
// card data must emit none.
func TestAuditEventPerAccess(t *testing.T) {
	p := StartProcessor(t, Options{Env: map[string]string{"PROCESSOR_LOG_LEVEL": "info", "PROCESSOR_REQUEST_BUDGET": "2s"}})
	c := p.Client(t)
	keyID := p.Manifest.ConfiguredConnectKeys()[0].KeyID
	expiry, cvv := p.EncryptDTMF(t, futureExpiry()), p.EncryptDTMF(t, cvvVisa)
	approved := p.EncryptDTMF(t, panApproved)
	unknownKey := string(p.Manifest.Vector(t, "wrong-key").Input(t))
	validation := func(field, ciphertext string) map[string]any {
		return map[string]any{"field": field, "ciphertext": ciphertext, "contactId": "contact-audit"}
	}

	cases := []auditCase{
		{name: "DTMF PAN validation", path: "/v1/validations", body: validation("pan", approved),
			want: map[string]int{"decrypt": 1, "validation": 1}, outcome: "valid", field: "pan", scheme: "connect_rsa", fingerprint: panApproved},
		{name: "KMS PAN validation", path: "/v1/validations", body: validation("pan", p.EncryptLex(t, panApproved)),
			want: map[string]int{"decrypt": 1, "validation": 1}, outcome: "valid", field: "pan", scheme: "kms", fingerprint: panApproved},
		{name: "expiry validation", path: "/v1/validations", body: validation("expiry", expiry),
			want: map[string]int{"decrypt": 1, "validation": 1}, outcome: "valid", field: "expiry", scheme: "connect_rsa"},
		{name: "CVV validation", path: "/v1/validations", body: validation("cvv", cvv),
			want: map[string]int{"decrypt": 1, "validation": 1}, outcome: "valid", field: "cvv", scheme: "connect_rsa"},
		{name: "PAN failing Luhn", path: "/v1/validations", body: validation("pan", p.EncryptDTMF(t, panLuhnInvalid)),
			want: map[string]int{"decrypt": 1, "validation": 1}, outcome: "pan_luhn", field: "pan", scheme: "connect_rsa"},
		{name: "validation decrypt failure", path: "/v1/validations", body: validation("pan", unknownKey),
			want: map[string]int{"decrypt": 1, "validation": 1}, outcome: "key_unknown", field: "pan", scheme: "connect_rsa"},
		{name: "DTMF authorization", path: "/v1/authorizations", body: authorizationBody("audit-dtmf", 100, approved, expiry, cvv),
			want: map[string]int{"decrypt": 3, "authorization": 1}, outcome: "approved", field: "card", scheme: "connect_rsa", fingerprint: panApproved},
		{name: "authorization replay", path: "/v1/authorizations", body: authorizationBody("audit-dtmf", 100, approved, expiry, cvv),
			want: map[string]int{"decrypt": 3, "authorization": 1}, outcome: "approved", field: "card", scheme: "connect_rsa", fingerprint: panApproved},
		{name: "authorization conflict", path: "/v1/authorizations", body: authorizationBody("audit-dtmf", 200, approved, expiry, cvv),
			want: map[string]int{"decrypt": 3, "authorization": 1}, outcome: "idempotency_conflict", field: "card", scheme: "connect_rsa", fingerprint: panApproved},
		{name: "KMS authorization declined", path: "/v1/authorizations",
			body: authorizationBody("audit-kms", 100, p.EncryptLex(t, panDeclined), p.EncryptLex(t, futureExpiry()), ""),
			want: map[string]int{"decrypt": 2, "authorization": 1}, outcome: "declined", field: "card", scheme: "kms", fingerprint: panDeclined},
		{name: "authorization with an invalid PAN", path: "/v1/authorizations", body: authorizationBody("audit-luhn", 100, p.EncryptDTMF(t, panLuhnInvalid), expiry, cvv),
			want: map[string]int{"decrypt": 3, "authorization": 1}, outcome: "pan_luhn", field: "card", scheme: "connect_rsa"},
		{name: "authorization with an undecryptable expiry", path: "/v1/authorizations", body: authorizationBody("audit-expiry", 100, approved, unknownKey, cvv),
			want: map[string]int{"decrypt": 3, "authorization": 1}, outcome: "key_unknown", field: "card", scheme: "connect_rsa"},
		{name: "invalid request", path: "/v1/authorizations", body: map[string]any{"idempotencyKey": "audit-bad", "contactId": "contact-audit"},
			want: map[string]int{}},
		{name: "lookup", path: "/v1/authorizations/audit-dtmf", want: map[string]int{}},
	}

	fingerprints := map[string]string{} // PAN -> card_fingerprint
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bug != "" {
				t.Skip("BUG: " + tc.bug)
			}
			requestID := fmt.Sprintf("audit-case-%d", i)
			if tc.body == nil {
				c.Get(tc.path, "X-Request-Id", requestID)
			} else {
				c.Post(tc.path, tc.body, "X-Request-Id", requestID)
			}
			var events []LogLine
			for _, l := range p.AccessLogged(t, requestID) {
				if isAuditLine(l) && l.String("request_id") == requestID {
					events = append(events, l)
				}
			}

			got := map[string]int{}
			for _, e := range events {
				got[e.String("event")]++
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("audit events = %v, want %v", got, tc.want)
			}
			for _, e := range events {
				checkAuditEvent(t, e, tc, keyID, p.PaymentKeyARN(), fingerprints)
			}
		})
	}

	t.Run("fingerprints differ by card", func(t *testing.T) {
		if fingerprints[panApproved] == "" || fingerprints[panApproved] == fingerprints[panDeclined] {
			t.Errorf("card fingerprints = %v, want one per card", fingerprints)
		}
	})
}

// checkAuditEvent checks the fields of one audit event of tc's request.
// fingerprints maps each PAN to the first fingerprint seen for it, so that
// the same card must get the same fingerprint in every event.
func checkAuditEvent(t *testing.T, e LogLine, tc auditCase, keyID, keyARN string, fingerprints map[string]string) {
	t.Helper()
	kind := e.String("event")
	if kind == "decrypt" {
		for _, name := range decryptAuditFields {
			if _, ok := e[name]; !ok {
				t.Errorf("decrypt event has no %s: %v", name, e)
			}
		}
		if e.String("client") != "uri:"+ClientURI {
			t.Errorf("decrypt event client = %q, want uri:%s", e.String("client"), ClientURI)
		}
		if e.String("outcome") == "ok" && !slices.Contains([]string{keyID, keyARN}, e.String("key_id")) {
			t.Errorf("decrypt event key_id = %q, want the Connect Key ID or the KMS key ARN", e.String("key_id"))
		}
		return
	}

	for _, name := range auditFields {
		if _, ok := e[name]; !ok {
			t.Errorf("%s event has no %s: %v", kind, name, e)
		}
	}
	checks := []struct{ name, got, want string }{
		{"outcome", e.String("outcome"), tc.outcome},
		{"field", e.String("field"), tc.field},
		{"scheme", e.String("scheme"), tc.scheme},
		{"client", e.String("client"), "uri:" + ClientURI},
	}
	for _, check := range checks {
		if check.got != check.want {
			t.Errorf("%s event %s = %q, want %q", kind, check.name, check.got, check.want)
		}
	}
	if e.String("contact_id") == "" {
		t.Errorf("%s event has an empty contact_id", kind)
	}
	wantKey := keyID
	if tc.scheme == "kms" {
		wantKey = keyARN
	}
	if tc.outcome == "key_unknown" && tc.field != "card" {
		// No configured key matched, so the event names none.
		wantKey = ""
	}
	if e.String("key_id") != wantKey {
		t.Errorf("%s event key_id = %q, want %q", kind, e.String("key_id"), wantKey)
	}

	fingerprint := e.String("card_fingerprint")
	switch {
	case tc.fingerprint == "" && fingerprint != "":
		t.Errorf("%s event has card_fingerprint %q without a valid PAN", kind, fingerprint)
	case tc.fingerprint == "":
	case fingerprint == "":
		t.Errorf("%s event has no card_fingerprint", kind)
	case fingerprints[tc.fingerprint] == "":
		fingerprints[tc.fingerprint] = fingerprint
	case fingerprints[tc.fingerprint] != fingerprint:
		t.Errorf("%s event card_fingerprint = %q, but the same card had %q before", kind, fingerprint, fingerprints[tc.fingerprint])
	}
	if tc.fingerprint != "" && strings.Contains(fmt.Sprint(e), tc.fingerprint) {
		t.Errorf("%s event contains the PAN", kind)
	}
}

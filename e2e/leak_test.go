package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/leakscan"
	"github.com/connect-secure-input/processor/internal/testkit/pki"
)

// Canaries shared with internal/httpapi/panic_leakcheck.go, which is built
// into the binary only with the leakcheck tag.
const (
	// panicPAN is the card number in the text of the injected panic.
	panicPAN = "4000000000000077"
	// deliberateLeakPAN is the card number that the binary prints at
	// start-up when LEAKCHECK_DELIBERATE_LEAK=1.
	deliberateLeakPAN = "4000000000000010"
)

// simulatorCards are the card table of docs/simulator.md with the outcome
// each must produce; all of them are canaries.
var simulatorCards = []struct {
	pan         string
	status      string
	declineCode string
}{
	{"4242424242424242", "approved", ""},
	{"5555555555554444", "approved", ""},
	{"4000000000000002", "declined", "do_not_honor"},
	{"4000000000009995", "declined", "insufficient_funds"},
	{"4000000000009987", "declined", "lost_or_stolen"},
	{"4000000000009979", "declined", "lost_or_stolen"},
	{"4000000000000069", "declined", "expired_card"},
	{"4000000000000127", "declined", "incorrect_cvc"},
	{"4000000000000119", "declined", "processing_error"},
	{"4100000000000019", "declined", "fraudulent"},
	{"4000000000007007", "declined", "card_not_supported"},
	{"4000000000008021", "declined", "invalid_expiry"},
	{"4000000000008039", "declined", "try_again_later"},
	{"4000000000008047", "declined", "generic_decline"},
	{"4000000000008054", "declined", "authentication_required"},
}

// leakCanaries returns every card number and CVV that the leak test sends.
func leakCanaries() []leakscan.Canary {
	var out []leakscan.Canary
	add := func(name, digits string) { out = append(out, leakscan.Canary{Name: name, Digits: digits}) }
	for _, c := range simulatorCards {
		add("simulator PAN "+c.pan, c.pan)
	}
	add("slow PAN", panSlow)
	add("silent PAN", panSilent)
	add("Amex PAN", panAmex)
	add("vector PAN 16", "4111111111111111")
	add("vector PAN 19", "6205500000000000004")
	add("Luhn-invalid PAN", panLuhnInvalid)
	add("panic PAN", panicPAN)
	add("deliberate-leak PAN", deliberateLeakPAN)
	add("CVV 737", cvvVisa)
	add("CVV 1234", cvvAmex)
	return out
}

// leakTestEnv is the configuration of the leak test's processor: debug logs,
// and a short budget, card-data TTL and slow delay so that the pending,
// timeout and void paths run within seconds.
var leakTestEnv = map[string]string{
	"PROCESSOR_LOG_LEVEL":            "debug",
	"PROCESSOR_REQUEST_BUDGET":       "500ms",
	"PROCESSOR_SAD_TTL":              "2s",
	"PROCESSOR_SIMULATOR_SLOW_DELAY": "1s",
	"PROCESSOR_DRAIN_TIMEOUT":        "5s",
}

// TestLeakNoCardDataInAnyOutput runs the real binary at debug level through
// every endpoint and error path with canary card numbers and CVVs, and stops
// it with a request in flight. Then it scans for the canaries in every byte
// of standard output and standard error, every API response (headers and
// body) and every /metrics, /healthz and /readyz response.
func TestLeakNoCardDataInAnyOutput(t *testing.T) {
	p := StartProcessor(t, Options{Tags: []string{"leakcheck"}, Env: leakTestEnv})
	c := p.Client(t)
	scrape(t, p)

	t.Run("validations", func(t *testing.T) { leakValidations(t, p, c) })
	t.Run("vectors", func(t *testing.T) { leakVectors(t, p, c) })
	t.Run("authorizations", func(t *testing.T) { leakAuthorizations(t, p, c) })
	t.Run("timeouts", func(t *testing.T) { leakTimeouts(t, p, c) })
	t.Run("request errors", func(t *testing.T) { leakRequestErrors(t, p, c) })
	t.Run("panic", func(t *testing.T) { leakPanic(t, p, c) })
	t.Run("mTLS", func(t *testing.T) { leakHandshake(t, p) })
	scrape(t, p)
	// The panic text, the contact id and the User-Agent carried card
	// numbers that only the redaction core can remove.
	if scrubs := p.MetricSum(t, "processor_redaction_scrubs_total"); scrubs == 0 {
		t.Error("processor_redaction_scrubs_total is 0, so the card numbers in the panic text and headers were not scrubbed")
	}
	t.Run("shutdown", func(t *testing.T) { leakShutdown(t, p, c) })

	if findings := scanOutputs(p); len(findings) > 0 {
		t.Errorf("%d canary findings in the processor's output:\n%s", len(findings), describeFindings(p, findings))
	}
}

// TestLeakScanFindsDeliberateLeak is the test of the leak test: the same
// capture and scan must report a card number that the binary prints on
// each output stream and a CVV that a response header echoes.
func TestLeakScanFindsDeliberateLeak(t *testing.T) {
	env := map[string]string{"LEAKCHECK_DELIBERATE_LEAK": "1"}
	for name, value := range leakTestEnv {
		env[name] = value
	}
	p := StartProcessor(t, Options{Tags: []string{"leakcheck"}, Env: env})
	// The API echoes a valid X-Request-Id, so a CVV in it comes back in the
	// response header (and in every log line of the request).
	p.Client(t).Post("/v1/validations", map[string]any{"field": "cvv", "ciphertext": p.EncryptDTMF(t, "123")},
		"X-Request-Id", "probe-"+cvvVisa+"-id")
	scrape(t, p)
	if code, _ := p.Stop(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}

	findings := scanOutputs(p)
	want := []struct{ source, canary, variant string }{
		{"stdout", "deliberate-leak PAN", "plain"},
		{"stderr", "deliberate-leak PAN", "spaced in groups of four"},
		{"API responses", "CVV 737", "plain"},
	}
	for _, w := range want {
		found := false
		for _, f := range findings {
			found = found || (f.Source == w.source && f.Canary == w.canary && f.Variant == w.variant)
		}
		if !found {
			t.Errorf("the scan missed the %s of %s (%s); findings:\n%s", w.canary, w.source, w.variant, describeFindings(p, findings))
		}
	}
}

// scrape fetches every ops endpoint, so the responses join the scan.
func scrape(t *testing.T, p *Processor) {
	t.Helper()
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if resp := p.Ops(t, path); resp.Status != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.Status)
		}
	}
}

// outputSources returns every captured output by name.
func outputSources(p *Processor) map[string][]byte {
	return map[string][]byte{
		"stdout":        p.Stdout(),
		"stderr":        p.Stderr(),
		"API responses": p.Responses(),
		"ops responses": p.OpsResponses(),
	}
}

func scanOutputs(p *Processor) []leakscan.Finding {
	var findings []leakscan.Finding
	for source, data := range outputSources(p) {
		findings = append(findings, leakscan.Scan(source, data, leakCanaries())...)
	}
	return findings
}

// describeFindings lists each finding with the text around it, so a reader
// can tell a real leak from a chance match of a short CVV.
func describeFindings(p *Processor, findings []leakscan.Finding) string {
	sources := outputSources(p)
	var b strings.Builder
	for _, f := range findings {
		data := sources[f.Source]
		around := data[max(0, f.Offset-80):min(len(data), f.Offset+80)]
		fmt.Fprintf(&b, "%s\n    ...%s...\n", f, bytes.ReplaceAll(around, []byte("\n"), []byte(`\n`)))
	}
	return b.String()
}

func leakValidations(t *testing.T, p *Processor, c *Client) {
	expiry := futureExpiry()
	var dtmf []map[string]any
	for _, card := range simulatorCards {
		dtmf = append(dtmf, map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, card.pan)})
	}
	dtmf = append(dtmf,
		map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, panLuhnInvalid)},
		map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, panAmex)},
		map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, panSlow+"#")},
		map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, "4242 4242 4242 4242")},
		map[string]any{"field": "cvv", "ciphertext": p.EncryptDTMF(t, cvvVisa), "brand": "visa"},
		map[string]any{"field": "cvv", "ciphertext": p.EncryptDTMF(t, cvvAmex), "brand": "amex"},
		map[string]any{"field": "cvv", "ciphertext": p.EncryptDTMF(t, cvvAmex), "brand": "visa"},
		map[string]any{"field": "cvv", "ciphertext": p.EncryptDTMF(t, cvvVisa+"4"+cvvVisa)},
		map[string]any{"field": "expiry", "ciphertext": p.EncryptDTMF(t, expiry)},
		map[string]any{"field": "expiry", "ciphertext": p.EncryptDTMF(t, "1399")},
		// The PAN sent where an expiry belongs, and the CVV where a PAN does.
		map[string]any{"field": "expiry", "ciphertext": p.EncryptDTMF(t, panApproved)},
		map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, cvvVisa)},
		// A contact id that is a card number, as a broken flow might send.
		map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, panApproved), "contactId": panApproved},
	)
	kmsBodies := []map[string]any{
		{"field": "pan", "ciphertext": p.EncryptLex(t, panApproved)},
		{"field": "pan", "ciphertext": p.EncryptLex(t, panLuhnInvalid)},
		{"field": "cvv", "ciphertext": p.EncryptLex(t, cvvVisa)},
		{"field": "cvv", "ciphertext": p.EncryptLex(t, cvvAmex), "brand": "amex"},
	}
	for i, body := range append(dtmf, kmsBodies...) {
		// The second request carries a card number in headers that a
		// client chose: the request id (which the API must then replace)
		// and the User-Agent (which the access log records).
		headers := []string{"User-Agent", fmt.Sprintf("e2e-leak/%d", i)}
		if i == 1 {
			headers = []string{"X-Request-Id", "req-" + panApproved, "User-Agent", "agent 4242 4242 4242 4242"}
		}
		if resp := c.Post("/v1/validations", body, headers...); resp.Status != http.StatusOK {
			t.Errorf("validation %d = %d %s, want 200", i, resp.Status, resp.Body)
		}
	}
}

func leakVectors(t *testing.T, p *Processor, c *Client) {
	for _, v := range p.Manifest.Vectors {
		body := map[string]any{"field": "pan", "ciphertext": string(v.Input(t))}
		if v.Positive() {
			body["field"] = fieldOf(v)
		}
		client := c
		if strings.TrimSpace(string(v.Input(t))) != string(v.Input(t)) {
			client = p.uncheckedClient(t) // see testPositiveVectors
		}
		resp := client.Post("/v1/validations", body)
		if v.Positive() != (resp.Status == http.StatusOK) {
			t.Errorf("vector %s = %d %s", v.Name, resp.Status, resp.Body)
		}
	}
}

func leakAuthorizations(t *testing.T, p *Processor, c *Client) {
	expiry := p.EncryptDTMF(t, futureExpiry())
	cvv := p.EncryptDTMF(t, cvvVisa)
	for i, card := range simulatorCards {
		key := fmt.Sprintf("leak-card-%d", i)
		resp := c.Post("/v1/authorizations", authorizationBody(key, 2500, p.EncryptDTMF(t, card.pan), expiry, cvv))
		got := decodeAuthorization(t, resp)
		if resp.Status != http.StatusCreated || got.Status != card.status || got.DeclineCode != card.declineCode {
			t.Errorf("%s = %d %s, want %s %s", key, resp.Status, resp.Body, card.status, card.declineCode)
		}
		if lookup := c.Get("/v1/authorizations/" + key); lookup.Status != http.StatusOK {
			t.Errorf("lookup of %s = %d %s", key, lookup.Status, lookup.Body)
		}
	}

	kmsBody := authorizationBody("leak-kms-amex", 2500, p.EncryptLex(t, panAmex), p.EncryptLex(t, futureExpiry()), p.EncryptLex(t, cvvAmex))
	for range 2 { // created, then replayed
		if resp := c.Post("/v1/authorizations", kmsBody); resp.Status >= 300 {
			t.Errorf("KMS authorization = %d %s", resp.Status, resp.Body)
		}
	}
	conflict := authorizationBody("leak-kms-amex", 2600, p.EncryptLex(t, panAmex), p.EncryptLex(t, futureExpiry()), p.EncryptLex(t, cvvAmex))
	if resp := c.Post("/v1/authorizations", conflict); resp.ErrorCode() != "idempotency_conflict" {
		t.Errorf("conflict = %d %s", resp.Status, resp.Body)
	}

	pan := p.EncryptDTMF(t, panApproved)
	errorCases := []struct {
		name string
		body map[string]any
		code string
	}{
		{"Luhn failure", authorizationBody("leak-luhn", 100, p.EncryptDTMF(t, panLuhnInvalid), expiry, cvv), "pan_luhn"},
		{"Amex with a 3-digit CVV", authorizationBody("leak-amex-cvv", 100, p.EncryptDTMF(t, panAmex), expiry, cvv), "cvv_length_for_brand"},
		{"PAN as the expiry", authorizationBody("leak-expiry", 100, pan, pan, cvv), "expiry_format"},
		{"CVV as the PAN", authorizationBody("leak-cvv-pan", 100, cvv, expiry, cvv), "pan_length"},
		{"undecryptable CVV", authorizationBody("leak-bad-cvv", 100, pan, expiry, string(p.Manifest.Vector(t, "flip-frame-tag").Input(t))), "ciphertext_authentication_failed"},
	}
	for _, tc := range errorCases {
		if resp := c.Post("/v1/authorizations", tc.body); resp.ErrorCode() != tc.code {
			t.Errorf("%s = %d %s, want %s", tc.name, resp.Status, resp.Body, tc.code)
		}
	}

	// Amounts from the simulator's amount table: an unavailable gateway
	// and a response lost after the approval.
	for _, amount := range []int{9901, 9902} {
		key := fmt.Sprintf("leak-amount-%d", amount)
		if resp := c.Post("/v1/authorizations", authorizationBody(key, amount, pan, expiry, cvv)); resp.Status >= 500 {
			t.Errorf("%s = %d %s", key, resp.Status, resp.Body)
		}
	}
}

// leakTimeouts runs the slow card (pending, then approved in the
// background) and the silent card (pending, then voided when its card data
// expires after PROCESSOR_SAD_TTL).
func leakTimeouts(t *testing.T, p *Processor, c *Client) {
	expiry := p.EncryptDTMF(t, futureExpiry())
	cvv := p.EncryptDTMF(t, cvvVisa)
	cases := []struct{ key, pan, final string }{
		{"leak-slow", panSlow, "approved"},
		{"leak-silent", panSilent, "failed"},
	}
	for _, tc := range cases {
		resp := c.Post("/v1/authorizations", authorizationBody(tc.key, 1500, p.EncryptDTMF(t, tc.pan), expiry, cvv))
		if got := decodeAuthorization(t, resp); got.Status != "pending" {
			t.Errorf("%s = %d %s, want pending after the 500ms budget", tc.key, resp.Status, resp.Body)
		}
	}
	for _, tc := range cases {
		var last Response
		final := waitFor(15*time.Second, func() bool {
			last = c.Get("/v1/authorizations/" + tc.key)
			return decodeAuthorization(t, last).Status == tc.final
		})
		if !final {
			t.Errorf("%s = %s, want %s", tc.key, last.Body, tc.final)
		}
	}
}

func leakRequestErrors(t *testing.T, p *Processor, c *Client) {
	pan := p.EncryptDTMF(t, panApproved)
	cases := []struct {
		name, method, path, body string
		headers                  []string
	}{
		{name: "card number in an unknown field", method: "POST", path: "/v1/validations",
			body: `{"field":"pan","ciphertext":"` + pan + `","pan":"4242424242424242","cvv":"737"}`},
		{name: "card number where a number belongs", method: "POST", path: "/v1/authorizations",
			body: `{"idempotencyKey":"leak-type","contactId":"c","amount":{"value":"4242424242424242","currency":"USD"},"card":{"pan":"4242424242424242","expiry":"1230","cvv":"737"}}`},
		{name: "card number as the ciphertext", method: "POST", path: "/v1/validations",
			body: `{"field":"pan","ciphertext":"4242424242424242"}`},
		{name: "card number in invalid JSON", method: "POST", path: "/v1/validations",
			body: `{"field":"pan","ciphertext":4242424242424242 737`},
		{name: "card number in a body too large", method: "POST", path: "/v1/validations",
			body: `{"field":"pan","ciphertext":"` + strings.Repeat("4242424242424242 737 ", maxBodyBytes/16) + `"}`},
		{name: "card number in a text/plain body", method: "POST", path: "/v1/validations",
			body: "4242424242424242 737", headers: []string{"Content-Type", "text/plain"}},
		{name: "card number in an unknown path and query", method: "GET", path: "/v1/cards/4242424242424242?cvv=737&pan=4242-4242-4242-4242"},
		{name: "card number as an idempotency key", method: "GET", path: "/v1/authorizations/4242424242424242"},
		{name: "card number in a method not allowed", method: "PUT", path: "/v1/validations",
			body: `{"pan":"4242424242424242"}`},
	}
	for _, tc := range cases {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		resp, err := c.Send(tc.method, tc.path, body, tc.headers...)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status < 400 {
			t.Errorf("%s = %d %s, want an error", tc.name, resp.Status, resp.Body)
		}
	}
}

func leakPanic(t *testing.T, p *Processor, c *Client) {
	body := map[string]any{"field": "pan", "ciphertext": p.EncryptDTMF(t, panApproved)}
	resp := c.Post("/v1/validations", body, "X-Leakcheck-Panic", "1", "X-Request-Id", "leak-panic")
	if resp.Status != http.StatusInternalServerError || resp.ErrorCode() != "internal" {
		t.Fatalf("panic request = %d %s, want 500 internal", resp.Status, resp.Body)
	}
	lines := p.AccessLogged(t, "leak-panic")
	for _, l := range lines {
		if l.Message() == "handler panicked" && l.String("request_id") == "leak-panic" {
			if !strings.Contains(l.String("panic"), "injected panic") {
				t.Errorf("the panic line has no panic text: %v", l)
			}
			return
		}
	}
	t.Error("no handler panicked line for the injected panic")
}

// leakHandshake presents a client certificate whose common name is a card
// number and which the allow-list rejects; the rejection log quotes the
// identity.
func leakHandshake(t *testing.T, p *Processor) {
	cert := p.PKI.CA.Issue(t, pki.ClientOptions(panApproved)).TLSCertificate()
	c := p.ClientWithTLS(t, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.PKI.CA.CertPool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
	if _, err := c.Send(http.MethodGet, "/v1/authorizations/leak-card-0", nil); err == nil {
		t.Error("a client outside the allow-list was served")
	}
	p.WaitForLog(t, 5*time.Second, "about the rejected handshake", func(l LogLine) bool {
		return l.String("reason") == "client_not_allowed"
	})
}

// leakShutdown stops the processor while the slow card is at the gateway,
// so the drain, the background authorization and the vault wipe log too.
func leakShutdown(t *testing.T, p *Processor, c *Client) {
	done := make(chan Response, 1)
	go func() {
		resp, err := c.Send(http.MethodPost, "/v1/authorizations",
			authorizationBody("leak-shutdown", 900, p.EncryptDTMF(t, panSlow), p.EncryptDTMF(t, futureExpiry()), p.EncryptDTMF(t, cvvVisa)),
			"X-Request-Id", "leak-shutdown")
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	p.WaitForLog(t, 10*time.Second, "of the in-flight authorization", func(l LogLine) bool {
		return l.String("event") == "decrypt" && l.String("request_id") == "leak-shutdown"
	})
	if code, _ := p.Stop(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if resp := <-done; resp.Status != http.StatusCreated {
		t.Errorf("in-flight authorization = %d %s, want 201", resp.Status, resp.Body)
	}
}

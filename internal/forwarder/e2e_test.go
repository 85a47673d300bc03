package forwarder_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/connect-secure-input/processor/internal/forwarder"
	"github.com/connect-secure-input/processor/internal/testkit/connectcrypt"
	"github.com/connect-secure-input/processor/internal/testkit/pki"
	"github.com/connect-secure-input/processor/internal/testkit/processortest"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
)

// The end-to-end tests feed the sample events to the real handler, which
// calls the real processor (processortest: the service of cmd/processor
// with the simulator gateway and the test-only Connect keys) over mTLS on
// 127.0.0.1.

// Simulator cards and amounts (docs/simulator.md).
const (
	slowCard         = "4000000000008013" // approved after the simulator's slow delay
	declinedCard     = "4000000000009995" // declined with insufficient_funds
	unavailableCents = "9901"             // the gateway fails as unavailable
)

// endToEnd is a running processor and a forwarder handler that calls it.
type endToEnd struct {
	processor *processortest.Processor
	handler   testHandler
	// dtmfKey is the configured 2048-bit Connect key, for ciphertexts made
	// in the test.
	dtmfKey connectcrypt.PublicKey
}

// startEndToEnd starts a processor with the PROCESSOR_* overrides in env and
// a handler with the given timeout that calls it with the allowed client
// certificate.
func startEndToEnd(t *testing.T, env map[string]string, timeout time.Duration) *endToEnd {
	t.Helper()
	p := processortest.Start(t, processortest.Options{Env: env})
	e := &endToEnd{processor: p}
	e.handler = newHandler(t, e.processorURL(t), e.material(p.ClientCert), timeout)

	key := p.Manifest.ConnectKey(t, "f465a593-f853-4a97-9f75-55fc941e30a8")
	publicKey, err := connectcrypt.ParsePublicKeyPEM(key.KeyID, key.PublicPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	e.dtmfKey = publicKey
	return e
}

func (e *endToEnd) processorURL(t *testing.T) *url.URL {
	t.Helper()
	u, err := url.Parse(e.processor.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *endToEnd) material(cert *pki.Cert) forwarder.Material {
	return forwarder.Material{
		ClientCertPEM: cert.CertPEM,
		ClientKeyPEM:  cert.KeyPEM,
		ServerCAPEM:   e.processor.CA.CertPEM,
	}
}

// encrypt returns digits encrypted as Connect's Store customer input block
// does, under the configured test key.
func (e *endToEnd) encrypt(t *testing.T, digits string) string {
	t.Helper()
	ciphertext, err := connectcrypt.EncryptDTMF(context.Background(), []byte(digits), e.dtmfKey)
	if err != nil {
		t.Fatalf("encrypt test digits: %v", err)
	}
	return ciphertext
}

// authorizeEvent returns the authorize sample with the PAN replaced by pan,
// and the other changes applied.
func (e *endToEnd) authorizeEvent(t *testing.T, pan string, changes map[string]string) events.ConnectEvent {
	t.Helper()
	all := map[string]string{"panCiphertext": e.encrypt(t, pan)}
	for k, v := range changes {
		all[k] = v
	}
	return withParams(loadEvent(t, "authorize.json"), all)
}

// gatewayAuthorizations returns how many authorize calls the processor made
// to the gateway, read from its metrics.
func (e *endToEnd) gatewayAuthorizations(t *testing.T) int {
	t.Helper()
	return e.metric(t, "processor_gateway_requests_total", `operation="authorize"`)
}

// metric returns the sum of the processor's samples of metric whose labels
// contain labelMatch (empty matches every sample).
func (e *endToEnd) metric(t *testing.T, metric, labelMatch string) int {
	t.Helper()
	resp, err := http.Get(e.processor.OpsURL + "/metrics")
	if err != nil {
		t.Fatalf("scrape processor metrics: %v", err)
	}
	defer resp.Body.Close()
	total := 0
	scanner := bufio.NewScanner(resp.Body)
	for scanner.Scan() {
		line := scanner.Text()
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		if name != metric || !strings.Contains(line, labelMatch) {
			continue
		}
		fields := strings.Fields(line)
		value, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("parse metric line %q: %v", line, err)
		}
		total += int(value)
	}
	if err := scanner.Err(); err != nil {
		t.Fatalf("read processor metrics: %v", err)
	}
	return total
}

func TestEndToEndValidation(t *testing.T) {
	e := startEndToEnd(t, nil, forwarder.DefaultTimeout)
	tests := []struct {
		name    string
		event   func(t *testing.T) events.ConnectEvent
		wantOut map[string]string
	}{
		{
			name:  "sample PAN",
			event: func(t *testing.T) events.ConnectEvent { return loadEvent(t, "validate-pan.json") },
			wantOut: map[string]string{
				"status": "valid", "valid": "true", "field": "pan", "brand": "visa", "last4": "1111", "panLength": "16",
			},
		},
		{
			name:    "sample expiry",
			event:   func(t *testing.T) events.ConnectEvent { return loadEvent(t, "validate-expiry.json") },
			wantOut: map[string]string{"status": "valid", "valid": "true", "field": "expiry", "expiryMonth": "12", "expiryYear": "2030"},
		},
		{
			name:    "sample CVV",
			event:   func(t *testing.T) events.ConnectEvent { return loadEvent(t, "validate-cvv.json") },
			wantOut: map[string]string{"status": "valid", "valid": "true", "field": "cvv", "cvvLength": "3"},
		},
		{
			name: "PAN failing Luhn",
			event: func(t *testing.T) events.ConnectEvent {
				return withParams(loadEvent(t, "validate-pan.json"), map[string]string{"ciphertext": e.encrypt(t, "4111111111111112")})
			},
			wantOut: map[string]string{"status": "invalid", "valid": "false", "field": "pan", "reason": "pan_luhn"},
		},
		{
			name: "three-digit CVV for amex",
			event: func(t *testing.T) events.ConnectEvent {
				return withParams(loadEvent(t, "validate-cvv.json"), map[string]string{"brand": "amex"})
			},
			wantOut: map[string]string{"status": "invalid", "valid": "false", "field": "cvv", "reason": "cvv_length_for_brand"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := e.handler.invoke(t, tt.event(t))

			assertAttributes(t, out, tt.wantOut)
		})
	}
}

func TestEndToEndAuthorization(t *testing.T) {
	e := startEndToEnd(t, nil, forwarder.DefaultTimeout)

	out := e.handler.invoke(t, loadEvent(t, "authorize.json"))

	for key, want := range map[string]string{
		"status": "approved", "replayed": "false", "idempotencyKey": sampleKey, "brand": "visa", "last4": "1111",
	} {
		if out[key] != want {
			t.Errorf("%s = %q, want %q", key, out[key], want)
		}
	}
	for _, key := range []string{"authorizationId", "authorizationCode", "gatewayReference"} {
		if out[key] == "" {
			t.Errorf("%s is missing from an approval %v", key, out)
		}
	}

	// The forwarder's log line carries ids, never a ciphertext.
	params := loadEvent(t, "authorize.json").Details.Parameters
	for _, entry := range e.handler.logs.All() {
		line := entry.Message + " " + fmt.Sprint(entry.ContextMap())
		for _, name := range []string{"panCiphertext", "expiryCiphertext", "cvvCiphertext"} {
			if strings.Contains(line, params[name]) {
				t.Errorf("log line %q contains the %s parameter", entry.Message, name)
			}
		}
	}

	// A status lookup after a transfer finds the same authorization.
	status := e.handler.invoke(t, loadEvent(t, "status-after-transfer.json"))
	if status["status"] != "approved" || status["authorizationId"] != out["authorizationId"] {
		t.Errorf("status lookup = %v, want the approved authorization %s", status, out["authorizationId"])
	}
}

func TestEndToEndDecline(t *testing.T) {
	e := startEndToEnd(t, nil, forwarder.DefaultTimeout)

	out := e.handler.invoke(t, e.authorizeEvent(t, declinedCard, nil))

	if out["status"] != "declined" || out["declineCode"] != "insufficient_funds" {
		t.Errorf("output = %v, want status=declined declineCode=insufficient_funds", out)
	}
}

func TestEndToEndLambdaRetryAuthorizesOnce(t *testing.T) {
	e := startEndToEnd(t, nil, forwarder.DefaultTimeout)
	event := loadEvent(t, "authorize.json")

	first := e.handler.invoke(t, event)
	retry := e.handler.invoke(t, event)

	if first["status"] != "approved" || retry["status"] != "approved" {
		t.Fatalf("statuses = %q then %q, want approved twice", first["status"], retry["status"])
	}
	if first["replayed"] != "false" || retry["replayed"] != "true" {
		t.Errorf("replayed = %q then %q, want false then true", first["replayed"], retry["replayed"])
	}
	if first["authorizationId"] != retry["authorizationId"] {
		t.Errorf("authorizationId = %q then %q, want the same authorization", first["authorizationId"], retry["authorizationId"])
	}
	if n := e.gatewayAuthorizations(t); n != 1 {
		t.Errorf("the gateway received %d authorizations, want 1", n)
	}
}

func TestEndToEndPendingThenFinal(t *testing.T) {
	// A request budget shorter than the slow card's delay makes the
	// authorization pending, and the gateway responds in the background.
	e := startEndToEnd(t, map[string]string{
		"PROCESSOR_REQUEST_BUDGET":       "300ms",
		"PROCESSOR_SIMULATOR_SLOW_DELAY": "1500ms",
	}, forwarder.DefaultTimeout)
	event := e.authorizeEvent(t, slowCard, nil)

	out := e.handler.invoke(t, event)
	if out["status"] != "pending" || out["replayed"] != "false" {
		t.Fatalf("output = %v, want status=pending replayed=false", out)
	}

	// Poll as a flow would, until the status is final.
	final := pollStatus(t, e.handler, loadEvent(t, "status-after-transfer.json"), 15*time.Second)
	if final["status"] != "approved" || final["authorizationId"] != out["authorizationId"] {
		t.Errorf("final status = %v, want approved for %s", final, out["authorizationId"])
	}

	// Sending the authorization again replays the final state.
	replay := e.handler.invoke(t, event)
	if replay["status"] != "approved" || replay["replayed"] != "true" {
		t.Errorf("replay = %v, want status=approved replayed=true", replay)
	}
	if n := e.gatewayAuthorizations(t); n != 1 {
		t.Errorf("the gateway received %d authorizations, want 1", n)
	}
}

// pollStatus invokes the status event until its status is no longer pending,
// and fails the test after limit.
func pollStatus(t *testing.T, h testHandler, event events.ConnectEvent, limit time.Duration) map[string]string {
	t.Helper()
	deadline := time.Now().Add(limit)
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		out := h.invoke(t, event)
		if out["status"] != "pending" {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("authorization still pending after %s", limit)
		}
		<-ticker.C
	}
}

func TestEndToEndDecryptErrors(t *testing.T) {
	// One JavaScript ESDK vector per decrypt error code of the Connect
	// path: the processor's code must reach the flow as the reason.
	e := startEndToEnd(t, nil, forwarder.DefaultTimeout)
	seen := map[string]bool{}
	for _, v := range e.processor.Manifest.Negative() {
		if v.Scheme != vectors.SchemeConnect || seen[v.Error] {
			continue
		}
		seen[v.Error] = true
		t.Run(v.Error, func(t *testing.T) {
			event := withParams(loadEvent(t, "validate-pan.json"), map[string]string{"ciphertext": string(v.Input(t))})

			out := e.handler.invoke(t, event)

			assertAttributes(t, out, map[string]string{"status": "error", "reason": v.Error, "retryable": "false"})
		})
	}
	// The Connect vectors cover seven codes; the KMS codes need the KMS path.
	if len(seen) < 7 {
		t.Errorf("exercised %d decrypt codes (%v), want at least 7", len(seen), seen)
	}
}

func TestEndToEndErrorMappings(t *testing.T) {
	e := startEndToEnd(t, nil, forwarder.DefaultTimeout)
	tests := []struct {
		name string
		// before runs first, to set up the state the case needs.
		before  func(t *testing.T)
		event   func(t *testing.T) events.ConnectEvent
		wantOut map[string]string
	}{
		{
			name: "expired card",
			event: func(t *testing.T) events.ConnectEvent {
				return e.authorizeEvent(t, "4242424242424242", map[string]string{"expiryCiphertext": e.encrypt(t, "0120"), "attempt": "2"})
			},
			wantOut: map[string]string{"status": "error", "reason": "expiry_past", "retryable": "false", "idempotencyKey": sampleContactID + ":authorize:2"},
		},
		{
			name: "same attempt with another amount",
			before: func(t *testing.T) {
				e.handler.invoke(t, withParams(loadEvent(t, "authorize.json"), map[string]string{"attempt": "3"}))
			},
			event: func(t *testing.T) events.ConnectEvent {
				return withParams(loadEvent(t, "authorize.json"), map[string]string{"attempt": "3", "amount": "5000"})
			},
			wantOut: map[string]string{"status": "error", "reason": "idempotency_conflict", "retryable": "false", "idempotencyKey": sampleContactID + ":authorize:3"},
		},
		{
			name: "status of an attempt never made",
			event: func(t *testing.T) events.ConnectEvent {
				return withParams(loadEvent(t, "status-after-transfer.json"), map[string]string{"attempt": "9"})
			},
			wantOut: map[string]string{"status": "error", "reason": "not_found", "retryable": "false", "idempotencyKey": sampleContactID + ":authorize:9"},
		},
		{
			name: "gateway failure",
			event: func(t *testing.T) events.ConnectEvent {
				return withParams(loadEvent(t, "authorize.json"), map[string]string{"attempt": "4", "amount": unavailableCents})
			},
			// The processor records a gateway that fails without an
			// issuer decision as failed, and the flow gets that status.
			wantOut: map[string]string{
				"status": "failed", "failureReason": "gateway_error", "replayed": "false",
				"idempotencyKey": sampleContactID + ":authorize:4", "authorizationId": present, "brand": "visa", "last4": "1111",
			},
		},
		{
			name: "invalid currency",
			event: func(t *testing.T) events.ConnectEvent {
				return withParams(loadEvent(t, "authorize.json"), map[string]string{"currency": "usd"})
			},
			wantOut: map[string]string{"status": "error", "reason": "invalid_event", "retryable": "false", "parameter": "currency"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before(t)
			}

			out := e.handler.invoke(t, tt.event(t))

			assertAttributes(t, out, tt.wantOut)
		})
	}
}

func TestEndToEndOverloaded(t *testing.T) {
	// One request slot, held by a slow authorization, makes the processor
	// reject a validation with 503 overloaded.
	e := startEndToEnd(t, map[string]string{
		"PROCESSOR_MAX_CONCURRENT":       "1",
		"PROCESSOR_REQUEST_BUDGET":       "5s",
		"PROCESSOR_SIMULATOR_SLOW_DELAY": "1500ms",
	}, forwarder.DefaultTimeout)
	type result struct {
		out map[string]string
		err error
	}
	slowResult := make(chan result, 1)
	event := e.authorizeEvent(t, slowCard, nil)
	ctx := lambdaContext(t)
	go func() {
		out, err := e.handler.Handle(ctx, event)
		slowResult <- result{out, err}
	}()
	e.waitInFlight(t, 1, 10*time.Second)

	out := e.handler.invoke(t, loadEvent(t, "validate-pan.json"))

	assertAttributes(t, out, map[string]string{"status": "error", "reason": "overloaded", "retryable": "true", "retryAfterSeconds": "1"})
	slow := <-slowResult
	if slow.err != nil || slow.out["status"] != "approved" {
		t.Errorf("slow authorization = %v, %v, want approved", slow.out, slow.err)
	}
}

// waitInFlight waits until the processor serves want API requests at once,
// and fails the test after limit.
func (e *endToEnd) waitInFlight(t *testing.T, want int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for e.metric(t, "processor_http_in_flight_requests", "") < want {
		if time.Now().After(deadline) {
			t.Fatalf("the processor did not reach %d requests in flight within %s", want, limit)
		}
		<-ticker.C
	}
}

func TestEndToEndTimeout(t *testing.T) {
	// The forwarder gives up before the processor's budget ends; the
	// authorization goes on, and a status lookup finds it.
	e := startEndToEnd(t, map[string]string{
		"PROCESSOR_REQUEST_BUDGET":       "2s",
		"PROCESSOR_SIMULATOR_SLOW_DELAY": "1s",
	}, 300*time.Millisecond)

	out := e.handler.invoke(t, e.authorizeEvent(t, slowCard, nil))

	assertAttributes(t, out, map[string]string{"status": "error", "reason": "timeout", "retryable": "true", "idempotencyKey": sampleKey})
	final := pollStatus(t, e.handler, loadEvent(t, "status-after-transfer.json"), 15*time.Second)
	if final["status"] != "approved" {
		t.Errorf("status after the timeout = %v, want approved", final)
	}
}

func TestEndToEndNetworkErrors(t *testing.T) {
	e := startEndToEnd(t, nil, forwarder.DefaultTimeout)
	strangerCA := pki.NewCA(t, "stranger CA")
	tests := []struct {
		name     string
		material func(t *testing.T) forwarder.Material
		// wantRetryable is the expected flag; empty leaves it unchecked
		// (see TestHandleNetworkErrors).
		wantRetryable string
	}{
		{
			name: "client not on the allow-list",
			material: func(t *testing.T) forwarder.Material {
				opts := pki.ClientOptions("intruder")
				opts.URIs = []string{"spiffe://test.local/intruder"}
				return e.material(e.processor.CA.Issue(t, opts))
			},
		},
		{
			name: "server CA not pinned",
			material: func(t *testing.T) forwarder.Material {
				m := e.material(e.processor.ClientCert)
				m.ServerCAPEM = strangerCA.CertPEM
				return m
			},
			wantRetryable: "false",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, e.processorURL(t), tt.material(t), forwarder.DefaultTimeout)

			out := h.invoke(t, loadEvent(t, "authorize.json"))

			want := map[string]string{"status": "error", "reason": "network_error", "retryable": tt.wantRetryable, "idempotencyKey": sampleKey}
			if tt.wantRetryable == "" {
				want["retryable"] = out["retryable"]
			}
			assertAttributes(t, out, want)
		})
	}
	if n := e.gatewayAuthorizations(t); n != 0 {
		t.Errorf("the gateway received %d authorizations, want none", n)
	}
}

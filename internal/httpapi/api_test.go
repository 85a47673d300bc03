package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/connect-secure-input/processor/internal/authorize"
	"github.com/connect-secure-input/processor/internal/card"
	"github.com/connect-secure-input/processor/internal/decrypt"
	"github.com/connect-secure-input/processor/internal/gateway/simulator"
	"github.com/connect-secure-input/processor/internal/rsadtmf"
	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/store/memstore"
	"github.com/connect-secure-input/processor/internal/testkit/apicontract"
	"github.com/connect-secure-input/processor/internal/testkit/connectcrypt"
	"github.com/connect-secure-input/processor/internal/testkit/vectors"
	"github.com/connect-secure-input/processor/internal/ttl"
)

type testAPI struct {
	url    string
	client *http.Client
	logs   *observer.ObservedLogs
	sim    *simulator.Simulator
	keys   []connectcrypt.PublicKey
}

func newTestAPI(t *testing.T, cfg Config, budget time.Duration) *testAPI {
	t.Helper()
	m := vectors.Load(t)
	var sources []rsadtmf.KeySource
	var pubs []connectcrypt.PublicKey
	for _, k := range m.ConfiguredConnectKeys() {
		sources = append(sources, rsadtmf.KeySource{KeyID: k.KeyID, PEM: secret.New(k.PrivatePEM(t))})
		pub, err := connectcrypt.ParsePublicKeyPEM(k.KeyID, k.PublicPEM(t))
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, pub)
	}
	connect, err := rsadtmf.Load(context.Background(), sources)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decrypt.New(decrypt.Config{}, connect, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vault, err := ttl.New(ttl.Config{TTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulator.New(simulator.Config{SlowDelay: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cards := card.NewRandomFingerprinter()
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	auth, err := authorize.New(authorize.Config{Budget: budget, Owner: "test", MOTO: true, FingerprintKey: bytes.Repeat([]byte{7}, 32)},
		st, vault, sim, cards, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	api, err := New(cfg, Deps{Decrypter: dec, Authorizer: auth, Cards: cards, Logger: logger,
		Identity: func(*http.Request) string { return "uri:spiffe://test/forwarder" }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		srv.Close()
		auth.Close(5 * time.Second)
		vault.Close()
		st.Close()
	})
	return &testAPI{url: srv.URL, client: apicontract.WrapClient(t, srv.Client()), logs: logs, sim: sim, keys: pubs}
}

func (a *testAPI) encrypt(t *testing.T, digits string) string {
	t.Helper()
	text, err := connectcrypt.EncryptDTMF(context.Background(), []byte(digits), a.keys[0])
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func (a *testAPI) do(t *testing.T, method, path, contentType, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, path, data)
	}
	return resp.StatusCode, resp.Header, out
}

func (a *testAPI) postJSON(t *testing.T, path string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	encoded, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return a.do(t, http.MethodPost, path, "application/json", string(encoded))
}

func errorCodeOf(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestValidations(t *testing.T) {
	a := newTestAPI(t, Config{}, 2*time.Second)
	tests := []struct {
		name      string
		field     string
		digits    string
		brand     string
		wantValid bool
		reason    string
	}{
		{"valid pan", "pan", "4111111111111111", "", true, ""},
		{"pan with terminator", "pan", "4111111111111111#", "", true, ""},
		{"pan typo", "pan", "4111111111111112", "", false, card.CodePANLuhn},
		{"pan too short", "pan", "41111", "", false, card.CodePANLength},
		{"valid expiry", "expiry", "12" + time.Now().AddDate(3, 0, 0).Format("06"), "", true, ""},
		{"past expiry", "expiry", "0120", "", false, card.CodeExpiryPast},
		{"bad month", "expiry", "1330", "", false, card.CodeExpiryMonth},
		{"valid cvv", "cvv", "123", "visa", true, ""},
		{"amex cid", "cvv", "1234", "amex", true, ""},
		{"cvv wrong length for brand", "cvv", "1234", "visa", false, card.CodeCVVLengthForBrand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"field": tt.field, "ciphertext": a.encrypt(t, tt.digits), "contactId": "contact-1"}
			if tt.brand != "" {
				body["brand"] = tt.brand
			}
			status, _, out := a.postJSON(t, "/v1/validations", body)
			if status != http.StatusOK {
				t.Fatalf("status = %d, body %v", status, out)
			}
			if out["valid"] != tt.wantValid {
				t.Errorf("valid = %v, want %v", out["valid"], tt.wantValid)
			}
			if reason, _ := out["reason"].(string); reason != tt.reason {
				t.Errorf("reason = %q, want %q", reason, tt.reason)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	a := newTestAPI(t, Config{MaxBodyBytes: 2048}, 2*time.Second)
	big := `{"field":"pan","ciphertext":"` + strings.Repeat("A", 4096) + `"}`
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"wrong content type", "POST", "/v1/validations", "text/plain", `{}`, 415, CodeUnsupportedMediaType},
		{"unknown field", "POST", "/v1/validations", "application/json", `{"field":"pan","ciphertext":"AYAD","pan":"x"}`, 400, CodeInvalidRequest},
		{"duplicate key", "POST", "/v1/validations", "application/json", `{"field":"pan","field":"cvv","ciphertext":"AYAD"}`, 400, CodeInvalidRequest},
		{"trailing data", "POST", "/v1/validations", "application/json", `{"field":"pan","ciphertext":"AYAD"} {}`, 400, CodeInvalidRequest},
		{"not json", "POST", "/v1/validations", "application/json", `field=pan`, 400, CodeInvalidRequest},
		{"bad field", "POST", "/v1/validations", "application/json", `{"field":"name","ciphertext":"AYAD"}`, 400, CodeInvalidRequest},
		{"body too large", "POST", "/v1/validations", "application/json", big, 413, CodeBodyTooLarge},
		{"malformed ciphertext", "POST", "/v1/validations", "application/json", `{"field":"pan","ciphertext":"AYADaGVsbG8="}`, 422, string(decrypt.CodeMalformed)},
		{"url-safe base64", "POST", "/v1/validations", "application/json", `{"field":"pan","ciphertext":"AY-_"}`, 422, string(decrypt.CodeMalformed)},
		{"unknown route", "GET", "/v1/cards", "", "", 404, CodeNotFound},
		{"wrong method", "DELETE", "/v1/validations", "", "", 405, CodeMethodNotAllowed},
		{"missing authorization", "GET", "/v1/authorizations/no-such-key", "", "", 404, CodeNotFound},
		{"bad currency", "POST", "/v1/authorizations", "application/json",
			`{"idempotencyKey":"k1","contactId":"c1","amount":{"value":100,"currency":"usd"},"card":{"pan":"AYAD","expiry":"AYAD"}}`, 400, CodeInvalidRequest},
		{"zero amount", "POST", "/v1/authorizations", "application/json",
			`{"idempotencyKey":"k1","contactId":"c1","amount":{"value":0,"currency":"USD"},"card":{"pan":"AYAD","expiry":"AYAD"}}`, 400, CodeInvalidRequest},
		{"bad idempotency key", "POST", "/v1/authorizations", "application/json",
			`{"idempotencyKey":"a b","contactId":"c1","amount":{"value":1,"currency":"USD"},"card":{"pan":"AYAD","expiry":"AYAD"}}`, 400, CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, out := a.do(t, tt.method, tt.path, tt.contentType, tt.body)
			if status != tt.status || errorCodeOf(out) != tt.code {
				t.Errorf("got %d %q, want %d %q (%v)", status, errorCodeOf(out), tt.status, tt.code, out)
			}
			if header.Get("X-Request-Id") == "" {
				t.Error("X-Request-Id is missing")
			}
		})
	}
}

func requestBody(a *testAPI, t *testing.T, key, pan string, amount int) map[string]any {
	return map[string]any{
		"idempotencyKey": key, "contactId": "contact-1", "reference": "order-7",
		"amount": map[string]any{"value": amount, "currency": "USD"},
		"card":   map[string]any{"pan": a.encrypt(t, pan), "expiry": a.encrypt(t, "12"+time.Now().AddDate(2, 0, 0).Format("06")), "cvv": a.encrypt(t, "123")},
	}
}

func TestAuthorizationLifecycle(t *testing.T) {
	a := newTestAPI(t, Config{}, 2*time.Second)
	body := requestBody(a, t, "contact-1:authorize:1", "4242424242424242", 4999)

	status, _, first := a.postJSON(t, "/v1/authorizations", body)
	if status != http.StatusCreated || first["status"] != "approved" {
		t.Fatalf("first = %d %v", status, first)
	}
	status, _, replay := a.postJSON(t, "/v1/authorizations", body)
	if status != http.StatusOK || replay["id"] != first["id"] {
		t.Errorf("replay = %d %v, want 200 with id %v", status, replay, first["id"])
	}
	status, _, got := a.do(t, http.MethodGet, "/v1/authorizations/contact-1:authorize:1", "", "")
	if status != http.StatusOK || got["id"] != first["id"] || got["status"] != "approved" {
		t.Errorf("GET = %d %v", status, got)
	}
	conflict := requestBody(a, t, "contact-1:authorize:1", "4242424242424242", 5000)
	status, _, out := a.postJSON(t, "/v1/authorizations", conflict)
	if status != http.StatusConflict || errorCodeOf(out) != CodeIdempotencyConflict {
		t.Errorf("conflict = %d %v", status, out)
	}
	status, _, declined := a.postJSON(t, "/v1/authorizations", requestBody(a, t, "contact-2:authorize:1", "4000000000009995", 100))
	if status != http.StatusCreated || declined["status"] != "declined" || declined["declineCode"] != "insufficient_funds" {
		t.Errorf("declined = %d %v", status, declined)
	}
	status, _, invalid := a.postJSON(t, "/v1/authorizations", requestBody(a, t, "contact-3:authorize:1", "4242424242424241", 100))
	if status != http.StatusUnprocessableEntity || errorCodeOf(invalid) != card.CodePANLuhn {
		t.Errorf("invalid card = %d %v", status, invalid)
	}
	if got := a.sim.Authorizations(); got != 2 {
		t.Errorf("gateway authorizations = %d, want 2", got)
	}
}

func TestOverloadAnswers503(t *testing.T) {
	a := newTestAPI(t, Config{MaxConcurrent: 1}, 1500*time.Millisecond)
	slow := requestBody(a, t, "contact-9:authorize:1", "4000000000008013", 100)
	quick := map[string]any{"field": "pan", "ciphertext": a.encrypt(t, "4111111111111111")}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.postJSON(t, "/v1/authorizations", slow)
	}()
	// The simulator records the slow card when the request reaches it, so
	// from then on the authorization holds the only slot for its budget.
	deadline := time.Now().Add(5 * time.Second)
	for a.sim.Authorizations() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow authorization never reached the gateway")
		}
		time.Sleep(5 * time.Millisecond)
	}

	status, header, out := a.postJSON(t, "/v1/validations", quick)
	if status != http.StatusServiceUnavailable || errorCodeOf(out) != CodeOverloaded {
		t.Errorf("validation while the slot is busy = %d %v, want 503 %s", status, out, CodeOverloaded)
	}
	if header.Get("Retry-After") == "" {
		t.Error("the 503 has no Retry-After")
	}
	wg.Wait()
}

func TestAuditEventPerAccess(t *testing.T) {
	a := newTestAPI(t, Config{}, 2*time.Second)
	a.postJSON(t, "/v1/validations", map[string]any{"field": "pan", "ciphertext": a.encrypt(t, "4111111111111111"), "contactId": "contact-5"})

	events := a.logs.FilterLoggerName("audit").All()
	byKind := map[string]int{}
	for _, e := range events {
		byKind[e.ContextMap()["event"].(string)]++
	}
	if byKind["decrypt"] != 1 || byKind["validation"] != 1 {
		t.Fatalf("audit events = %v, want one decrypt and one validation", byKind)
	}
	for _, e := range events {
		fields := e.ContextMap()
		if fields["event"] != "validation" {
			continue
		}
		for _, name := range []string{"request_id", "client", "contact_id", "field", "scheme", "key_id", "outcome", "card_fingerprint"} {
			if v, _ := fields[name].(string); v == "" {
				t.Errorf("validation audit event has no %s: %v", name, fields)
			}
		}
		if strings.Contains(fmtFields(fields), "4111111111111111") {
			t.Error("audit event contains the PAN")
		}
	}
}

func fmtFields(fields map[string]any) string {
	encoded, _ := json.Marshal(fields)
	return string(encoded)
}

package apicontract

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a testing.TB that records Errorf calls instead of failing, so
// a test can assert that a violation is reported. Any other method reaches
// the real test through the embedded testing.TB.
type recorder struct {
	testing.TB

	mu       sync.Mutex
	failures []string
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{TB: t}
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.failures...)
}

// assertReported checks that rec recorded exactly one failure and that it
// contains each of wantSubstrings, or that it recorded none when
// wantSubstrings is empty.
func assertReported(t *testing.T, rec *recorder, wantSubstrings []string) {
	t.Helper()
	failures := rec.Failures()
	if len(wantSubstrings) == 0 {
		if len(failures) != 0 {
			t.Errorf("got failures %q, want none", failures)
		}
		return
	}
	if len(failures) != 1 {
		t.Fatalf("got %d failures %q, want 1 containing %q", len(failures), failures, wantSubstrings)
	}
	for _, want := range wantSubstrings {
		if !strings.Contains(failures[0], want) {
			t.Errorf("failure %q does not contain %q", failures[0], want)
		}
	}
}

const (
	testBaseURL   = "http://127.0.0.1:8443"
	testRequestID = "0b9a3c2e-7f41-4d3b-a1c8-5e2f9d6b7a10"
)

func newRequest(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, testBaseURL+path, reader)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func newResponse(status int, headers map[string]string) *http.Response {
	resp := &http.Response{StatusCode: status, Header: http.Header{}}
	resp.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp.Header.Set("X-Request-Id", testRequestID)
	for name, value := range headers {
		if value == "" {
			resp.Header.Del(name)
			continue
		}
		resp.Header.Set(name, value)
	}
	return resp
}

const (
	validPANResult = `{"valid":true,"field":"pan","card":{"brand":"visa","bin":"41111111","last4":"1111","length":16}}`

	approvedAuthorization = `{"id":"auth_1","idempotencyKey":"5fb9a6a4-9d1e-4c4a-9d8e-2a7f3c1b0e61:1",` +
		`"status":"approved","authorizationCode":"831000","gatewayReference":"pi_123",` +
		`"card":{"brand":"visa","bin":"41111111","last4":"1111","expiry":{"month":12,"year":2030}},` +
		`"amount":{"value":4599,"currency":"USD"},"createdAt":"2025-01-15T14:03:07Z"}`

	validAuthorizationRequest = `{"idempotencyKey":"5fb9a6a4-9d1e-4c4a-9d8e-2a7f3c1b0e61:1",` +
		`"contactId":"5fb9a6a4-9d1e-4c4a-9d8e-2a7f3c1b0e61","amount":{"value":4599,"currency":"USD"},` +
		`"card":{"pan":"AYADeNDX0w==","expiry":"AYADeNDX0w==","cvv":"AYADeNDX0w=="},"reference":"order-10442"}`
)

func errorBody(code string, retryable bool) string {
	if retryable {
		return `{"error":{"code":"` + code + `","message":"Try again later.","requestId":"` + testRequestID + `","retryable":true}}`
	}
	return `{"error":{"code":"` + code + `","message":"It failed.","requestId":"` + testRequestID + `"}}`
}

func TestValidateResponse(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		path    string
		status  int
		headers map[string]string
		body    string
		// wantFailure lists substrings of the one expected failure; empty
		// means the response conforms.
		wantFailure []string
	}{
		{
			name: "valid PAN result", method: http.MethodPost, path: "/v1/validations",
			status: http.StatusOK, body: validPANResult,
		},
		{
			name: "invalid PAN result with reason", method: http.MethodPost, path: "/v1/validations",
			status: http.StatusOK, body: `{"valid":false,"field":"pan","reason":"pan_luhn"}`,
		},
		{
			name: "valid CVV result", method: http.MethodPost, path: "/v1/validations",
			status: http.StatusOK, body: `{"valid":true,"field":"cvv","cvv":{"length":4}}`,
		},
		{
			name: "new authorization", method: http.MethodPost, path: "/v1/authorizations",
			status: http.StatusCreated, body: approvedAuthorization,
		},
		{
			name: "replayed authorization", method: http.MethodPost, path: "/v1/authorizations",
			status: http.StatusOK, body: approvedAuthorization,
		},
		{
			name: "looked-up authorization", method: http.MethodGet, path: "/v1/authorizations/5fb9a6a4:1",
			status: http.StatusOK, body: approvedAuthorization,
		},
		{
			name: "idempotency conflict", method: http.MethodPost, path: "/v1/authorizations",
			status: http.StatusConflict, body: errorBody("idempotency_conflict", false),
		},
		{
			name: "card rule failure on authorization", method: http.MethodPost, path: "/v1/authorizations",
			status: http.StatusUnprocessableEntity, body: errorBody("expiry_past", false),
		},
		{
			name: "store unavailable with Retry-After", method: http.MethodPost, path: "/v1/authorizations",
			status: http.StatusServiceUnavailable, headers: map[string]string{"Retry-After": "2"},
			body: errorBody("store_unavailable", true),
		},
		{
			name: "extra field in card", method: http.MethodPost, path: "/v1/validations",
			status:      http.StatusOK,
			body:        `{"valid":true,"field":"pan","card":{"brand":"visa","bin":"41111111","last4":"1111","length":16,"pan":"x"}}`,
			wantFailure: []string{"/card", `"pan" is unsupported`},
		},
		{
			name: "wrong status enum", method: http.MethodPost, path: "/v1/authorizations",
			status: http.StatusCreated, body: strings.Replace(approvedAuthorization, `"approved"`, `"voided"`, 1),
			wantFailure: []string{"/status", "not one of the allowed values", `"voided"`},
		},
		{
			name: "wrong brand enum", method: http.MethodPost, path: "/v1/validations",
			status: http.StatusOK, body: strings.Replace(validPANResult, `"visa"`, `"VISA"`, 1),
			wantFailure: []string{"/card/brand", "not one of the allowed values"},
		},
		{
			name: "missing createdAt", method: http.MethodPost, path: "/v1/authorizations",
			status: http.StatusCreated, body: strings.Replace(approvedAuthorization, `,"createdAt":"2025-01-15T14:03:07Z"`, "", 1),
			wantFailure: []string{`"createdAt" is missing`},
		},
		{
			name: "BIN of seven digits", method: http.MethodPost, path: "/v1/validations",
			status: http.StatusOK, body: strings.Replace(validPANResult, `"41111111"`, `"4111111"`, 1),
			wantFailure: []string{"/card/bin", `"4111111"`},
		},
		{
			name: "code outside the status's codes", method: http.MethodPost, path: "/v1/authorizations",
			status: http.StatusConflict, body: errorBody("internal", false),
			wantFailure: []string{"/error/code", `"internal"`},
		},
		{
			name: "card code on validation", method: http.MethodPost, path: "/v1/validations",
			status: http.StatusUnprocessableEntity, body: errorBody("pan_luhn", false),
			wantFailure: []string{"/error/code", `"pan_luhn"`},
		},
		{
			name: "503 without retryable", method: http.MethodPost, path: "/v1/authorizations",
			status: http.StatusServiceUnavailable, headers: map[string]string{"Retry-After": "2"},
			body:        errorBody("overloaded", false),
			wantFailure: []string{`"retryable" is missing`},
		},
		{
			name: "503 without Retry-After", method: http.MethodPost, path: "/v1/authorizations",
			status: http.StatusServiceUnavailable, body: errorBody("overloaded", true),
			wantFailure: []string{`"Retry-After" missing`},
		},
		{
			name: "missing X-Request-Id", method: http.MethodPost, path: "/v1/validations",
			status: http.StatusOK, headers: map[string]string{"X-Request-Id": ""}, body: validPANResult,
			wantFailure: []string{`"X-Request-Id" missing`},
		},
		{
			name: "unsafe X-Request-Id", method: http.MethodPost, path: "/v1/validations",
			status: http.StatusOK, headers: map[string]string{"X-Request-Id": "id with spaces"}, body: validPANResult,
			wantFailure: []string{`"X-Request-Id" doesn't match schema`},
		},
		{
			name: "undeclared status", method: http.MethodPost, path: "/v1/validations",
			status: http.StatusTeapot, body: errorBody("internal", false),
			wantFailure: []string{"status is not supported"},
		},
		{
			name: "text content type", method: http.MethodPost, path: "/v1/validations",
			status: http.StatusOK, headers: map[string]string{"Content-Type": "text/plain"}, body: validPANResult,
			wantFailure: []string{"text/plain"},
		},
		{
			name: "unknown path gets 404", method: http.MethodGet, path: "/v1/unknown",
			status: http.StatusNotFound, body: errorBody("not_found", false),
		},
		{
			name: "undeclared method gets 405", method: http.MethodDelete, path: "/v1/validations",
			status: http.StatusMethodNotAllowed, body: errorBody("method_not_allowed", false),
		},
		{
			name: "unknown path gets 200", method: http.MethodGet, path: "/v1/unknown",
			status: http.StatusOK, body: `{}`,
			wantFailure: []string{"status must be 404, not 200"},
		},
		{
			name: "undeclared method gets 404", method: http.MethodDelete, path: "/v1/validations",
			status: http.StatusNotFound, body: errorBody("not_found", false),
			wantFailure: []string{"status must be 405, not 404"},
		},
		{
			name: "405 with wrong code", method: http.MethodDelete, path: "/v1/validations",
			status: http.StatusMethodNotAllowed, body: errorBody("not_found", false),
			wantFailure: []string{"MethodNotAllowedError", "/error/code"},
		},
		{
			name: "404 without X-Request-Id", method: http.MethodGet, path: "/v1/unknown",
			status: http.StatusNotFound, headers: map[string]string{"X-Request-Id": ""}, body: errorBody("not_found", false),
			wantFailure: []string{"X-Request-Id"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t)
			req := newRequest(t, tt.method, tt.path, "")
			resp := newResponse(tt.status, tt.headers)

			ValidateResponse(rec, req, resp, []byte(tt.body))

			assertReported(t, rec, tt.wantFailure)
		})
	}
}

func TestValidateRequest(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		wantFailure []string
	}{
		{
			name: "PAN validation", method: http.MethodPost, path: "/v1/validations",
			body: `{"field":"pan","ciphertext":"AYADeNDX0w==","contactId":"5fb9a6a4"}`,
		},
		{
			name: "authorization", method: http.MethodPost, path: "/v1/authorizations",
			body: validAuthorizationRequest,
		},
		{
			name: "authorization with charset", method: http.MethodPost, path: "/v1/authorizations",
			contentType: "application/json; charset=utf-8", body: validAuthorizationRequest,
		},
		{
			name: "lookup", method: http.MethodGet, path: "/v1/authorizations/5fb9a6a4-9d1e-4c4a-9d8e-2a7f3c1b0e61:1",
		},
		{
			name: "unknown field", method: http.MethodPost, path: "/v1/validations",
			body:        `{"field":"pan","ciphertext":"AYADeNDX0w==","pan":"4111"}`,
			wantFailure: []string{`"pan" is unsupported`},
		},
		{
			name: "wrong field enum", method: http.MethodPost, path: "/v1/validations",
			body:        `{"field":"cvc","ciphertext":"AYADeNDX0w=="}`,
			wantFailure: []string{"/field", "not one of the allowed values"},
		},
		{
			name: "missing ciphertext", method: http.MethodPost, path: "/v1/validations",
			body:        `{"field":"pan"}`,
			wantFailure: []string{`"ciphertext" is missing`},
		},
		{
			name: "ciphertext over the limit", method: http.MethodPost, path: "/v1/validations",
			body:        `{"field":"pan","ciphertext":"` + strings.Repeat("A", 22004) + `"}`,
			wantFailure: []string{"/ciphertext", "maximum string length"},
		},
		{
			name: "zero amount", method: http.MethodPost, path: "/v1/authorizations",
			body:        strings.Replace(validAuthorizationRequest, `"value":4599`, `"value":0`, 1),
			wantFailure: []string{"/amount/value"},
		},
		{
			name: "lower-case currency", method: http.MethodPost, path: "/v1/authorizations",
			body:        strings.Replace(validAuthorizationRequest, `"USD"`, `"usd"`, 1),
			wantFailure: []string{"/amount/currency"},
		},
		{
			name: "idempotency key with a space", method: http.MethodPost, path: "/v1/authorizations",
			body:        strings.Replace(validAuthorizationRequest, `e61:1"`, `e61 1"`, 1),
			wantFailure: []string{"/idempotencyKey"},
		},
		{
			name: "text content type", method: http.MethodPost, path: "/v1/validations",
			contentType: "text/plain", body: `{"field":"pan","ciphertext":"AYADeNDX0w=="}`,
			wantFailure: []string{"text/plain"},
		},
		{
			name: "lookup key with a bad character", method: http.MethodGet, path: "/v1/authorizations/key*1",
			wantFailure: []string{"idempotencyKey"},
		},
		{
			name: "undeclared method", method: http.MethodPut, path: "/v1/authorizations",
			wantFailure: []string{"method not allowed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t)
			req := newRequest(t, tt.method, tt.path, tt.body)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}

			ValidateRequest(rec, req, []byte(tt.body))

			assertReported(t, rec, tt.wantFailure)
		})
	}
}

func TestValidateRequestLeavesBodyUnread(t *testing.T) {
	body := `{"field":"pan","ciphertext":"AYADeNDX0w=="}`
	req := newRequest(t, http.MethodPost, "/v1/validations", body)

	ValidateRequest(t, req, []byte(body))

	got, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatalf("read request body: %v", err)
	}
	if string(got) != body {
		t.Errorf("request body after validation = %q, want %q", got, body)
	}
}

// cannedHandler writes, for each request, the status and body stored for
// its method and path, and records the request bodies it received.
type cannedHandler struct {
	responses map[string]cannedResponse

	mu       sync.Mutex
	received []string
}

type cannedResponse struct {
	status  int
	headers map[string]string
	body    string
}

func (h *cannedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h.mu.Lock()
	h.received = append(h.received, string(body))
	h.mu.Unlock()

	canned, ok := h.responses[r.Method+" "+r.URL.Path]
	if !ok {
		canned = cannedResponse{status: http.StatusNotFound, body: errorBody("not_found", false)}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", testRequestID)
	for name, value := range canned.headers {
		w.Header().Set(name, value)
	}
	w.WriteHeader(canned.status)
	_, _ = io.WriteString(w, canned.body)
}

func (h *cannedHandler) Received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.received...)
}

func TestTransport(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		canned      cannedResponse
		wantFailure []string
	}{
		{
			name: "conforming validation", method: http.MethodPost, path: "/v1/validations",
			body:   `{"field":"pan","ciphertext":"AYADeNDX0w=="}`,
			canned: cannedResponse{status: http.StatusOK, body: validPANResult},
		},
		{
			name: "conforming lookup", method: http.MethodGet, path: "/v1/authorizations/5fb9a6a4:1",
			canned: cannedResponse{status: http.StatusOK, body: approvedAuthorization},
		},
		{
			name: "invalid request rejected", method: http.MethodPost, path: "/v1/validations",
			body:   `{"field":"pan"}`,
			canned: cannedResponse{status: http.StatusBadRequest, body: errorBody("invalid_request", false)},
		},
		{
			name: "wrong content type rejected", method: http.MethodPost, path: "/v1/validations",
			contentType: "text/plain", body: `{"field":"pan","ciphertext":"AYADeNDX0w=="}`,
			canned: cannedResponse{status: http.StatusUnsupportedMediaType, body: errorBody("unsupported_media_type", false)},
		},
		{
			name: "unknown path", method: http.MethodGet, path: "/v1/unknown",
			canned: cannedResponse{status: http.StatusNotFound, body: errorBody("not_found", false)},
		},
		{
			name: "response with extra field", method: http.MethodPost, path: "/v1/validations",
			body:        `{"field":"pan","ciphertext":"AYADeNDX0w=="}`,
			canned:      cannedResponse{status: http.StatusOK, body: `{"valid":true,"field":"pan","extra":1}`},
			wantFailure: []string{"response 200 to POST /v1/validations", `"extra" is unsupported`},
		},
		{
			name: "invalid request accepted", method: http.MethodPost, path: "/v1/validations",
			body:        `{"field":"pan"}`,
			canned:      cannedResponse{status: http.StatusOK, body: validPANResult},
			wantFailure: []string{"the service accepted it with status 200", `"ciphertext" is missing`},
		},
		{
			name: "invalid request rejected with a wrong code", method: http.MethodPost, path: "/v1/validations",
			body:        `{"field":"pan"}`,
			canned:      cannedResponse{status: http.StatusBadRequest, body: errorBody("internal", false)},
			wantFailure: []string{"response 400", "/error/code"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handler := &cannedHandler{responses: map[string]cannedResponse{tt.method + " " + tt.path: tt.canned}}
			server := httptest.NewServer(handler)
			defer server.Close()
			rec := newRecorder(t)
			client := WrapClient(rec, server.Client())
			defer client.CloseIdleConnections()

			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, server.URL+tt.path, body)
			if err != nil {
				t.Fatalf("new request: %v", err)
			}
			if tt.body != "" {
				contentType := tt.contentType
				if contentType == "" {
					contentType = "application/json"
				}
				req.Header.Set("Content-Type", contentType)
			}

			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read response body: %v", err)
			}

			if string(got) != tt.canned.body {
				t.Errorf("response body seen by the caller = %q, want %q", got, tt.canned.body)
			}
			if received := handler.Received(); len(received) != 1 || received[0] != tt.body {
				t.Errorf("request bodies seen by the server = %q, want [%q]", received, tt.body)
			}
			assertReported(t, rec, tt.wantFailure)
		})
	}
}

func TestWrapClientKeepsOriginal(t *testing.T) {
	base := &http.Client{Transport: http.DefaultTransport}

	wrapped := WrapClient(t, base)

	if base.Transport != http.DefaultTransport {
		t.Errorf("original client's transport changed to %T", base.Transport)
	}
	transport, ok := wrapped.Transport.(*Transport)
	if !ok {
		t.Fatalf("wrapped client's transport is %T, want *Transport", wrapped.Transport)
	}
	if transport.base != http.DefaultTransport {
		t.Errorf("wrapped transport's base is %T, want the original transport", transport.base)
	}
}

func TestTransportReturnsConnectionError(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	url := server.URL
	server.Close()
	rec := newRecorder(t)
	client := &http.Client{Transport: NewTransport(rec, nil)}
	defer client.CloseIdleConnections()

	resp, err := client.Get(url + "/v1/authorizations/key")

	if err == nil {
		resp.Body.Close()
		t.Fatal("GET on a closed server succeeded, want a connection error")
	}
	assertReported(t, rec, nil)
}

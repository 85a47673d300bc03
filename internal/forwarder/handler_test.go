package forwarder_test

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/forwarder"
)

// Replies valid under api/openapi.yaml.
const (
	validPANResult    = `{"valid":true,"field":"pan","card":{"brand":"visa","bin":"41111111","last4":"1111","length":16}}`
	luhnFailureResult = `{"valid":false,"field":"pan","reason":"pan_luhn"}`
	validExpiryResult = `{"valid":true,"field":"expiry","expiry":{"month":12,"year":2030}}`
	validCVVResult    = `{"valid":true,"field":"cvv","cvv":{"length":3}}`
	cvvLengthResult   = `{"valid":false,"field":"cvv","reason":"cvv_length_for_brand"}`
)

// authorizationBody returns an Authorization of the contract for key with
// status and the extra fields, which are JSON members without braces.
func authorizationBody(key, status, extra string) string {
	if extra != "" {
		extra += ","
	}
	return `{"id":"auth_01J9Z8K3V7Q2W4E6R8T0Y2U4I6","idempotencyKey":"` + key + `","status":"` + status + `",` + extra +
		`"card":{"brand":"visa","bin":"41111111","last4":"1111"},` +
		`"amount":{"value":4599,"currency":"USD"},"createdAt":"2025-01-15T14:03:07Z"}`
}

// errorBody returns the error envelope with code.
func errorBody(code string, retryable bool) string {
	flag := ""
	if retryable {
		flag = `,"retryable":true`
	}
	return `{"error":{"code":"` + code + `","message":"The request failed.","requestId":"` + testLambdaRequestID + `"` + flag + `}}`
}

func replyWith(status int, body string) func(receivedRequest) reply {
	return func(receivedRequest) reply { return reply{status: status, body: body} }
}

func TestHandleValidation(t *testing.T) {
	tests := []struct {
		name       string
		event      string
		reply      string
		wantBody   map[string]string
		wantOutput map[string]string
	}{
		{
			name: "valid PAN", event: "validate-pan.json", reply: validPANResult,
			wantBody: map[string]string{"field": "pan", "contactId": sampleContactID},
			wantOutput: map[string]string{
				"status": "valid", "valid": "true", "field": "pan",
				"brand": "visa", "last4": "1111", "panLength": "16",
			},
		},
		{
			name: "PAN failing Luhn", event: "validate-pan.json", reply: luhnFailureResult,
			wantBody:   map[string]string{"field": "pan"},
			wantOutput: map[string]string{"status": "invalid", "valid": "false", "field": "pan", "reason": "pan_luhn"},
		},
		{
			name: "valid expiry", event: "validate-expiry.json", reply: validExpiryResult,
			wantBody: map[string]string{"field": "expiry"},
			wantOutput: map[string]string{
				"status": "valid", "valid": "true", "field": "expiry", "expiryMonth": "12", "expiryYear": "2030",
			},
		},
		{
			name: "valid CVV with brand", event: "validate-cvv.json", reply: validCVVResult,
			wantBody:   map[string]string{"field": "cvv", "brand": "visa"},
			wantOutput: map[string]string{"status": "valid", "valid": "true", "field": "cvv", "cvvLength": "3"},
		},
		{
			name: "CVV of the wrong length", event: "validate-cvv.json", reply: cvvLengthResult,
			wantBody:   map[string]string{"field": "cvv"},
			wantOutput: map[string]string{"status": "invalid", "valid": "false", "field": "cvv", "reason": "cvv_length_for_brand"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFakeProcessor(t, replyWith(http.StatusOK, tt.reply))
			event := loadEvent(t, tt.event)

			out := handlerFor(t, fake).invoke(t, event)

			assertAttributes(t, out, tt.wantOutput)
			if out["requestId"] != testLambdaRequestID {
				t.Errorf("requestId = %q, want the Lambda request id %q", out["requestId"], testLambdaRequestID)
			}
			requests := fake.Requests()
			if len(requests) != 1 {
				t.Fatalf("processor received %d requests, want 1", len(requests))
			}
			req := requests[0]
			if req.Method != http.MethodPost || req.Path != "/v1/validations" {
				t.Errorf("request = %s %s, want POST /v1/validations", req.Method, req.Path)
			}
			if got := req.Header.Get("X-Request-Id"); got != testLambdaRequestID {
				t.Errorf("X-Request-Id = %q, want %q", got, testLambdaRequestID)
			}
			body := decodeBody(t, req.Body)
			if body["ciphertext"] != event.Details.Parameters["ciphertext"] {
				t.Error("request ciphertext differs from the ciphertext parameter; it must pass through unchanged")
			}
			for key, want := range tt.wantBody {
				if body[key] != want {
					t.Errorf("request %s = %v, want %q", key, body[key], want)
				}
			}
		})
	}
}

func TestHandleAuthorization(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		reply      string
		wantOutput map[string]string
	}{
		{
			name: "approved", status: http.StatusCreated,
			reply: authorizationBody(sampleKey, "approved", `"authorizationCode":"831000","gatewayReference":"pi_3PqXyZ2eZvKYlo2C1aBcDeFg"`),
			wantOutput: map[string]string{
				"status": "approved", "replayed": "false", "idempotencyKey": sampleKey,
				"authorizationId": "auth_01J9Z8K3V7Q2W4E6R8T0Y2U4I6", "authorizationCode": "831000",
				"gatewayReference": "pi_3PqXyZ2eZvKYlo2C1aBcDeFg", "brand": "visa", "last4": "1111",
			},
		},
		{
			name: "replayed", status: http.StatusOK,
			reply: authorizationBody(sampleKey, "approved", `"authorizationCode":"831000"`),
			wantOutput: map[string]string{
				"status": "approved", "replayed": "true", "idempotencyKey": sampleKey,
				"authorizationId": "auth_01J9Z8K3V7Q2W4E6R8T0Y2U4I6", "authorizationCode": "831000",
				"brand": "visa", "last4": "1111",
			},
		},
		{
			name: "declined", status: http.StatusCreated,
			reply: authorizationBody(sampleKey, "declined", `"declineCode":"insufficient_funds"`),
			wantOutput: map[string]string{
				"status": "declined", "replayed": "false", "idempotencyKey": sampleKey,
				"authorizationId": "auth_01J9Z8K3V7Q2W4E6R8T0Y2U4I6", "declineCode": "insufficient_funds",
				"brand": "visa", "last4": "1111",
			},
		},
		{
			name: "pending", status: http.StatusCreated,
			reply: authorizationBody(sampleKey, "pending", ""),
			wantOutput: map[string]string{
				"status": "pending", "replayed": "false", "idempotencyKey": sampleKey,
				"authorizationId": "auth_01J9Z8K3V7Q2W4E6R8T0Y2U4I6", "brand": "visa", "last4": "1111",
			},
		},
		{
			name: "failed", status: http.StatusOK,
			reply: authorizationBody(sampleKey, "failed", `"failureReason":"timeout_voided"`),
			wantOutput: map[string]string{
				"status": "failed", "replayed": "true", "idempotencyKey": sampleKey,
				"authorizationId": "auth_01J9Z8K3V7Q2W4E6R8T0Y2U4I6", "failureReason": "timeout_voided",
				"brand": "visa", "last4": "1111",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFakeProcessor(t, replyWith(tt.status, tt.reply))
			event := loadEvent(t, "authorize.json")

			out := handlerFor(t, fake).invoke(t, event)

			assertAttributes(t, out, tt.wantOutput)
			requests := fake.Requests()
			if len(requests) != 1 {
				t.Fatalf("processor received %d requests, want 1", len(requests))
			}
			req := requests[0]
			if req.Method != http.MethodPost || req.Path != "/v1/authorizations" {
				t.Errorf("request = %s %s, want POST /v1/authorizations", req.Method, req.Path)
			}
			if got := req.Header.Get("Idempotency-Key"); got != sampleKey {
				t.Errorf("Idempotency-Key header = %q, want %q", got, sampleKey)
			}
			assertAuthorizationRequest(t, req.Body, event, sampleKey)
		})
	}
}

// assertAuthorizationRequest checks that body is the authorization request
// that event describes, with the idempotency key key.
func assertAuthorizationRequest(t *testing.T, body []byte, event events.ConnectEvent, key string) {
	t.Helper()
	var got struct {
		IdempotencyKey string `json:"idempotencyKey"`
		ContactID      string `json:"contactId"`
		Amount         struct {
			Value    int64  `json:"value"`
			Currency string `json:"currency"`
		} `json:"amount"`
		Card struct {
			PAN    string `json:"pan"`
			Expiry string `json:"expiry"`
			CVV    string `json:"cvv"`
		} `json:"card"`
		Reference string `json:"reference"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decode authorization request: %v", err)
	}
	params := event.Details.Parameters
	if got.IdempotencyKey != key {
		t.Errorf("idempotencyKey = %q, want %q", got.IdempotencyKey, key)
	}
	if got.ContactID != event.Details.ContactData.ContactID {
		t.Errorf("contactId = %q, want %q", got.ContactID, event.Details.ContactData.ContactID)
	}
	if fmt.Sprint(got.Amount.Value) != params["amount"] || got.Amount.Currency != params["currency"] {
		t.Errorf("amount = %d %s, want %s %s", got.Amount.Value, got.Amount.Currency, params["amount"], params["currency"])
	}
	if got.Reference != params["reference"] {
		t.Errorf("reference = %q, want %q", got.Reference, params["reference"])
	}
	if got.Card.PAN != params["panCiphertext"] || got.Card.Expiry != params["expiryCiphertext"] || got.Card.CVV != params["cvvCiphertext"] {
		t.Error("card ciphertexts differ from the parameters; they must pass through unchanged")
	}
}

func TestHandleStatus(t *testing.T) {
	transferKey := sampleContactID + ":authorize:1"
	tests := []struct {
		name       string
		status     int
		reply      string
		wantOutput map[string]string
	}{
		{
			name: "approved after pending", status: http.StatusOK,
			reply: authorizationBody(transferKey, "approved", `"authorizationCode":"831000"`),
			wantOutput: map[string]string{
				"status": "approved", "idempotencyKey": transferKey, "authorizationId": "auth_01J9Z8K3V7Q2W4E6R8T0Y2U4I6",
				"authorizationCode": "831000", "brand": "visa", "last4": "1111",
			},
		},
		{
			name: "still pending", status: http.StatusOK,
			reply: authorizationBody(transferKey, "pending", ""),
			wantOutput: map[string]string{
				"status": "pending", "idempotencyKey": transferKey, "authorizationId": "auth_01J9Z8K3V7Q2W4E6R8T0Y2U4I6",
				"brand": "visa", "last4": "1111",
			},
		},
		{
			name: "never created", status: http.StatusNotFound,
			reply:      errorBody("not_found", false),
			wantOutput: map[string]string{"status": "error", "reason": "not_found", "retryable": "false", "idempotencyKey": transferKey},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFakeProcessor(t, replyWith(tt.status, tt.reply))

			// The sample is a transferred contact: the lookup must use
			// InitialContactId, the contact the payment was made on.
			out := handlerFor(t, fake).invoke(t, loadEvent(t, "status-after-transfer.json"))

			assertAttributes(t, out, tt.wantOutput)
			requests := fake.Requests()
			if len(requests) != 1 {
				t.Fatalf("processor received %d requests, want 1", len(requests))
			}
			if got, want := requests[0].Method+" "+requests[0].Path, "GET /v1/authorizations/"+transferKey; got != want {
				t.Errorf("request = %s, want %s", got, want)
			}
		})
	}
}

func TestHandleProcessorErrors(t *testing.T) {
	tests := []struct {
		name          string
		event         string
		status        int
		code          string
		retryable     bool
		retryAfter    string
		wantRetryable string
	}{
		{name: "invalid request", event: "authorize.json", status: 400, code: "invalid_request", wantRetryable: "false"},
		{name: "idempotency conflict", event: "authorize.json", status: 409, code: "idempotency_conflict", wantRetryable: "false"},
		{name: "body too large", event: "authorize.json", status: 413, code: "body_too_large", wantRetryable: "false"},
		{name: "unsupported media type", event: "validate-pan.json", status: 415, code: "unsupported_media_type", wantRetryable: "false"},
		{name: "unknown key", event: "validate-pan.json", status: 422, code: "key_unknown", wantRetryable: "false"},
		{name: "tampered ciphertext", event: "validate-pan.json", status: 422, code: "ciphertext_authentication_failed", wantRetryable: "false"},
		{name: "expired card", event: "authorize.json", status: 422, code: "expiry_past", wantRetryable: "false"},
		{name: "internal error", event: "authorize.json", status: 500, code: "internal", wantRetryable: "false"},
		{name: "KMS access denied", event: "validate-pan.json", status: 502, code: "kms_access_denied", wantRetryable: "false"},
		{name: "overloaded validation", event: "validate-pan.json", status: 503, code: "overloaded", retryable: true, retryAfter: "1", wantRetryable: "true"},
		{name: "KMS unavailable", event: "validate-pan.json", status: 503, code: "kms_unavailable", retryable: true, retryAfter: "2", wantRetryable: "true"},
		{name: "gateway unavailable", event: "authorize.json", status: 503, code: "gateway_unavailable", retryable: true, retryAfter: "1", wantRetryable: "true"},
		{name: "store unavailable", event: "authorize.json", status: 503, code: "store_unavailable", retryable: true, retryAfter: "1", wantRetryable: "true"},
		{name: "vault full", event: "authorize.json", status: 503, code: "vault_full", retryable: true, retryAfter: "1", wantRetryable: "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFakeProcessor(t, func(receivedRequest) reply {
				rep := reply{status: tt.status, body: errorBody(tt.code, tt.retryable)}
				if tt.retryAfter != "" {
					rep.headers = map[string]string{"Retry-After": tt.retryAfter}
				}
				return rep
			})

			out := handlerFor(t, fake).invoke(t, loadEvent(t, tt.event))

			want := map[string]string{"status": "error", "reason": tt.code, "retryable": tt.wantRetryable}
			if tt.retryAfter != "" {
				want["retryAfterSeconds"] = tt.retryAfter
			}
			if tt.event == "authorize.json" {
				want["idempotencyKey"] = sampleKey
			}
			assertAttributes(t, out, want)
		})
	}
}

func TestHandleInvalidResponses(t *testing.T) {
	tests := []struct {
		name  string
		event string
		reply reply
	}{
		{name: "validation body not JSON", event: "validate-pan.json", reply: reply{status: 200, body: "<html>ok</html>"}},
		{name: "validation without valid", event: "validate-pan.json", reply: reply{status: 200, body: `{"field":"pan"}`}},
		{name: "validation of another field", event: "validate-pan.json", reply: reply{status: 200, body: validExpiryResult}},
		{name: "validation answered 201", event: "validate-pan.json", reply: reply{status: 201, body: validPANResult}},
		{name: "authorization with another key", event: "authorize.json", reply: reply{status: 201, body: authorizationBody("other:authorize:1", "approved", "")}},
		{name: "authorization with unknown status", event: "authorize.json", reply: reply{status: 201, body: authorizationBody(sampleKey, "settled", "")}},
		{name: "authorization answered 202", event: "authorize.json", reply: reply{status: 202, body: authorizationBody(sampleKey, "approved", "")}},
		{name: "redirect", event: "authorize.json", reply: reply{status: 307, headers: map[string]string{"Location": "https://127.0.0.1:1/elsewhere"}}},
		{name: "error without envelope", event: "authorize.json", reply: reply{status: 502, body: "Bad Gateway"}},
		{name: "error code not snake_case", event: "validate-pan.json", reply: reply{status: 422, body: errorBody("Key Unknown", false)}},
		{name: "body over the limit", event: "validate-pan.json", reply: reply{status: 200, body: `{"valid":true,"field":"pan","pad":"` + strings.Repeat("a", 70<<10) + `"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFakeProcessor(t, func(receivedRequest) reply {
				rep := tt.reply
				rep.offContract = true
				return rep
			})

			out := handlerFor(t, fake).invoke(t, loadEvent(t, tt.event))

			if out["status"] != "error" || out["reason"] != "invalid_response" || out["retryable"] != "false" {
				t.Errorf("output = %v, want status=error reason=invalid_response retryable=false", out)
			}
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("processor received %d requests, want 1 (no redirect followed, no retry)", n)
			}
		})
	}
}

func TestHandleUnknownErrorCodePassesThrough(t *testing.T) {
	// Within API version 1 the processor may add error codes; the flow
	// gets the code and the retryable flag of the envelope.
	fake := startFakeProcessor(t, func(receivedRequest) reply {
		return reply{status: 503, body: errorBody("maintenance_window", true), offContract: true}
	})

	out := handlerFor(t, fake).invoke(t, loadEvent(t, "validate-pan.json"))

	assertAttributes(t, out, map[string]string{"status": "error", "reason": "maintenance_window", "retryable": "true"})
}

func TestHandleDropsUnsafeValues(t *testing.T) {
	// The contract allows any gateway reference of 1 to 255 characters,
	// but the Connect guide requests a narrow alphabet. The approval must
	// reach the flow even when one informational value cannot.
	fake := startFakeProcessor(t, replyWith(http.StatusCreated,
		authorizationBody(sampleKey, "approved", `"authorizationCode":"831000","gatewayReference":"ref 42/7"`)))
	h := handlerFor(t, fake)

	out := h.invoke(t, loadEvent(t, "authorize.json"))

	if out["status"] != "approved" {
		t.Errorf("status = %q, want approved", out["status"])
	}
	if _, ok := out["gatewayReference"]; ok {
		t.Errorf("gatewayReference = %q, want it left out", out["gatewayReference"])
	}
	if out["authorizationCode"] != "831000" {
		t.Errorf("authorizationCode = %q, want 831000", out["authorizationCode"])
	}
	entries := h.logs.FilterField(zap.Strings("droppedAttributes", []string{"gatewayReference"})).All()
	if len(entries) != 1 {
		t.Errorf("got %d log entries naming the dropped attribute, want 1", len(entries))
	}
}

func TestHandleLargestContractValues(t *testing.T) {
	// The maximum lengths that the contract allows still fit Connect's limit.
	longKey := sampleKey
	body := `{"id":"` + strings.Repeat("i", 128) + `","idempotencyKey":"` + longKey + `","status":"approved",` +
		`"authorizationCode":"` + strings.Repeat("A", 64) + `","gatewayReference":"` + strings.Repeat("g", 255) + `",` +
		`"card":{"brand":"mastercard","bin":"55555555","last4":"4444"},` +
		`"amount":{"value":4599,"currency":"USD"},"createdAt":"2025-01-15T14:03:07Z"}`
	fake := startFakeProcessor(t, replyWith(http.StatusCreated, body))

	out := handlerFor(t, fake).invoke(t, loadEvent(t, "authorize.json"))

	if len(out["gatewayReference"]) != 255 {
		t.Errorf("gatewayReference has %d characters, want all 255", len(out["gatewayReference"]))
	}
	if len(out["authorizationId"]) != 128 {
		t.Errorf("authorizationId has %d characters, want all 128", len(out["authorizationId"]))
	}
}

func TestHandleTimeout(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		wantKey string
	}{
		{name: "validation", event: "validate-pan.json"},
		{name: "authorization", event: "authorize.json", wantKey: sampleKey},
		{name: "status", event: "status-after-transfer.json", wantKey: sampleKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFakeProcessor(t, func(receivedRequest) reply { return reply{hang: true} })
			h := newHandler(t, fake.URL(t), fake.Material(), 200*time.Millisecond)

			out := h.invoke(t, loadEvent(t, tt.event))

			want := map[string]string{"status": "error", "reason": "timeout", "retryable": "true"}
			if tt.wantKey != "" {
				want["idempotencyKey"] = tt.wantKey
			}
			assertAttributes(t, out, want)
		})
	}
}

func TestHandleStopsBeforeLambdaDeadline(t *testing.T) {
	fake := startFakeProcessor(t, func(receivedRequest) reply { return reply{hang: true} })
	h := handlerFor(t, fake) // 7 s, longer than the Lambda time left
	ctx, cancel := contextWithDeadline(t, 1500*time.Millisecond)
	defer cancel()

	out, err := h.Handle(ctx, loadEvent(t, "authorize.json"))

	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if ctx.Err() != nil {
		t.Errorf("Handle returned after the Lambda deadline (%v); the answer would be lost", ctx.Err())
	}
	assertConnectOutput(t, out)
	if out["reason"] != "timeout" {
		t.Errorf("reason = %q, want timeout", out["reason"])
	}
}

func TestHandleNetworkErrors(t *testing.T) {
	start := func(t *testing.T, adjustTLS ...func(*tls.Config)) *fakeProcessor {
		t.Helper()
		return startFakeProcessor(t, replyWith(http.StatusOK, validPANResult), adjustTLS...)
	}
	tests := []struct {
		name  string
		setUp func(t *testing.T) (*fakeProcessor, forwarder.Material)
		// wantRetryable is the expected flag; empty leaves it unchecked.
		wantRetryable string
	}{
		{
			name: "connection refused",
			setUp: func(t *testing.T) (*fakeProcessor, forwarder.Material) {
				fake := start(t)
				fake.server.Close()
				return fake, fake.Material()
			},
			wantRetryable: "true",
		},
		{
			name: "server certificate from another CA",
			setUp: func(t *testing.T) (*fakeProcessor, forwarder.Material) {
				fake, stranger := start(t), start(t)
				material := fake.Material()
				material.ServerCAPEM = stranger.ca.CertPEM
				return fake, material
			},
			wantRetryable: "false",
		},
		{
			name: "server offering only TLS 1.1",
			setUp: func(t *testing.T) (*fakeProcessor, forwarder.Material) {
				fake := start(t, func(c *tls.Config) {
					c.MinVersion = tls.VersionTLS10
					c.MaxVersion = tls.VersionTLS11
				})
				return fake, fake.Material()
			},
			wantRetryable: "false",
		},
		{
			name: "client certificate rejected",
			setUp: func(t *testing.T) (*fakeProcessor, forwarder.Material) {
				fake, stranger := start(t), start(t)
				material := fake.Material()
				material.ClientCertPEM = stranger.clientCert.CertPEM
				material.ClientKeyPEM = stranger.clientCert.KeyPEM
				return fake, material
			},
			// Under TLS 1.3 the client's handshake ends before the server
			// checks the certificate, so the client sees the server's
			// alert (not retryable) or, when its write comes first, a
			// reset connection (retryable). Only the reason is certain.
			wantRetryable: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, material := tt.setUp(t)
			h := newHandler(t, fake.URL(t), material, forwarder.DefaultTimeout)

			out := h.invoke(t, loadEvent(t, "validate-pan.json"))

			want := map[string]string{"status": "error", "reason": "network_error", "retryable": tt.wantRetryable}
			if tt.wantRetryable == "" {
				want["retryable"] = out["retryable"]
			}
			assertAttributes(t, out, want)
			if n := len(fake.Requests()); n != 0 {
				t.Errorf("processor received %d requests, want none", n)
			}
		})
	}
}

func TestHandleInvalidEvent(t *testing.T) {
	tests := []struct {
		name    string
		event   func(t *testing.T) events.ConnectEvent
		wantErr string
	}{
		{
			name:    "no contact id",
			event:   func(t *testing.T) events.ConnectEvent { return loadEvent(t, "malformed-no-contact-id.json") },
			wantErr: "ContactId is missing",
		},
		{
			name: "contact id with a slash",
			event: func(t *testing.T) events.ConnectEvent {
				e := loadEvent(t, "validate-pan.json")
				e.Details.ContactData.ContactID = "../admin"
				return e
			},
			wantErr: "ContactId has a character outside",
		},
		{
			name: "initial contact id too long",
			event: func(t *testing.T) events.ConnectEvent {
				e := loadEvent(t, "authorize.json")
				e.Details.ContactData.InitialContactID = strings.Repeat("a", 115)
				return e
			},
			wantErr: "InitialContactId is 115 characters long",
		},
		{
			name: "no operation",
			event: func(t *testing.T) events.ConnectEvent {
				return withParams(loadEvent(t, "validate-pan.json"), map[string]string{"operation": ""})
			},
			wantErr: `parameter "operation" is missing`,
		},
		{
			name: "unknown operation",
			event: func(t *testing.T) events.ConnectEvent {
				return withParams(loadEvent(t, "validate-pan.json"), map[string]string{"operation": "capture"})
			},
			wantErr: `parameter "operation" is not`,
		},
		{
			name:    "empty event",
			event:   func(*testing.T) events.ConnectEvent { return events.ConnectEvent{} },
			wantErr: "ContactId is missing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFakeProcessor(t, replyWith(http.StatusOK, validPANResult))
			h := handlerFor(t, fake)

			out, err := h.Handle(lambdaContext(t), tt.event(t))

			if !errors.Is(err, forwarder.ErrInvalidEvent) {
				t.Fatalf("Handle error = %v, want ErrInvalidEvent", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if out != nil {
				t.Errorf("output = %v, want nil with an error", out)
			}
			if n := len(fake.Requests()); n != 0 {
				t.Errorf("processor received %d requests, want none", n)
			}
		})
	}
}

func TestHandleInvalidParameters(t *testing.T) {
	tests := []struct {
		name          string
		event         string
		changes       map[string]string
		wantParameter string
	}{
		{name: "validation without field", event: "validate-pan.json", changes: map[string]string{"field": ""}, wantParameter: "field"},
		{name: "validation of an unknown field", event: "validate-pan.json", changes: map[string]string{"field": "pin"}, wantParameter: "field"},
		{name: "validation without ciphertext", event: "validate-pan.json", changes: map[string]string{"ciphertext": ""}, wantParameter: "ciphertext"},
		{name: "CVV with an unknown brand", event: "validate-cvv.json", changes: map[string]string{"brand": "VISA"}, wantParameter: "brand"},
		{name: "authorization without amount", event: "authorize.json", changes: map[string]string{"amount": ""}, wantParameter: "amount"},
		{name: "authorization with a decimal amount", event: "authorize.json", changes: map[string]string{"amount": "45.99"}, wantParameter: "amount"},
		{name: "authorization with a zero amount", event: "authorize.json", changes: map[string]string{"amount": "0"}, wantParameter: "amount"},
		{name: "authorization with a 19-digit amount", event: "authorize.json", changes: map[string]string{"amount": "9999999999999999999"}, wantParameter: "amount"},
		{name: "authorization with a lower-case currency", event: "authorize.json", changes: map[string]string{"currency": "usd"}, wantParameter: "currency"},
		{name: "authorization with a long reference", event: "authorize.json", changes: map[string]string{"reference": strings.Repeat("r", 129)}, wantParameter: "reference"},
		{name: "authorization without PAN", event: "authorize.json", changes: map[string]string{"panCiphertext": ""}, wantParameter: "panCiphertext"},
		{name: "authorization without expiry", event: "authorize.json", changes: map[string]string{"expiryCiphertext": ""}, wantParameter: "expiryCiphertext"},
		{name: "authorization with attempt 0", event: "authorize.json", changes: map[string]string{"attempt": "0"}, wantParameter: "attempt"},
		{name: "authorization with attempt 1000", event: "authorize.json", changes: map[string]string{"attempt": "1000"}, wantParameter: "attempt"},
		{name: "status with a word for attempt", event: "status-after-transfer.json", changes: map[string]string{"attempt": "two"}, wantParameter: "attempt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFakeProcessor(t, replyWith(http.StatusOK, validPANResult))

			out := handlerFor(t, fake).invoke(t, withParams(loadEvent(t, tt.event), tt.changes))

			assertAttributes(t, out, map[string]string{
				"status": "error", "reason": "invalid_event", "retryable": "false", "parameter": tt.wantParameter,
			})
			if n := len(fake.Requests()); n != 0 {
				t.Errorf("processor received %d requests, want none", n)
			}
		})
	}
}

func TestHandleOptionalParameters(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		check   func(t *testing.T, body map[string]any)
	}{
		{
			name:    "no CVV",
			changes: map[string]string{"cvvCiphertext": ""},
			check: func(t *testing.T, body map[string]any) {
				if card := body["card"].(map[string]any); card["cvv"] != nil {
					t.Errorf("card.cvv = %v, want it absent", card["cvv"])
				}
			},
		},
		{
			name:    "no reference",
			changes: map[string]string{"reference": ""},
			check: func(t *testing.T, body map[string]any) {
				if _, ok := body["reference"]; ok {
					t.Errorf("reference = %v, want it absent", body["reference"])
				}
			},
		},
		{
			name:    "second attempt",
			changes: map[string]string{"attempt": "2"},
			check: func(t *testing.T, body map[string]any) {
				if want := sampleContactID + ":authorize:2"; body["idempotencyKey"] != want {
					t.Errorf("idempotencyKey = %v, want %s", body["idempotencyKey"], want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFakeProcessor(t, func(r receivedRequest) reply {
				key, _ := decodeBody(t, r.Body)["idempotencyKey"].(string)
				return reply{status: http.StatusCreated, body: authorizationBody(key, "approved", "")}
			})

			out := handlerFor(t, fake).invoke(t, withParams(loadEvent(t, "authorize.json"), tt.changes))

			if out["status"] != "approved" {
				t.Errorf("status = %q, want approved", out["status"])
			}
			requests := fake.Requests()
			if len(requests) != 1 {
				t.Fatalf("processor received %d requests, want 1", len(requests))
			}
			tt.check(t, decodeBody(t, requests[0].Body))
		})
	}
}

func TestHandleRetrySendsSameKey(t *testing.T) {
	// A Lambda or Connect retry delivers the same event again: the second
	// request must carry the same idempotency key, so the processor
	// replays instead of authorizing twice.
	calls := 0
	fake := startFakeProcessor(t, func(r receivedRequest) reply {
		calls++
		status := http.StatusCreated
		if calls > 1 {
			status = http.StatusOK
		}
		return reply{status: status, body: authorizationBody(sampleKey, "approved", "")}
	})
	h := handlerFor(t, fake)
	event := loadEvent(t, "authorize.json")

	first := h.invoke(t, event)
	second := h.invoke(t, event)

	requests := fake.Requests()
	if len(requests) != 2 {
		t.Fatalf("processor received %d requests, want 2", len(requests))
	}
	for i, req := range requests {
		if key := decodeBody(t, req.Body)["idempotencyKey"]; key != sampleKey {
			t.Errorf("request %d idempotencyKey = %v, want %s", i+1, key, sampleKey)
		}
	}
	if first["replayed"] != "false" || second["replayed"] != "true" {
		t.Errorf("replayed = %q then %q, want false then true", first["replayed"], second["replayed"])
	}
}

func TestHandleReusesConnection(t *testing.T) {
	fake := startFakeProcessor(t, replyWith(http.StatusOK, validPANResult))
	h := handlerFor(t, fake)

	for range 3 {
		h.invoke(t, loadEvent(t, "validate-pan.json"))
	}

	if n := fake.newConns.Load(); n != 1 {
		t.Errorf("3 warm invocations opened %d connections, want 1 kept alive", n)
	}
}

func TestHandleLogsOnlyIDs(t *testing.T) {
	tests := []struct {
		name  string
		event string
		reply reply
	}{
		{name: "approved authorization", event: "authorize.json", reply: reply{status: 201, body: authorizationBody(sampleKey, "approved", "")}},
		{name: "failed validation", event: "validate-pan.json", reply: reply{status: 422, body: errorBody("key_unknown", false)}},
		{name: "invalid response", event: "authorize.json", reply: reply{status: 502, body: "Bad Gateway", offContract: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFakeProcessor(t, func(receivedRequest) reply { return tt.reply })
			h := handlerFor(t, fake)
			event := loadEvent(t, tt.event)

			h.invoke(t, event)

			entries := h.logs.All()
			if len(entries) != 1 {
				t.Fatalf("got %d log entries, want 1 per invocation", len(entries))
			}
			fields := entries[0].ContextMap()
			// The duration is a number that could contain an amount's
			// digits by chance.
			delete(fields, "duration")
			if fields["contactId"] != sampleContactID {
				t.Errorf("log contactId = %v, want %s", fields["contactId"], sampleContactID)
			}
			if fields["requestId"] != testLambdaRequestID {
				t.Errorf("log requestId = %v, want %s", fields["requestId"], testLambdaRequestID)
			}
			line := entries[0].Message + " " + fmt.Sprint(fields)
			for name, value := range event.Details.Parameters {
				if name == "operation" {
					continue
				}
				if strings.Contains(line, value) {
					t.Errorf("log line contains the value of parameter %q", name)
				}
			}
			for name, value := range event.Details.ContactData.Attributes {
				if strings.Contains(line, value) {
					t.Errorf("log line contains the value of attribute %q", name)
				}
			}
		})
	}
}

func decodeBody(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var decoded map[string]any
	if err := json.Unmarshal(body, &decoded); err != nil {
		t.Fatalf("decode request body: %v", err)
	}
	return decoded
}

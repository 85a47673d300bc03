package stripegw_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/gateway/stripegw"
	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/testkit/stripemock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testPAN = "4000000000009995"
	testCVV = "734"
)

func request(key string) gateway.Request {
	return gateway.Request{
		Amount:   1050,
		Currency: "USD",
		Card: gateway.Card{
			PAN:         secret.Copy([]byte(testPAN)),
			ExpiryMonth: 12,
			ExpiryYear:  2030,
			CVV:         secret.Copy([]byte(testCVV)),
		},
		IdempotencyKey:    key,
		ContactID:         "6a1c4b5e-0d3f-4c1e-9a7b-2f8e5d6c7b8a",
		MerchantReference: "order-1001",
		MOTO:              true,
	}
}

// newAdapter returns an adapter for baseURL that closes its connections when
// the test ends.
func newAdapter(t *testing.T, cfg stripegw.Config) *stripegw.Adapter {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = stripemock.APIKey
	}
	adapter, err := stripegw.New(cfg)
	if err != nil {
		t.Fatalf("stripegw.New: %v", err)
	}
	t.Cleanup(adapter.CloseIdleConnections)
	return adapter
}

// findRequest returns the one recorded request with method and path.
func findRequest(t *testing.T, requests []stripemock.RecordedRequest, method, path string) stripemock.RecordedRequest {
	t.Helper()
	var found []stripemock.RecordedRequest
	for _, r := range requests {
		if r.Method == method && r.Path == path {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("recorded %d requests %s %s, want 1", len(found), method, path)
	}
	return found[0]
}

func assertForm(t *testing.T, request stripemock.RecordedRequest, field, want string) {
	t.Helper()
	if got := request.Form.Get(field); got != want {
		t.Errorf("%s %s: form %s = %q, want %q", request.Method, request.Path, field, got, want)
	}
}

func TestAuthorizeRequestShape(t *testing.T) {
	server := stripemock.Start(t)
	recorder := stripemock.NewRecorder(t, server.URL)
	adapter := newAdapter(t, stripegw.Config{BaseURL: recorder.URL})

	result, err := adapter.Authorize(context.Background(), request("key-shape"))
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	requests := recorder.Requests()
	if len(requests) != 2 {
		t.Fatalf("recorded %d requests, want 2 (PaymentMethod, PaymentIntent)", len(requests))
	}

	paymentMethod := findRequest(t, requests, http.MethodPost, "/v1/payment_methods")
	assertForm(t, paymentMethod, "type", "card")
	// Compared, never printed: the form contains the PAN and CVV.
	if paymentMethod.Form.Get("card[number]") != testPAN {
		t.Error("PaymentMethod card[number] differs from the request's PAN")
	}
	if paymentMethod.Form.Get("card[cvc]") != testCVV {
		t.Error("PaymentMethod card[cvc] differs from the request's CVV")
	}
	assertForm(t, paymentMethod, "card[exp_month]", "12")
	assertForm(t, paymentMethod, "card[exp_year]", "2030")
	if got := paymentMethod.Header.Get("Idempotency-Key"); got != "key-shape:payment_method" {
		t.Errorf("PaymentMethod Idempotency-Key = %q, want key-shape:payment_method", got)
	}
	if got := paymentMethod.Header.Get("Authorization"); got != "Bearer "+stripemock.APIKey {
		t.Errorf("PaymentMethod Authorization = %q, want the Bearer API key", got)
	}

	paymentIntent := findRequest(t, requests, http.MethodPost, "/v1/payment_intents")
	assertForm(t, paymentIntent, "amount", "1050")
	assertForm(t, paymentIntent, "currency", "usd")
	assertForm(t, paymentIntent, "confirm", "true")
	assertForm(t, paymentIntent, "capture_method", "manual")
	assertForm(t, paymentIntent, "payment_method_options[card][moto]", "true")
	assertForm(t, paymentIntent, "payment_method_types[0]", "card")
	assertForm(t, paymentIntent, "error_on_requires_action", "true")
	assertForm(t, paymentIntent, "metadata[idempotency_key]", "key-shape")
	assertForm(t, paymentIntent, "metadata[contact_id]", "6a1c4b5e-0d3f-4c1e-9a7b-2f8e5d6c7b8a")
	assertForm(t, paymentIntent, "metadata[merchant_reference]", "order-1001")
	assertForm(t, paymentIntent, "expand[0]", "latest_charge")
	if got := paymentIntent.Form.Get("payment_method"); !strings.HasPrefix(got, "pm_") {
		t.Errorf("PaymentIntent payment_method = %q, want the PaymentMethod id (pm_...)", got)
	}
	if got := paymentIntent.Header.Get("Idempotency-Key"); got != "key-shape:payment_intent" {
		t.Errorf("PaymentIntent Idempotency-Key = %q, want key-shape:payment_intent", got)
	}
	for field, values := range paymentIntent.Form {
		for _, value := range values {
			if strings.Contains(value, testPAN) || strings.HasPrefix(field, "card[") {
				t.Errorf("PaymentIntent form field %s carries card data", field)
			}
		}
	}

	// stripe-mock returns a fixture PaymentIntent in
	// requires_payment_method, which maps to a decline.
	if !strings.HasPrefix(result.GatewayReference, "pi_") {
		t.Errorf("GatewayReference = %q, want a PaymentIntent id", result.GatewayReference)
	}
	if result.Status != gateway.StatusDeclined {
		t.Errorf("Status = %q, want declined for stripe-mock's fixture", result.Status)
	}
	if result.Amount != 1050 || result.Currency != "USD" {
		t.Errorf("Amount, Currency = %d, %q; want 1050, USD", result.Amount, result.Currency)
	}
}

func TestAuthorizeAutomaticCaptureWithoutMOTO(t *testing.T) {
	server := stripemock.Start(t)
	recorder := stripemock.NewRecorder(t, server.URL)
	adapter := newAdapter(t, stripegw.Config{BaseURL: recorder.URL})

	req := request("key-automatic")
	req.MOTO = false
	req.CaptureMode = gateway.CaptureAutomatic
	req.Card.CVV = secret.Value{}
	req.MerchantReference = ""
	if _, err := adapter.Authorize(context.Background(), req); err != nil {
		t.Fatalf("Authorize: %v", err)
	}

	requests := recorder.Requests()
	paymentMethod := findRequest(t, requests, http.MethodPost, "/v1/payment_methods")
	if paymentMethod.Form.Has("card[cvc]") {
		t.Error("PaymentMethod sent card[cvc] for a card without CVV")
	}
	paymentIntent := findRequest(t, requests, http.MethodPost, "/v1/payment_intents")
	assertForm(t, paymentIntent, "capture_method", "automatic")
	if paymentIntent.Form.Has("payment_method_options[card][moto]") {
		t.Error("PaymentIntent sent the MOTO flag for a request that is not MOTO")
	}
	if paymentIntent.Form.Has("metadata[merchant_reference]") {
		t.Error("PaymentIntent sent an empty merchant reference")
	}
}

func TestVoidByReference(t *testing.T) {
	server := stripemock.Start(t)
	recorder := stripemock.NewRecorder(t, server.URL)
	adapter := newAdapter(t, stripegw.Config{BaseURL: recorder.URL})

	result, err := adapter.Void(context.Background(), gateway.VoidRequest{GatewayReference: "pi_3Void"})
	if err != nil {
		t.Fatalf("Void: %v", err)
	}
	if result.Status != gateway.StatusVoided {
		t.Errorf("Status = %q, want voided", result.Status)
	}
	if result.GatewayReference != "pi_3Void" {
		t.Errorf("GatewayReference = %q, want pi_3Void", result.GatewayReference)
	}

	cancel := findRequest(t, recorder.Requests(), http.MethodPost, "/v1/payment_intents/pi_3Void/cancel")
	assertForm(t, cancel, "cancellation_reason", "abandoned")
	if got := cancel.Header.Get("Idempotency-Key"); got != "pi_3Void:cancel" {
		t.Errorf("cancel Idempotency-Key = %q, want pi_3Void:cancel", got)
	}
}

func TestLookupAfterAuthorizeRetrievesByID(t *testing.T) {
	server := stripemock.Start(t)
	recorder := stripemock.NewRecorder(t, server.URL)
	adapter := newAdapter(t, stripegw.Config{BaseURL: recorder.URL})

	authorized, err := adapter.Authorize(context.Background(), request("key-lookup"))
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	recorder.Reset()

	looked, err := adapter.Lookup(context.Background(), "key-lookup")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if looked.GatewayReference != authorized.GatewayReference {
		t.Errorf("Lookup GatewayReference = %q, want %q", looked.GatewayReference, authorized.GatewayReference)
	}
	retrieve := findRequest(t, recorder.Requests(), http.MethodGet, "/v1/payment_intents/"+authorized.GatewayReference)
	if got := retrieve.Query.Get("expand[0]"); got != "latest_charge" {
		t.Errorf("retrieve expand[0] = %q, want latest_charge", got)
	}

	recorder.Reset()
	voided, err := adapter.Void(context.Background(), gateway.VoidRequest{IdempotencyKey: "key-lookup"})
	if err != nil {
		t.Fatalf("Void by idempotency key: %v", err)
	}
	if voided.Status != gateway.StatusVoided {
		t.Errorf("Void Status = %q, want voided", voided.Status)
	}
	findRequest(t, recorder.Requests(), http.MethodPost, "/v1/payment_intents/"+authorized.GatewayReference+"/cancel")
}

func TestLookupUnknownKeySearchesMetadata(t *testing.T) {
	server := stripemock.Start(t)
	recorder := stripemock.NewRecorder(t, server.URL)
	adapter := newAdapter(t, stripegw.Config{BaseURL: recorder.URL})

	_, err := adapter.Lookup(context.Background(), "key-never-sent")
	if !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("Lookup error = %v, want ErrNotFound (stripe-mock's search fixture has no such metadata)", err)
	}

	search := findRequest(t, recorder.Requests(), http.MethodGet, "/v1/payment_intents/search")
	if got, want := search.Query.Get("query"), "metadata['idempotency_key']:'key-never-sent'"; got != want {
		t.Errorf("search query = %q, want %q", got, want)
	}
	if got := search.Query.Get("expand[0]"); got != "data.latest_charge" {
		t.Errorf("search expand[0] = %q, want data.latest_charge", got)
	}
}

func TestWrongAPIKeyFails(t *testing.T) {
	server := stripemock.Start(t)
	adapter := newAdapter(t, stripegw.Config{BaseURL: server.URL, APIKey: "not-a-stripe-key"})

	_, err := adapter.Authorize(context.Background(), request("key-wrong-api-key"))
	var gwErr *gateway.Error
	if !errors.As(err, &gwErr) {
		t.Fatalf("Authorize error = %v, want *gateway.Error", err)
	}
	if gwErr.Code != gateway.CodeAuthentication || gwErr.HTTPStatus != http.StatusUnauthorized {
		t.Errorf("Code, HTTPStatus = %q, %d; want authentication, 401", gwErr.Code, gwErr.HTTPStatus)
	}
	if gwErr.Retryable || gwErr.OutcomeUnknown {
		t.Errorf("authentication error is retryable (%v) or outcome-unknown (%v)", gwErr.Retryable, gwErr.OutcomeUnknown)
	}
}

// faultServer forwards to stripe-mock except for the requests for which
// fault returns a handler.
func faultServer(t *testing.T, target string, fault func(*http.Request) http.HandlerFunc) string {
	t.Helper()
	targetURL, err := url.Parse(target)
	if err != nil {
		t.Fatalf("parse %q: %v", target, err)
	}
	transport := &http.Transport{}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(targetURL) }, Transport: transport}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if handler := fault(r); handler != nil {
			handler(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		server.CloseClientConnections()
		server.Close()
		transport.CloseIdleConnections()
	})
	return server.URL
}

// hang is a handler that never responds. It returns when the client gives
// up, and it reads the body first because the server notices a closed
// connection only once the body is consumed.
func hang(_ http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

func TestAuthorizeTimeout(t *testing.T) {
	tests := []struct {
		name               string
		hangPath           string
		wantOutcomeUnknown bool
	}{
		{"during PaymentMethod", "/v1/payment_methods", false},
		{"during PaymentIntent", "/v1/payment_intents", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := stripemock.Start(t)
			baseURL := faultServer(t, server.URL, func(r *http.Request) http.HandlerFunc {
				if r.Method == http.MethodPost && r.URL.Path == tt.hangPath {
					return hang
				}
				return nil
			})
			adapter := newAdapter(t, stripegw.Config{BaseURL: baseURL})

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := adapter.Authorize(ctx, request("key-timeout"))

			var gwErr *gateway.Error
			if !errors.As(err, &gwErr) {
				t.Fatalf("Authorize error = %v, want *gateway.Error", err)
			}
			if gwErr.Code != gateway.CodeTimeout {
				t.Errorf("Code = %q, want timeout", gwErr.Code)
			}
			if !gwErr.Retryable {
				t.Error("timeout is not retryable")
			}
			if gwErr.OutcomeUnknown != tt.wantOutcomeUnknown {
				t.Errorf("OutcomeUnknown = %v, want %v", gwErr.OutcomeUnknown, tt.wantOutcomeUnknown)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			}
		})
	}
}

func TestLookupAfterLostAnswer(t *testing.T) {
	server := stripemock.Start(t)
	baseURL := faultServer(t, server.URL, func(r *http.Request) http.HandlerFunc {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents" {
			return hang
		}
		return nil
	})
	now := time.Date(2026, time.June, 15, 12, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	clock := func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		return now
	}
	adapter := newAdapter(t, stripegw.Config{BaseURL: baseURL, SearchLag: time.Minute, Now: clock})

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := adapter.Authorize(ctx, request("key-lost")); !gateway.IsOutcomeUnknown(err) {
		t.Fatalf("Authorize error = %v, want an outcome-unknown error", err)
	}

	// Within the search lag, a miss may be the index lagging: retry later.
	_, err := adapter.Lookup(context.Background(), "key-lost")
	if got := gateway.CodeOf(err); got != gateway.CodeLookupIncomplete {
		t.Errorf("Lookup within the search lag: code %q (%v), want lookup_incomplete", got, err)
	}
	if !gateway.IsRetryable(err) {
		t.Errorf("Lookup within the search lag: %v is not retryable", err)
	}
	_, err = adapter.Void(context.Background(), gateway.VoidRequest{IdempotencyKey: "key-lost"})
	if got := gateway.CodeOf(err); got != gateway.CodeLookupIncomplete {
		t.Errorf("Void within the search lag: code %q (%v), want lookup_incomplete", got, err)
	}

	// After the lag, a miss means Stripe never saw the key.
	clockMu.Lock()
	now = now.Add(time.Minute)
	clockMu.Unlock()
	if _, err := adapter.Lookup(context.Background(), "key-lost"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Lookup after the search lag: error = %v, want ErrNotFound", err)
	}
}

// stripeErrorServer responds to every request with status and a Stripe
// error object, as the Stripe API does. stripe-mock cannot decline a card,
// so the decline and server-error mappings are checked against these
// responses, parsed by the real stripe-go client.
func stripeErrorServer(t *testing.T, status int, body string) string {
	t.Helper()
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_test")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(server.Close)
	return server.URL
}

func TestAuthorizeDeclines(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantCode gateway.DeclineCode
		wantRaw  string
		wantRef  string
	}{
		{"insufficient funds", `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","payment_intent":{"id":"pi_declined","object":"payment_intent","status":"requires_payment_method"}}}`, gateway.DeclineInsufficientFunds, "insufficient_funds", "pi_declined"},
		{"do not honor", `{"error":{"type":"card_error","code":"card_declined","decline_code":"do_not_honor"}}`, gateway.DeclineDoNotHonor, "do_not_honor", ""},
		{"generic decline", `{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline"}}`, gateway.DeclineGeneric, "generic_decline", ""},
		{"lost card", `{"error":{"type":"card_error","code":"card_declined","decline_code":"lost_card"}}`, gateway.DeclineLostOrStolen, "lost_card", ""},
		{"stolen card", `{"error":{"type":"card_error","code":"card_declined","decline_code":"stolen_card"}}`, gateway.DeclineLostOrStolen, "stolen_card", ""},
		{"fraudulent", `{"error":{"type":"card_error","code":"card_declined","decline_code":"fraudulent"}}`, gateway.DeclineFraudulent, "fraudulent", ""},
		{"expired card", `{"error":{"type":"card_error","code":"expired_card"}}`, gateway.DeclineExpiredCard, "expired_card", ""},
		{"incorrect CVC", `{"error":{"type":"card_error","code":"incorrect_cvc"}}`, gateway.DeclineIncorrectCVC, "incorrect_cvc", ""},
		{"incorrect number", `{"error":{"type":"card_error","code":"incorrect_number"}}`, gateway.DeclineIncorrectNumber, "incorrect_number", ""},
		{"processing error", `{"error":{"type":"card_error","code":"processing_error"}}`, gateway.DeclineProcessingError, "processing_error", ""},
		{"unknown decline code", `{"error":{"type":"card_error","code":"card_declined","decline_code":"brand_new_reason"}}`, gateway.DeclineGeneric, "brand_new_reason", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adapter := newAdapter(t, stripegw.Config{BaseURL: stripeErrorServer(t, http.StatusPaymentRequired, tt.body)})

			got, err := adapter.Authorize(context.Background(), request("key-decline"))
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if got.Status != gateway.StatusDeclined {
				t.Errorf("Status = %q, want declined", got.Status)
			}
			if got.DeclineCode != tt.wantCode {
				t.Errorf("DeclineCode = %q, want %q", got.DeclineCode, tt.wantCode)
			}
			if got.GatewayDeclineCode != tt.wantRaw {
				t.Errorf("GatewayDeclineCode = %q, want %q", got.GatewayDeclineCode, tt.wantRaw)
			}
			if got.GatewayReference != tt.wantRef {
				t.Errorf("GatewayReference = %q, want %q", got.GatewayReference, tt.wantRef)
			}
		})
	}
}

func TestAuthorizeErrors(t *testing.T) {
	tests := []struct {
		name               string
		status             int
		body               string
		wantCode           gateway.ErrorCode
		wantRetryable      bool
		wantOutcomeUnknown bool
	}{
		{"idempotency conflict", 400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}`, gateway.CodeIdempotencyConflict, false, false},
		{"rate limit", 429, `{"error":{"type":"invalid_request_error","code":"rate_limit"}}`, gateway.CodeRateLimited, true, false},
		{"invalid parameter", 400, `{"error":{"type":"invalid_request_error","code":"parameter_invalid_integer","param":"amount"}}`, gateway.CodeInvalidRequest, false, false},
		{"API error", 500, `{"error":{"type":"api_error"}}`, gateway.CodeGatewayError, true, false},
		{"non-JSON response", 502, `<html>bad gateway</html>`, gateway.CodeGatewayError, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every call fails, so these errors come from the PaymentMethod
			// call, which cannot authorize: the outcome is known.
			adapter := newAdapter(t, stripegw.Config{BaseURL: stripeErrorServer(t, tt.status, tt.body)})

			_, err := adapter.Authorize(context.Background(), request("key-error"))
			var gwErr *gateway.Error
			if !errors.As(err, &gwErr) {
				t.Fatalf("Authorize error = %v, want *gateway.Error", err)
			}
			if gwErr.Code != tt.wantCode {
				t.Errorf("Code = %q, want %q (%v)", gwErr.Code, tt.wantCode, err)
			}
			if gwErr.Retryable != tt.wantRetryable {
				t.Errorf("Retryable = %v, want %v", gwErr.Retryable, tt.wantRetryable)
			}
			if gwErr.OutcomeUnknown != tt.wantOutcomeUnknown {
				t.Errorf("OutcomeUnknown = %v, want %v", gwErr.OutcomeUnknown, tt.wantOutcomeUnknown)
			}
			if gwErr.HTTPStatus != tt.status && tt.wantCode != gateway.CodeGatewayError {
				t.Errorf("HTTPStatus = %d, want %d", gwErr.HTTPStatus, tt.status)
			}
		})
	}
}

func TestPaymentIntentErrorsAfterPaymentMethod(t *testing.T) {
	tests := []struct {
		name               string
		status             int
		body               string
		wantCode           gateway.ErrorCode
		wantOutcomeUnknown bool
	}{
		{"key in use", 409, `{"error":{"type":"idempotency_error","code":"idempotency_key_in_use"}}`, gateway.CodeInProgress, true},
		{"API error", 500, `{"error":{"type":"api_error"}}`, gateway.CodeGatewayError, true},
		{"rate limit", 429, `{"error":{"type":"invalid_request_error","code":"rate_limit"}}`, gateway.CodeRateLimited, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := stripemock.Start(t)
			baseURL := faultServer(t, server.URL, func(r *http.Request) http.HandlerFunc {
				if r.Method != http.MethodPost || r.URL.Path != "/v1/payment_intents" {
					return nil
				}
				return func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(tt.status)
					fmt.Fprint(w, tt.body)
				}
			})
			adapter := newAdapter(t, stripegw.Config{BaseURL: baseURL})

			_, err := adapter.Authorize(context.Background(), request("key-pi-error"))
			if got := gateway.CodeOf(err); got != tt.wantCode {
				t.Errorf("code = %q (%v), want %q", got, err, tt.wantCode)
			}
			if !gateway.IsRetryable(err) {
				t.Errorf("%v is not retryable", err)
			}
			if got := gateway.IsOutcomeUnknown(err); got != tt.wantOutcomeUnknown {
				t.Errorf("IsOutcomeUnknown = %v, want %v", got, tt.wantOutcomeUnknown)
			}
		})
	}
}

func TestVoidErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus gateway.Status
		wantCode   gateway.ErrorCode
	}{
		{"already canceled", 400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state","payment_intent":{"id":"pi_1","object":"payment_intent","status":"canceled"}}}`, gateway.StatusVoided, ""},
		{"captured", 400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state","payment_intent":{"id":"pi_1","object":"payment_intent","status":"succeeded"}}}`, "", gateway.CodeVoidNotAllowed},
		{"unknown PaymentIntent", 404, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"intent"}}`, "", gateway.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adapter := newAdapter(t, stripegw.Config{BaseURL: stripeErrorServer(t, tt.status, tt.body)})

			result, err := adapter.Void(context.Background(), gateway.VoidRequest{GatewayReference: "pi_1"})
			if tt.wantCode != "" {
				if got := gateway.CodeOf(err); got != tt.wantCode {
					t.Errorf("code = %q (%v), want %q", got, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("Void: %v", err)
			}
			if result.Status != tt.wantStatus {
				t.Errorf("Status = %q, want %q", result.Status, tt.wantStatus)
			}
		})
	}
}

func TestUnreachableGatewayIsNotSent(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	closedURL := "http://" + listener.Addr().String()
	listener.Close()
	adapter := newAdapter(t, stripegw.Config{BaseURL: closedURL})

	_, err = adapter.Authorize(context.Background(), request("key-unreachable"))
	if got := gateway.CodeOf(err); got != gateway.CodeUnavailable {
		t.Errorf("code = %q (%v), want unavailable", got, err)
	}
	if !gateway.IsRetryable(err) || gateway.IsOutcomeUnknown(err) {
		t.Errorf("%v: want retryable with a known outcome", err)
	}
}

func TestInvalidRequestMakesNoCall(t *testing.T) {
	calls := 0
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ }))
	t.Cleanup(server.Close)
	adapter := newAdapter(t, stripegw.Config{BaseURL: server.URL})

	req := request("key-invalid")
	req.Currency = "usd"
	_, err := adapter.Authorize(context.Background(), req)
	var gwErr *gateway.Error
	if !errors.As(err, &gwErr) || gwErr.Code != gateway.CodeInvalidRequest || gwErr.Gateway != stripegw.Name {
		t.Errorf("Authorize error = %v, want invalid_request from stripe", err)
	}
	if calls != 0 {
		t.Errorf("the adapter made %d HTTP calls for an invalid request", calls)
	}
}

func TestLogsCarryNoCardData(t *testing.T) {
	server := stripemock.Start(t)
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)

	hangingURL := faultServer(t, server.URL, func(r *http.Request) http.HandlerFunc {
		if r.URL.Path == "/v1/payment_intents" {
			return hang
		}
		return nil
	})
	adapters := []*stripegw.Adapter{
		newAdapter(t, stripegw.Config{BaseURL: server.URL, Logger: logger}),
		newAdapter(t, stripegw.Config{BaseURL: server.URL, Logger: logger, APIKey: "not-a-stripe-key"}),
		newAdapter(t, stripegw.Config{BaseURL: hangingURL, Logger: logger}),
		newAdapter(t, stripegw.Config{BaseURL: stripeErrorServer(t, 402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"card 4000000000009995 declined"}}`), Logger: logger}),
		newAdapter(t, stripegw.Config{BaseURL: stripeErrorServer(t, 400, `{"error":{"type":"invalid_request_error","param":"card[number]","message":"Invalid card number 4000000000009995"}}`), Logger: logger}),
	}
	for i, adapter := range adapters {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, _ = adapter.Authorize(ctx, request(fmt.Sprintf("key-logs-%d", i)))
		_, _ = adapter.Lookup(ctx, fmt.Sprintf("key-logs-%d", i))
		cancel()
	}

	if logs.Len() == 0 {
		t.Fatal("the adapter logged nothing, so the check below proves nothing")
	}
	encoder := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, entry := range logs.All() {
		line, err := encoder.EncodeEntry(entry.Entry, entry.Context)
		if err != nil {
			t.Fatalf("EncodeEntry: %v", err)
		}
		if bytes.Contains(line.Bytes(), []byte(testPAN)) || bytes.Contains(line.Bytes(), []byte("card[number]=")) {
			t.Errorf("log line %q carries the PAN", entry.Message)
		}
		if bytes.Contains(line.Bytes(), []byte(`"`+testCVV+`"`)) || bytes.Contains(line.Bytes(), []byte("cvc=")) {
			t.Errorf("log line %q carries the CVV", entry.Message)
		}
		line.Free()
	}
}

func TestNewRejectsConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  stripegw.Config
	}{
		{"missing API key", stripegw.Config{}},
		{"plain http to a remote host", stripegw.Config{APIKey: "sk_test_1", BaseURL: "http://api.stripe.com"}},
		{"negative retries", stripegw.Config{APIKey: "sk_test_1", MaxNetworkRetries: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := stripegw.New(tt.cfg); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
}

func TestName(t *testing.T) {
	if got := newAdapter(t, stripegw.Config{}).Name(); got != "stripe" {
		t.Errorf("Name() = %q, want stripe", got)
	}
}

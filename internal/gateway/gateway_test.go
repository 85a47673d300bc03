package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/secret"
)

const testPAN = "4242424242424242"

func validRequest() gateway.Request {
	return gateway.Request{
		Amount:   1050,
		Currency: "USD",
		Card: gateway.Card{
			PAN:         secret.Copy([]byte(testPAN)),
			ExpiryMonth: 12,
			ExpiryYear:  2030,
			CVV:         secret.Copy([]byte("123")),
		},
		IdempotencyKey:    "6a1c4b5e-0d3f-4c1e-9a7b-2f8e5d6c7b8a",
		ContactID:         "6a1c4b5e-0d3f-4c1e-9a7b-2f8e5d6c7b8a",
		MerchantReference: "order-1001",
		MOTO:              true,
	}
}

func TestRequestValidate(t *testing.T) {
	tests := []struct {
		name      string
		change    func(*gateway.Request)
		wantValid bool
	}{
		{"valid", func(*gateway.Request) {}, true},
		{"valid without CVV", func(r *gateway.Request) { r.Card.CVV = secret.Value{} }, true},
		{"valid four-digit CVV", func(r *gateway.Request) { r.Card.CVV = secret.Copy([]byte("1234")) }, true},
		{"valid automatic capture", func(r *gateway.Request) { r.CaptureMode = gateway.CaptureAutomatic }, true},
		{"valid 19-digit PAN", func(r *gateway.Request) { r.Card.PAN = secret.Copy([]byte("6011000000000000004")) }, true},
		{"zero amount", func(r *gateway.Request) { r.Amount = 0 }, false},
		{"negative amount", func(r *gateway.Request) { r.Amount = -1 }, false},
		{"lower-case currency", func(r *gateway.Request) { r.Currency = "usd" }, false},
		{"two-letter currency", func(r *gateway.Request) { r.Currency = "US" }, false},
		{"numeric currency", func(r *gateway.Request) { r.Currency = "840" }, false},
		{"missing currency", func(r *gateway.Request) { r.Currency = "" }, false},
		{"missing idempotency key", func(r *gateway.Request) { r.IdempotencyKey = "" }, false},
		{"idempotency key with a quote", func(r *gateway.Request) { r.IdempotencyKey = "key'1" }, false},
		{"idempotency key with a space", func(r *gateway.Request) { r.IdempotencyKey = "key 1" }, false},
		{"idempotency key too long", func(r *gateway.Request) { r.IdempotencyKey = strings.Repeat("k", gateway.MaxIdempotencyKeyLength+1) }, false},
		{"contact id with a newline", func(r *gateway.Request) { r.ContactID = "contact\n1" }, false},
		{"merchant reference too long", func(r *gateway.Request) { r.MerchantReference = strings.Repeat("r", gateway.MaxMetadataLength+1) }, false},
		{"unknown capture mode", func(r *gateway.Request) { r.CaptureMode = "deferred" }, false},
		{"missing PAN", func(r *gateway.Request) { r.Card.PAN = secret.Value{} }, false},
		{"wiped PAN", func(r *gateway.Request) { r.Card.PAN.Wipe() }, false},
		{"PAN with dashes", func(r *gateway.Request) { r.Card.PAN = secret.Copy([]byte("4242-4242-4242-4242")) }, false},
		{"11-digit PAN", func(r *gateway.Request) { r.Card.PAN = secret.Copy([]byte("42424242424")) }, false},
		{"20-digit PAN", func(r *gateway.Request) { r.Card.PAN = secret.Copy([]byte("42424242424242424242")) }, false},
		{"expiry month 0", func(r *gateway.Request) { r.Card.ExpiryMonth = 0 }, false},
		{"expiry month 13", func(r *gateway.Request) { r.Card.ExpiryMonth = 13 }, false},
		{"two-digit expiry year", func(r *gateway.Request) { r.Card.ExpiryYear = 30 }, false},
		{"two-digit CVV", func(r *gateway.Request) { r.Card.CVV = secret.Copy([]byte("12")) }, false},
		{"CVV with a letter", func(r *gateway.Request) { r.Card.CVV = secret.Copy([]byte("12a")) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validRequest()
			tt.change(&req)

			err := req.Validate()
			if tt.wantValid {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if gateway.CodeOf(err) != gateway.CodeInvalidRequest {
				t.Fatalf("Validate error = %v, want code invalid_request", err)
			}
			if gateway.IsRetryable(err) || gateway.IsOutcomeUnknown(err) {
				t.Errorf("validation error %v is retryable or outcome-unknown", err)
			}
			if strings.Contains(err.Error(), "4242") {
				t.Errorf("error text contains PAN digits: %v", err)
			}
		})
	}
}

func TestVoidRequestValidate(t *testing.T) {
	tests := []struct {
		name      string
		req       gateway.VoidRequest
		wantValid bool
	}{
		{"reference", gateway.VoidRequest{GatewayReference: "pi_3Kz1"}, true},
		{"idempotency key", gateway.VoidRequest{IdempotencyKey: "key-1"}, true},
		{"both", gateway.VoidRequest{GatewayReference: "pi_3Kz1", IdempotencyKey: "key-1"}, true},
		{"neither", gateway.VoidRequest{}, false},
		{"reference with a slash", gateway.VoidRequest{GatewayReference: "pi_1/cancel"}, false},
		{"key with a quote", gateway.VoidRequest{IdempotencyKey: "key'"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.wantValid != (err == nil) {
				t.Fatalf("Validate() = %v, want valid %v", err, tt.wantValid)
			}
			if err == nil {
				return
			}
			var gwErr *gateway.Error
			if !errors.As(err, &gwErr) || gwErr.Op != gateway.OpVoid {
				t.Errorf("error %v is not a *gateway.Error for op void", err)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	err := &gateway.Error{
		Gateway:        "stripe",
		Op:             gateway.OpAuthorize,
		Code:           gateway.CodeTimeout,
		Retryable:      true,
		OutcomeUnknown: true,
		Detail:         "no response from POST /v1/payment_intents",
		HTTPStatus:     504,
		RequestID:      "req_123",
		Err:            context.DeadlineExceeded,
	}
	want := "gateway stripe: authorize: timeout: no response from POST /v1/payment_intents (HTTP 504, request id req_123, retryable, outcome unknown): context deadline exceeded"
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}

func TestErrorHelpers(t *testing.T) {
	wrapped := fmt.Errorf("authorize contact: %w", &gateway.Error{Code: gateway.CodeInProgress, Retryable: true, OutcomeUnknown: true})
	if !gateway.IsRetryable(wrapped) {
		t.Error("IsRetryable = false through a wrap")
	}
	if !gateway.IsOutcomeUnknown(wrapped) {
		t.Error("IsOutcomeUnknown = false through a wrap")
	}
	if got := gateway.CodeOf(wrapped); got != gateway.CodeInProgress {
		t.Errorf("CodeOf = %q, want in_progress", got)
	}

	plain := errors.New("plain")
	if gateway.IsRetryable(plain) || gateway.IsOutcomeUnknown(plain) || gateway.CodeOf(plain) != "" {
		t.Error("helpers classify an error that is not a *gateway.Error")
	}

	notFound := gateway.NotFoundError("stripe", gateway.OpLookup, `idempotency key "k"`)
	if !errors.Is(notFound, gateway.ErrNotFound) {
		t.Error("NotFoundError does not wrap ErrNotFound")
	}
}

func TestCaptureModeEffective(t *testing.T) {
	if got := gateway.CaptureMode("").Effective(); got != gateway.CaptureManual {
		t.Errorf("zero CaptureMode.Effective() = %q, want manual", got)
	}
	if got := gateway.CaptureAutomatic.Effective(); got != gateway.CaptureAutomatic {
		t.Errorf("CaptureAutomatic.Effective() = %q", got)
	}
}

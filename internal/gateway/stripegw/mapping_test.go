package stripegw

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/connect-secure-input/processor/internal/gateway"
)

// stripeDeclineCodes lists every Stripe code the adapter maps, with the
// normalized code it must map to. It is written out rather than derived from
// declineCodes, so a changed entry fails here.
var stripeDeclineCodes = []struct {
	stripeCode string
	want       gateway.DeclineCode
}{
	{"insufficient_funds", gateway.DeclineInsufficientFunds},
	{"card_velocity_exceeded", gateway.DeclineInsufficientFunds},
	{"withdrawal_count_limit_exceeded", gateway.DeclineInsufficientFunds},
	{"do_not_honor", gateway.DeclineDoNotHonor},
	{"call_issuer", gateway.DeclineDoNotHonor},
	{"do_not_try_again", gateway.DeclineDoNotHonor},
	{"duplicate_transaction", gateway.DeclineDoNotHonor},
	{"incorrect_zip", gateway.DeclineDoNotHonor},
	{"invalid_account", gateway.DeclineDoNotHonor},
	{"invalid_amount", gateway.DeclineDoNotHonor},
	{"new_account_information_available", gateway.DeclineDoNotHonor},
	{"no_action_taken", gateway.DeclineDoNotHonor},
	{"not_permitted", gateway.DeclineDoNotHonor},
	{"restricted_card", gateway.DeclineDoNotHonor},
	{"revocation_of_all_authorizations", gateway.DeclineDoNotHonor},
	{"revocation_of_authorization", gateway.DeclineDoNotHonor},
	{"security_violation", gateway.DeclineDoNotHonor},
	{"service_not_allowed", gateway.DeclineDoNotHonor},
	{"stop_payment_order", gateway.DeclineDoNotHonor},
	{"transaction_not_allowed", gateway.DeclineDoNotHonor},
	{"expired_card", gateway.DeclineExpiredCard},
	{"invalid_expiry_month", gateway.DeclineInvalidExpiry},
	{"invalid_expiry_year", gateway.DeclineInvalidExpiry},
	{"incorrect_cvc", gateway.DeclineIncorrectCVC},
	{"invalid_cvc", gateway.DeclineIncorrectCVC},
	{"incorrect_number", gateway.DeclineIncorrectNumber},
	{"invalid_number", gateway.DeclineIncorrectNumber},
	{"lost_card", gateway.DeclineLostOrStolen},
	{"stolen_card", gateway.DeclineLostOrStolen},
	{"pickup_card", gateway.DeclineLostOrStolen},
	{"processing_error", gateway.DeclineProcessingError},
	{"approve_with_id", gateway.DeclineTryAgainLater},
	{"card_decline_rate_limit_exceeded", gateway.DeclineTryAgainLater},
	{"issuer_not_available", gateway.DeclineTryAgainLater},
	{"reenter_transaction", gateway.DeclineTryAgainLater},
	{"try_again_later", gateway.DeclineTryAgainLater},
	{"card_not_supported", gateway.DeclineCardNotSupported},
	{"currency_not_supported", gateway.DeclineCardNotSupported},
	{"testmode_decline", gateway.DeclineCardNotSupported},
	{"fraudulent", gateway.DeclineFraudulent},
	{"merchant_blacklist", gateway.DeclineFraudulent},
	{"authentication_required", gateway.DeclineAuthenticationRequired},
	{"payment_intent_authentication_failure", gateway.DeclineAuthenticationRequired},
	{"incorrect_pin", gateway.DeclineAuthenticationRequired},
	{"invalid_pin", gateway.DeclineAuthenticationRequired},
	{"offline_pin_required", gateway.DeclineAuthenticationRequired},
	{"online_or_offline_pin_required", gateway.DeclineAuthenticationRequired},
	{"pin_try_exceeded", gateway.DeclineAuthenticationRequired},
	{"generic_decline", gateway.DeclineGeneric},
	{"card_declined", gateway.DeclineGeneric},
}

func TestDeclineCodeMapping(t *testing.T) {
	for _, tt := range stripeDeclineCodes {
		t.Run(tt.stripeCode, func(t *testing.T) {
			got, raw := normalizeDecline(tt.stripeCode, string(stripe.ErrorCodeCardDeclined))
			if got != tt.want {
				t.Errorf("as decline_code: normalized = %q, want %q", got, tt.want)
			}
			if raw != tt.stripeCode {
				t.Errorf("as decline_code: gateway code = %q, want %q", raw, tt.stripeCode)
			}

			// Card errors without a decline code carry the reason in code.
			if tt.stripeCode != string(stripe.ErrorCodeCardDeclined) {
				got, raw = normalizeDecline("", tt.stripeCode)
				if got != tt.want {
					t.Errorf("as error code: normalized = %q, want %q", got, tt.want)
				}
				if raw != tt.stripeCode {
					t.Errorf("as error code: gateway code = %q, want %q", raw, tt.stripeCode)
				}
			}
		})
	}
}

func TestDeclineCodeTableComplete(t *testing.T) {
	listed := map[string]bool{}
	for _, tt := range stripeDeclineCodes {
		listed[tt.stripeCode] = true
	}
	for code := range declineCodes {
		if !listed[code] {
			t.Errorf("declineCodes maps %q, which the test table lacks", code)
		}
	}
	if len(listed) != len(declineCodes) {
		t.Errorf("test table has %d codes, declineCodes %d", len(listed), len(declineCodes))
	}
}

func TestDeclineCodeFallback(t *testing.T) {
	tests := []struct {
		name        string
		declineCode string
		errorCode   string
		want        gateway.DeclineCode
		wantRaw     string
	}{
		{"unknown decline code", "brand_new_reason", "card_declined", gateway.DeclineGeneric, "brand_new_reason"},
		{"unknown decline code, known error code", "brand_new_reason", "expired_card", gateway.DeclineExpiredCard, "brand_new_reason"},
		{"card_declined without decline code", "", "card_declined", gateway.DeclineGeneric, "card_declined"},
		{"unknown error code", "", "brand_new_error", gateway.DeclineGeneric, "brand_new_error"},
		{"no codes", "", "", gateway.DeclineGeneric, ""},
		{"decline code wins", "lost_card", "incorrect_cvc", gateway.DeclineLostOrStolen, "lost_card"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, raw := normalizeDecline(tt.declineCode, tt.errorCode)
			if got != tt.want {
				t.Errorf("normalized = %q, want %q", got, tt.want)
			}
			if raw != tt.wantRaw {
				t.Errorf("gateway code = %q, want %q", raw, tt.wantRaw)
			}
		})
	}
}

func TestResultFromPaymentIntent(t *testing.T) {
	charge := &stripe.Charge{PaymentMethodDetails: &stripe.ChargePaymentMethodDetails{
		Card: &stripe.ChargePaymentMethodDetailsCard{AuthorizationCode: "123456"},
	}}
	declineError := &stripe.Error{Type: stripe.ErrorTypeCard, Code: stripe.ErrorCodeCardDeclined, DeclineCode: "insufficient_funds"}
	tests := []struct {
		name       string
		status     stripe.PaymentIntentStatus
		lastError  *stripe.Error
		wantStatus gateway.Status
		wantCode   gateway.DeclineCode
		wantRaw    string
	}{
		{"requires_capture", stripe.PaymentIntentStatusRequiresCapture, nil, gateway.StatusApproved, "", ""},
		{"succeeded", stripe.PaymentIntentStatusSucceeded, nil, gateway.StatusApproved, "", ""},
		{"succeeded after a failed attempt", stripe.PaymentIntentStatusSucceeded, declineError, gateway.StatusApproved, "", ""},
		{"processing", stripe.PaymentIntentStatusProcessing, nil, gateway.StatusPending, "", ""},
		{"canceled", stripe.PaymentIntentStatusCanceled, nil, gateway.StatusVoided, "", ""},
		{"canceled decline", stripe.PaymentIntentStatusCanceled, declineError, gateway.StatusVoided, gateway.DeclineInsufficientFunds, "insufficient_funds"},
		{"requires_payment_method with decline", stripe.PaymentIntentStatusRequiresPaymentMethod, declineError, gateway.StatusDeclined, gateway.DeclineInsufficientFunds, "insufficient_funds"},
		{"requires_payment_method without code", stripe.PaymentIntentStatusRequiresPaymentMethod, &stripe.Error{Type: stripe.ErrorTypeIdempotency}, gateway.StatusDeclined, gateway.DeclineGeneric, ""},
		{"requires_action", stripe.PaymentIntentStatusRequiresAction, nil, gateway.StatusDeclined, gateway.DeclineAuthenticationRequired, "requires_action"},
		{"requires_confirmation", stripe.PaymentIntentStatusRequiresConfirmation, nil, gateway.StatusFailed, "", ""},
		{"unknown status", "on_hold", nil, gateway.StatusFailed, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resultFromPaymentIntent(&stripe.PaymentIntent{
				ID: "pi_1", Status: tt.status, Amount: 1050, Currency: "usd",
				LastPaymentError: tt.lastError, LatestCharge: charge,
			})
			if got.Status != tt.wantStatus {
				t.Errorf("Status = %q, want %q", got.Status, tt.wantStatus)
			}
			if got.DeclineCode != tt.wantCode {
				t.Errorf("DeclineCode = %q, want %q", got.DeclineCode, tt.wantCode)
			}
			if got.GatewayDeclineCode != tt.wantRaw {
				t.Errorf("GatewayDeclineCode = %q, want %q", got.GatewayDeclineCode, tt.wantRaw)
			}
			if got.GatewayReference != "pi_1" || got.Amount != 1050 || got.Currency != "USD" {
				t.Errorf("reference, amount, currency = %q, %d, %q; want pi_1, 1050, USD", got.GatewayReference, got.Amount, got.Currency)
			}
			if got.AuthorizationCode != "123456" {
				t.Errorf("AuthorizationCode = %q, want 123456", got.AuthorizationCode)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	dialErr := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/v1/payment_intents", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	resetErr := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/v1/payment_intents", Err: io.ErrUnexpectedEOF}
	certErr := &url.Error{Op: "Post", URL: "https://api.example/v1/payment_intents", Err: x509.UnknownAuthorityError{}}
	deadlineErr := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/v1/payment_intents", Err: context.DeadlineExceeded}
	decodeErr := fmt.Errorf("Couldn't deserialize JSON (response status: 502, body sample: '<html>'): invalid character")

	tests := []struct {
		name               string
		stage              callStage
		err                error
		wantCode           gateway.ErrorCode
		wantRetryable      bool
		wantOutcomeUnknown bool
		wantHTTPStatus     int
	}{
		{"401 API key", stagePaymentIntent, &stripe.Error{HTTPStatusCode: 401, Type: stripe.ErrorTypeInvalidRequest}, gateway.CodeAuthentication, false, false, 401},
		{"403 permission", stagePaymentIntent, &stripe.Error{HTTPStatusCode: 403, Type: stripe.ErrorTypeInvalidRequest}, gateway.CodeAuthentication, false, false, 403},
		{"409 key in use on create", stagePaymentIntent, &stripe.Error{HTTPStatusCode: 409, Type: stripe.ErrorTypeIdempotency, Code: stripe.ErrorCodeIdempotencyKeyInUse}, gateway.CodeInProgress, true, true, 409},
		{"409 key in use on read", stageRead, &stripe.Error{HTTPStatusCode: 409, Code: stripe.ErrorCodeIdempotencyKeyInUse}, gateway.CodeInProgress, true, false, 409},
		{"400 idempotency conflict", stagePaymentIntent, &stripe.Error{HTTPStatusCode: 400, Type: stripe.ErrorTypeIdempotency}, gateway.CodeIdempotencyConflict, false, false, 400},
		{"404 resource missing", stageRead, &stripe.Error{HTTPStatusCode: 404, Type: stripe.ErrorTypeInvalidRequest, Code: stripe.ErrorCodeResourceMissing}, gateway.CodeNotFound, false, false, 404},
		{"429 rate limit", stagePaymentIntent, &stripe.Error{HTTPStatusCode: 429, Code: stripe.ErrorCodeRateLimit}, gateway.CodeRateLimited, true, false, 429},
		{"429 lock timeout", stageCancel, &stripe.Error{HTTPStatusCode: 429, Code: stripe.ErrorCodeLockTimeout}, gateway.CodeRateLimited, true, false, 429},
		{"500 on create", stagePaymentIntent, &stripe.Error{HTTPStatusCode: 500, Type: stripe.ErrorTypeAPI}, gateway.CodeGatewayError, true, true, 500},
		{"500 on PaymentMethod", stagePaymentMethod, &stripe.Error{HTTPStatusCode: 500, Type: stripe.ErrorTypeAPI}, gateway.CodeGatewayError, true, false, 500},
		{"503 on cancel", stageCancel, &stripe.Error{HTTPStatusCode: 503, Type: stripe.ErrorTypeAPI}, gateway.CodeGatewayError, true, true, 503},
		{"400 invalid parameter", stagePaymentIntent, &stripe.Error{HTTPStatusCode: 400, Type: stripe.ErrorTypeInvalidRequest, Code: "parameter_invalid_integer", Param: "amount"}, gateway.CodeInvalidRequest, false, false, 400},
		{"deadline on create", stagePaymentIntent, deadlineErr, gateway.CodeTimeout, true, true, 0},
		{"deadline on PaymentMethod", stagePaymentMethod, deadlineErr, gateway.CodeTimeout, true, false, 0},
		{"cancelled context on cancel", stageCancel, context.Canceled, gateway.CodeTimeout, true, true, 0},
		{"connection refused", stagePaymentIntent, dialErr, gateway.CodeUnavailable, true, false, 0},
		{"DNS failure", stagePaymentIntent, &url.Error{Op: "Post", URL: "https://api.example", Err: &net.DNSError{Err: "no such host", Name: "api.example"}}, gateway.CodeUnavailable, true, false, 0},
		{"untrusted certificate", stagePaymentIntent, certErr, gateway.CodeUnavailable, false, false, 0},
		{"connection reset on create", stagePaymentIntent, resetErr, gateway.CodeTimeout, true, true, 0},
		{"connection reset on read", stageRead, resetErr, gateway.CodeTimeout, true, false, 0},
		{"unreadable response", stagePaymentIntent, decodeErr, gateway.CodeGatewayError, true, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(gateway.OpAuthorize, tt.stage, tt.err)
			var gwErr *gateway.Error
			if !errors.As(err, &gwErr) {
				t.Fatalf("classify returned %T, want *gateway.Error", err)
			}
			if gwErr.Code != tt.wantCode {
				t.Errorf("Code = %q, want %q", gwErr.Code, tt.wantCode)
			}
			if gwErr.Retryable != tt.wantRetryable {
				t.Errorf("Retryable = %v, want %v", gwErr.Retryable, tt.wantRetryable)
			}
			if gwErr.OutcomeUnknown != tt.wantOutcomeUnknown {
				t.Errorf("OutcomeUnknown = %v, want %v", gwErr.OutcomeUnknown, tt.wantOutcomeUnknown)
			}
			if gwErr.HTTPStatus != tt.wantHTTPStatus {
				t.Errorf("HTTPStatus = %d, want %d", gwErr.HTTPStatus, tt.wantHTTPStatus)
			}
			if gwErr.Gateway != Name {
				t.Errorf("Gateway = %q, want %q", gwErr.Gateway, Name)
			}
		})
	}
}

func TestClassifyKeepsStripeMessageOut(t *testing.T) {
	stripeErr := &stripe.Error{
		HTTPStatusCode: 400,
		Type:           stripe.ErrorTypeInvalidRequest,
		Code:           "parameter_invalid_string",
		Param:          "card[number]",
		Msg:            "Invalid string: 4242424242424242",
		RequestID:      "req_1",
	}
	err := classify(gateway.OpAuthorize, stagePaymentMethod, stripeErr)
	if strings.Contains(err.Error(), "4242") {
		t.Errorf("error text contains the Stripe message with card digits: %v", err)
	}
	for _, want := range []string{"invalid_request_error", "parameter_invalid_string", "card[number]", "req_1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error text %q lacks %q", err.Error(), want)
		}
	}
	if errors.Is(err, stripeErr) {
		t.Error("error wraps the Stripe error, whose text includes its message")
	}

	decodeErr := fmt.Errorf("Couldn't deserialize JSON (response status: 502, body sample: 'card 4242424242424242'): invalid character")
	if got := classify(gateway.OpAuthorize, stagePaymentIntent, decodeErr); strings.Contains(got.Error(), "4242") {
		t.Errorf("error text quotes the response body: %v", got)
	}
}

func TestClassifyNotFoundWrapsErrNotFound(t *testing.T) {
	err := classify(gateway.OpLookup, stageRead, &stripe.Error{HTTPStatusCode: 404, Code: stripe.ErrorCodeResourceMissing})
	if !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("classify(404) = %v, want an error wrapping ErrNotFound", err)
	}
}

func TestClassifyVoid(t *testing.T) {
	tests := []struct {
		name       string
		status     stripe.PaymentIntentStatus
		wantVoided bool
		wantCode   gateway.ErrorCode
	}{
		{"already canceled", stripe.PaymentIntentStatusCanceled, true, ""},
		{"captured", stripe.PaymentIntentStatusSucceeded, false, gateway.CodeVoidNotAllowed},
		{"processing", stripe.PaymentIntentStatusProcessing, false, gateway.CodeVoidNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := &stripe.Error{
				HTTPStatusCode: 400,
				Type:           stripe.ErrorTypeInvalidRequest,
				Code:           stripe.ErrorCodePaymentIntentUnexpectedState,
				PaymentIntent:  &stripe.PaymentIntent{ID: "pi_1", Status: tt.status},
			}
			result, voided := voidResultFromError(err)
			if voided != tt.wantVoided {
				t.Fatalf("voidResultFromError ok = %v, want %v", voided, tt.wantVoided)
			}
			if voided {
				if result.Status != gateway.StatusVoided || result.GatewayReference != "pi_1" {
					t.Errorf("result = %+v, want voided pi_1", result)
				}
				return
			}
			if got := gateway.CodeOf(classifyVoid(err)); got != tt.wantCode {
				t.Errorf("classifyVoid code = %q, want %q", got, tt.wantCode)
			}
		})
	}
}

func TestDeclineFromError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantOK   bool
		wantCode gateway.DeclineCode
		wantRef  string
	}{
		{"card error with decline code", &stripe.Error{Type: stripe.ErrorTypeCard, Code: stripe.ErrorCodeCardDeclined, DeclineCode: "stolen_card", PaymentIntent: &stripe.PaymentIntent{ID: "pi_9"}}, true, gateway.DeclineLostOrStolen, "pi_9"},
		{"card error from PaymentMethod", &stripe.Error{Type: stripe.ErrorTypeCard, Code: stripe.ErrorCodeIncorrectNumber}, true, gateway.DeclineIncorrectNumber, ""},
		{"invalid request", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, Code: "parameter_missing"}, false, "", ""},
		{"network error", io.EOF, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := declineFromError(tt.err)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if got.Status != gateway.StatusDeclined {
				t.Errorf("Status = %q, want declined", got.Status)
			}
			if got.DeclineCode != tt.wantCode {
				t.Errorf("DeclineCode = %q, want %q", got.DeclineCode, tt.wantCode)
			}
			if got.GatewayReference != tt.wantRef {
				t.Errorf("GatewayReference = %q, want %q", got.GatewayReference, tt.wantRef)
			}
		})
	}
}

func TestSentKeys(t *testing.T) {
	start := time.Date(2026, time.June, 15, 12, 0, 0, 0, time.UTC)
	keys := newSentKeys(2, time.Hour)

	keys.markSent("key-a", start)
	keys.setReference("key-a", "pi_a")
	keys.markSent("key-b", start.Add(time.Minute))
	if id, ok := keys.reference("key-a", start); !ok || id != "pi_a" {
		t.Errorf("reference(key-a) = %q, %v; want pi_a, true", id, ok)
	}
	if _, ok := keys.reference("key-b", start); ok {
		t.Error("reference(key-b) found a PaymentIntent that was never set")
	}

	// A third key evicts the oldest, because the tracker holds 2.
	keys.markSent("key-c", start.Add(2*time.Minute))
	if _, ok := keys.sentAt("key-a", start.Add(2*time.Minute)); ok {
		t.Error("key-a survived eviction")
	}
	if at, ok := keys.sentAt("key-c", start.Add(2*time.Minute)); !ok || !at.Equal(start.Add(2*time.Minute)) {
		t.Errorf("sentAt(key-c) = %v, %v", at, ok)
	}

	// After the retention the key is forgotten.
	if _, ok := keys.sentAt("key-c", start.Add(2*time.Minute+time.Hour)); ok {
		t.Error("key-c survived its retention")
	}

	keys.setReference("key-never-sent", "pi_x")
	if _, ok := keys.reference("key-never-sent", start); ok {
		t.Error("setReference created an entry for a key that was never sent")
	}
}

func TestCheckBaseURL(t *testing.T) {
	tests := []struct {
		raw     string
		want    string
		wantErr bool
	}{
		{"", DefaultBaseURL, false},
		{"https://api.stripe.com", "https://api.stripe.com", false},
		{"https://api.stripe.com/", "https://api.stripe.com", false},
		{"http://127.0.0.1:12111", "http://127.0.0.1:12111", false},
		{"http://[::1]:12111", "http://[::1]:12111", false},
		{"http://localhost:12111", "http://localhost:12111", false},
		{"http://api.stripe.com", "", true},
		{"http://10.0.0.5:12111", "", true},
		{"ftp://api.stripe.com", "", true},
		{"https://api.stripe.com/v1", "", true},
		{"api.stripe.com", "", true},
	}
	for _, tt := range tests {
		got, err := checkBaseURL(tt.raw)
		if tt.wantErr {
			if err == nil {
				t.Errorf("checkBaseURL(%q) = %q, want an error", tt.raw, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("checkBaseURL(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}

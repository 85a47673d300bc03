package stripegw

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/stripe/stripe-go/v82"

	"github.com/connect-secure-input/processor/internal/gateway"
)

// callStage names the Stripe call that failed, for error details and to
// decide whether a failure leaves the outcome unknown.
type callStage string

const (
	stagePaymentMethod callStage = "create PaymentMethod"
	stagePaymentIntent callStage = "create PaymentIntent"
	stageCancel        callStage = "cancel PaymentIntent"
	stageRead          callStage = "read PaymentIntent"
)

// mayHaveChangedState reports whether a call that got no response may have
// authorized or canceled at Stripe. A PaymentMethod alone authorizes
// nothing, and reads change nothing.
func (s callStage) mayHaveChangedState() bool {
	return s == stagePaymentIntent || s == stageCancel
}

// errUnreadableResponse replaces stripe-go's error for a response it could
// not decode, whose text quotes the response body.
var errUnreadableResponse = errors.New("Stripe returned a response that is not a Stripe API object")

// declineCodes maps Stripe's decline codes, and the error codes Stripe uses
// for card errors without a decline code, to the normalized codes. Codes
// not listed map to gateway.DeclineGeneric. Source: Stripe's decline code
// list and the DeclineCode and ErrorCode constants of stripe-go v82.5.1.
var declineCodes = map[string]gateway.DeclineCode{
	"insufficient_funds":              gateway.DeclineInsufficientFunds,
	"card_velocity_exceeded":          gateway.DeclineInsufficientFunds,
	"withdrawal_count_limit_exceeded": gateway.DeclineInsufficientFunds,

	"do_not_honor":                      gateway.DeclineDoNotHonor,
	"call_issuer":                       gateway.DeclineDoNotHonor,
	"do_not_try_again":                  gateway.DeclineDoNotHonor,
	"duplicate_transaction":             gateway.DeclineDoNotHonor,
	"incorrect_zip":                     gateway.DeclineDoNotHonor,
	"invalid_account":                   gateway.DeclineDoNotHonor,
	"invalid_amount":                    gateway.DeclineDoNotHonor,
	"new_account_information_available": gateway.DeclineDoNotHonor,
	"no_action_taken":                   gateway.DeclineDoNotHonor,
	"not_permitted":                     gateway.DeclineDoNotHonor,
	"restricted_card":                   gateway.DeclineDoNotHonor,
	"revocation_of_all_authorizations":  gateway.DeclineDoNotHonor,
	"revocation_of_authorization":       gateway.DeclineDoNotHonor,
	"security_violation":                gateway.DeclineDoNotHonor,
	"service_not_allowed":               gateway.DeclineDoNotHonor,
	"stop_payment_order":                gateway.DeclineDoNotHonor,
	"transaction_not_allowed":           gateway.DeclineDoNotHonor,

	"expired_card":         gateway.DeclineExpiredCard,
	"invalid_expiry_month": gateway.DeclineInvalidExpiry,
	"invalid_expiry_year":  gateway.DeclineInvalidExpiry,
	"incorrect_cvc":        gateway.DeclineIncorrectCVC,
	"invalid_cvc":          gateway.DeclineIncorrectCVC,
	"incorrect_number":     gateway.DeclineIncorrectNumber,
	"invalid_number":       gateway.DeclineIncorrectNumber,

	"lost_card":   gateway.DeclineLostOrStolen,
	"stolen_card": gateway.DeclineLostOrStolen,
	"pickup_card": gateway.DeclineLostOrStolen,

	"processing_error": gateway.DeclineProcessingError,

	"approve_with_id":                  gateway.DeclineTryAgainLater,
	"card_decline_rate_limit_exceeded": gateway.DeclineTryAgainLater,
	"issuer_not_available":             gateway.DeclineTryAgainLater,
	"reenter_transaction":              gateway.DeclineTryAgainLater,
	"try_again_later":                  gateway.DeclineTryAgainLater,

	"card_not_supported":     gateway.DeclineCardNotSupported,
	"currency_not_supported": gateway.DeclineCardNotSupported,
	"testmode_decline":       gateway.DeclineCardNotSupported,

	"fraudulent":         gateway.DeclineFraudulent,
	"merchant_blacklist": gateway.DeclineFraudulent,

	"authentication_required":               gateway.DeclineAuthenticationRequired,
	"payment_intent_authentication_failure": gateway.DeclineAuthenticationRequired,
	"incorrect_pin":                         gateway.DeclineAuthenticationRequired,
	"invalid_pin":                           gateway.DeclineAuthenticationRequired,
	"offline_pin_required":                  gateway.DeclineAuthenticationRequired,
	"online_or_offline_pin_required":        gateway.DeclineAuthenticationRequired,
	"pin_try_exceeded":                      gateway.DeclineAuthenticationRequired,

	"generic_decline": gateway.DeclineGeneric,
	"card_declined":   gateway.DeclineGeneric,
}

// normalizeDecline maps Stripe's decline code, or its error code when the
// decline code is missing or unknown, to a normalized code. It also returns
// Stripe's own code for Result.GatewayDeclineCode.
func normalizeDecline(declineCode, errorCode string) (gateway.DeclineCode, string) {
	raw := declineCode
	if raw == "" {
		raw = errorCode
	}
	if code, ok := declineCodes[declineCode]; ok {
		return code, raw
	}
	if code, ok := declineCodes[errorCode]; ok && errorCode != string(stripe.ErrorCodeCardDeclined) {
		return code, raw
	}
	return gateway.DeclineGeneric, raw
}

// resultFromPaymentIntent maps a PaymentIntent to a Result.
func resultFromPaymentIntent(paymentIntent *stripe.PaymentIntent) gateway.Result {
	result := gateway.Result{
		GatewayReference: paymentIntent.ID,
		Amount:           paymentIntent.Amount,
		Currency:         strings.ToUpper(string(paymentIntent.Currency)),
	}
	if charge := paymentIntent.LatestCharge; charge != nil && charge.PaymentMethodDetails != nil && charge.PaymentMethodDetails.Card != nil {
		result.AuthorizationCode = charge.PaymentMethodDetails.Card.AuthorizationCode
	}
	if lastError := paymentIntent.LastPaymentError; lastError != nil && (lastError.DeclineCode != "" || lastError.Code != "") {
		result.DeclineCode, result.GatewayDeclineCode = normalizeDecline(string(lastError.DeclineCode), string(lastError.Code))
	}

	switch paymentIntent.Status {
	case stripe.PaymentIntentStatusRequiresCapture, stripe.PaymentIntentStatusSucceeded:
		result.Status = gateway.StatusApproved
		result.DeclineCode, result.GatewayDeclineCode = "", ""
	case stripe.PaymentIntentStatusProcessing:
		result.Status = gateway.StatusPending
	case stripe.PaymentIntentStatusCanceled:
		result.Status = gateway.StatusVoided
	case stripe.PaymentIntentStatusRequiresPaymentMethod:
		result.Status = gateway.StatusDeclined
		if result.DeclineCode == "" {
			result.DeclineCode = gateway.DeclineGeneric
		}
	case stripe.PaymentIntentStatusRequiresAction:
		// error_on_requires_action should prevent this state. If Stripe still
		// requires customer action, the telephone caller cannot give it.
		result.Status = gateway.StatusDeclined
		result.DeclineCode = gateway.DeclineAuthenticationRequired
		result.GatewayDeclineCode = string(stripe.PaymentIntentStatusRequiresAction)
	default:
		// requires_confirmation or a status newer than this code: Stripe made
		// no issuer decision.
		result.Status = gateway.StatusFailed
	}
	return result
}

// declineFromError turns a Stripe card error into a declined Result, with
// the PaymentIntent's id when Stripe included the PaymentIntent.
func declineFromError(err error) (gateway.Result, bool) {
	var stripeErr *stripe.Error
	if !errors.As(err, &stripeErr) || stripeErr.Type != stripe.ErrorTypeCard {
		return gateway.Result{}, false
	}
	result := gateway.Result{Status: gateway.StatusDeclined}
	result.DeclineCode, result.GatewayDeclineCode = normalizeDecline(string(stripeErr.DeclineCode), string(stripeErr.Code))
	if paymentIntent := stripeErr.PaymentIntent; paymentIntent != nil {
		result.GatewayReference = paymentIntent.ID
	}
	return result, true
}

// voidResultFromError returns a voided Result when a cancel failed because
// the PaymentIntent was already canceled.
func voidResultFromError(err error) (gateway.Result, bool) {
	var stripeErr *stripe.Error
	if !errors.As(err, &stripeErr) || stripeErr.Code != stripe.ErrorCodePaymentIntentUnexpectedState ||
		stripeErr.PaymentIntent == nil || stripeErr.PaymentIntent.Status != stripe.PaymentIntentStatusCanceled {
		return gateway.Result{}, false
	}
	return resultFromPaymentIntent(stripeErr.PaymentIntent), true
}

// classifyVoid classifies a failed cancel. A PaymentIntent in a state that
// cannot be canceled, such as succeeded, fails with CodeVoidNotAllowed.
func classifyVoid(err error) error {
	var stripeErr *stripe.Error
	if errors.As(err, &stripeErr) && stripeErr.Code == stripe.ErrorCodePaymentIntentUnexpectedState && stripeErr.PaymentIntent != nil {
		// TODO: a succeeded PaymentIntent (automatic capture) needs a refund,
		// which this adapter does not issue; the caller gets
		// CodeVoidNotAllowed and an operator refunds it.
		return &gateway.Error{
			Gateway:    Name,
			Op:         gateway.OpVoid,
			Code:       gateway.CodeVoidNotAllowed,
			HTTPStatus: stripeErr.HTTPStatusCode,
			RequestID:  stripeErr.RequestID,
			Detail:     fmt.Sprintf("PaymentIntent %s is %s, which cannot be canceled", stripeErr.PaymentIntent.ID, stripeErr.PaymentIntent.Status),
		}
	}
	return classify(gateway.OpVoid, stageCancel, err)
}

// classify turns a failed stripe-go call into a *gateway.Error.
func classify(op gateway.Op, stage callStage, err error) error {
	gwErr := &gateway.Error{Gateway: Name, Op: op}

	var stripeErr *stripe.Error
	switch {
	case errors.As(err, &stripeErr):
		classifyStripeError(gwErr, stage, stripeErr)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		gwErr.Code = gateway.CodeTimeout
		gwErr.Retryable = true
		gwErr.OutcomeUnknown = stage.mayHaveChangedState()
		gwErr.Detail = fmt.Sprintf("context ended before Stripe responded to %s", stage)
		gwErr.Err = err
	case isCertificateError(err):
		gwErr.Code = gateway.CodeUnavailable
		gwErr.Detail = fmt.Sprintf("TLS certificate of the Stripe endpoint was rejected on %s: check the base URL and trust store", stage)
		gwErr.Err = err
	case isNotSent(err):
		gwErr.Code = gateway.CodeUnavailable
		gwErr.Retryable = true
		gwErr.Detail = fmt.Sprintf("could not connect to Stripe for %s", stage)
		gwErr.Err = err
	case isTransportError(err):
		// Connection reset, client timeout or EOF after the request may have
		// been written.
		gwErr.Code = gateway.CodeTimeout
		gwErr.Retryable = true
		gwErr.OutcomeUnknown = stage.mayHaveChangedState()
		gwErr.Detail = fmt.Sprintf("connection failed before Stripe responded to %s", stage)
		gwErr.Err = err
	default:
		gwErr.Code = gateway.CodeGatewayError
		gwErr.Retryable = true
		gwErr.OutcomeUnknown = stage.mayHaveChangedState()
		gwErr.Detail = fmt.Sprintf("unreadable response to %s", stage)
		gwErr.Err = errUnreadableResponse
	}
	return gwErr
}

// classifyStripeError fills gwErr from an error object of the Stripe API.
// Stripe's message is left out because it may echo request parameters; the
// type, code and parameter name identify the problem.
func classifyStripeError(gwErr *gateway.Error, stage callStage, stripeErr *stripe.Error) {
	gwErr.HTTPStatus = stripeErr.HTTPStatusCode
	gwErr.RequestID = stripeErr.RequestID
	gwErr.Detail = describeStripeError(stage, stripeErr)

	status := stripeErr.HTTPStatusCode
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		gwErr.Code = gateway.CodeAuthentication
	case stripeErr.Code == stripe.ErrorCodeIdempotencyKeyInUse || status == http.StatusConflict:
		// Another request with the key is running and may still authorize.
		gwErr.Code = gateway.CodeInProgress
		gwErr.Retryable = true
		gwErr.OutcomeUnknown = stage.mayHaveChangedState()
	case stripeErr.Type == stripe.ErrorTypeIdempotency:
		gwErr.Code = gateway.CodeIdempotencyConflict
	case status == http.StatusNotFound || stripeErr.Code == stripe.ErrorCodeResourceMissing:
		gwErr.Code = gateway.CodeNotFound
		gwErr.Err = gateway.ErrNotFound
	case status == http.StatusTooManyRequests:
		// Stripe rejects rate-limited and lock-timeout calls before
		// processing them.
		gwErr.Code = gateway.CodeRateLimited
		gwErr.Retryable = true
	case status >= 500:
		// Stripe documents the outcome of a 500 as indeterminate.
		gwErr.Code = gateway.CodeGatewayError
		gwErr.Retryable = true
		gwErr.OutcomeUnknown = stage.mayHaveChangedState()
	default:
		gwErr.Code = gateway.CodeInvalidRequest
	}
}

func describeStripeError(stage callStage, stripeErr *stripe.Error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Stripe rejected %s", stage)
	if stripeErr.Type != "" {
		fmt.Fprintf(&b, " with %s", stripeErr.Type)
	}
	if stripeErr.Code != "" {
		fmt.Fprintf(&b, ", code %s", stripeErr.Code)
	}
	if stripeErr.Param != "" {
		fmt.Fprintf(&b, ", parameter %s", stripeErr.Param)
	}
	return b.String()
}

// isNotSent reports whether the request never left this process: the dial
// or the DNS lookup failed.
func isNotSent(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

func isCertificateError(err error) bool {
	var verifyErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	return errors.As(err, &verifyErr) || errors.As(err, &unknownAuthority) ||
		errors.As(err, &hostnameErr) || errors.As(err, &invalidErr)
}

// isTransportError reports whether err came from the HTTP client, which
// wraps every failure in *url.Error, rather than from decoding a response.
func isTransportError(err error) bool {
	var urlErr *url.Error
	return errors.As(err, &urlErr)
}

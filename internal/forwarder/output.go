package forwarder

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
)

// Values of the status attribute, on which the flow branches.
const (
	// StatusValid and StatusInvalid are the outcomes of a validation: the
	// value passed every card rule, or broke the rule that reason names.
	StatusValid   = "valid"
	StatusInvalid = "invalid"
	// StatusApproved, StatusDeclined, StatusPending and StatusFailed are the
	// authorization statuses of the API.
	StatusApproved = "approved"
	StatusDeclined = "declined"
	StatusPending  = "pending"
	StatusFailed   = "failed"
	// StatusError means that the processor's response could not be used.
	// The reason and retryable attributes tell the flow why and what next.
	StatusError = "error"
)

// Reasons of status=error that do not come from the processor. A processor
// error passes its own error code, such as gateway_unavailable.
const (
	// ReasonTimeout: the processor did not respond within the deadline.
	ReasonTimeout = "timeout"
	// ReasonNetworkError: the connection or the TLS handshake failed.
	ReasonNetworkError = "network_error"
	// ReasonInvalidEvent: a parameter of the block is missing or invalid.
	ReasonInvalidEvent = "invalid_event"
	// ReasonInvalidResponse: the processor's answer breaks the API contract.
	ReasonInvalidResponse = "invalid_response"
)

// Output attribute names, available in the flow as $.External.<name>.
const (
	KeyStatus            = "status"
	KeyReason            = "reason"
	KeyRetryable         = "retryable"
	KeyRetryAfterSeconds = "retryAfterSeconds"
	KeyParameter         = "parameter"
	KeyRequestID         = "requestId"
	KeyValid             = "valid"
	KeyField             = "field"
	KeyBrand             = "brand"
	KeyLast4             = "last4"
	KeyPANLength         = "panLength"
	KeyExpiryMonth       = "expiryMonth"
	KeyExpiryYear        = "expiryYear"
	KeyCVVLength         = "cvvLength"
	KeyIdempotencyKey    = "idempotencyKey"
	KeyAuthorizationID   = "authorizationId"
	KeyAuthorizationCode = "authorizationCode"
	KeyDeclineCode       = "declineCode"
	KeyFailureReason     = "failureReason"
	KeyGatewayReference  = "gatewayReference"
	KeyReplayed          = "replayed"
)

// Output limits. Amazon Connect takes a flat map of strings smaller than 32
// KB of UTF-8 from a Lambda. The forwarder keeps far below it, so no value
// the processor may add within API version 1 can push a response over.
const (
	// ConnectMaxResponseBytes is Connect's limit on a Lambda response.
	ConnectMaxResponseBytes = 32 << 10
	// MaxOutputBytes bounds the JSON encoding of every output map.
	MaxOutputBytes = 4 << 10
	// MaxValueBytes bounds one output value.
	MaxValueBytes = 255
)

// outputValuePattern is the alphabet of output values. The Amazon Connect
// administrator guide requests values of letters, digits, dashes and
// underscores (its own examples break that rule). Idempotency keys and
// gateway references also need the dot and the colon of the API's key
// alphabet.
var outputValuePattern = regexp.MustCompile(`^[A-Za-z0-9._:-]*$`)

// output is the flat string map returned to Connect, with the keys whose
// processor value was left out because it broke outputValuePattern or
// MaxValueBytes.
type output struct {
	values  map[string]string
	dropped []string
}

func newOutput(status string) *output {
	return &output{values: map[string]string{KeyStatus: status}}
}

// set stores a non-empty value under key, or records key as dropped when
// the value is not safe to return. Dropping one informational value is
// better than failing an answer whose status the flow needs.
func (o *output) set(key, value string) {
	if value == "" {
		return
	}
	if len(value) > MaxValueBytes || !outputValuePattern.MatchString(value) {
		o.dropped = append(o.dropped, key)
		return
	}
	o.values[key] = value
}

// setInt stores a positive number under key.
func (o *output) setInt(key string, value int) {
	if value > 0 {
		o.values[key] = strconv.Itoa(value)
	}
}

// validationOutput returns the attributes of a validation result.
func validationOutput(result validationResult) *output {
	var out *output
	if *result.Valid {
		out = newOutput(StatusValid)
		out.values[KeyValid] = "true"
	} else {
		out = newOutput(StatusInvalid)
		out.values[KeyValid] = "false"
		out.set(KeyReason, result.Reason)
	}
	out.set(KeyField, result.Field)
	if result.Card != nil {
		out.set(KeyBrand, result.Card.Brand)
		out.set(KeyLast4, result.Card.Last4)
		out.setInt(KeyPANLength, result.Card.Length)
	}
	if result.Expiry != nil {
		out.setInt(KeyExpiryMonth, result.Expiry.Month)
		out.setInt(KeyExpiryYear, result.Expiry.Year)
	}
	if result.CVV != nil {
		out.setInt(KeyCVVLength, result.CVV.Length)
	}
	return out
}

// authorizationOutput returns the attributes of an authorization. The BIN is
// left out: the flow needs the brand and last four digits to confirm the
// card with the caller, and nothing more.
func authorizationOutput(auth authorization) *output {
	out := newOutput(auth.Status)
	out.set(KeyIdempotencyKey, auth.IdempotencyKey)
	out.set(KeyAuthorizationID, auth.ID)
	out.set(KeyAuthorizationCode, auth.AuthorizationCode)
	out.set(KeyDeclineCode, auth.DeclineCode)
	out.set(KeyFailureReason, auth.FailureReason)
	out.set(KeyGatewayReference, auth.GatewayReference)
	out.set(KeyBrand, auth.Card.Brand)
	out.set(KeyLast4, auth.Card.Last4)
	return out
}

// errorOutput returns status=error with the reason and retryable flag of
// err, a failed call to the processor or a *ParameterError.
func errorOutput(err error) *output {
	reason, retryable := classify(err)
	out := newOutput(StatusError)
	out.values[KeyReason] = reason
	out.values[KeyRetryable] = strconv.FormatBool(retryable)

	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		out.values[KeyRetryAfterSeconds] = strconv.Itoa(int(apiErr.RetryAfter.Seconds()))
	}
	var paramErr *ParameterError
	if errors.As(err, &paramErr) {
		out.values[KeyParameter] = paramErr.Parameter
	}
	return out
}

// classify returns the reason and retryable flag of err.
func classify(err error) (reason string, retryable bool) {
	var apiErr *APIError
	var paramErr *ParameterError
	switch {
	case errors.As(err, &apiErr):
		return apiErr.Code, apiErr.Retryable
	case errors.As(err, &paramErr):
		return ReasonInvalidEvent, false
	case errors.Is(err, errInvalidResponse):
		return ReasonInvalidResponse, false
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		// An authorization may have reached the processor: a retry with
		// the same attempt replays it, and status looks it up.
		return ReasonTimeout, true
	case isTLSRejection(err):
		// A certificate problem persists until someone fixes the
		// configuration, so a retry cannot help.
		return ReasonNetworkError, false
	default:
		return ReasonNetworkError, true
	}
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// isTLSRejection reports whether one side of the TLS connection rejected
// the handshake. That is a local verification failure of the server
// certificate, or a TLS alert from the processor, which is how it rejects a
// client certificate ("remote error: tls: unknown certificate authority").
func isTLSRejection(err error) bool {
	var verifyErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	var alert tls.AlertError
	if errors.As(err, &verifyErr) || errors.As(err, &unknownAuthority) || errors.As(err, &hostnameErr) ||
		errors.As(err, &invalidErr) || errors.As(err, &alert) {
		return true
	}
	// crypto/tls reports a received alert as a *net.OpError with this Op
	// and an unexported alert type (Go 1.26).
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "remote error"
}

// checkOutput returns an error when values is not a map Connect takes as
// planned: a value outside outputValuePattern or longer than MaxValueBytes,
// or an encoding over MaxOutputBytes. The error names the key, never the
// value. Every value set through output.set passes; the check guards the
// values set directly.
func checkOutput(values map[string]string) error {
	for key, value := range values {
		if len(value) > MaxValueBytes {
			return fmt.Errorf("%w: attribute %q is %d bytes long, at most %d are returned", errInvalidResponse, key, len(value), MaxValueBytes)
		}
		if !outputValuePattern.MatchString(value) {
			return fmt.Errorf("%w: attribute %q has a character outside [A-Za-z0-9._:-]", errInvalidResponse, key)
		}
	}
	encoded, err := json.Marshal(values)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	if len(encoded) > MaxOutputBytes {
		return fmt.Errorf("%w: output is %d bytes, at most %d are returned", errInvalidResponse, len(encoded), MaxOutputBytes)
	}
	return nil
}

package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound means the gateway holds nothing for a reference or an
// idempotency key. Test with errors.Is.
var ErrNotFound = errors.New("gateway: authorization not found")

// Op names the Authorizer method that failed.
type Op string

// The operations of an Authorizer.
const (
	OpAuthorize Op = "authorize"
	OpVoid      Op = "void"
	OpLookup    Op = "lookup"
)

// ErrorCode is a stable, client-safe classification of a failed gateway call.
type ErrorCode string

const (
	// CodeInvalidRequest means the request failed validation, locally or at
	// the gateway. Retrying the same request fails again.
	CodeInvalidRequest ErrorCode = "invalid_request"
	// CodeAuthentication means the gateway rejected the API key or its
	// permissions. An operator must fix the configuration.
	CodeAuthentication ErrorCode = "authentication"
	// CodeIdempotencyConflict means the gateway already saw the idempotency
	// key with different parameters.
	CodeIdempotencyConflict ErrorCode = "idempotency_conflict"
	// CodeInProgress means another request with the same idempotency key is
	// still running at the gateway.
	CodeInProgress ErrorCode = "in_progress"
	// CodeRateLimited means the gateway rejected the call for its rate
	// limits before processing it.
	CodeRateLimited ErrorCode = "rate_limited"
	// CodeUnavailable means the gateway could not be reached or refused the
	// call before processing it.
	CodeUnavailable ErrorCode = "unavailable"
	// CodeTimeout means the context ended or the connection failed while the
	// gateway may have been processing the call.
	CodeTimeout ErrorCode = "timeout"
	// CodeGatewayError means the gateway reported an internal error.
	CodeGatewayError ErrorCode = "gateway_error"
	// CodeVoidNotAllowed means the authorization cannot be voided any more,
	// for example because its funds were captured.
	CodeVoidNotAllowed ErrorCode = "void_not_allowed"
	// CodeLookupIncomplete means the gateway's search did not find a key
	// that was sent recently. Search indexes lag behind writes, so the lookup
	// is worth retrying.
	CodeLookupIncomplete ErrorCode = "lookup_incomplete"
	// CodeNotFound accompanies ErrNotFound.
	CodeNotFound ErrorCode = "not_found"
)

// Error is a failed gateway call. Its text contains the gateway name, the
// operation, the code, a safe detail and the cause, and never card data: a
// gateway's own free-text message is left out because it may echo request
// parameters.
type Error struct {
	// Gateway is the Authorizer's Name, or empty for a local validation
	// failure.
	Gateway string
	Op      Op
	Code    ErrorCode
	// Retryable reports whether the same call with the same idempotency key
	// may succeed later.
	Retryable bool
	// OutcomeUnknown reports whether the gateway may have processed the call
	// although no response arrived. After an unknown Authorize outcome the
	// caller looks the key up later, or voids by idempotency key.
	OutcomeUnknown bool
	// Detail is a plain description of the failure, such as the parameter
	// name.
	Detail string
	// HTTPStatus is the gateway's HTTP status, when there was a response.
	HTTPStatus int
	// RequestID is the gateway's request id, for support tickets.
	RequestID string
	// Err is the cause, such as context.DeadlineExceeded or ErrNotFound.
	Err error
}

// Error formats the failure on one line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("gateway")
	if e.Gateway != "" {
		b.WriteString(" " + e.Gateway)
	}
	fmt.Fprintf(&b, ": %s: %s", e.Op, e.Code)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}

	var notes []string
	if e.HTTPStatus != 0 {
		notes = append(notes, fmt.Sprintf("HTTP %d", e.HTTPStatus))
	}
	if e.RequestID != "" {
		notes = append(notes, "request id "+e.RequestID)
	}
	if e.Retryable {
		notes = append(notes, "retryable")
	}
	if e.OutcomeUnknown {
		notes = append(notes, "outcome unknown")
	}
	if len(notes) > 0 {
		b.WriteString(" (" + strings.Join(notes, ", ") + ")")
	}

	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err is an *Error that allows a retry with the
// same idempotency key.
func IsRetryable(err error) bool {
	var gwErr *Error
	return errors.As(err, &gwErr) && gwErr.Retryable
}

// IsOutcomeUnknown reports whether err is an *Error after which the gateway
// may hold an authorization whose result the caller never received.
func IsOutcomeUnknown(err error) bool {
	var gwErr *Error
	return errors.As(err, &gwErr) && gwErr.OutcomeUnknown
}

// CodeOf returns the ErrorCode of err, or "" when err is not an *Error.
func CodeOf(err error) ErrorCode {
	var gwErr *Error
	if errors.As(err, &gwErr) {
		return gwErr.Code
	}
	return ""
}

// NotFoundError returns the *Error that wraps ErrNotFound for op.
func NotFoundError(gateway string, op Op, detail string) *Error {
	return &Error{Gateway: gateway, Op: op, Code: CodeNotFound, Detail: detail, Err: ErrNotFound}
}

// Package gateway defines how the service authorizes a card with a card
// gateway: the Authorizer interface, its request and result types, and the
// typed error from which a caller decides to retry, report pending or void.
//
// Implementations live in sub-packages: simulator (deterministic outcomes
// for the demo and load tests) and stripegw (Stripe PaymentIntents).
// Service-side idempotency, time budgets and background voids belong to the
// caller; an Authorizer makes one gateway call per method call and relies on
// the gateway's own idempotency key so that repeats never authorize twice.
package gateway

import (
	"context"

	"github.com/connect-secure-input/processor/internal/secret"
)

// Authorizer is a card gateway. Implementations are safe for concurrent use.
//
// Every method returns either a Result or an error, never both: a decline is
// a Result with StatusDeclined, and an error always means the call itself
// failed. Errors are *Error values (or wrap ErrNotFound) and never contain
// card data.
type Authorizer interface {
	// Name returns the gateway's short name for metrics and logs:
	// "simulator" or "stripe".
	Name() string

	// Authorize sends req to the gateway for authorization. A repeat with the
	// same idempotency key returns the first outcome without a second
	// authorization. Authorize reads req.Card during the call only and
	// neither keeps nor wipes it. The caller wipes the card after Authorize
	// returns, not during the call, because a concurrent wipe races with the
	// read.
	Authorize(ctx context.Context, req Request) (Result, error)

	// Void releases an authorization, found by gateway reference or, when no
	// reference is known, by idempotency key. Voiding twice returns the voided
	// result again. It returns an error wrapping ErrNotFound when the gateway
	// holds nothing for the reference or key.
	Void(ctx context.Context, req VoidRequest) (Result, error)

	// Lookup returns the gateway's current result for an idempotency key, or
	// an error wrapping ErrNotFound when the gateway never saw the key.
	Lookup(ctx context.Context, idempotencyKey string) (Result, error)
}

// Request is one authorization. Validate checks it; every Authorizer calls
// Validate before it contacts the gateway.
type Request struct {
	// Amount is in the currency's minor units (cents for USD, yen for JPY).
	Amount int64
	// Currency is an ISO 4217 alphabetic code in upper case, such as "USD".
	Currency string
	// Card is the plaintext card data, owned and wiped by the caller.
	Card Card
	// IdempotencyKey identifies the authorization at the gateway; see
	// ValidateIdempotencyKey for its format.
	IdempotencyKey string
	// ContactID is the Amazon Connect contact id, sent as gateway metadata.
	ContactID string
	// MerchantReference is the merchant's order or invoice reference, sent
	// as gateway metadata. It is optional.
	MerchantReference string
	// MOTO marks a mail or telephone order, which is out of scope for strong
	// customer authentication (3-D Secure).
	MOTO bool
	// CaptureMode selects authorization only (the default) or authorization
	// and capture in one step.
	CaptureMode CaptureMode
}

// Card is the plaintext card data of one authorization.
type Card struct {
	// PAN is the primary account number as ASCII digits without separators.
	PAN secret.Value
	// ExpiryMonth is 1 to 12.
	ExpiryMonth int
	// ExpiryYear is the four-digit year, such as 2030.
	ExpiryYear int
	// CVV is the card verification value as 3 or 4 ASCII digits. The zero
	// Value means the caller collected none.
	CVV secret.Value
}

// CaptureMode selects whether the gateway captures the funds together with
// the authorization.
type CaptureMode string

const (
	// CaptureManual authorizes only; the merchant captures later, and a void
	// releases the hold. The zero CaptureMode means CaptureManual.
	CaptureManual CaptureMode = "manual"
	// CaptureAutomatic authorizes and captures in one step.
	CaptureAutomatic CaptureMode = "automatic"
)

// Effective returns the capture mode a gateway call uses: CaptureManual for
// the zero value, else m itself.
func (m CaptureMode) Effective() CaptureMode {
	if m == "" {
		return CaptureManual
	}
	return m
}

// VoidRequest names the authorization to void. GatewayReference wins when
// both fields are set. IdempotencyKey is the fallback for an authorization
// whose response never arrived.
type VoidRequest struct {
	GatewayReference string
	IdempotencyKey   string
}

// Status is the state of an authorization at the gateway.
type Status string

const (
	// StatusApproved means the issuer approved and the funds are held (or
	// captured with CaptureAutomatic).
	StatusApproved Status = "approved"
	// StatusDeclined means the issuer or the gateway declined, for the
	// reason in DeclineCode.
	StatusDeclined Status = "declined"
	// StatusPending means the gateway accepted the request but has no final
	// outcome yet.
	StatusPending Status = "pending"
	// StatusFailed means the gateway ended the attempt without an issuer
	// decision, for example a PaymentIntent that was never confirmed.
	StatusFailed Status = "failed"
	// StatusVoided means the authorization was released.
	StatusVoided Status = "voided"
)

// Result is the outcome of a gateway call. It contains no card data.
type Result struct {
	Status Status
	// DeclineCode is set for StatusDeclined (and kept on a voided decline).
	DeclineCode DeclineCode
	// GatewayDeclineCode is the gateway's own code before normalization,
	// kept for logs and support tickets.
	GatewayDeclineCode string
	// AuthorizationCode is the issuer's approval code, when the gateway
	// returns one.
	AuthorizationCode string
	// GatewayReference is the gateway's id for the authorization, such as a
	// Stripe PaymentIntent id; Void accepts it.
	GatewayReference string
	// Amount and Currency are what the gateway recorded, when it returns
	// them, so a caller can compare a looked-up result with its request.
	// Currency is upper case.
	Amount   int64
	Currency string
}

// Package store defines the authorization record, one per idempotency key,
// and the Store interface that keeps it: in memory for a single task (package
// memstore) or in PostgreSQL for every deployment of two or more tasks
// (package pgstore).
//
// A record contains the request fingerprint, the phase of the authorization,
// the gateway's result, the masked card (brand, BIN, last four) and the lease of
// the task working on it. It never holds the PAN, the expiry date or the CVV,
// not even encrypted: the fields below have no place for them, and
// ValidateClaim rejects a BIN or last four that is longer than a masked card
// shows.
//
// Both implementations pass the contract suite in package storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Phase is the state of one authorization. A record starts in PhaseStarted
// and moves on through Transition. The values are fixed, because PostgreSQL
// stores them as text under a CHECK constraint.
type Phase string

// The phases of an authorization. The usual path is started → gateway_sent →
// approved, declined or failed, and void_pending → voided when a void is due.
// The store does not enforce this graph: every Transition names the phases it
// may start from, so the caller owns the graph.
const (
	// PhaseStarted means the key is claimed and the gateway was not called.
	PhaseStarted Phase = "started"
	// PhaseGatewaySent means the gateway call may have reached the gateway,
	// so an authorization may exist there even if no response came back.
	PhaseGatewaySent Phase = "gateway_sent"
	// PhaseApproved means the gateway approved the authorization.
	PhaseApproved Phase = "approved"
	// PhaseDeclined means the gateway declined, for the reason in DeclineCode.
	PhaseDeclined Phase = "declined"
	// PhaseFailed means no authorization exists at the gateway, for the
	// reason in FailureReason.
	PhaseFailed Phase = "failed"
	// PhaseVoidPending means the outcome is unknown or never reached the
	// caller, so a void at the gateway is due.
	PhaseVoidPending Phase = "void_pending"
	// PhaseVoided means the gateway confirmed the void.
	PhaseVoided Phase = "voided"
)

// Phases lists every phase, in the order of the graph above.
var Phases = []Phase{
	PhaseStarted, PhaseGatewaySent, PhaseApproved, PhaseDeclined,
	PhaseFailed, PhaseVoidPending, PhaseVoided,
}

// InFlightPhases lists the non-terminal phases: a record in one of them
// still needs its owner, or a task that takes it over, to finish it.
var InFlightPhases = []Phase{PhaseStarted, PhaseGatewaySent, PhaseVoidPending}

// Valid reports whether p is one of Phases.
func (p Phase) Valid() bool {
	for _, known := range Phases {
		if p == known {
			return true
		}
	}
	return false
}

// Terminal reports whether p is approved, declined, failed or voided, the
// phases after which no gateway call is due.
func (p Phase) Terminal() bool {
	switch p {
	case PhaseApproved, PhaseDeclined, PhaseFailed, PhaseVoided:
		return true
	}
	return false
}

// MaskedCard is the part of a card that a record may hold: the brand, the
// BIN and the last four digits. It has no expiry date, which is cardholder
// data that the record must not keep.
type MaskedCard struct {
	// Brand is the card brand in lower case, such as "visa".
	Brand string
	// BIN is the leading digits that masking shows, at most MaxBINLength.
	BIN string
	// Last4 is the last four digits of the PAN, or "" when unknown.
	Last4 string
}

// MaxBINLength is the longest BIN a MaskedCard may hold, in digits: eight,
// the BIN length that masking shows for PANs of 16 digits or more.
const MaxBINLength = 8

// Record is the authorization record of one idempotency key. It holds no
// PAN, expiry date or CVV. All times are in UTC, truncated to the
// microsecond (see StoredTime), so records from both implementations compare
// equal with ==.
type Record struct {
	// IdempotencyKey is the caller's key and the record's identity.
	IdempotencyKey string
	// ID is the authorization id, created by the caller of Claim.
	ID string
	// Fingerprint is a keyed HMAC (hex) over the amount, currency, PAN
	// fingerprint and reference. The caller compares it to detect a repeat
	// of the key with another request, an idempotency conflict.
	Fingerprint string
	// Amount is in minor units of Currency and above zero.
	Amount int64
	// Currency is the ISO 4217 alphabetic code, such as "EUR".
	Currency string
	// Reference is the merchant reference, possibly empty.
	Reference string
	// ContactID is the Amazon Connect contact id, possibly empty.
	ContactID string
	// Card is the masked card.
	Card MaskedCard
	// Phase is the state of the authorization.
	Phase Phase
	// GatewayReference is the gateway's id of the authorization.
	GatewayReference string
	// AuthorizationCode is the issuer's approval code.
	AuthorizationCode string
	// DeclineCode is the normalized decline code, such as "do_not_honor".
	DeclineCode string
	// FailureReason is a stable code, such as "timeout_voided",
	// "gateway_error" or "recovered_voided"; never free text from a gateway.
	FailureReason string
	// Owner is the id of the task that holds the lease.
	Owner string
	// LeaseUntil is when the owner's lease ends; after it, another task may
	// take the record over if it is still in flight.
	LeaseUntil time.Time
	// CreatedAt is when the record was claimed; retention counts from it.
	CreatedAt time.Time
	// UpdatedAt is when the record was last written.
	UpdatedAt time.Time
}

// Errors that Store methods return, wrapped with details; test them with
// errors.Is.
var (
	// ErrNotFound means no record has the key.
	ErrNotFound = errors.New("authorization record not found")
	// ErrConflict means the record is not in a phase the call expects. It is
	// wrapped with the key and the phase found.
	ErrConflict = errors.New("authorization record is not in an expected phase")
	// ErrLeaseLost means another task owns the record, or holds a lease that
	// has not ended.
	ErrLeaseLost = errors.New("authorization record is owned by another task")
	// ErrUnavailable means the store could not be reached or did not respond
	// in time: connection refused or lost, pool exhausted, deadline passed,
	// store closed. The call may be retried, and the API responds 503
	// store_unavailable. Constraint and logic errors never wrap it.
	ErrUnavailable = errors.New("authorization store unavailable")
	// ErrFull means the memory store holds its maximum number of records and
	// none could be evicted. PostgreSQL never returns it.
	ErrFull = errors.New("authorization store is full")
	// ErrInvalid means the arguments break this contract, such as a claim
	// outside PhaseStarted or a limit below one. It is a programming error,
	// and retrying does not help.
	ErrInvalid = errors.New("invalid authorization store request")
)

// Transition moves one record from one of From to To and applies the
// non-empty result fields; empty ones keep the stored value. It applies only
// while Owner owns the record: the owner keeps it after its lease ends until
// another task calls TakeOver. An empty Owner skips the owner check, for
// recovery after TakeOver.
type Transition struct {
	Key               string
	Owner             string
	From              []Phase
	To                Phase
	GatewayReference  string
	AuthorizationCode string
	DeclineCode       string
	FailureReason     string
}

// Store keeps authorization records. Implementations are safe for concurrent
// use, and their guarantees hold across every task sharing one store.
// Errors wrap ErrUnavailable when the store cannot be reached, so callers
// can tell an outage from a logic error.
type Store interface {
	// Claim atomically inserts rec unless a record with its key exists, and
	// returns the stored record and whether this call created it. Of any
	// number of concurrent claims of one key, across tasks, exactly one gets
	// created=true. rec must pass ValidateClaim; a zero CreatedAt is set to
	// the current time. An existing record is returned as stored, whatever
	// its fingerprint or phase.
	Claim(ctx context.Context, rec Record) (stored Record, created bool, err error)

	// Get returns the record of key, or ErrNotFound.
	Get(ctx context.Context, key string) (Record, error)

	// Transition applies t atomically and returns the updated record. It
	// returns ErrNotFound for an unknown key, and ErrLeaseLost when t.Owner
	// is set and another task owns the record. Only after the owner check it
	// returns ErrConflict when the phase is not in t.From.
	Transition(ctx context.Context, t Transition) (Record, error)

	// RenewLease sets the lease of key to until while owner still owns the
	// record; ErrLeaseLost if another task took it over, ErrNotFound for an
	// unknown key.
	RenewLease(ctx context.Context, key, owner string, until time.Time) error

	// ListExpired returns up to limit records in started, gateway_sent or
	// void_pending whose lease ended before now, oldest lease first (then
	// by creation time and key). limit must be at least one.
	ListExpired(ctx context.Context, now time.Time, limit int) ([]Record, error)

	// TakeOver gives owner the lease of key, until until, if the record is
	// in flight and its lease ended before now. Of concurrent takers exactly
	// one succeeds. It returns ErrLeaseLost if a lease is still live (another
	// task took over first), ErrConflict if the record is terminal and needs
	// no recovery, and ErrNotFound for an unknown key.
	TakeOver(ctx context.Context, key, owner string, now, until time.Time) (Record, error)

	// DeleteOlderThan deletes up to batch records created before cutoff, in
	// any phase, and returns how many it deleted. Several tasks may run it at
	// once; no record is counted twice. batch must be at least one.
	DeleteOlderThan(ctx context.Context, cutoff time.Time, batch int) (int, error)

	// Ping checks that the store answers, for readiness probes.
	Ping(ctx context.Context) error

	// Close releases the store's resources and stops its goroutines. Later
	// calls return ErrUnavailable. Close may be called more than once.
	Close()
}

// StoredTime returns t as a store keeps it: in UTC, truncated to the
// microsecond that PostgreSQL's timestamptz stores, and without a monotonic
// clock reading.
func StoredTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// ValidateClaim checks that rec can be claimed. It needs a key, an id, a
// fingerprint, an amount above zero, a currency of three upper-case letters,
// PhaseStarted, an owner and a lease. Its card may contain only a BIN of up
// to MaxBINLength digits and four last digits. Errors wrap ErrInvalid.
func ValidateClaim(rec Record) error {
	switch {
	case rec.IdempotencyKey == "":
		return invalidf("claim: idempotency key is empty")
	case rec.ID == "":
		return invalidf("claim %q: authorization id is empty", rec.IdempotencyKey)
	case rec.Fingerprint == "":
		return invalidf("claim %q: fingerprint is empty", rec.IdempotencyKey)
	case rec.Amount <= 0:
		return invalidf("claim %q: amount %d is not above zero", rec.IdempotencyKey, rec.Amount)
	case !isCurrencyCode(rec.Currency):
		return invalidf("claim %q: currency %q is not three upper-case letters", rec.IdempotencyKey, rec.Currency)
	case rec.Phase != PhaseStarted:
		return invalidf("claim %q: phase is %q, want %q", rec.IdempotencyKey, rec.Phase, PhaseStarted)
	case rec.Owner == "":
		return invalidf("claim %q: owner is empty", rec.IdempotencyKey)
	case rec.LeaseUntil.IsZero():
		return invalidf("claim %q: lease end is zero", rec.IdempotencyKey)
	}
	return validateCard(rec.IdempotencyKey, rec.Card)
}

// validateCard rejects a BIN or last four that would show more of a PAN than
// masking does. It reports lengths only, never the digits.
func validateCard(key string, card MaskedCard) error {
	if len(card.BIN) > MaxBINLength || !isDigits(card.BIN) {
		return invalidf("claim %q: card BIN has %d characters, want at most %d digits", key, len(card.BIN), MaxBINLength)
	}
	if card.Last4 != "" && (len(card.Last4) != 4 || !isDigits(card.Last4)) {
		return invalidf("claim %q: card last four has %d characters, want 4 digits or none", key, len(card.Last4))
	}
	return nil
}

// Validate checks that t names a key, at least one valid From phase and a
// valid To phase. Errors wrap ErrInvalid.
func (t Transition) Validate() error {
	if t.Key == "" {
		return invalidf("transition: idempotency key is empty")
	}
	if len(t.From) == 0 {
		return invalidf("transition %q: no from phase", t.Key)
	}
	for _, p := range t.From {
		if !p.Valid() {
			return invalidf("transition %q: unknown from phase %q", t.Key, p)
		}
	}
	if !t.To.Valid() {
		return invalidf("transition %q: unknown to phase %q", t.Key, t.To)
	}
	return nil
}

// ValidateLease checks the arguments of RenewLease and TakeOver: a key, an
// owner and a non-zero lease end. Errors wrap ErrInvalid.
func ValidateLease(key, owner string, until time.Time) error {
	switch {
	case key == "":
		return invalidf("lease: idempotency key is empty")
	case owner == "":
		return invalidf("lease %q: owner is empty", key)
	case until.IsZero():
		return invalidf("lease %q: lease end is zero", key)
	}
	return nil
}

// ValidateTakeOver checks the arguments of TakeOver: those of ValidateLease,
// and a lease end after now. Errors wrap ErrInvalid.
func ValidateTakeOver(key, owner string, now, until time.Time) error {
	if err := ValidateLease(key, owner, until); err != nil {
		return err
	}
	if !until.After(now) {
		return invalidf("take over %q: lease end %s is not after now %s", key, until.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	return nil
}

// ValidateLimit checks that a ListExpired limit or a DeleteOlderThan batch
// is at least one. Errors wrap ErrInvalid.
func ValidateLimit(name string, n int) error {
	if n < 1 {
		return invalidf("%s is %d, want at least 1", name, n)
	}
	return nil
}

// ConflictError returns ErrConflict wrapped with the key, the phase found
// and the phases expected.
func ConflictError(key string, found Phase, want []Phase) error {
	return fmt.Errorf("%w: %q is %s, want one of %v", ErrConflict, key, found, want)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

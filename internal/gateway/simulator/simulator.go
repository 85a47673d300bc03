// Package simulator is an in-process card gateway with deterministic
// outcomes by card number and amount, for the demo, load tests and tests of
// the code that calls a gateway. The outcome tables are in outcomes.go and
// docs/simulator.md.
//
// It behaves like a real gateway where callers depend on it. A repeat with
// the same idempotency key returns the recorded result without a second
// authorization, voids and lookups work on the recorded results, and a
// response can arrive late or never.
package simulator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/connect-secure-input/processor/internal/gateway"
)

// Name is the simulator's Authorizer name.
const Name = "simulator"

// Defaults for Config.
const (
	// DefaultSlowDelay is longer than the service's default 6-second request
	// budget, so a slow card yields pending and a later lookup finds the
	// result.
	DefaultSlowDelay = 7 * time.Second
	// DefaultRetention matches the 24 hours for which Stripe keeps an
	// idempotency key.
	DefaultRetention = 24 * time.Hour
	// DefaultMaxRecords bounds memory to about 100,000 small records.
	DefaultMaxRecords = 100_000
)

// Config sets the simulator's timing and memory bounds.
type Config struct {
	// BaseLatency delays every response except those of the slow and the
	// never-responding card. Zero responds at once.
	BaseLatency time.Duration
	// SlowDelay delays the slow card's response. Zero means DefaultSlowDelay.
	SlowDelay time.Duration
	// Retention is how long a result stays for repeats, voids and lookups;
	// zero means DefaultRetention. After it the key is unknown again.
	Retention time.Duration
	// MaxRecords bounds the recorded results; the oldest goes first. Zero
	// means DefaultMaxRecords.
	MaxRecords int
	// Now is the clock for card expiry and retention; nil means time.Now.
	Now func() time.Time
}

// Simulator implements gateway.Authorizer. It is safe for concurrent use and
// starts no goroutines: every wait happens in the caller's goroutine.
type Simulator struct {
	cfg Config

	mu             sync.Mutex
	byKey          map[string]*record
	byReference    map[string]*record
	order          []*record // oldest first, for retention and MaxRecords
	authorizations int
	voids          int
}

// record is the simulator's state for one authorization. It contains no
// card data: the card only chooses the outcome, so the simulator cannot tell
// a repeat with another card from a true repeat.
type record struct {
	key         string
	amount      int64
	currency    string
	captureMode gateway.CaptureMode
	moto        bool
	result      gateway.Result
	recordedAt  time.Time
}

var _ gateway.Authorizer = (*Simulator)(nil)

// New returns a simulator with cfg's zero fields set to their defaults.
func New(cfg Config) (*Simulator, error) {
	if cfg.BaseLatency < 0 || cfg.SlowDelay < 0 || cfg.Retention < 0 || cfg.MaxRecords < 0 {
		return nil, errors.New("simulator: negative latency, delay, retention or record limit in config")
	}
	if cfg.SlowDelay == 0 {
		cfg.SlowDelay = DefaultSlowDelay
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Simulator{
		cfg:         cfg,
		byKey:       make(map[string]*record),
		byReference: make(map[string]*record),
	}, nil
}

// Name returns "simulator".
func (s *Simulator) Name() string { return Name }

// Authorize records the outcome that the card and amount choose (see
// outcomeFor) under the idempotency key, then responds after the outcome's
// delay. A repeat with the same key and the same amount, currency, capture
// mode and MOTO flag returns the recorded result, including a void made
// since. A repeat that differs in them fails with CodeIdempotencyConflict.
func (s *Simulator) Authorize(ctx context.Context, req gateway.Request) (gateway.Result, error) {
	if err := req.Validate(); err != nil {
		return gateway.Result{}, withName(err)
	}
	if err := ctx.Err(); err != nil {
		return gateway.Result{}, notSent(gateway.OpAuthorize, err)
	}

	outcome := outcomeFor(req, s.cfg.Now())
	if outcome.Behavior == FailUnavailable {
		if err := sleep(ctx, s.cfg.BaseLatency); err != nil {
			return gateway.Result{}, noResponse(gateway.OpAuthorize, err)
		}
		return gateway.Result{}, &gateway.Error{
			Gateway:    Name,
			Op:         gateway.OpAuthorize,
			Code:       gateway.CodeUnavailable,
			Retryable:  true,
			HTTPStatus: 503,
			Detail:     fmt.Sprintf("simulated gateway error for amount %d", req.Amount),
		}
	}

	rec, created, err := s.recordAuthorization(req, outcome)
	if err != nil {
		return gateway.Result{}, err
	}

	delay := s.cfg.BaseLatency
	switch outcome.Behavior {
	case NeverRespond:
		<-ctx.Done()
		return gateway.Result{}, noResponse(gateway.OpAuthorize, ctx.Err())
	case RespondSlowly:
		delay = s.cfg.SlowDelay
	}
	if err := sleep(ctx, delay); err != nil {
		return gateway.Result{}, noResponse(gateway.OpAuthorize, err)
	}

	if outcome.Behavior == LoseResponse && created {
		return gateway.Result{}, &gateway.Error{
			Gateway:        Name,
			Op:             gateway.OpAuthorize,
			Code:           gateway.CodeTimeout,
			Retryable:      true,
			OutcomeUnknown: true,
			Detail:         fmt.Sprintf("simulated lost response for amount %d", req.Amount),
		}
	}
	return s.resultOf(rec), nil
}

// Void marks an approved or declined authorization voided and responds after
// BaseLatency. Voiding a voided authorization returns it unchanged.
func (s *Simulator) Void(ctx context.Context, req gateway.VoidRequest) (gateway.Result, error) {
	if err := req.Validate(); err != nil {
		return gateway.Result{}, withName(err)
	}
	if err := ctx.Err(); err != nil {
		return gateway.Result{}, notSent(gateway.OpVoid, err)
	}

	result, err := s.voidRecord(req)
	if err != nil {
		return gateway.Result{}, err
	}
	if err := sleep(ctx, s.cfg.BaseLatency); err != nil {
		return gateway.Result{}, noResponse(gateway.OpVoid, err)
	}
	return result, nil
}

// Lookup returns the recorded result for idempotencyKey after BaseLatency.
func (s *Simulator) Lookup(ctx context.Context, idempotencyKey string) (gateway.Result, error) {
	if err := gateway.ValidateIdempotencyKey(gateway.OpLookup, idempotencyKey); err != nil {
		return gateway.Result{}, withName(err)
	}
	if err := ctx.Err(); err != nil {
		return gateway.Result{}, notSent(gateway.OpLookup, err)
	}

	s.mu.Lock()
	s.evict(s.cfg.Now())
	rec, ok := s.byKey[idempotencyKey]
	var result gateway.Result
	if ok {
		result = rec.result
	}
	s.mu.Unlock()

	if err := sleep(ctx, s.cfg.BaseLatency); err != nil {
		return gateway.Result{}, noResponse(gateway.OpLookup, err)
	}
	if !ok {
		return gateway.Result{}, gateway.NotFoundError(Name, gateway.OpLookup, fmt.Sprintf("idempotency key %q", idempotencyKey))
	}
	return result, nil
}

// Authorizations returns how many authorizations the simulator recorded.
// Repeats with a known idempotency key and FailUnavailable calls do not
// count, so a test can assert that exactly one authorization happened.
func (s *Simulator) Authorizations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authorizations
}

// Voids returns how many authorizations the simulator voided; voiding a
// voided authorization again does not count.
func (s *Simulator) Voids() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.voids
}

func (s *Simulator) recordAuthorization(req gateway.Request, outcome Outcome) (rec *record, created bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	now := s.cfg.Now()
	s.evict(now)
	if rec, ok := s.byKey[req.IdempotencyKey]; ok {
		if !rec.matches(req) {
			return nil, false, &gateway.Error{
				Gateway:    Name,
				Op:         gateway.OpAuthorize,
				Code:       gateway.CodeIdempotencyConflict,
				HTTPStatus: 400,
				Detail:     fmt.Sprintf("idempotency key %q was used with a different amount, currency, capture mode or MOTO flag", req.IdempotencyKey),
			}
		}
		return rec, false, nil
	}

	digest := sha256.Sum256([]byte(req.IdempotencyKey))
	result := gateway.Result{
		Status:             outcome.Status,
		DeclineCode:        outcome.DeclineCode,
		GatewayDeclineCode: string(outcome.DeclineCode),
		GatewayReference:   "sim_" + hex.EncodeToString(digest[:12]),
		Amount:             req.Amount,
		Currency:           req.Currency,
	}
	if outcome.Status == gateway.StatusApproved {
		result.AuthorizationCode = strings.ToUpper(hex.EncodeToString(digest[12:15]))
	}
	rec = &record{
		key:         req.IdempotencyKey,
		amount:      req.Amount,
		currency:    req.Currency,
		captureMode: req.CaptureMode.Effective(),
		moto:        req.MOTO,
		result:      result,
		recordedAt:  now,
	}
	s.byKey[rec.key] = rec
	s.byReference[result.GatewayReference] = rec
	s.order = append(s.order, rec)
	s.authorizations++
	return rec, true, nil
}

func (s *Simulator) voidRecord(req gateway.VoidRequest) (gateway.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.evict(s.cfg.Now())
	rec, ok := s.byReference[req.GatewayReference]
	if req.GatewayReference == "" {
		rec, ok = s.byKey[req.IdempotencyKey]
	}
	if !ok {
		return gateway.Result{}, gateway.NotFoundError(Name, gateway.OpVoid, fmt.Sprintf("gateway reference %q, idempotency key %q", req.GatewayReference, req.IdempotencyKey))
	}
	if rec.result.Status != gateway.StatusVoided {
		rec.result.Status = gateway.StatusVoided
		s.voids++
	}
	return rec.result, nil
}

func (s *Simulator) resultOf(rec *record) gateway.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rec.result
}

// evict drops records older than Retention and, when the simulator is full,
// the oldest record, so that one more fits. The caller holds s.mu.
func (s *Simulator) evict(now time.Time) {
	for len(s.order) > 0 {
		oldest := s.order[0]
		if now.Sub(oldest.recordedAt) < s.cfg.Retention && len(s.order) < s.cfg.MaxRecords {
			return
		}
		delete(s.byKey, oldest.key)
		delete(s.byReference, oldest.result.GatewayReference)
		s.order[0] = nil
		s.order = s.order[1:]
	}
}

func (r *record) matches(req gateway.Request) bool {
	return r.amount == req.Amount &&
		r.currency == req.Currency &&
		r.captureMode == req.CaptureMode.Effective() &&
		r.moto == req.MOTO
}

// sleep waits for d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// notSent is the error for a context that ended before the call started:
// nothing reached the simulated gateway.
func notSent(op gateway.Op, cause error) error {
	return &gateway.Error{
		Gateway:   Name,
		Op:        op,
		Code:      gateway.CodeTimeout,
		Retryable: true,
		Detail:    "context ended before the request was sent",
		Err:       cause,
	}
}

// noResponse is the error for a context that ended while the simulated gateway
// held the request: from the caller's side the outcome is unknown.
func noResponse(op gateway.Op, cause error) error {
	return &gateway.Error{
		Gateway:        Name,
		Op:             op,
		Code:           gateway.CodeTimeout,
		Retryable:      true,
		OutcomeUnknown: true,
		Detail:         "context ended before the gateway responded",
		Err:            cause,
	}
}

// withName sets the simulator's name on a validation error.
func withName(err error) error {
	var gwErr *gateway.Error
	if !errors.As(err, &gwErr) {
		return err
	}
	named := *gwErr
	named.Gateway = Name
	return &named
}

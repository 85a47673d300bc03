// Package authorize turns validated card data into one gateway authorization
// per idempotency key. It owns the service-side rules of a phone payment:
// a repeat of a key returns the stored outcome without a second gateway call
// (concurrent repeats wait for the first), a repeat with other parameters is
// a conflict, the caller gets a response within its time budget (pending when
// the gateway is slow), the authorization goes on in the background until
// the vault deadline, and an outcome still unknown then is voided. The card
// data stays in the vault from the request to the gateway's answer and is
// wiped right after, in every outcome.
package authorize

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/card"
	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/store"
	"github.com/connect-secure-input/processor/internal/ttl"
)

// Defaults and limits of Config.
const (
	// DefaultBudget is the time a caller waits for a response. Amazon Connect
	// waits at most 8 seconds for a Lambda; the forwarder needs the rest.
	DefaultBudget = 6 * time.Second
	// MaxBudget keeps the budget under Connect's 8-second Lambda limit with
	// room for the forwarder's own round trip.
	MaxBudget = 7500 * time.Millisecond
	// DefaultLeaseMargin is added to the vault TTL to form the lease. It is
	// longer than DefaultVoidTimeout, so a live task normally records its
	// outcome or void before another task may take the record over.
	DefaultLeaseMargin = 30 * time.Second
	// DefaultGatewayAttempts is the number of Authorize attempts, the first
	// included, when the gateway returns a retryable error.
	DefaultGatewayAttempts = 3
	// DefaultRetryBaseDelay is the first backoff; each retry doubles it, with
	// full jitter.
	DefaultRetryBaseDelay = 200 * time.Millisecond
	// DefaultVoidTimeout bounds one void attempt after the vault deadline.
	DefaultVoidTimeout = 5 * time.Second
	// pollInterval is how often a repeat of a key that another task is
	// authorizing re-reads the shared record.
	pollInterval = 50 * time.Millisecond
)

// Failure reasons written to records in PhaseFailed or PhaseVoided. They are
// returned to clients as failureReason.
const (
	ReasonTimeoutVoided       = "timeout_voided"
	ReasonGatewayError        = "gateway_error"
	ReasonGatewayFailed       = "gateway_failed"
	ReasonRecoveredVoided     = "recovered_voided"
	ReasonRecoveredNotSent    = "recovered_not_sent"
	ReasonCardDataUnavailable = "card_data_unavailable"
)

// Errors of Authorize. The API maps them to codes.
var (
	// ErrConflict means the key was used before with another amount,
	// currency, card or reference.
	ErrConflict = errors.New("idempotency key was used with different request parameters")
	// ErrNotFound means no authorization has the key.
	ErrNotFound = errors.New("authorization not found")
)

// Config holds the coordinator's settings. Zero fields take the defaults.
type Config struct {
	Budget          time.Duration
	LeaseMargin     time.Duration
	GatewayAttempts int
	RetryBaseDelay  time.Duration
	VoidTimeout     time.Duration
	// Owner identifies this task in store leases, such as the ECS task id.
	Owner string
	// CaptureMode and MOTO are passed to every gateway authorization.
	CaptureMode gateway.CaptureMode
	MOTO        bool
	// FingerprintKey keys the request fingerprint HMAC; at least 32 bytes.
	// Tasks that share a store must share the key, or every repeat that
	// lands on another task is reported as a conflict.
	FingerprintKey []byte
}

// Hooks receives events for metrics. A nil Hooks is allowed.
type Hooks interface {
	GatewayCall(gatewayName, operation, outcome string, d time.Duration)
	Authorized(status, declineCode string)
	Recovered(step string)
}

// Service coordinates authorizations. It is safe for concurrent use.
type Service struct {
	cfg     Config
	store   store.Store
	vault   *ttl.Vault
	gateway gateway.Authorizer
	cards   *card.Fingerprinter
	hooks   Hooks
	log     *zap.Logger
	now     func() time.Time

	mu       sync.Mutex
	inflight map[string]chan struct{} // by idempotency key, closed when the background work ends
	closing  bool

	background sync.WaitGroup
	baseCtx    context.Context
	cancel     context.CancelFunc
}

// New checks cfg and returns a Service.
func New(cfg Config, st store.Store, vault *ttl.Vault, gw gateway.Authorizer, cards *card.Fingerprinter, hooks Hooks, log *zap.Logger) (*Service, error) {
	if cfg.Budget == 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.LeaseMargin == 0 {
		cfg.LeaseMargin = DefaultLeaseMargin
	}
	if cfg.GatewayAttempts == 0 {
		cfg.GatewayAttempts = DefaultGatewayAttempts
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if cfg.VoidTimeout == 0 {
		cfg.VoidTimeout = DefaultVoidTimeout
	}
	switch {
	case cfg.Budget < 100*time.Millisecond || cfg.Budget > MaxBudget:
		return nil, fmt.Errorf("request budget %s is outside 100ms to %s", cfg.Budget, MaxBudget)
	case cfg.GatewayAttempts < 1 || cfg.GatewayAttempts > 10:
		return nil, fmt.Errorf("gateway attempts %d is outside 1 to 10", cfg.GatewayAttempts)
	case cfg.Owner == "":
		return nil, errors.New("owner (task id) is empty")
	case len(cfg.FingerprintKey) < 32:
		return nil, fmt.Errorf("fingerprint key has %d bytes, at least 32 are needed", len(cfg.FingerprintKey))
	case st == nil || vault == nil || gw == nil || cards == nil:
		return nil, errors.New("store, vault, gateway and card fingerprinter are required")
	}
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, store: st, vault: vault, gateway: gw, cards: cards, hooks: hooks, log: log, now: time.Now,
		inflight: make(map[string]chan struct{}), baseCtx: ctx, cancel: cancel,
	}, nil
}

// Budget returns the configured request budget.
func (s *Service) Budget() time.Duration { return s.cfg.Budget }

// Request is one authorization with validated card data. Authorize takes
// ownership of the card values and wipes them in every outcome.
type Request struct {
	IdempotencyKey string
	ContactID      string
	Reference      string
	Amount         int64
	Currency       string
	PAN            card.PAN
	Expiry         card.Expiry
	// CVV is optional, and HasCVV reports whether the caller collected one.
	CVV    card.CVV
	HasCVV bool
}

func (r *Request) wipe() {
	r.PAN.Wipe()
	if r.HasCVV {
		r.CVV.Wipe()
	}
}

// Outcome is the response to the caller: the record as it is when the
// response is due, and whether this request created it.
type Outcome struct {
	Record  store.Record
	Created bool
}

// Authorize runs or replays the authorization of req.IdempotencyKey and
// returns within the budget counted from started (the time the request
// arrived). Errors: ErrConflict, errors wrapping store.ErrUnavailable or
// ttl.ErrFull, and context errors.
func (s *Service) Authorize(ctx context.Context, started time.Time, req Request) (Outcome, error) {
	defer req.wipe()
	ctx, cancel := context.WithDeadline(ctx, started.Add(s.cfg.Budget))
	defer cancel()

	id, err := newID()
	if err != nil {
		return Outcome{}, err
	}
	fingerprint := s.fingerprint(req)
	masked := req.PAN.Masked()

	// The card goes into the vault before the key is claimed, so that a full
	// vault leaves no record behind that a retry would find.
	values := []secret.Value{secret.Copy(req.PAN.Digits().Bytes())}
	if req.HasCVV {
		values = append(values, secret.Copy(req.CVV.Digits().Bytes()))
	}
	if err := s.vault.Put(id, 0, values...); err != nil {
		for _, v := range values {
			v.Wipe()
		}
		return Outcome{}, fmt.Errorf("store card data for authorization %s: %w", id, err)
	}
	deadline, err := s.vault.Deadline(id)
	if err != nil {
		s.vault.Delete(id)
		return Outcome{}, fmt.Errorf("read vault deadline of authorization %s: %w", id, err)
	}

	now := s.now()
	rec, created, err := s.store.Claim(ctx, store.Record{
		IdempotencyKey: req.IdempotencyKey,
		ID:             id,
		Fingerprint:    fingerprint,
		Amount:         req.Amount,
		Currency:       req.Currency,
		Reference:      req.Reference,
		ContactID:      req.ContactID,
		Card:           store.MaskedCard{Brand: string(masked.Brand), BIN: masked.BIN, Last4: masked.Last4},
		Phase:          store.PhaseStarted,
		Owner:          s.cfg.Owner,
		LeaseUntil:     deadline.Add(s.cfg.LeaseMargin),
		CreatedAt:      now,
	})
	if err != nil {
		s.vault.Delete(id)
		return Outcome{}, fmt.Errorf("claim idempotency key: %w", err)
	}
	if !created {
		s.vault.Delete(id)
		if !hmac.Equal([]byte(rec.Fingerprint), []byte(fingerprint)) {
			return Outcome{}, ErrConflict
		}
		rec, err = s.waitForOutcome(ctx, rec)
		return Outcome{Record: rec}, err
	}

	done, ok := s.startBackground(rec, id, deadline, req.Expiry)
	if !ok {
		return Outcome{Record: rec, Created: true}, nil
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	// The response reads the shared record, so a background step that finished
	// just now is included. A store error here still leaves a record that
	// lookups will find, so the caller gets the last known state.
	latest, err := s.store.Get(context.WithoutCancel(ctx), rec.IdempotencyKey)
	if err != nil {
		s.log.Warn("read authorization record after the budget", zap.String("authorization_id", id), zap.Error(err))
		return Outcome{Record: rec, Created: true}, nil
	}
	return Outcome{Record: latest, Created: true}, nil
}

// Status returns the record of key, or ErrNotFound.
func (s *Service) Status(ctx context.Context, key string) (store.Record, error) {
	rec, err := s.store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Record{}, ErrNotFound
	}
	return rec, err
}

// waitForOutcome lets a repeat of a key wait, within its budget, for the
// authorization that holds the key: on the channel when it runs in this
// task, by polling the shared record when another task runs it.
func (s *Service) waitForOutcome(ctx context.Context, rec store.Record) (store.Record, error) {
	if rec.Phase.Terminal() {
		return rec, nil
	}
	s.mu.Lock()
	done := s.inflight[rec.IdempotencyKey]
	s.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
		latest, err := s.store.Get(context.WithoutCancel(ctx), rec.IdempotencyKey)
		if err != nil {
			return rec, nil
		}
		return latest, nil
	}

	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return rec, nil
		case <-ticker.C:
		}
		latest, err := s.store.Get(ctx, rec.IdempotencyKey)
		if err != nil {
			continue
		}
		rec = latest
		if rec.Phase.Terminal() {
			return rec, nil
		}
	}
}

func (s *Service) startBackground(rec store.Record, id string, deadline time.Time, expiry card.Expiry) (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		// The record stays in started; its lease ends and another task's
		// recovery finds that the gateway never saw the key.
		s.vault.Delete(id)
		return nil, false
	}
	done := make(chan struct{})
	s.inflight[rec.IdempotencyKey] = done
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		defer func() {
			s.mu.Lock()
			delete(s.inflight, rec.IdempotencyKey)
			s.mu.Unlock()
			close(done)
		}()
		s.run(rec, id, deadline, expiry)
	}()
	return done, true
}

// fingerprint is the keyed HMAC that separates a true repeat from a conflicting
// reuse of a key: amount, currency, the card's keyed fingerprint and the
// reference, each length-prefixed so no two requests encode alike.
func (s *Service) fingerprint(req Request) string {
	mac := hmac.New(sha256.New, s.cfg.FingerprintKey)
	var amount [8]byte
	binary.BigEndian.PutUint64(amount[:], uint64(req.Amount))
	mac.Write(amount[:])
	for _, part := range []string{req.Currency, s.cards.Fingerprint(req.PAN), req.Reference} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		mac.Write(n[:])
		mac.Write([]byte(part))
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// Close stops new background work, waits up to drain for running
// authorizations, then cancels the rest. A cancelled authorization voids its
// unknown outcome at once, each void bounded by the void timeout. If the void
// or its record fails, the record stays in flight with its lease, and a task
// that recovers it later looks it up at the gateway and voids it.
func (s *Service) Close(drain time.Duration) {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		s.background.Wait()
		close(finished)
	}()
	timer := time.NewTimer(drain)
	defer timer.Stop()
	select {
	case <-finished:
	case <-timer.C:
		s.log.Warn("authorizations still running at the drain cap; cancelling them for recovery by another task", zap.Duration("drain", drain))
		s.cancel()
		<-finished
	}
	s.cancel()
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("create authorization id: %w", err)
	}
	return "auth_" + hex.EncodeToString(b[:]), nil
}

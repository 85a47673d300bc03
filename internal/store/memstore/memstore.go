// Package memstore keeps authorization records in the memory of one task:
// the default for make demo and single-task runs. Records do not survive a
// restart and are not shared between tasks, so a service of two or more
// tasks needs package pgstore.
//
// The store is bounded: it holds at most MaxRecords records, and a sweeper
// removes terminal records older than Retention.
package memstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/connect-secure-input/processor/internal/store"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxRecords bounds the records' heap at about 60 MB: 100,000
	// records with UUID keys, 64-character fingerprints and short references
	// measured 594 bytes each on the heap (Go 1.26, amd64). At the default
	// retention it is full above a sustained 1.15 authorizations per second.
	DefaultMaxRecords = 100_000
	// DefaultRetention keeps terminal records for a day, long enough for
	// retries and status lookups of any one call.
	DefaultRetention = 24 * time.Hour
	// DefaultSweepInterval is how often the sweeper removes terminal records
	// older than the retention.
	DefaultSweepInterval = time.Minute
)

// Options sets the limits of a Store. A zero field takes its default; a
// negative one is rejected.
type Options struct {
	// MaxRecords is the most records the store holds; a Claim beyond it
	// returns store.ErrFull unless a terminal record older than Retention
	// can be evicted. Default DefaultMaxRecords.
	MaxRecords int
	// Retention is how long a terminal record is kept after its creation.
	// Records still in flight are kept until they end or DeleteOlderThan
	// removes them, because a forgotten one could leave a charge without its
	// void. Default DefaultRetention.
	Retention time.Duration
	// SweepInterval is the period of the sweeper. Default
	// DefaultSweepInterval.
	SweepInterval time.Duration
}

// Store is an in-memory store.Store, safe for concurrent use. Close stops its
// sweeper.
type Store struct {
	maxRecords int
	retention  time.Duration
	now        func() time.Time

	mu      sync.Mutex
	records map[string]store.Record
	closed  bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// New returns an empty Store with the limits of opts and starts its
// sweeper.
func New(opts Options) (*Store, error) {
	return newStore(opts, time.Now, nil)
}

// newStore is New with the clock and a hook that runs after each sweep, for
// tests.
func newStore(opts Options, now func() time.Time, afterSweep func()) (*Store, error) {
	if opts.MaxRecords < 0 || opts.Retention < 0 || opts.SweepInterval < 0 {
		return nil, fmt.Errorf("memstore: negative limit in options %+v", opts)
	}
	s := &Store{
		maxRecords: cmp.Or(opts.MaxRecords, DefaultMaxRecords),
		retention:  cmp.Or(opts.Retention, DefaultRetention),
		now:        now,
		records:    make(map[string]store.Record),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	go s.sweep(cmp.Or(opts.SweepInterval, DefaultSweepInterval), afterSweep)
	return s, nil
}

// Claim implements store.Store. When the store is full it first evicts
// terminal records older than the retention, then returns store.ErrFull if
// none could go.
func (s *Store) Claim(ctx context.Context, rec store.Record) (store.Record, bool, error) {
	if err := contextError(ctx, "claim"); err != nil {
		return store.Record{}, false, err
	}
	if err := store.ValidateClaim(rec); err != nil {
		return store.Record{}, false, fmt.Errorf("memstore: %w", err)
	}
	now := store.StoredTime(s.now())
	rec.LeaseUntil = store.StoredTime(rec.LeaseUntil)
	rec.CreatedAt = store.StoredTime(rec.CreatedAt)
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = now
	}
	rec.UpdatedAt = now

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.Record{}, false, errClosed("claim")
	}
	if existing, ok := s.records[rec.IdempotencyKey]; ok {
		return existing, false, nil
	}
	if len(s.records) >= s.maxRecords {
		s.evictLocked(now.Add(-s.retention))
	}
	if len(s.records) >= s.maxRecords {
		return store.Record{}, false, fmt.Errorf("memstore: claim %q: %w: %d records held and none is terminal and older than %s; raise MaxRecords or use the PostgreSQL store",
			rec.IdempotencyKey, store.ErrFull, len(s.records), s.retention)
	}
	s.records[rec.IdempotencyKey] = rec
	return rec, true, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.Record, error) {
	if err := contextError(ctx, "get"); err != nil {
		return store.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.Record{}, errClosed("get")
	}
	rec, ok := s.records[key]
	if !ok {
		return store.Record{}, fmt.Errorf("memstore: get %q: %w", key, store.ErrNotFound)
	}
	return rec, nil
}

// Transition implements store.Store.
func (s *Store) Transition(ctx context.Context, t store.Transition) (store.Record, error) {
	if err := contextError(ctx, "transition"); err != nil {
		return store.Record{}, err
	}
	if err := t.Validate(); err != nil {
		return store.Record{}, fmt.Errorf("memstore: %w", err)
	}
	now := store.StoredTime(s.now())

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.Record{}, errClosed("transition")
	}
	rec, ok := s.records[t.Key]
	if !ok {
		return store.Record{}, fmt.Errorf("memstore: transition %q: %w", t.Key, store.ErrNotFound)
	}
	if t.Owner != "" && rec.Owner != t.Owner {
		return store.Record{}, fmt.Errorf("memstore: transition %q: %w: owner is %q", t.Key, store.ErrLeaseLost, rec.Owner)
	}
	if !slices.Contains(t.From, rec.Phase) {
		return store.Record{}, fmt.Errorf("memstore: transition: %w", store.ConflictError(t.Key, rec.Phase, t.From))
	}
	rec.Phase = t.To
	rec.GatewayReference = cmp.Or(t.GatewayReference, rec.GatewayReference)
	rec.AuthorizationCode = cmp.Or(t.AuthorizationCode, rec.AuthorizationCode)
	rec.DeclineCode = cmp.Or(t.DeclineCode, rec.DeclineCode)
	rec.FailureReason = cmp.Or(t.FailureReason, rec.FailureReason)
	rec.UpdatedAt = now
	s.records[t.Key] = rec
	return rec, nil
}

// RenewLease implements store.Store.
func (s *Store) RenewLease(ctx context.Context, key, owner string, until time.Time) error {
	if err := contextError(ctx, "renew lease"); err != nil {
		return err
	}
	if err := store.ValidateLease(key, owner, until); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	now := store.StoredTime(s.now())

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed("renew lease")
	}
	rec, ok := s.records[key]
	if !ok {
		return fmt.Errorf("memstore: renew lease %q: %w", key, store.ErrNotFound)
	}
	if rec.Owner != owner {
		return fmt.Errorf("memstore: renew lease %q: %w: owner is %q", key, store.ErrLeaseLost, rec.Owner)
	}
	rec.LeaseUntil = store.StoredTime(until)
	rec.UpdatedAt = now
	s.records[key] = rec
	return nil
}

// ListExpired implements store.Store. It scans every record, which is fine
// at the sizes MaxRecords allows.
func (s *Store) ListExpired(ctx context.Context, now time.Time, limit int) ([]store.Record, error) {
	if err := contextError(ctx, "list expired"); err != nil {
		return nil, err
	}
	if err := store.ValidateLimit("list expired limit", limit); err != nil {
		return nil, fmt.Errorf("memstore: %w", err)
	}
	now = store.StoredTime(now)

	s.mu.Lock()
	var expired []store.Record
	closed := s.closed
	for _, rec := range s.records {
		if !rec.Phase.Terminal() && rec.LeaseUntil.Before(now) {
			expired = append(expired, rec)
		}
	}
	s.mu.Unlock()
	if closed {
		return nil, errClosed("list expired")
	}

	slices.SortFunc(expired, func(a, b store.Record) int {
		return cmp.Or(a.LeaseUntil.Compare(b.LeaseUntil), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.IdempotencyKey, b.IdempotencyKey))
	})
	return expired[:min(limit, len(expired))], nil
}

// TakeOver implements store.Store.
func (s *Store) TakeOver(ctx context.Context, key, owner string, now, until time.Time) (store.Record, error) {
	if err := contextError(ctx, "take over"); err != nil {
		return store.Record{}, err
	}
	if err := store.ValidateTakeOver(key, owner, now, until); err != nil {
		return store.Record{}, fmt.Errorf("memstore: %w", err)
	}
	now = store.StoredTime(now)
	written := store.StoredTime(s.now())

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.Record{}, errClosed("take over")
	}
	rec, ok := s.records[key]
	if !ok {
		return store.Record{}, fmt.Errorf("memstore: take over %q: %w", key, store.ErrNotFound)
	}
	if rec.Phase.Terminal() {
		return store.Record{}, fmt.Errorf("memstore: take over: %w", store.ConflictError(key, rec.Phase, store.InFlightPhases))
	}
	if !rec.LeaseUntil.Before(now) {
		return store.Record{}, fmt.Errorf("memstore: take over %q: %w: owner %q has a lease until %s",
			key, store.ErrLeaseLost, rec.Owner, rec.LeaseUntil.Format(time.RFC3339Nano))
	}
	rec.Owner = owner
	rec.LeaseUntil = store.StoredTime(until)
	rec.UpdatedAt = written
	s.records[key] = rec
	return rec, nil
}

// DeleteOlderThan implements store.Store, oldest records first.
func (s *Store) DeleteOlderThan(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	if err := contextError(ctx, "delete older than"); err != nil {
		return 0, err
	}
	if err := store.ValidateLimit("delete batch", batch); err != nil {
		return 0, fmt.Errorf("memstore: %w", err)
	}
	cutoff = store.StoredTime(cutoff)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed("delete older than")
	}
	var old []store.Record
	for _, rec := range s.records {
		if rec.CreatedAt.Before(cutoff) {
			old = append(old, rec)
		}
	}
	slices.SortFunc(old, func(a, b store.Record) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.IdempotencyKey, b.IdempotencyKey))
	})
	old = old[:min(batch, len(old))]
	for _, rec := range old {
		delete(s.records, rec.IdempotencyKey)
	}
	return len(old), nil
}

// Ping implements store.Store. It returns an error only for a done context or
// a closed store.
func (s *Store) Ping(ctx context.Context) error {
	if err := contextError(ctx, "ping"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed("ping")
	}
	return nil
}

// Len returns the number of records held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// Close implements store.Store: it stops the sweeper, waits for it and drops
// every record.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		s.closed = true
		s.records = nil
		s.mu.Unlock()
	})
}

// sweep removes terminal records older than the retention every interval
// until Close, then calls afterSweep when it is set.
func (s *Store) sweep(interval time.Duration, afterSweep func()) {
	defer close(s.done)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
		}
		cutoff := store.StoredTime(s.now()).Add(-s.retention)
		s.mu.Lock()
		s.evictLocked(cutoff)
		s.mu.Unlock()
		if afterSweep != nil {
			afterSweep()
		}
	}
}

// evictLocked removes terminal records created before cutoff. The caller
// holds s.mu.
func (s *Store) evictLocked(cutoff time.Time) {
	for key, rec := range s.records {
		if rec.Phase.Terminal() && rec.CreatedAt.Before(cutoff) {
			delete(s.records, key)
		}
	}
}

// contextError returns ctx's error, wrapped with store.ErrUnavailable when
// the deadline passed, as the PostgreSQL store does, so callers treat both
// stores alike.
func contextError(ctx context.Context, op string) error {
	err := ctx.Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("memstore: %s: %w: %w", op, store.ErrUnavailable, err)
	default:
		return fmt.Errorf("memstore: %s: %w", op, err)
	}
}

func errClosed(op string) error {
	return fmt.Errorf("memstore: %s: %w: store is closed", op, store.ErrUnavailable)
}

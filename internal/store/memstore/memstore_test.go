package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/store"
	"github.com/connect-secure-input/processor/internal/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := New(Options{})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(s.Close)
		return s
	})
}

// clock is a settable time source for the store's own timestamps and its
// sweeper.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

func record(key string, createdAt time.Time) store.Record {
	return store.Record{
		IdempotencyKey: key,
		ID:             "auth-" + key,
		Fingerprint:    "fp-" + key,
		Amount:         500,
		Currency:       "USD",
		Phase:          store.PhaseStarted,
		Owner:          "task-a",
		LeaseUntil:     createdAt.Add(time.Minute),
		CreatedAt:      createdAt,
	}
}

// claimIn claims a record for key created at createdAt and moves it to
// phase.
func claimIn(t *testing.T, s *Store, key string, createdAt time.Time, phase store.Phase) {
	t.Helper()
	if _, _, err := s.Claim(context.Background(), record(key, createdAt)); err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	if phase == store.PhaseStarted {
		return
	}
	_, err := s.Transition(context.Background(), store.Transition{
		Key: key, Owner: "task-a", From: []store.Phase{store.PhaseStarted}, To: phase,
	})
	if err != nil {
		t.Fatalf("Transition(%q): %v", key, err)
	}
}

func wantPresent(t *testing.T, s *Store, present map[string]bool) {
	t.Helper()
	for key, want := range present {
		_, err := s.Get(context.Background(), key)
		if got := err == nil; got != want {
			t.Errorf("record %q present = %v (err %v), want %v", key, got, err, want)
		}
	}
}

func TestNewRejectsNegativeOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"max records", Options{MaxRecords: -1}},
		{"retention", Options{Retention: -time.Hour}},
		{"sweep interval", Options{SweepInterval: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.opts)
			if err == nil {
				s.Close()
				t.Fatalf("New(%+v) succeeded, want an error", tc.opts)
			}
		})
	}
}

func TestNewAppliesDefaults(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	if s.maxRecords != DefaultMaxRecords || s.retention != DefaultRetention {
		t.Errorf("limits = %d records, %s; want %d, %s", s.maxRecords, s.retention, DefaultMaxRecords, DefaultRetention)
	}
}

func TestClaimWhenFull(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	c := &clock{now: now}
	s, err := newStore(Options{MaxRecords: 3, Retention: time.Hour}, c.Now, nil)
	if err != nil {
		t.Fatalf("newStore: %v", err)
	}
	defer s.Close()

	old := now.Add(-2 * time.Hour)
	claimIn(t, s, "old-in-flight", old, store.PhaseGatewaySent)
	claimIn(t, s, "old-approved", old, store.PhaseApproved)
	claimIn(t, s, "new-approved", now, store.PhaseApproved)

	// The old terminal record is the only one that may go.
	claimIn(t, s, "next", now, store.PhaseStarted)
	wantPresent(t, s, map[string]bool{
		"old-in-flight": true, "old-approved": false, "new-approved": true, "next": true,
	})

	_, created, err := s.Claim(context.Background(), record("one-too-many", now))
	if !errors.Is(err, store.ErrFull) || created {
		t.Fatalf("Claim when full = created %v, err %v; want %v", created, err, store.ErrFull)
	}
	if got := s.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}

	t.Run("existing key still returned", func(t *testing.T) {
		stored, created, err := s.Claim(context.Background(), record("next", now))
		if err != nil || created || stored.IdempotencyKey != "next" {
			t.Errorf("Claim of a held key = %q, %v, %v; want the stored record", stored.IdempotencyKey, created, err)
		}
	})
}

func TestSweeperEvictsOldTerminalRecords(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	c := &clock{now: now}
	swept := make(chan struct{}, 1)
	afterSweep := func() {
		select {
		case swept <- struct{}{}:
		default:
		}
	}
	s, err := newStore(Options{Retention: time.Hour, SweepInterval: time.Millisecond}, c.Now, afterSweep)
	if err != nil {
		t.Fatalf("newStore: %v", err)
	}
	defer s.Close()

	old := now.Add(-time.Hour - time.Microsecond)
	claimIn(t, s, "old-declined", old, store.PhaseDeclined)
	claimIn(t, s, "old-voided", old, store.PhaseVoided)
	claimIn(t, s, "old-void-pending", old, store.PhaseVoidPending)
	claimIn(t, s, "at-retention", now.Add(-time.Hour), store.PhaseApproved)
	claimIn(t, s, "new-failed", now, store.PhaseFailed)

	// A sweep whose signal is already queued may have run before the claims;
	// the second signal comes from a sweep that started after them.
	for range 2 {
		<-swept
	}
	wantPresent(t, s, map[string]bool{
		"old-declined": false, "old-voided": false, "old-void-pending": true,
		"at-retention": true, "new-failed": true,
	})

	c.Set(now.Add(2 * time.Hour))
	for range 2 {
		<-swept
	}
	wantPresent(t, s, map[string]bool{
		"old-void-pending": true, "at-retention": false, "new-failed": false,
	})
}

func TestCloseStopsSweeper(t *testing.T) {
	s, err := New(Options{SweepInterval: time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.Close()
	select {
	case <-s.done:
	default:
		t.Fatalf("sweeper still running after Close")
	}
	if got := s.Len(); got != 0 {
		t.Errorf("Len after Close = %d, want 0", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	s, err := New(Options{MaxRecords: 64, SweepInterval: time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()

	now := time.Now()
	var wg sync.WaitGroup
	for worker := range 8 {
		wg.Go(func() {
			ctx := context.Background()
			for i := range 50 {
				key := fmt.Sprintf("key-%d", i%16)
				owner := fmt.Sprintf("task-%d", worker)
				// Errors are expected here (conflicts, lost leases, a full
				// store); the race detector and the counts below are the
				// checks.
				_, _, _ = s.Claim(ctx, record(key, now))
				_, _ = s.Transition(ctx, store.Transition{Key: key, Owner: owner, From: []store.Phase{store.PhaseStarted}, To: store.PhaseGatewaySent})
				_, _ = s.TakeOver(ctx, key, owner, now.Add(2*time.Minute), now.Add(time.Hour))
				_ = s.RenewLease(ctx, key, owner, now.Add(time.Hour))
				_, _ = s.ListExpired(ctx, now.Add(2*time.Minute), 5)
				_, _ = s.DeleteOlderThan(ctx, now.Add(time.Second), 2)
				_, _ = s.Get(ctx, key)
			}
		})
	}
	wg.Wait()
	if got := s.Len(); got > 16 {
		t.Errorf("Len = %d, want at most the 16 keys used", got)
	}
}

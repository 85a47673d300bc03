// Package storetest is the contract suite that every store.Store
// implementation passes: claims and their races, transitions, leases,
// recovery listing and take-over, retention, and errors.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/store"
)

// Run runs the contract suite against stores made by newStore, one fresh and
// empty store per subtest. newStore registers the store's Close (and any
// other clean-up) with t.Cleanup; Close must be safe to call twice.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"ClaimCreatesRecord", testClaimCreatesRecord},
		{"ClaimKeepsCreatedAt", testClaimKeepsCreatedAt},
		{"ClaimReturnsExisting", testClaimReturnsExisting},
		{"ClaimConcurrentOneCreates", testClaimConcurrentOneCreates},
		{"ClaimRejectsInvalid", testClaimRejectsInvalid},
		{"GetUnknownKey", testGetUnknownKey},
		{"TransitionAppliesFields", testTransitionAppliesFields},
		{"TransitionRejects", testTransitionRejects},
		{"TransitionWithoutOwner", testTransitionWithoutOwner},
		{"TransitionConcurrentOneWins", testTransitionConcurrentOneWins},
		{"RenewLease", testRenewLease},
		{"ListExpiredOrderAndLimit", testListExpiredOrderAndLimit},
		{"TakeOver", testTakeOver},
		{"TakeOverRaceOneWins", testTakeOverRaceOneWins},
		{"DeleteOlderThanInBatches", testDeleteOlderThanInBatches},
		{"DeleteOlderThanConcurrent", testDeleteOlderThanConcurrent},
		{"ContextCanceled", testContextCanceled},
		{"ContextDeadlinePassed", testContextDeadlinePassed},
		{"PingAndClose", testPingAndClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

const (
	ownerA = "task-a"
	ownerB = "task-b"
)

// newRecord returns a record that passes store.ValidateClaim, owned by owner
// until leaseUntil.
func newRecord(key, owner string, leaseUntil time.Time) store.Record {
	return store.Record{
		IdempotencyKey: key,
		ID:             "auth-" + key,
		Fingerprint:    "fp-" + key,
		Amount:         1299,
		Currency:       "EUR",
		Reference:      "order-" + key,
		ContactID:      "contact-" + key,
		Card:           store.MaskedCard{Brand: "visa", BIN: "42424242", Last4: "4242"},
		Phase:          store.PhaseStarted,
		Owner:          owner,
		LeaseUntil:     leaseUntil,
	}
}

// claim claims rec and fails the test unless this call created it.
func claim(t *testing.T, s store.Store, rec store.Record) store.Record {
	t.Helper()
	stored, created, err := s.Claim(context.Background(), rec)
	if err != nil {
		t.Fatalf("Claim(%q): %v", rec.IdempotencyKey, err)
	}
	if !created {
		t.Fatalf("Claim(%q) created = false, want true", rec.IdempotencyKey)
	}
	return stored
}

// claimInPhase claims a record for key and moves it to phase.
func claimInPhase(t *testing.T, s store.Store, rec store.Record, phase store.Phase) store.Record {
	t.Helper()
	stored := claim(t, s, rec)
	if phase == store.PhaseStarted {
		return stored
	}
	moved, err := s.Transition(context.Background(), store.Transition{
		Key: rec.IdempotencyKey, Owner: rec.Owner, From: []store.Phase{store.PhaseStarted}, To: phase,
	})
	if err != nil {
		t.Fatalf("Transition(%q, started → %s): %v", rec.IdempotencyKey, phase, err)
	}
	return moved
}

func get(t *testing.T, s store.Store, key string) store.Record {
	t.Helper()
	rec, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return rec
}

// wantErr fails the test unless err wraps target. It also fails when an
// error that is not about availability wraps store.ErrUnavailable, so a
// logic error cannot pass for an outage.
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
	if target != store.ErrUnavailable && errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v wraps %v, want only %v", err, store.ErrUnavailable, target)
	}
}

func wantRecord(t *testing.T, got, want store.Record) {
	t.Helper()
	if got != want {
		t.Fatalf("record differs\n got: %+v\nwant: %+v", got, want)
	}
}

func testClaimCreatesRecord(t *testing.T, s store.Store) {
	before := store.StoredTime(time.Now())
	rec := newRecord("key-1", ownerA, time.Now().Add(time.Minute))
	stored := claim(t, s, rec)
	after := store.StoredTime(time.Now())

	if stored.CreatedAt.Before(before) || stored.CreatedAt.After(after) {
		t.Errorf("CreatedAt = %v, want between %v and %v", stored.CreatedAt, before, after)
	}
	if stored.UpdatedAt != stored.CreatedAt {
		t.Errorf("UpdatedAt = %v, want CreatedAt %v", stored.UpdatedAt, stored.CreatedAt)
	}
	want := rec
	want.LeaseUntil = store.StoredTime(rec.LeaseUntil)
	want.CreatedAt = stored.CreatedAt
	want.UpdatedAt = stored.UpdatedAt
	wantRecord(t, stored, want)
	wantRecord(t, get(t, s, "key-1"), want)
}

func testClaimKeepsCreatedAt(t *testing.T, s store.Store) {
	rec := newRecord("key-1", ownerA, time.Now().Add(time.Minute))
	rec.CreatedAt = time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("UTC+2", 2*60*60))
	stored := claim(t, s, rec)

	want := time.Date(2026, 3, 1, 8, 0, 0, 123456000, time.UTC)
	if stored.CreatedAt != want {
		t.Errorf("CreatedAt = %v, want %v", stored.CreatedAt, want)
	}
	if got := get(t, s, "key-1").CreatedAt; got != want {
		t.Errorf("Get CreatedAt = %v, want %v", got, want)
	}
}

func testClaimReturnsExisting(t *testing.T, s store.Store) {
	first := claim(t, s, newRecord("key-1", ownerA, time.Now().Add(time.Minute)))

	repeat := newRecord("key-1", ownerB, time.Now().Add(time.Hour))
	repeat.ID = "auth-other"
	repeat.Fingerprint = "fp-other"
	repeat.Amount = 5000
	stored, created, err := s.Claim(context.Background(), repeat)
	if err != nil {
		t.Fatalf("second Claim: %v", err)
	}
	if created {
		t.Errorf("second Claim created = true, want false")
	}
	wantRecord(t, stored, first)
	wantRecord(t, get(t, s, "key-1"), first)
}

func testClaimConcurrentOneCreates(t *testing.T, s store.Store) {
	const claimers = 50
	lease := time.Now().Add(time.Minute)
	type result struct {
		stored  store.Record
		created bool
		err     error
	}
	results := make([]result, claimers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Go(func() {
			rec := newRecord("key-1", fmt.Sprintf("task-%d", i), lease)
			rec.ID = fmt.Sprintf("auth-%d", i)
			<-start
			stored, created, err := s.Claim(context.Background(), rec)
			results[i] = result{stored, created, err}
		})
	}
	close(start)
	wg.Wait()

	var winner *store.Record
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("claimer %d: %v", i, r.err)
		}
		if r.created {
			if winner != nil {
				t.Fatalf("claimer %d also created the record; %s created it first", i, winner.Owner)
			}
			winner = &results[i].stored
		}
	}
	if winner == nil {
		t.Fatalf("no claimer created the record")
	}
	for i, r := range results {
		if r.stored != *winner {
			t.Errorf("claimer %d got %+v, want the winner's record %+v", i, r.stored, *winner)
		}
	}
	wantRecord(t, get(t, s, "key-1"), *winner)
}

func testClaimRejectsInvalid(t *testing.T, s store.Store) {
	tests := []struct {
		name   string
		mutate func(*store.Record)
	}{
		{"empty key", func(r *store.Record) { r.IdempotencyKey = "" }},
		{"empty id", func(r *store.Record) { r.ID = "" }},
		{"empty fingerprint", func(r *store.Record) { r.Fingerprint = "" }},
		{"zero amount", func(r *store.Record) { r.Amount = 0 }},
		{"negative amount", func(r *store.Record) { r.Amount = -1 }},
		{"lower-case currency", func(r *store.Record) { r.Currency = "eur" }},
		{"long currency", func(r *store.Record) { r.Currency = "EURO" }},
		{"phase not started", func(r *store.Record) { r.Phase = store.PhaseGatewaySent }},
		{"unknown phase", func(r *store.Record) { r.Phase = "pending" }},
		{"empty owner", func(r *store.Record) { r.Owner = "" }},
		{"zero lease", func(r *store.Record) { r.LeaseUntil = time.Time{} }},
		{"full PAN as BIN", func(r *store.Record) { r.Card.BIN = "4242424242424242" }},
		{"BIN not digits", func(r *store.Record) { r.Card.BIN = "4242-424" }},
		{"last four too long", func(r *store.Record) { r.Card.Last4 = "424242" }},
		{"last four too short", func(r *store.Record) { r.Card.Last4 = "42" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecord("key-invalid", ownerA, time.Now().Add(time.Minute))
			tc.mutate(&rec)
			_, created, err := s.Claim(context.Background(), rec)
			wantErr(t, err, store.ErrInvalid)
			if created {
				t.Errorf("created = true, want false")
			}
			if rec.IdempotencyKey != "" {
				_, err := s.Get(context.Background(), rec.IdempotencyKey)
				wantErr(t, err, store.ErrNotFound)
			}
		})
	}
}

func testGetUnknownKey(t *testing.T, s store.Store) {
	claim(t, s, newRecord("key-1", ownerA, time.Now().Add(time.Minute)))
	_, err := s.Get(context.Background(), "key-2")
	wantErr(t, err, store.ErrNotFound)
}

func testTransitionAppliesFields(t *testing.T, s store.Store) {
	claimed := claim(t, s, newRecord("key-1", ownerA, time.Now().Add(time.Minute)))

	sent, err := s.Transition(context.Background(), store.Transition{
		Key: "key-1", Owner: ownerA,
		From: []store.Phase{store.PhaseStarted}, To: store.PhaseGatewaySent,
		GatewayReference: "pi_123",
	})
	if err != nil {
		t.Fatalf("Transition to gateway_sent: %v", err)
	}
	approved, err := s.Transition(context.Background(), store.Transition{
		Key: "key-1", Owner: ownerA,
		From: []store.Phase{store.PhaseStarted, store.PhaseGatewaySent}, To: store.PhaseApproved,
		AuthorizationCode: "A1B2C3",
	})
	if err != nil {
		t.Fatalf("Transition to approved: %v", err)
	}

	if sent.UpdatedAt.Before(claimed.UpdatedAt) || approved.UpdatedAt.Before(sent.UpdatedAt) {
		t.Errorf("UpdatedAt went back: claimed %v, sent %v, approved %v", claimed.UpdatedAt, sent.UpdatedAt, approved.UpdatedAt)
	}
	want := claimed
	want.Phase = store.PhaseApproved
	want.GatewayReference = "pi_123"
	want.AuthorizationCode = "A1B2C3"
	want.UpdatedAt = approved.UpdatedAt
	wantRecord(t, approved, want)
	wantRecord(t, get(t, s, "key-1"), want)
}

func testTransitionRejects(t *testing.T, s store.Store) {
	claimed := claim(t, s, newRecord("key-1", ownerA, time.Now().Add(time.Minute)))
	fromSent := []store.Phase{store.PhaseGatewaySent}
	fromStarted := []store.Phase{store.PhaseStarted}

	tests := []struct {
		name string
		tr   store.Transition
		want error
	}{
		{"wrong phase", store.Transition{Key: "key-1", Owner: ownerA, From: fromSent, To: store.PhaseApproved}, store.ErrConflict},
		{"wrong owner", store.Transition{Key: "key-1", Owner: ownerB, From: fromStarted, To: store.PhaseGatewaySent}, store.ErrLeaseLost},
		{"wrong owner and phase", store.Transition{Key: "key-1", Owner: ownerB, From: fromSent, To: store.PhaseApproved}, store.ErrLeaseLost},
		{"unknown key", store.Transition{Key: "key-2", Owner: ownerA, From: fromStarted, To: store.PhaseGatewaySent}, store.ErrNotFound},
		{"no from phase", store.Transition{Key: "key-1", Owner: ownerA, To: store.PhaseGatewaySent}, store.ErrInvalid},
		{"unknown from phase", store.Transition{Key: "key-1", Owner: ownerA, From: []store.Phase{"pending"}, To: store.PhaseGatewaySent}, store.ErrInvalid},
		{"unknown to phase", store.Transition{Key: "key-1", Owner: ownerA, From: fromStarted, To: "pending"}, store.ErrInvalid},
		{"empty key", store.Transition{Owner: ownerA, From: fromStarted, To: store.PhaseGatewaySent}, store.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.tr.GatewayReference = "pi_rejected"
			_, err := s.Transition(context.Background(), tc.tr)
			wantErr(t, err, tc.want)
			wantRecord(t, get(t, s, "key-1"), claimed)
		})
	}
}

func testTransitionWithoutOwner(t *testing.T, s store.Store) {
	claimInPhase(t, s, newRecord("key-1", ownerA, time.Now().Add(time.Minute)), store.PhaseGatewaySent)

	voided, err := s.Transition(context.Background(), store.Transition{
		Key: "key-1", From: []store.Phase{store.PhaseGatewaySent}, To: store.PhaseVoidPending,
		FailureReason: "recovered_voided",
	})
	if err != nil {
		t.Fatalf("Transition without owner: %v", err)
	}
	if voided.Phase != store.PhaseVoidPending || voided.FailureReason != "recovered_voided" || voided.Owner != ownerA {
		t.Errorf("record = %+v, want void_pending, recovered_voided, owner %s", voided, ownerA)
	}
}

func testTransitionConcurrentOneWins(t *testing.T, s store.Store) {
	claim(t, s, newRecord("key-1", ownerA, time.Now().Add(time.Minute)))

	const movers = 10
	errs := make([]error, movers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range movers {
		wg.Go(func() {
			<-start
			_, errs[i] = s.Transition(context.Background(), store.Transition{
				Key: "key-1", Owner: ownerA,
				From: []store.Phase{store.PhaseStarted}, To: store.PhaseGatewaySent,
				GatewayReference: fmt.Sprintf("pi_%d", i),
			})
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("movers %d and %d both moved the record", winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, err, store.ErrConflict)
		}
	}
	if winner < 0 {
		t.Fatalf("no mover moved the record")
	}
	if got, want := get(t, s, "key-1").GatewayReference, fmt.Sprintf("pi_%d", winner); got != want {
		t.Errorf("GatewayReference = %q, want the winner's %q", got, want)
	}
}

func testRenewLease(t *testing.T, s store.Store) {
	claim(t, s, newRecord("key-1", ownerA, time.Now().Add(time.Minute)))
	until := time.Now().Add(5 * time.Minute)

	if err := s.RenewLease(context.Background(), "key-1", ownerA, until); err != nil {
		t.Fatalf("RenewLease by owner: %v", err)
	}
	if got, want := get(t, s, "key-1").LeaseUntil, store.StoredTime(until); got != want {
		t.Errorf("LeaseUntil = %v, want %v", got, want)
	}

	tests := []struct {
		name  string
		key   string
		owner string
		until time.Time
		want  error
	}{
		{"other owner", "key-1", ownerB, until.Add(time.Hour), store.ErrLeaseLost},
		{"unknown key", "key-2", ownerA, until, store.ErrNotFound},
		{"empty owner", "key-1", "", until, store.ErrInvalid},
		{"zero lease", "key-1", ownerA, time.Time{}, store.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.RenewLease(context.Background(), tc.key, tc.owner, tc.until)
			wantErr(t, err, tc.want)
			if got, want := get(t, s, "key-1").LeaseUntil, store.StoredTime(until); got != want {
				t.Errorf("LeaseUntil = %v, want it unchanged at %v", got, want)
			}
		})
	}
}

func testListExpiredOrderAndLimit(t *testing.T, s store.Store) {
	now := time.Now()
	created := now.Add(-time.Hour)
	records := []struct {
		key     string
		lease   time.Duration
		created time.Duration
		phase   store.Phase
	}{
		{"gateway-sent-1m", -time.Minute, 0, store.PhaseGatewaySent},
		{"started-3m", -3 * time.Minute, 0, store.PhaseStarted},
		{"started-2m-newer", -2 * time.Minute, time.Second, store.PhaseStarted},
		{"void-pending-2m-older", -2 * time.Minute, 0, store.PhaseVoidPending},
		// Equal leases and creation times fall back to byte order of the
		// key, in which upper case sorts before lower case.
		{"a-4m", -4 * time.Minute, 0, store.PhaseStarted},
		{"Z-4m", -4 * time.Minute, 0, store.PhaseGatewaySent},
		{"approved-5m", -5 * time.Minute, 0, store.PhaseApproved},
		{"voided-5m", -5 * time.Minute, 0, store.PhaseVoided},
		{"started-live", time.Minute, 0, store.PhaseStarted},
		{"started-ends-now", 0, 0, store.PhaseStarted},
	}
	for _, r := range records {
		rec := newRecord(r.key, ownerA, now.Add(r.lease))
		rec.CreatedAt = created.Add(r.created)
		claimInPhase(t, s, rec, r.phase)
	}

	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{"all", 10, []string{"Z-4m", "a-4m", "started-3m", "void-pending-2m-older", "started-2m-newer", "gateway-sent-1m"}},
		{"limit 4", 4, []string{"Z-4m", "a-4m", "started-3m", "void-pending-2m-older"}},
		{"limit 1", 1, []string{"Z-4m"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expired, err := s.ListExpired(context.Background(), now, tc.limit)
			if err != nil {
				t.Fatalf("ListExpired: %v", err)
			}
			var keys []string
			for _, rec := range expired {
				keys = append(keys, rec.IdempotencyKey)
			}
			if fmt.Sprint(keys) != fmt.Sprint(tc.want) {
				t.Errorf("keys = %v, want %v", keys, tc.want)
			}
			for _, rec := range expired {
				wantRecord(t, rec, get(t, s, rec.IdempotencyKey))
			}
		})
	}

	t.Run("zero limit", func(t *testing.T) {
		_, err := s.ListExpired(context.Background(), now, 0)
		wantErr(t, err, store.ErrInvalid)
	})
}

func testTakeOver(t *testing.T, s store.Store) {
	now := time.Now()
	claimInPhase(t, s, newRecord("key-1", ownerA, now.Add(-time.Minute)), store.PhaseGatewaySent)
	claimInPhase(t, s, newRecord("key-approved", ownerA, now.Add(-time.Minute)), store.PhaseApproved)
	claim(t, s, newRecord("key-live", ownerA, now.Add(time.Minute)))

	until := now.Add(30 * time.Second)
	taken, err := s.TakeOver(context.Background(), "key-1", ownerB, now, until)
	if err != nil {
		t.Fatalf("TakeOver: %v", err)
	}
	if taken.Owner != ownerB || taken.LeaseUntil != store.StoredTime(until) || taken.Phase != store.PhaseGatewaySent {
		t.Errorf("taken = %+v, want owner %s, lease %v, gateway_sent", taken, ownerB, store.StoredTime(until))
	}
	wantRecord(t, get(t, s, "key-1"), taken)

	tests := []struct {
		name  string
		key   string
		owner string
		until time.Time
		want  error
	}{
		{"taken lease is live", "key-1", "task-c", until, store.ErrLeaseLost},
		{"live lease", "key-live", ownerB, until, store.ErrLeaseLost},
		{"terminal record", "key-approved", ownerB, until, store.ErrConflict},
		{"unknown key", "key-2", ownerB, until, store.ErrNotFound},
		{"lease ends before now", "key-1", "task-c", now.Add(-time.Second), store.ErrInvalid},
		{"empty owner", "key-1", "", until, store.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.TakeOver(context.Background(), tc.key, tc.owner, now, tc.until)
			wantErr(t, err, tc.want)
		})
	}

	t.Run("previous owner lost the lease", func(t *testing.T) {
		_, err := s.Transition(context.Background(), store.Transition{
			Key: "key-1", Owner: ownerA, From: []store.Phase{store.PhaseGatewaySent}, To: store.PhaseApproved,
		})
		wantErr(t, err, store.ErrLeaseLost)
		err = s.RenewLease(context.Background(), "key-1", ownerA, until.Add(time.Hour))
		wantErr(t, err, store.ErrLeaseLost)
		wantRecord(t, get(t, s, "key-1"), taken)
	})
}

func testTakeOverRaceOneWins(t *testing.T, s store.Store) {
	now := time.Now()
	claimInPhase(t, s, newRecord("key-1", ownerA, now.Add(-time.Minute)), store.PhaseGatewaySent)

	const takers = 10
	errs := make([]error, takers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range takers {
		wg.Go(func() {
			<-start
			_, errs[i] = s.TakeOver(context.Background(), "key-1", fmt.Sprintf("taker-%d", i), now, now.Add(time.Minute))
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("takers %d and %d both took the record over", winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, err, store.ErrLeaseLost)
		}
	}
	if winner < 0 {
		t.Fatalf("no taker took the record over")
	}
	if got, want := get(t, s, "key-1").Owner, fmt.Sprintf("taker-%d", winner); got != want {
		t.Errorf("Owner = %q, want the winner %q", got, want)
	}
}

func testDeleteOlderThanInBatches(t *testing.T, s store.Store) {
	now := time.Now()
	cutoff := now.Add(-24 * time.Hour)
	phases := []store.Phase{store.PhaseApproved, store.PhaseDeclined, store.PhaseStarted, store.PhaseVoided, store.PhaseGatewaySent}
	var oldKeys []string
	for i, phase := range phases {
		rec := newRecord(fmt.Sprintf("old-%d", i), ownerA, now.Add(time.Minute))
		rec.CreatedAt = cutoff.Add(-time.Duration(i+1) * time.Hour)
		claimInPhase(t, s, rec, phase)
		oldKeys = append(oldKeys, rec.IdempotencyKey)
	}
	atCutoff := newRecord("at-cutoff", ownerA, now.Add(time.Minute))
	atCutoff.CreatedAt = cutoff
	claimInPhase(t, s, atCutoff, store.PhaseApproved)
	claimInPhase(t, s, newRecord("new", ownerA, now.Add(time.Minute)), store.PhaseApproved)

	for i, want := range []int{2, 2, 1, 0} {
		deleted, err := s.DeleteOlderThan(context.Background(), cutoff, 2)
		if err != nil {
			t.Fatalf("DeleteOlderThan call %d: %v", i+1, err)
		}
		if deleted != want {
			t.Errorf("DeleteOlderThan call %d deleted %d, want %d", i+1, deleted, want)
		}
	}
	for _, key := range oldKeys {
		_, err := s.Get(context.Background(), key)
		wantErr(t, err, store.ErrNotFound)
	}
	for _, key := range []string{"at-cutoff", "new"} {
		get(t, s, key)
	}

	t.Run("zero batch", func(t *testing.T) {
		_, err := s.DeleteOlderThan(context.Background(), cutoff, 0)
		wantErr(t, err, store.ErrInvalid)
	})
}

func testDeleteOlderThanConcurrent(t *testing.T, s store.Store) {
	const old = 30
	now := time.Now()
	cutoff := now.Add(-24 * time.Hour)
	for i := range old {
		rec := newRecord(fmt.Sprintf("old-%d", i), ownerA, now.Add(time.Minute))
		rec.CreatedAt = cutoff.Add(-time.Duration(i+1) * time.Minute)
		claimInPhase(t, s, rec, store.PhaseApproved)
	}
	claimInPhase(t, s, newRecord("new", ownerA, now.Add(time.Minute)), store.PhaseApproved)

	const deleters = 3
	totals := make([]int, deleters)
	errs := make([]error, deleters)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range deleters {
		wg.Go(func() {
			<-start
			for {
				deleted, err := s.DeleteOlderThan(context.Background(), cutoff, 4)
				if err != nil {
					errs[i] = err
					return
				}
				if deleted == 0 {
					return
				}
				totals[i] += deleted
			}
		})
	}
	close(start)
	wg.Wait()

	sum := 0
	for i := range deleters {
		if errs[i] != nil {
			t.Fatalf("deleter %d: %v", i, errs[i])
		}
		sum += totals[i]
	}
	if sum != old {
		t.Errorf("deleters deleted %d records in total (%v), want %d", sum, totals, old)
	}
	if deleted, err := s.DeleteOlderThan(context.Background(), cutoff, 100); err != nil || deleted != 0 {
		t.Errorf("DeleteOlderThan after the deleters = %d, %v; want 0, nil", deleted, err)
	}
	get(t, s, "new")
}

// calls returns one call of every Store method except Close, each on ctx.
func calls(s store.Store, now time.Time) map[string]func(ctx context.Context) error {
	return map[string]func(ctx context.Context) error{
		"Claim": func(ctx context.Context) error {
			_, _, err := s.Claim(ctx, newRecord("key-new", ownerA, now.Add(time.Minute)))
			return err
		},
		"Get": func(ctx context.Context) error {
			_, err := s.Get(ctx, "key-1")
			return err
		},
		"Transition": func(ctx context.Context) error {
			_, err := s.Transition(ctx, store.Transition{
				Key: "key-1", Owner: ownerA, From: []store.Phase{store.PhaseStarted}, To: store.PhaseGatewaySent,
			})
			return err
		},
		"RenewLease": func(ctx context.Context) error {
			return s.RenewLease(ctx, "key-1", ownerA, now.Add(time.Hour))
		},
		"ListExpired": func(ctx context.Context) error {
			_, err := s.ListExpired(ctx, now, 10)
			return err
		},
		"TakeOver": func(ctx context.Context) error {
			_, err := s.TakeOver(ctx, "key-1", ownerB, now.Add(2*time.Minute), now.Add(time.Hour))
			return err
		},
		"DeleteOlderThan": func(ctx context.Context) error {
			_, err := s.DeleteOlderThan(ctx, now.Add(time.Hour), 10)
			return err
		},
		"Ping": func(ctx context.Context) error {
			return s.Ping(ctx)
		},
	}
}

func testContextCanceled(t *testing.T, s store.Store) {
	now := time.Now()
	claimed := claim(t, s, newRecord("key-1", ownerA, now.Add(time.Minute)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	for name, call := range calls(s, now) {
		t.Run(name, func(t *testing.T) {
			wantErr(t, call(ctx), context.Canceled)
		})
	}
	wantRecord(t, get(t, s, "key-1"), claimed)
	_, err := s.Get(context.Background(), "key-new")
	wantErr(t, err, store.ErrNotFound)
}

func testContextDeadlinePassed(t *testing.T, s store.Store) {
	now := time.Now()
	claimed := claim(t, s, newRecord("key-1", ownerA, now.Add(time.Minute)))
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(-time.Second))
	defer cancel()

	for name, call := range calls(s, now) {
		t.Run(name, func(t *testing.T) {
			err := call(ctx)
			wantErr(t, err, store.ErrUnavailable)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want it to wrap %v too", err, context.DeadlineExceeded)
			}
		})
	}
	wantRecord(t, get(t, s, "key-1"), claimed)
}

func testPingAndClose(t *testing.T, s store.Store) {
	now := time.Now()
	claim(t, s, newRecord("key-1", ownerA, now.Add(time.Minute)))
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	s.Close()
	for name, call := range calls(s, now) {
		t.Run(name, func(t *testing.T) {
			wantErr(t, call(context.Background()), store.ErrUnavailable)
		})
	}
	s.Close()
}

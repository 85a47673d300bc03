package authorize

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/connect-secure-input/processor/internal/card"
	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/gateway/simulator"
	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/store"
	"github.com/connect-secure-input/processor/internal/store/memstore"
	"github.com/connect-secure-input/processor/internal/ttl"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	approvedPAN = "4242424242424242"
	declinedPAN = "4000000000009995" // insufficient_funds
	slowPAN     = "4000000000008013"
	silentPAN   = "4000000000008005" // never answers
)

type harness struct {
	svc   *Service
	sim   *simulator.Simulator
	store store.Store
	vault *ttl.Vault
}

type options struct {
	budget    time.Duration
	vaultTTL  time.Duration
	slowDelay time.Duration
	owner     string
	store     store.Store
	sim       *simulator.Simulator
}

func newHarness(t *testing.T, o options) *harness {
	t.Helper()
	if o.budget == 0 {
		o.budget = 2 * time.Second
	}
	if o.vaultTTL == 0 {
		o.vaultTTL = 10 * time.Second
	}
	if o.owner == "" {
		o.owner = "task-a"
	}
	if o.store == nil {
		st, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		o.store = st
	}
	if o.sim == nil {
		sim, err := simulator.New(simulator.Config{SlowDelay: o.slowDelay})
		if err != nil {
			t.Fatal(err)
		}
		o.sim = sim
	}
	vault, err := ttl.New(ttl.Config{TTL: o.vaultTTL, SweepInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{
		Budget: o.budget, Owner: o.owner, MOTO: true, RetryBaseDelay: 10 * time.Millisecond,
		FingerprintKey: []byte("test-only-fingerprint-key-32-bytes-long"),
	}, o.store, vault, o.sim, card.NewRandomFingerprinter(), nil, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close(5 * time.Second)
		vault.Close()
	})
	return &harness{svc: svc, sim: o.sim, store: o.store, vault: vault}
}

func request(t *testing.T, key, pan string, amount int64) Request {
	t.Helper()
	p, err := card.ValidatePAN(secret.Copy([]byte(pan)))
	if err != nil {
		t.Fatalf("ValidatePAN: %v", err)
	}
	cvv, err := card.ValidateCVV(secret.Copy([]byte("123")), p.Brand())
	if err != nil {
		t.Fatalf("ValidateCVV: %v", err)
	}
	return Request{
		IdempotencyKey: key, ContactID: "contact-" + key, Reference: "order-1", Amount: amount, Currency: "USD",
		PAN: p, Expiry: card.Expiry{Month: 12, Year: time.Now().Year() + 2}, CVV: cvv, HasCVV: true,
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAuthorizeOutcomes(t *testing.T) {
	h := newHarness(t, options{})
	tests := []struct {
		name        string
		pan         string
		want        Status
		declineCode string
	}{
		{"approved", approvedPAN, StatusApproved, ""},
		{"declined", declinedPAN, StatusDeclined, "insufficient_funds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(t, "key-"+tt.name, tt.pan, 1000)
			pan := req.PAN.Digits()
			out, err := h.svc.Authorize(context.Background(), time.Now(), req)
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if got := StatusOf(out.Record); got != tt.want || out.Record.DeclineCode != tt.declineCode || !out.Created {
				t.Errorf("status = %s, decline = %q, created = %v; want %s, %q, true", got, out.Record.DeclineCode, out.Created, tt.want, tt.declineCode)
			}
			if !pan.Wiped() {
				t.Error("the caller's PAN was not wiped")
			}
			if entries, _ := h.vault.Stats(); entries != 0 {
				t.Errorf("vault holds %d entries after the answer", entries)
			}
		})
	}
}

func TestConcurrentRepeatsMakeOneAuthorization(t *testing.T) {
	h := newHarness(t, options{})
	const n = 50
	results := make([]Outcome, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := request(t, "same-key", approvedPAN, 2500)
			<-start
			results[i], errs[i] = h.svc.Authorize(context.Background(), time.Now(), req)
		}()
	}
	close(start)
	wg.Wait()

	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if results[i].Created {
			created++
		}
		if StatusOf(results[i].Record) != StatusApproved || results[i].Record.ID != results[0].Record.ID ||
			results[i].Record.GatewayReference != results[0].Record.GatewayReference {
			t.Errorf("request %d got %+v, want the same approved record as request 0", i, results[i].Record)
		}
	}
	if created != 1 {
		t.Errorf("%d requests created the record, want 1", created)
	}
	if got := h.sim.Authorizations(); got != 1 {
		t.Errorf("gateway authorizations = %d, want 1", got)
	}
}

func TestRepeatWithOtherParametersConflicts(t *testing.T) {
	h := newHarness(t, options{})
	if _, err := h.svc.Authorize(context.Background(), time.Now(), request(t, "k1", approvedPAN, 1000)); err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]Request{
		"amount": request(t, "k1", approvedPAN, 1001),
		"card":   request(t, "k1", "5555555555554444", 1000),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := h.svc.Authorize(context.Background(), time.Now(), req); !errors.Is(err, ErrConflict) {
				t.Errorf("err = %v, want ErrConflict", err)
			}
		})
	}
	if got := h.sim.Authorizations(); got != 1 {
		t.Errorf("gateway authorizations = %d, want 1", got)
	}
}

func TestSlowGatewayAnswersPendingThenFinal(t *testing.T) {
	h := newHarness(t, options{budget: 300 * time.Millisecond, slowDelay: 800 * time.Millisecond})
	out, err := h.svc.Authorize(context.Background(), time.Now(), request(t, "slow", slowPAN, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if StatusOf(out.Record) != StatusPending {
		t.Fatalf("status within the budget = %s, want pending", StatusOf(out.Record))
	}
	if entries, _ := h.vault.Stats(); entries != 1 {
		t.Errorf("vault entries while the gateway works = %d, want 1", entries)
	}
	waitFor(t, "the final outcome", func() bool {
		rec, err := h.svc.Status(context.Background(), "slow")
		return err == nil && StatusOf(rec) == StatusApproved
	})
	waitFor(t, "the vault entry to be wiped", func() bool { entries, _ := h.vault.Stats(); return entries == 0 })
}

func TestSilentGatewayIsVoidedAtVaultDeadline(t *testing.T) {
	h := newHarness(t, options{budget: 200 * time.Millisecond, vaultTTL: 700 * time.Millisecond})
	out, err := h.svc.Authorize(context.Background(), time.Now(), request(t, "silent", silentPAN, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if StatusOf(out.Record) != StatusPending {
		t.Fatalf("status = %s, want pending", StatusOf(out.Record))
	}
	waitFor(t, "the void", func() bool {
		rec, err := h.svc.Status(context.Background(), "silent")
		return err == nil && rec.Phase == store.PhaseVoided
	})
	rec, _ := h.svc.Status(context.Background(), "silent")
	if StatusOf(rec) != StatusFailed || rec.FailureReason != ReasonTimeoutVoided {
		t.Errorf("record = %s/%q, want failed/%s", StatusOf(rec), rec.FailureReason, ReasonTimeoutVoided)
	}
	if h.sim.Voids() != 1 {
		t.Errorf("gateway voids = %d, want 1", h.sim.Voids())
	}
	if entries, _ := h.vault.Stats(); entries != 0 {
		t.Errorf("vault entries after the deadline = %d, want 0", entries)
	}
}

func TestRecoveryVoidsOrphanedApproval(t *testing.T) {
	st, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	sim, err := simulator.New(simulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Task A reached the gateway, then died before recording the answer.
	past := time.Now().Add(-time.Minute)
	if _, _, err := st.Claim(context.Background(), store.Record{
		IdempotencyKey: "orphan", ID: "auth_orphan", Fingerprint: "f", Amount: 1000, Currency: "USD",
		Card: store.MaskedCard{Brand: "visa", BIN: "424242", Last4: "4242"}, Phase: store.PhaseStarted,
		Owner: "task-dead", LeaseUntil: past, CreatedAt: past,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transition(context.Background(), store.Transition{Key: "orphan", Owner: "task-dead", From: []store.Phase{store.PhaseStarted}, To: store.PhaseGatewaySent}); err != nil {
		t.Fatal(err)
	}
	pan := secret.Copy([]byte(approvedPAN))
	if _, err := sim.Authorize(context.Background(), gateway.Request{Amount: 1000, Currency: "USD", IdempotencyKey: "orphan",
		Card: gateway.Card{PAN: pan, ExpiryMonth: 12, ExpiryYear: time.Now().Year() + 1}}); err != nil {
		t.Fatal(err)
	}
	pan.Wipe()
	// A record whose gateway call never happened.
	if _, _, err := st.Claim(context.Background(), store.Record{
		IdempotencyKey: "never-sent", ID: "auth_never", Fingerprint: "f", Amount: 1000, Currency: "USD",
		Card: store.MaskedCard{Brand: "visa", BIN: "424242", Last4: "4242"}, Phase: store.PhaseStarted,
		Owner: "task-dead", LeaseUntil: past, CreatedAt: past,
	}); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t, options{store: st, sim: sim, owner: "task-b"})
	resolved, err := h.svc.RecoverOnce(context.Background())
	if err != nil {
		t.Fatalf("RecoverOnce: %v", err)
	}
	if resolved != 2 {
		t.Errorf("resolved = %d, want 2", resolved)
	}
	orphan, _ := st.Get(context.Background(), "orphan")
	if orphan.Phase != store.PhaseVoided || orphan.FailureReason != ReasonRecoveredVoided {
		t.Errorf("orphan = %s/%q, want voided/%s", orphan.Phase, orphan.FailureReason, ReasonRecoveredVoided)
	}
	neverSent, _ := st.Get(context.Background(), "never-sent")
	if neverSent.Phase != store.PhaseFailed || neverSent.FailureReason != ReasonRecoveredNotSent {
		t.Errorf("never-sent = %s/%q, want failed/%s", neverSent.Phase, neverSent.FailureReason, ReasonRecoveredNotSent)
	}
	if sim.Voids() != 1 {
		t.Errorf("gateway voids = %d, want 1", sim.Voids())
	}
}

func TestVaultFullLeavesNoRecord(t *testing.T) {
	h := newHarness(t, options{})
	h.vault.Close() // a closed vault rejects every Put
	_, err := h.svc.Authorize(context.Background(), time.Now(), request(t, "full", approvedPAN, 1000))
	if err == nil {
		t.Fatal("Authorize succeeded with a closed vault")
	}
	if _, err := h.svc.Status(context.Background(), "full"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status after a vault failure = %v, want ErrNotFound", err)
	}
}

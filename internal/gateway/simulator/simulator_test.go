package simulator_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/gateway/simulator"
	"github.com/connect-secure-input/processor/internal/secret"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testNow is the simulator's clock in tests, so expiry checks do not depend
// on the day the tests run.
var testNow = time.Date(2026, time.June, 15, 12, 0, 0, 0, time.UTC)

func newSimulator(t *testing.T, cfg simulator.Config) *simulator.Simulator {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	sim, err := simulator.New(cfg)
	if err != nil {
		t.Fatalf("simulator.New: %v", err)
	}
	return sim
}

func request(key, pan string, amount int64) gateway.Request {
	return gateway.Request{
		Amount:   amount,
		Currency: "USD",
		Card: gateway.Card{
			PAN:         secret.Copy([]byte(pan)),
			ExpiryMonth: 12,
			ExpiryYear:  2030,
			CVV:         secret.Copy([]byte("123")),
		},
		IdempotencyKey:    key,
		ContactID:         "6a1c4b5e-0d3f-4c1e-9a7b-2f8e5d6c7b8a",
		MerchantReference: "order-1001",
		MOTO:              true,
	}
}

func TestAuthorizeCardTable(t *testing.T) {
	for _, row := range simulator.CardOutcomes() {
		if row.Outcome.Behavior != simulator.Respond {
			continue // the slow and never-responding cards have their own tests
		}
		t.Run(row.PAN, func(t *testing.T) {
			sim := newSimulator(t, simulator.Config{})
			got, err := sim.Authorize(context.Background(), request("key-"+row.PAN, row.PAN, 1050))
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if got.Status != row.Outcome.Status {
				t.Errorf("Status = %q, want %q", got.Status, row.Outcome.Status)
			}
			if got.DeclineCode != row.Outcome.DeclineCode {
				t.Errorf("DeclineCode = %q, want %q", got.DeclineCode, row.Outcome.DeclineCode)
			}
			if approved := got.Status == gateway.StatusApproved; approved != (got.AuthorizationCode != "") {
				t.Errorf("AuthorizationCode = %q for status %q", got.AuthorizationCode, got.Status)
			}
			if !strings.HasPrefix(got.GatewayReference, "sim_") {
				t.Errorf("GatewayReference = %q, want prefix sim_", got.GatewayReference)
			}
			if got.Amount != 1050 || got.Currency != "USD" {
				t.Errorf("Amount, Currency = %d, %q; want 1050, USD", got.Amount, got.Currency)
			}
			if n := sim.Authorizations(); n != 1 {
				t.Errorf("Authorizations() = %d, want 1", n)
			}
		})
	}
}

func TestAuthorizeRules(t *testing.T) {
	tests := []struct {
		name        string
		pan         string
		expiryYear  int
		expiryMonth int
		wantStatus  gateway.Status
		wantCode    gateway.DeclineCode
	}{
		{"unlisted card approved", "4111111111111111", 2030, 12, gateway.StatusApproved, ""},
		{"Luhn failure", "4242424242424241", 2030, 12, gateway.StatusDeclined, gateway.DeclineIncorrectNumber},
		{"expired last month", "4242424242424242", 2026, 5, gateway.StatusDeclined, gateway.DeclineExpiredCard},
		{"expiring this month", "4242424242424242", 2026, 6, gateway.StatusApproved, ""},
		{"expired before table lookup", "4000000000009995", 2025, 12, gateway.StatusDeclined, gateway.DeclineExpiredCard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSimulator(t, simulator.Config{})
			req := request("key-rules", tt.pan, 1050)
			req.Card.ExpiryYear = tt.expiryYear
			req.Card.ExpiryMonth = tt.expiryMonth

			got, err := sim.Authorize(context.Background(), req)
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if got.Status != tt.wantStatus {
				t.Errorf("Status = %q, want %q", got.Status, tt.wantStatus)
			}
			if got.DeclineCode != tt.wantCode {
				t.Errorf("DeclineCode = %q, want %q", got.DeclineCode, tt.wantCode)
			}
		})
	}
}

func TestAuthorizeNeverAnswers(t *testing.T) {
	sim := newSimulator(t, simulator.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	_, err := sim.Authorize(ctx, request("key-hang", "4000000000008005", 1050))
	if ctx.Err() == nil {
		t.Fatal("Authorize returned before the context ended")
	}
	assertGatewayError(t, err, gateway.CodeTimeout, true, true)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}

	// The gateway authorized although no response came, so a lookup finds it.
	got, err := sim.Lookup(context.Background(), "key-hang")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if got.Status != gateway.StatusApproved {
		t.Errorf("Lookup Status = %q, want approved", got.Status)
	}
	if n := sim.Authorizations(); n != 1 {
		t.Errorf("Authorizations() = %d, want 1", n)
	}
}

func TestAuthorizeSlowCard(t *testing.T) {
	const slowDelay = 80 * time.Millisecond

	t.Run("responds after the delay", func(t *testing.T) {
		sim := newSimulator(t, simulator.Config{SlowDelay: slowDelay})
		start := time.Now()
		got, err := sim.Authorize(context.Background(), request("key-slow", "4000000000008013", 1050))
		elapsed := time.Since(start)
		if err != nil {
			t.Fatalf("Authorize: %v", err)
		}
		if got.Status != gateway.StatusApproved {
			t.Errorf("Status = %q, want approved", got.Status)
		}
		if elapsed < slowDelay {
			t.Errorf("responded after %v, before the slow delay of %v", elapsed, slowDelay)
		}
	})

	t.Run("deadline before the response", func(t *testing.T) {
		sim := newSimulator(t, simulator.Config{SlowDelay: slowDelay})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()

		_, err := sim.Authorize(ctx, request("key-slow", "4000000000008013", 1050))
		assertGatewayError(t, err, gateway.CodeTimeout, true, true)

		got, err := sim.Lookup(context.Background(), "key-slow")
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if got.Status != gateway.StatusApproved {
			t.Errorf("Lookup Status = %q, want approved", got.Status)
		}
	})
}

func TestAuthorizeBaseLatency(t *testing.T) {
	const latency = 30 * time.Millisecond
	sim := newSimulator(t, simulator.Config{BaseLatency: latency})

	start := time.Now()
	if _, err := sim.Authorize(context.Background(), request("key-latency", "4242424242424242", 1050)); err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	if elapsed := time.Since(start); elapsed < latency {
		t.Errorf("responded after %v, before the base latency of %v", elapsed, latency)
	}
}

func TestAuthorizeGatewayErrorAmount(t *testing.T) {
	sim := newSimulator(t, simulator.Config{})

	_, err := sim.Authorize(context.Background(), request("key-9901", "4242424242424242", 9901))
	assertGatewayError(t, err, gateway.CodeUnavailable, true, false)
	if n := sim.Authorizations(); n != 0 {
		t.Errorf("Authorizations() = %d, want 0", n)
	}
	if _, err := sim.Lookup(context.Background(), "key-9901"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Lookup error = %v, want ErrNotFound", err)
	}
}

func TestAuthorizeLostAnswerAmount(t *testing.T) {
	sim := newSimulator(t, simulator.Config{})
	req := request("key-9902", "4242424242424242", 9902)

	_, err := sim.Authorize(context.Background(), req)
	assertGatewayError(t, err, gateway.CodeTimeout, true, true)

	looked, err := sim.Lookup(context.Background(), "key-9902")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if looked.Status != gateway.StatusApproved {
		t.Errorf("Lookup Status = %q, want approved", looked.Status)
	}

	repeated, err := sim.Authorize(context.Background(), req)
	if err != nil {
		t.Fatalf("repeated Authorize: %v", err)
	}
	if repeated != looked {
		t.Errorf("repeated Authorize = %+v, want the looked-up %+v", repeated, looked)
	}
	if n := sim.Authorizations(); n != 1 {
		t.Errorf("Authorizations() = %d, want 1", n)
	}
}

func TestAuthorizeRepeatReturnsRecordedResult(t *testing.T) {
	sim := newSimulator(t, simulator.Config{})
	req := request("key-repeat", "4242424242424242", 1050)

	first, err := sim.Authorize(context.Background(), req)
	if err != nil {
		t.Fatalf("first Authorize: %v", err)
	}
	second, err := sim.Authorize(context.Background(), req)
	if err != nil {
		t.Fatalf("second Authorize: %v", err)
	}
	if first != second {
		t.Errorf("second result %+v differs from first %+v", second, first)
	}
	if n := sim.Authorizations(); n != 1 {
		t.Errorf("Authorizations() = %d, want 1", n)
	}
}

func TestAuthorizeRepeatConflicts(t *testing.T) {
	tests := []struct {
		name   string
		change func(*gateway.Request)
	}{
		{"amount", func(r *gateway.Request) { r.Amount = 2000 }},
		{"currency", func(r *gateway.Request) { r.Currency = "EUR" }},
		{"capture mode", func(r *gateway.Request) { r.CaptureMode = gateway.CaptureAutomatic }},
		{"MOTO flag", func(r *gateway.Request) { r.MOTO = false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSimulator(t, simulator.Config{})
			req := request("key-conflict", "4242424242424242", 1050)
			if _, err := sim.Authorize(context.Background(), req); err != nil {
				t.Fatalf("first Authorize: %v", err)
			}

			changed := request("key-conflict", "4242424242424242", 1050)
			tt.change(&changed)
			_, err := sim.Authorize(context.Background(), changed)
			assertGatewayError(t, err, gateway.CodeIdempotencyConflict, false, false)
			if n := sim.Authorizations(); n != 1 {
				t.Errorf("Authorizations() = %d, want 1", n)
			}
		})
	}
}

func TestAuthorizeConcurrentRepeats(t *testing.T) {
	const callers = 50
	sim := newSimulator(t, simulator.Config{BaseLatency: 5 * time.Millisecond})

	start := make(chan struct{})
	results := make([]gateway.Result, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := request("key-concurrent", "4242424242424242", 1050)
			<-start
			results[i], errs[i] = sim.Authorize(context.Background(), req)
		}()
	}
	close(start)
	wg.Wait()

	for i := range callers {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
			continue
		}
		if results[i] != results[0] {
			t.Errorf("caller %d got %+v, caller 0 got %+v", i, results[i], results[0])
		}
	}
	if results[0].Status != gateway.StatusApproved {
		t.Errorf("Status = %q, want approved", results[0].Status)
	}
	if n := sim.Authorizations(); n != 1 {
		t.Errorf("Authorizations() = %d after %d concurrent calls with one key, want 1", n, callers)
	}
}

func TestVoid(t *testing.T) {
	tests := []struct {
		name  string
		pan   string
		byKey bool
	}{
		{"approved by reference", "4242424242424242", false},
		{"approved by idempotency key", "4242424242424242", true},
		{"declined by reference", "4000000000009995", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSimulator(t, simulator.Config{})
			authorized, err := sim.Authorize(context.Background(), request("key-void", tt.pan, 1050))
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			voidReq := gateway.VoidRequest{GatewayReference: authorized.GatewayReference}
			if tt.byKey {
				voidReq = gateway.VoidRequest{IdempotencyKey: "key-void"}
			}

			for attempt := 1; attempt <= 2; attempt++ {
				voided, err := sim.Void(context.Background(), voidReq)
				if err != nil {
					t.Fatalf("Void attempt %d: %v", attempt, err)
				}
				if voided.Status != gateway.StatusVoided {
					t.Errorf("Void attempt %d Status = %q, want voided", attempt, voided.Status)
				}
				if voided.GatewayReference != authorized.GatewayReference {
					t.Errorf("Void attempt %d GatewayReference = %q, want %q", attempt, voided.GatewayReference, authorized.GatewayReference)
				}
				if voided.DeclineCode != authorized.DeclineCode {
					t.Errorf("Void attempt %d DeclineCode = %q, want %q", attempt, voided.DeclineCode, authorized.DeclineCode)
				}
			}
			if n := sim.Voids(); n != 1 {
				t.Errorf("Voids() = %d after two voids of one authorization, want 1", n)
			}

			looked, err := sim.Lookup(context.Background(), "key-void")
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if looked.Status != gateway.StatusVoided {
				t.Errorf("Lookup Status = %q, want voided", looked.Status)
			}
			repeated, err := sim.Authorize(context.Background(), request("key-void", tt.pan, 1050))
			if err != nil {
				t.Fatalf("repeated Authorize: %v", err)
			}
			if repeated.Status != gateway.StatusVoided {
				t.Errorf("repeated Authorize Status = %q, want voided", repeated.Status)
			}
		})
	}
}

func TestVoidUnknown(t *testing.T) {
	tests := []struct {
		name string
		req  gateway.VoidRequest
	}{
		{"reference", gateway.VoidRequest{GatewayReference: "sim_000000000000000000000000"}},
		{"idempotency key", gateway.VoidRequest{IdempotencyKey: "key-never-seen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSimulator(t, simulator.Config{})
			_, err := sim.Void(context.Background(), tt.req)
			if !errors.Is(err, gateway.ErrNotFound) {
				t.Errorf("Void error = %v, want ErrNotFound", err)
			}
			if n := sim.Voids(); n != 0 {
				t.Errorf("Voids() = %d, want 0", n)
			}
		})
	}
}

func TestVoidDuringUnfinishedAuthorization(t *testing.T) {
	sim := newSimulator(t, simulator.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := sim.Authorize(ctx, request("key-hang-void", "4000000000008005", 1050))
		done <- err
	}()

	// The gateway records the authorization on arrival; wait for it.
	deadline := time.After(5 * time.Second)
	for sim.Authorizations() == 0 {
		select {
		case <-deadline:
			cancel()
			t.Fatal("the never-responding authorization was not recorded within 5s")
		case <-time.After(time.Millisecond):
		}
	}
	voided, err := sim.Void(context.Background(), gateway.VoidRequest{IdempotencyKey: "key-hang-void"})
	if err != nil {
		t.Fatalf("Void: %v", err)
	}
	if voided.Status != gateway.StatusVoided {
		t.Errorf("Void Status = %q, want voided", voided.Status)
	}

	cancel()
	if err := <-done; !gateway.IsOutcomeUnknown(err) {
		t.Errorf("Authorize error = %v, want an outcome-unknown error", err)
	}
}

func TestLookupUnknownKey(t *testing.T) {
	sim := newSimulator(t, simulator.Config{})
	_, err := sim.Lookup(context.Background(), "key-never-seen")
	if !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("Lookup error = %v, want ErrNotFound", err)
	}
	assertGatewayError(t, err, gateway.CodeNotFound, false, false)
}

func TestRetention(t *testing.T) {
	now := testNow
	clock := func() time.Time { return now }
	sim := newSimulator(t, simulator.Config{Retention: time.Hour, MaxRecords: 2, Now: clock})

	for _, key := range []string{"key-a", "key-b"} {
		if _, err := sim.Authorize(context.Background(), request(key, "4242424242424242", 1050)); err != nil {
			t.Fatalf("Authorize %s: %v", key, err)
		}
	}
	// A third record evicts the oldest, because MaxRecords is 2.
	if _, err := sim.Authorize(context.Background(), request("key-c", "4242424242424242", 1050)); err != nil {
		t.Fatalf("Authorize key-c: %v", err)
	}
	if _, err := sim.Lookup(context.Background(), "key-a"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Lookup key-a after eviction: error = %v, want ErrNotFound", err)
	}
	if _, err := sim.Lookup(context.Background(), "key-c"); err != nil {
		t.Errorf("Lookup key-c: %v", err)
	}

	now = now.Add(time.Hour)
	if _, err := sim.Lookup(context.Background(), "key-c"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Lookup key-c after retention: error = %v, want ErrNotFound", err)
	}
}

func TestRequestRejectedBeforeGateway(t *testing.T) {
	tests := []struct {
		name   string
		change func(*gateway.Request)
	}{
		{"lower-case currency", func(r *gateway.Request) { r.Currency = "usd" }},
		{"four-letter currency", func(r *gateway.Request) { r.Currency = "USDT" }},
		{"zero amount", func(r *gateway.Request) { r.Amount = 0 }},
		{"missing idempotency key", func(r *gateway.Request) { r.IdempotencyKey = "" }},
		{"PAN with a space", func(r *gateway.Request) { r.Card.PAN = secret.Copy([]byte("4242 4242 4242 4242")) }},
		{"expiry month 13", func(r *gateway.Request) { r.Card.ExpiryMonth = 13 }},
		{"two-digit expiry year", func(r *gateway.Request) { r.Card.ExpiryYear = 30 }},
		{"unknown capture mode", func(r *gateway.Request) { r.CaptureMode = "later" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSimulator(t, simulator.Config{})
			req := request("key-invalid", "4242424242424242", 1050)
			tt.change(&req)

			_, err := sim.Authorize(context.Background(), req)
			assertGatewayError(t, err, gateway.CodeInvalidRequest, false, false)
			if strings.Contains(err.Error(), "4242") {
				t.Errorf("error text contains PAN digits: %v", err)
			}
			if n := sim.Authorizations(); n != 0 {
				t.Errorf("Authorizations() = %d, want 0", n)
			}
		})
	}
}

func TestContextEndedBeforeCall(t *testing.T) {
	sim := newSimulator(t, simulator.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := sim.Authorize(ctx, request("key-cancelled", "4242424242424242", 1050))
	assertGatewayError(t, err, gateway.CodeTimeout, true, false)
	if n := sim.Authorizations(); n != 0 {
		t.Errorf("Authorizations() = %d, want 0", n)
	}
}

func TestName(t *testing.T) {
	if got := newSimulator(t, simulator.Config{}).Name(); got != "simulator" {
		t.Errorf("Name() = %q, want simulator", got)
	}
}

func TestNewRejectsNegativeConfig(t *testing.T) {
	if _, err := simulator.New(simulator.Config{BaseLatency: -time.Second}); err == nil {
		t.Error("New accepted a negative base latency")
	}
}

func assertGatewayError(t *testing.T, err error, code gateway.ErrorCode, retryable, outcomeUnknown bool) {
	t.Helper()
	var gwErr *gateway.Error
	if !errors.As(err, &gwErr) {
		t.Fatalf("error = %v (%T), want *gateway.Error", err, err)
	}
	if gwErr.Code != code {
		t.Errorf("Code = %q, want %q (error: %v)", gwErr.Code, code, err)
	}
	if gwErr.Gateway != simulator.Name {
		t.Errorf("Gateway = %q, want %q", gwErr.Gateway, simulator.Name)
	}
	if gwErr.Retryable != retryable {
		t.Errorf("Retryable = %v, want %v", gwErr.Retryable, retryable)
	}
	if gwErr.OutcomeUnknown != outcomeUnknown {
		t.Errorf("OutcomeUnknown = %v, want %v", gwErr.OutcomeUnknown, outcomeUnknown)
	}
}

package ttl_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/ttl"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testPAN = "4111111111111111"

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ttl.Config
		wantErr bool
	}{
		{"zero config", ttl.Config{}, false},
		{"default config", ttl.DefaultConfig(), false},
		{"max TTL at hard maximum", ttl.Config{MaxTTL: ttl.HardMaxTTL}, false},
		{"max TTL above hard maximum", ttl.Config{MaxTTL: ttl.HardMaxTTL + time.Nanosecond}, true},
		{"negative max TTL", ttl.Config{MaxTTL: -time.Second}, true},
		{"TTL equal to max TTL", ttl.Config{TTL: 5 * time.Minute, MaxTTL: 5 * time.Minute}, false},
		{"TTL above max TTL", ttl.Config{TTL: 6 * time.Minute, MaxTTL: 5 * time.Minute}, true},
		{"short max TTL lowers default TTL", ttl.Config{MaxTTL: 30 * time.Second}, false},
		{"negative TTL", ttl.Config{TTL: -time.Second}, true},
		{"negative max entries", ttl.Config{MaxEntries: -1}, true},
		{"negative max bytes", ttl.Config{MaxBytes: -1}, true},
		{"sweep interval at maximum", ttl.Config{SweepInterval: ttl.MaxSweepInterval}, false},
		{"sweep interval above maximum", ttl.Config{SweepInterval: ttl.MaxSweepInterval + time.Millisecond}, true},
		{"negative sweep interval", ttl.Config{SweepInterval: -time.Millisecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ttl.New(tt.cfg)
			if v != nil {
				defer v.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("New() err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := ttl.DefaultConfig()
	if cfg.TTL != 60*time.Second {
		t.Errorf("TTL = %s, want 1m0s", cfg.TTL)
	}
	if cfg.MaxTTL != 10*time.Minute {
		t.Errorf("MaxTTL = %s, want 10m0s", cfg.MaxTTL)
	}
	if cfg.SweepInterval <= 0 || cfg.SweepInterval >= time.Second {
		t.Errorf("SweepInterval = %s, want between 0 and 1s", cfg.SweepInterval)
	}
	if cfg.MaxEntries <= 0 || cfg.MaxBytes <= 0 {
		t.Errorf("MaxEntries = %d, MaxBytes = %d; want both positive", cfg.MaxEntries, cfg.MaxBytes)
	}
	if cfg.Hooks == nil || cfg.Now == nil {
		t.Error("Hooks or Now is nil in DefaultConfig")
	}
}

func TestDefaultTTLCappedByMaxTTL(t *testing.T) {
	v, clock, _ := newManualVault(t, ttl.Config{MaxTTL: 30 * time.Second})
	values, _ := card(testPAN)
	if err := v.Put("auth-1", 0, values...); err != nil {
		t.Fatalf("Put: %v", err)
	}
	deadline, err := v.Deadline("auth-1")
	if err != nil {
		t.Fatalf("Deadline: %v", err)
	}
	if want := clock.Now().Add(30 * time.Second); !deadline.Equal(want) {
		t.Errorf("deadline = %s, want %s", deadline, want)
	}
}

func TestPutGetTake(t *testing.T) {
	hooks := newRecorder()
	v, clock, _ := newManualVault(t, ttl.Config{Hooks: hooks})
	values, backing := card(testPAN)

	if err := v.Put("auth-1", 0, values...); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if entries, n := v.Stats(); entries != 1 || n != cardBytes(testPAN) {
		t.Errorf("Stats() = %d, %d; want 1, %d", entries, n, cardBytes(testPAN))
	}
	if entries, n := hooks.lastHeld(); entries != 1 || n != cardBytes(testPAN) {
		t.Errorf("Held hook = %d, %d; want 1, %d", entries, n, cardBytes(testPAN))
	}
	deadline, err := v.Deadline("auth-1")
	if err != nil {
		t.Fatalf("Deadline: %v", err)
	}
	if want := clock.Now().Add(ttl.DefaultTTL); !deadline.Equal(want) {
		t.Errorf("Deadline() = %s, want %s", deadline, want)
	}

	got, err := v.Get("auth-1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(got) != 3 || !bytes.Equal(got[0].Bytes(), []byte(testPAN)) {
		t.Fatalf("Get returned %d values, want 3 with the PAN first", len(got))
	}
	if _, err := v.Get("auth-1"); err != nil {
		t.Errorf("second Get: %v, want the entry still held", err)
	}

	taken, err := v.Take("auth-1")
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	if len(taken) != 3 || !bytes.Equal(taken[2].Bytes(), []byte("123")) {
		t.Fatalf("Take returned %d values, want 3 with the CVV last", len(taken))
	}
	requireIntact(t, backing)
	if _, err := v.Take("auth-1"); !errors.Is(err, ttl.ErrNotFound) {
		t.Errorf("second Take err = %v, want ErrNotFound", err)
	}
	if entries, n := v.Stats(); entries != 0 || n != 0 {
		t.Errorf("Stats() after Take = %d, %d; want 0, 0", entries, n)
	}
	if got := hooks.wipes(ttl.WipeTaken); got != 1 {
		t.Errorf("taken wipes = %d, want 1", got)
	}
	for _, value := range taken {
		value.Wipe()
	}
}

func TestPutRejectsInvalid(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		ttl     time.Duration
		values  int
		wantErr error
	}{
		{"empty id", "", 0, 1, nil},
		{"no values", "auth-1", 0, 0, nil},
		{"negative TTL", "auth-1", -time.Second, 1, nil},
		{"TTL above max", "auth-1", ttl.HardMaxTTL + time.Second, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _, _ := newManualVault(t, ttl.Config{})
			values, backing := card(testPAN)
			err := v.Put(tt.id, tt.ttl, values[:tt.values]...)
			if err == nil {
				t.Fatal("Put succeeded, want an error")
			}
			if entries, _ := v.Stats(); entries != 0 {
				t.Errorf("entries after a rejected Put = %d, want 0", entries)
			}
			requireIntact(t, backing)
		})
	}
}

func TestPutDuplicateID(t *testing.T) {
	v, _, _ := newManualVault(t, ttl.Config{})
	first, _ := card(testPAN)
	second, backing := card("5555555555554444")
	if err := v.Put("auth-1", 0, first...); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := v.Put("auth-1", 0, second...); !errors.Is(err, ttl.ErrDuplicate) {
		t.Fatalf("second Put err = %v, want ErrDuplicate", err)
	}
	requireIntact(t, backing)
	got, err := v.Get("auth-1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got[0].Bytes(), []byte(testPAN)) {
		t.Error("the rejected Put replaced the first entry")
	}
}

func TestPutReplacesExpiredID(t *testing.T) {
	v, clock, _ := newManualVault(t, ttl.Config{})
	first, oldBacking := card(testPAN)
	second, _ := card("5555555555554444")
	if err := v.Put("auth-1", time.Second, first...); err != nil {
		t.Fatalf("Put: %v", err)
	}
	clock.Advance(time.Second)
	if err := v.Put("auth-1", 0, second...); err != nil {
		t.Fatalf("Put over an expired entry: %v", err)
	}
	requireZeroed(t, oldBacking)
}

func TestPutTooLarge(t *testing.T) {
	v, _, _ := newManualVault(t, ttl.Config{MaxBytes: 10})
	values, backing := card(testPAN)
	err := v.Put("auth-1", 0, values...)
	if err == nil {
		t.Fatal("Put of an entry above MaxBytes succeeded")
	}
	if errors.Is(err, ttl.ErrFull) {
		t.Errorf("err = %v wraps ErrFull, but no retry can fit this entry", err)
	}
	requireIntact(t, backing)
}

func TestPutFull(t *testing.T) {
	tests := []struct {
		name string
		cfg  ttl.Config
	}{
		{"entry limit", ttl.Config{MaxEntries: 2}},
		{"byte limit", ttl.Config{MaxBytes: 2 * cardBytes(testPAN)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hooks := newRecorder()
			tt.cfg.Hooks = hooks
			v, _, _ := newManualVault(t, tt.cfg)
			for _, id := range []string{"auth-1", "auth-2"} {
				values, _ := card(testPAN)
				if err := v.Put(id, 0, values...); err != nil {
					t.Fatalf("Put(%s): %v", id, err)
				}
			}

			values, backing := card(testPAN)
			err := v.Put("auth-3", 0, values...)
			if !errors.Is(err, ttl.ErrFull) {
				t.Fatalf("third Put err = %v, want ErrFull", err)
			}
			if got := hooks.rejections(); got != 1 {
				t.Errorf("Rejected hook calls = %d, want 1", got)
			}
			requireIntact(t, backing)

			v.Delete("auth-1")
			if err := v.Put("auth-3", 0, values...); err != nil {
				t.Errorf("Put after Delete freed room: %v", err)
			}
		})
	}
}

func TestPutFullWipesExpiredFirst(t *testing.T) {
	v, clock, _ := newManualVault(t, ttl.Config{MaxEntries: 1})
	old, oldBacking := card(testPAN)
	if err := v.Put("auth-1", time.Second, old...); err != nil {
		t.Fatalf("Put: %v", err)
	}
	clock.Advance(time.Second)

	values, _ := card(testPAN)
	if err := v.Put("auth-2", 0, values...); err != nil {
		t.Fatalf("Put with only an expired entry held: %v", err)
	}
	requireZeroed(t, oldBacking)
}

// TestWipeZeroesBackingArray keeps the backing arrays of stored values and
// checks that every way out of the vault leaves them all zeros.
func TestWipeZeroesBackingArray(t *testing.T) {
	tests := []struct {
		name   string
		reason ttl.WipeReason
		remove func(t *testing.T, v *ttl.Vault, clock *fakeClock, ticks chan time.Time)
	}{
		{"take then wipe", ttl.WipeTaken, func(t *testing.T, v *ttl.Vault, _ *fakeClock, _ chan time.Time) {
			values, err := v.Take("auth-1")
			if err != nil {
				t.Fatalf("Take: %v", err)
			}
			for _, value := range values {
				value.Wipe()
			}
		}},
		{"expiry by sweeper", ttl.WipeExpired, func(_ *testing.T, _ *ttl.Vault, clock *fakeClock, ticks chan time.Time) {
			clock.Advance(time.Minute)
			sweepNow(ticks)
		}},
		{"expiry on read", ttl.WipeExpired, func(t *testing.T, v *ttl.Vault, clock *fakeClock, _ chan time.Time) {
			clock.Advance(time.Minute)
			if _, err := v.Get("auth-1"); !errors.Is(err, ttl.ErrExpired) {
				t.Fatalf("Get err = %v, want ErrExpired", err)
			}
		}},
		{"delete", ttl.WipeDeleted, func(_ *testing.T, v *ttl.Vault, _ *fakeClock, _ chan time.Time) {
			v.Delete("auth-1")
		}},
		{"close", ttl.WipeClosed, func(_ *testing.T, v *ttl.Vault, _ *fakeClock, _ chan time.Time) {
			v.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hooks := newRecorder()
			v, clock, ticks := newManualVault(t, ttl.Config{Hooks: hooks})
			values, backing := card(testPAN)
			if err := v.Put("auth-1", time.Minute, values...); err != nil {
				t.Fatalf("Put: %v", err)
			}

			tt.remove(t, v, clock, ticks)

			requireZeroed(t, backing)
			if got := hooks.wipes(tt.reason); got != 1 {
				t.Errorf("%s wipes = %d, want 1", tt.reason, got)
			}
			if entries, n := hooks.lastHeld(); entries != 0 || n != 0 {
				t.Errorf("Held hook = %d, %d; want 0, 0", entries, n)
			}
		})
	}
}

func TestGetValuesWipedWithEntry(t *testing.T) {
	v, _, _ := newManualVault(t, ttl.Config{})
	values, _ := card(testPAN)
	if err := v.Put("auth-1", 0, values...); err != nil {
		t.Fatalf("Put: %v", err)
	}
	shared, err := v.Get("auth-1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	pan := shared[0].Bytes()

	v.Delete("auth-1")

	for i, value := range shared {
		if !value.Wiped() {
			t.Errorf("value %d from Get is not wiped after Delete", i)
		}
	}
	if !bytes.Equal(pan, make([]byte, len(testPAN))) {
		t.Errorf("PAN bytes from Get after Delete = %v, want zeros", pan)
	}
}

// TestReadAtDeadlineWithoutSweeper holds the sweeper still and checks that
// the deadline alone makes the entry unreadable and wipes it.
func TestReadAtDeadlineWithoutSweeper(t *testing.T) {
	reads := []struct {
		name string
		read func(v *ttl.Vault, id string) error
	}{
		{"Get", func(v *ttl.Vault, id string) error { _, err := v.Get(id); return err }},
		{"Take", func(v *ttl.Vault, id string) error { _, err := v.Take(id); return err }},
		{"Deadline", func(v *ttl.Vault, id string) error { _, err := v.Deadline(id); return err }},
	}
	for _, r := range reads {
		t.Run(r.name, func(t *testing.T) {
			hooks := newRecorder()
			clock := newFakeClock()
			v, err := ttl.NewWithTicks(ttl.Config{Now: clock.Now, Hooks: hooks}, nil)
			if err != nil {
				t.Fatalf("NewWithTicks: %v", err)
			}
			defer v.Close()

			values, backing := card(testPAN)
			if err := v.Put("auth-1", time.Minute, values...); err != nil {
				t.Fatalf("Put: %v", err)
			}
			deadline := clock.Now().Add(time.Minute)

			clock.Set(deadline.Add(-time.Nanosecond))
			if _, err := v.Deadline("auth-1"); err != nil {
				t.Fatalf("one nanosecond before the deadline: %v", err)
			}

			clock.Set(deadline)
			if err := r.read(v, "auth-1"); !errors.Is(err, ttl.ErrExpired) {
				t.Fatalf("%s at the deadline err = %v, want ErrExpired", r.name, err)
			}
			requireZeroed(t, backing)
			if got := hooks.wipes(ttl.WipeExpired); got != 1 {
				t.Errorf("expired wipes = %d, want 1", got)
			}
			if err := r.read(v, "auth-1"); !errors.Is(err, ttl.ErrNotFound) {
				t.Errorf("%s after the expired read err = %v, want ErrNotFound", r.name, err)
			}
		})
	}
}

func TestSweeperWipesOnlyExpired(t *testing.T) {
	hooks := newRecorder()
	v, clock, ticks := newManualVault(t, ttl.Config{Hooks: hooks})
	short1, shortBacking1 := card(testPAN)
	short2, shortBacking2 := card(testPAN)
	long, longBacking := card(testPAN)
	for _, put := range []struct {
		id     string
		ttl    time.Duration
		values []secret.Value
	}{
		{"short-2", 2 * time.Second, short2},
		{"long", time.Minute, long},
		{"short-1", time.Second, short1},
	} {
		if err := v.Put(put.id, put.ttl, put.values...); err != nil {
			t.Fatalf("Put(%s): %v", put.id, err)
		}
	}

	clock.Advance(2 * time.Second)
	sweepNow(ticks)

	requireZeroed(t, shortBacking1)
	requireZeroed(t, shortBacking2)
	requireIntact(t, longBacking)
	if entries, n := v.Stats(); entries != 1 || n != cardBytes(testPAN) {
		t.Errorf("Stats() = %d, %d; want 1, %d", entries, n, cardBytes(testPAN))
	}
	if got := hooks.wipes(ttl.WipeExpired); got != 2 {
		t.Errorf("expired wipes = %d, want 2", got)
	}
	if _, err := v.Get("long"); err != nil {
		t.Errorf("Get(long): %v", err)
	}
}

// TestSweeperRealClock runs the ticker-driven sweeper of New on the real
// clock and waits for it to wipe an entry that no call reads.
func TestSweeperRealClock(t *testing.T) {
	hooks := newRecorder()
	hooks.expired = make(chan struct{}, 1)
	v, err := ttl.New(ttl.Config{SweepInterval: 5 * time.Millisecond, Hooks: hooks})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer v.Close()

	values, backing := card(testPAN)
	if err := v.Put("auth-1", 10*time.Millisecond, values...); err != nil {
		t.Fatalf("Put: %v", err)
	}

	select {
	case <-hooks.expired:
	case <-time.After(10 * time.Second):
		t.Fatal("the sweeper did not wipe the expired entry within 10 s")
	}
	requireZeroed(t, backing)
	if entries, _ := v.Stats(); entries != 0 {
		t.Errorf("entries after the sweep = %d, want 0", entries)
	}
}

func TestDelete(t *testing.T) {
	hooks := newRecorder()
	v, clock, _ := newManualVault(t, ttl.Config{Hooks: hooks})

	v.Delete("missing")
	if got := hooks.wipes(ttl.WipeDeleted); got != 0 {
		t.Errorf("deleted wipes after deleting a missing id = %d, want 0", got)
	}

	live, _ := card(testPAN)
	expired, _ := card(testPAN)
	if err := v.Put("live", time.Minute, live...); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := v.Put("expired", time.Second, expired...); err != nil {
		t.Fatalf("Put: %v", err)
	}
	clock.Advance(time.Second)

	v.Delete("live")
	v.Delete("expired")
	if got := hooks.wipes(ttl.WipeDeleted); got != 1 {
		t.Errorf("deleted wipes = %d, want 1", got)
	}
	if got := hooks.wipes(ttl.WipeExpired); got != 1 {
		t.Errorf("expired wipes = %d, want 1 for the entry deleted after its deadline", got)
	}
}

func TestCloseIdempotent(t *testing.T) {
	hooks := newRecorder()
	v, err := ttl.New(ttl.Config{Hooks: hooks})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	values, backing := card(testPAN)
	if err := v.Put("auth-1", 0, values...); err != nil {
		t.Fatalf("Put: %v", err)
	}

	var wg sync.WaitGroup
	for range 3 {
		wg.Go(v.Close)
	}
	wg.Wait()
	v.Close()

	requireZeroed(t, backing)
	if got := hooks.wipes(ttl.WipeClosed); got != 1 {
		t.Errorf("closed wipes = %d, want 1", got)
	}
	more, moreBacking := card(testPAN)
	if err := v.Put("auth-2", 0, more...); !errors.Is(err, ttl.ErrClosed) {
		t.Errorf("Put after Close err = %v, want ErrClosed", err)
	}
	requireIntact(t, moreBacking)
	if _, err := v.Get("auth-1"); !errors.Is(err, ttl.ErrClosed) {
		t.Errorf("Get after Close err = %v, want ErrClosed", err)
	}
	if _, err := v.Take("auth-1"); !errors.Is(err, ttl.ErrClosed) {
		t.Errorf("Take after Close err = %v, want ErrClosed", err)
	}
	if entries, n := v.Stats(); entries != 0 || n != 0 {
		t.Errorf("Stats() after Close = %d, %d; want 0, 0", entries, n)
	}
}

func TestCloseStopsSweeper(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	v, err := ttl.New(ttl.Config{SweepInterval: time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	v.Close()
}

func TestCapacity(t *testing.T) {
	v, _, _ := newManualVault(t, ttl.Config{MaxEntries: 7, MaxBytes: 300})
	if entries, n := v.Capacity(); entries != 7 || n != 300 {
		t.Errorf("Capacity() = %d, %d; want 7, 300", entries, n)
	}
}

package ttl_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/secret"
	"github.com/connect-secure-input/processor/internal/ttl"
)

// fakeClock is a Config.Now that moves only when the test calls Set or Advance.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recorder is a Hooks that counts events. When expired is not nil, each
// WipeExpired event also sends on it without blocking.
type recorder struct {
	mu       sync.Mutex
	entries  int
	bytes    int
	wiped    map[ttl.WipeReason]int
	rejected int
	expired  chan struct{}
}

func newRecorder() *recorder {
	return &recorder{wiped: map[ttl.WipeReason]int{}}
}

func (r *recorder) Held(entries, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries, r.bytes = entries, bytes
}

func (r *recorder) Wiped(reason ttl.WipeReason) {
	r.mu.Lock()
	r.wiped[reason]++
	r.mu.Unlock()
	if reason == ttl.WipeExpired && r.expired != nil {
		select {
		case r.expired <- struct{}{}:
		default:
		}
	}
}

func (r *recorder) Rejected() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected++
}

func (r *recorder) wipes(reason ttl.WipeReason) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wiped[reason]
}

func (r *recorder) lastHeld() (entries, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.entries, r.bytes
}

func (r *recorder) rejections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// card returns secret values for a PAN, an expiry date and a CVV, and the
// backing arrays that the vault must zero.
func card(pan string) (values []secret.Value, backing [][]byte) {
	for _, s := range []string{pan, "1228", "123"} {
		b := []byte(s)
		backing = append(backing, b)
		values = append(values, secret.New(b))
	}
	return values, backing
}

// cardBytes is the plaintext size of card(pan).
func cardBytes(pan string) int {
	return len(pan) + len("1228") + len("123")
}

// requireZeroed fails the test unless every backing array is all zeros.
func requireZeroed(t *testing.T, backing [][]byte) {
	t.Helper()
	for i, b := range backing {
		if !bytes.Equal(b, make([]byte, len(b))) {
			t.Errorf("backing array %d = %v, want all zeros", i, b)
		}
	}
}

// requireIntact fails the test unless every backing array still holds
// plaintext, which means it has not been wiped.
func requireIntact(t *testing.T, backing [][]byte) {
	t.Helper()
	for i, b := range backing {
		if bytes.Equal(b, make([]byte, len(b))) {
			t.Errorf("backing array %d was zeroed, want its plaintext kept", i)
		}
	}
}

// sweepNow runs one sweep and returns after it has finished. The sweeper
// handles one tick at a time, so once it has received the second tick the
// sweep for the first one is complete.
func sweepNow(ticks chan<- time.Time) {
	ticks <- time.Time{}
	ticks <- time.Time{}
}

// newManualVault returns a vault on a fake clock whose sweeper runs only on
// sweepNow, and closes it when the test ends.
func newManualVault(t *testing.T, cfg ttl.Config) (*ttl.Vault, *fakeClock, chan time.Time) {
	t.Helper()
	clock := newFakeClock()
	cfg.Now = clock.Now
	ticks := make(chan time.Time)
	v, err := ttl.NewWithTicks(cfg, ticks)
	if err != nil {
		t.Fatalf("NewWithTicks: %v", err)
	}
	t.Cleanup(v.Close)
	return v, clock, ticks
}

// Package ttl is the in-memory vault for sensitive card data. Every entry
// has a deadline and is zeroed in place when it is deleted, when it expires
// and when the vault closes. An entry that Take hands out becomes the
// caller's to wipe.
//
// The vault copies no plaintext. It stores the callers' secret.Value handles,
// whose backing arrays it wipes, and the only slices it grows hold pointers
// to entries, never card bytes. docs/vault-memory.md describes what the Go
// runtime may still copy and why the vault does not lock its memory.
package ttl

import (
	"container/heap"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/connect-secure-input/processor/internal/secret"
)

// Defaults and limits of Config.
const (
	// DefaultTTL is the lifetime of an entry when Put gets a TTL of 0 and
	// Config.TTL is 0. It outlasts the request budget, which stays under
	// Connect's 8-second Lambda limit, so that an authorization that goes on
	// in the background and its void can finish.
	DefaultTTL = 60 * time.Second
	// HardMaxTTL is the longest TTL any configuration may allow, so that a
	// misconfiguration cannot keep card data for hours.
	HardMaxTTL = 10 * time.Minute
	// DefaultMaxEntries is the entry limit when Config.MaxEntries is 0. It is
	// an estimate: if every entry lived its full 60-second TTL, 10,000
	// entries would allow 166 new authorizations per second per task. Most
	// entries are taken within seconds.
	DefaultMaxEntries = 10_000
	// DefaultMaxBytes is the plaintext limit in bytes when Config.MaxBytes is
	// 0. The card data of one authorization is at most 19 + 6 + 4 digits and
	// three terminators (32 bytes), so DefaultMaxEntries entries need about
	// 320 KB and 1 MiB does not bind first.
	DefaultMaxBytes = 1 << 20
	// DefaultSweepInterval is how often the sweeper wipes expired entries
	// when Config.SweepInterval is 0.
	DefaultSweepInterval = 100 * time.Millisecond
	// MaxSweepInterval is the longest sweep interval accepted, so that an
	// expired entry is always zeroed within a second of its deadline.
	MaxSweepInterval = time.Second
)

// Errors of the vault. Match them with errors.Is, because the returned
// errors wrap them with the id and the limits involved.
var (
	// ErrNotFound means no entry has the id: it was never stored, or it was
	// already taken, deleted or swept after expiring.
	ErrNotFound = errors.New("ttl: entry not found")
	// ErrExpired means the entry's deadline has passed. The read that returns
	// it also wipes the entry, so the next read returns ErrNotFound.
	ErrExpired = errors.New("ttl: entry expired")
	// ErrFull means Put would exceed the entry or byte limit. The condition
	// is temporary, so the API responds with 503 and Retry-After.
	ErrFull = errors.New("ttl: vault full")
	// ErrDuplicate means Put got an id that a live entry already has.
	ErrDuplicate = errors.New("ttl: duplicate entry id")
	// ErrClosed means the vault was closed and holds nothing.
	ErrClosed = errors.New("ttl: vault closed")
)

// Config sets the vault's limits. Zero fields take the defaults above.
type Config struct {
	// TTL is the lifetime of an entry stored with a TTL of 0. Zero means
	// DefaultTTL, or MaxTTL when that is shorter.
	TTL time.Duration
	// MaxTTL is the longest TTL Put accepts. It may not exceed HardMaxTTL.
	MaxTTL time.Duration
	// MaxEntries is the maximum number of entries held at once.
	MaxEntries int
	// MaxBytes is the maximum number of plaintext bytes held at once.
	MaxBytes int
	// SweepInterval is the time between two sweeps for expired entries. It
	// may not exceed MaxSweepInterval.
	SweepInterval time.Duration
	// Hooks receives events for metrics. Nil means NopHooks.
	Hooks Hooks
	// Now returns the current time. Nil means time.Now. Tests set it to
	// move deadlines without waiting.
	Now func() time.Time
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		TTL:           DefaultTTL,
		MaxTTL:        HardMaxTTL,
		MaxEntries:    DefaultMaxEntries,
		MaxBytes:      DefaultMaxBytes,
		SweepInterval: DefaultSweepInterval,
		Hooks:         NopHooks{},
		Now:           time.Now,
	}
}

// withDefaults returns c with zero fields set to their defaults, or an error
// naming the first field out of range.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.MaxTTL == 0 {
		c.MaxTTL = d.MaxTTL
	}
	if c.TTL == 0 {
		c.TTL = min(d.TTL, c.MaxTTL)
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = d.MaxEntries
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = d.SweepInterval
	}
	if c.Hooks == nil {
		c.Hooks = d.Hooks
	}
	if c.Now == nil {
		c.Now = d.Now
	}

	switch {
	case c.MaxTTL < 0 || c.MaxTTL > HardMaxTTL:
		return c, fmt.Errorf("ttl: MaxTTL %s is invalid: it must be positive and at most %s", c.MaxTTL, HardMaxTTL)
	case c.TTL < 0 || c.TTL > c.MaxTTL:
		return c, fmt.Errorf("ttl: TTL %s is invalid: it must be positive and at most MaxTTL %s", c.TTL, c.MaxTTL)
	case c.MaxEntries < 0:
		return c, fmt.Errorf("ttl: MaxEntries %d is invalid: it must be positive", c.MaxEntries)
	case c.MaxBytes < 0:
		return c, fmt.Errorf("ttl: MaxBytes %d is invalid: it must be positive", c.MaxBytes)
	case c.SweepInterval < 0 || c.SweepInterval > MaxSweepInterval:
		return c, fmt.Errorf("ttl: SweepInterval %s is invalid: it must be positive and at most %s", c.SweepInterval, MaxSweepInterval)
	}
	return c, nil
}

// Vault holds secret values under ids until they are taken, deleted or
// expire. It is safe for concurrent use.
type Vault struct {
	cfg Config

	mu        sync.Mutex
	entries   map[string]*entry
	deadlines deadlineHeap
	bytes     int
	closed    bool

	stop chan struct{} // closed by Close to stop the sweeper
	done chan struct{} // closed by the sweeper when it returns
}

// New validates cfg and returns a vault whose sweeper runs until Close.
func New(cfg Config) (*Vault, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ticker := time.NewTicker(cfg.SweepInterval)
	return start(cfg, ticker.C, ticker.Stop), nil
}

// start returns a vault whose sweeper runs on every value from ticks, and
// calls stopTicks when the sweeper returns.
func start(cfg Config, ticks <-chan time.Time, stopTicks func()) *Vault {
	v := &Vault{
		cfg:     cfg,
		entries: make(map[string]*entry),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go v.sweep(ticks, stopTicks)
	return v
}

// Put stores values under id until the deadline now+ttl. A ttl of 0 means
// Config.TTL.
//
// On success the vault owns the values: the caller must not wipe them, and
// reads them again only through Get or Take. On error the caller still owns
// them and must wipe them. Put returns an error wrapping ErrFull when the
// entry or byte limit would be exceeded, ErrDuplicate when id is held by a
// live entry, and ErrClosed after Close. An expired entry under the same id
// is wiped and replaced.
func (v *Vault) Put(id string, ttl time.Duration, values ...secret.Value) error {
	if id == "" {
		return errors.New("ttl: entry id is empty")
	}
	if len(values) == 0 {
		return fmt.Errorf("ttl: entry %q has no values to store", id)
	}
	if ttl == 0 {
		ttl = v.cfg.TTL
	}
	if ttl < 0 || ttl > v.cfg.MaxTTL {
		return fmt.Errorf("ttl: TTL %s for entry %q is invalid: it must be positive and at most %s", ttl, id, v.cfg.MaxTTL)
	}
	size := 0
	for _, value := range values {
		size += value.Len()
	}
	if size > v.cfg.MaxBytes {
		return fmt.Errorf("ttl: entry %q has %d bytes, more than the vault's maximum of %d", id, size, v.cfg.MaxBytes)
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}

	// Expired entries still in the map count against the limits until the
	// sweeper runs, so wipe them first rather than reject Put early.
	now := v.cfg.Now()
	v.expireLocked(now)
	if _, ok := v.entries[id]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicate, id)
	}
	if len(v.entries)+1 > v.cfg.MaxEntries || v.bytes+size > v.cfg.MaxBytes {
		v.cfg.Hooks.Rejected()
		return fmt.Errorf("%w: %d of %d entries and %d of %d bytes held, entry %q needs %d bytes",
			ErrFull, len(v.entries), v.cfg.MaxEntries, v.bytes, v.cfg.MaxBytes, id, size)
	}

	e := &entry{
		id:       id,
		values:   append([]secret.Value(nil), values...),
		bytes:    size,
		deadline: now.Add(ttl),
	}
	v.entries[id] = e
	heap.Push(&v.deadlines, e)
	v.bytes += size
	v.cfg.Hooks.Held(len(v.entries), v.bytes)
	return nil
}

// Get returns the values stored under id without removing them.
//
// The returned Values share their backing arrays with the vault, so when the
// entry is deleted, expires or the vault closes, the caller's copies are
// zeroed too. This is how a gateway call still in flight loses the card data
// at the deadline. The caller must not wipe them (Delete does that).
//
// NOTE: the vault wipes under its own lock, but a caller reading the bytes of
// a returned Value holds no lock. A wipe during that read is a data race on
// the bytes, and the reader may see digits mixed with zeros. A caller that
// needs a consistent read uses Take, which removes the entry first.
//
// Get returns an error wrapping ErrNotFound, ErrExpired (at or after the
// deadline, even if the sweeper has not run) or ErrClosed.
func (v *Vault) Get(id string) ([]secret.Value, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, err := v.liveLocked(id)
	if err != nil {
		return nil, err
	}
	return append([]secret.Value(nil), e.values...), nil
}

// Take removes the entry under id and returns its values, which the caller
// now owns and must wipe. It returns the same errors as Get.
func (v *Vault) Take(id string) ([]secret.Value, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, err := v.liveLocked(id)
	if err != nil {
		return nil, err
	}
	values := e.values
	v.removeLocked(e, WipeTaken)
	return values, nil
}

// Deadline returns the instant at which the entry under id expires, so that
// work on its data can stop in time. It returns the same errors as Get.
func (v *Vault) Deadline(id string) (time.Time, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, err := v.liveLocked(id)
	if err != nil {
		return time.Time{}, err
	}
	return e.deadline, nil
}

// Delete wipes and removes the entry under id. It does nothing when no entry
// has the id, so it is safe in a deferred cleanup after Take.
func (v *Vault) Delete(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.entries[id]
	if !ok {
		return
	}
	reason := WipeDeleted
	if !v.cfg.Now().Before(e.deadline) {
		reason = WipeExpired
	}
	v.removeLocked(e, reason)
}

// Stats returns the number of entries and plaintext bytes held.
func (v *Vault) Stats() (entries, bytes int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.entries), v.bytes
}

// Capacity returns the configured maximum entries and plaintext bytes.
func (v *Vault) Capacity() (entries, bytes int) {
	return v.cfg.MaxEntries, v.cfg.MaxBytes
}

// Close wipes every entry and stops the sweeper, then returns once the
// sweeper has stopped. It is safe to call more than once and from several
// goroutines. After Close, Put, Get, Take and Deadline return ErrClosed.
func (v *Vault) Close() {
	v.mu.Lock()
	if !v.closed {
		v.closed = true
		for v.deadlines.Len() > 0 {
			v.removeLocked(v.deadlines[0], WipeClosed)
		}
		close(v.stop)
	}
	v.mu.Unlock()
	<-v.done
}

// sweep wipes expired entries on every tick until Close.
func (v *Vault) sweep(ticks <-chan time.Time, stopTicks func()) {
	defer close(v.done)
	defer stopTicks()
	for {
		select {
		case <-v.stop:
			return
		case <-ticks:
			v.mu.Lock()
			v.expireLocked(v.cfg.Now())
			v.mu.Unlock()
		}
	}
}

// liveLocked returns the entry under id, or wipes it and returns ErrExpired
// when its deadline has passed. v.mu must be held.
func (v *Vault) liveLocked(id string) (*entry, error) {
	if v.closed {
		return nil, ErrClosed
	}
	e, ok := v.entries[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if !v.cfg.Now().Before(e.deadline) {
		v.removeLocked(e, WipeExpired)
		return nil, fmt.Errorf("%w: %q", ErrExpired, id)
	}
	return e, nil
}

// expireLocked wipes every entry whose deadline is at or before now.
// v.mu must be held.
func (v *Vault) expireLocked(now time.Time) {
	for v.deadlines.Len() > 0 && !now.Before(v.deadlines[0].deadline) {
		v.removeLocked(v.deadlines[0], WipeExpired)
	}
}

// removeLocked removes e from the vault and, unless reason is WipeTaken,
// zeroes its values in place. v.mu must be held.
func (v *Vault) removeLocked(e *entry, reason WipeReason) {
	heap.Remove(&v.deadlines, e.index)
	delete(v.entries, e.id)
	v.bytes -= e.bytes
	if reason != WipeTaken {
		for _, value := range e.values {
			value.Wipe()
		}
	}
	e.values = nil
	v.cfg.Hooks.Wiped(reason)
	v.cfg.Hooks.Held(len(v.entries), v.bytes)
}

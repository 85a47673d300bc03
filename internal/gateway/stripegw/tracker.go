package stripegw

import (
	"sync"
	"time"
)

// sentKeys remembers, per idempotency key, when this process last sent a
// PaymentIntent create and which PaymentIntent Stripe returned. Lookups and
// voids use it to retrieve a PaymentIntent by id, which is strongly
// consistent, and to tell a search that lags behind a recent write from a
// key that Stripe never saw. It holds no card data.
type sentKeys struct {
	mu        sync.Mutex
	entries   map[string]sentKey
	maxKeys   int
	retention time.Duration
}

type sentKey struct {
	sentAt          time.Time
	paymentIntentID string
}

func newSentKeys(maxKeys int, retention time.Duration) *sentKeys {
	return &sentKeys{entries: make(map[string]sentKey), maxKeys: maxKeys, retention: retention}
}

// markSent records that a PaymentIntent create with key is about to leave.
func (s *sentKeys) markSent(key string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	entry, ok := s.entries[key]
	if !ok {
		s.makeRoom(now)
	}
	entry.sentAt = now
	s.entries[key] = entry
}

// setReference records the PaymentIntent that Stripe returned for key.
func (s *sentKeys) setReference(key, paymentIntentID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	entry, ok := s.entries[key]
	if !ok {
		return // evicted since markSent; lookups fall back to search
	}
	entry.paymentIntentID = paymentIntentID
	s.entries[key] = entry
}

// reference returns the PaymentIntent id recorded for key.
func (s *sentKeys) reference(key string, now time.Time) (string, bool) {
	entry, ok := s.get(key, now)
	return entry.paymentIntentID, ok && entry.paymentIntentID != ""
}

// sentAt returns when a PaymentIntent create with key was last sent.
func (s *sentKeys) sentAt(key string, now time.Time) (time.Time, bool) {
	entry, ok := s.get(key, now)
	return entry.sentAt, ok
}

func (s *sentKeys) get(key string, now time.Time) (sentKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	entry, ok := s.entries[key]
	if ok && now.Sub(entry.sentAt) >= s.retention {
		delete(s.entries, key)
		return sentKey{}, false
	}
	return entry, ok
}

// makeRoom drops expired entries, and the oldest entry if the map is still
// full, so that one more fits. The scan is linear but runs only when the map
// is full. The caller holds s.mu.
func (s *sentKeys) makeRoom(now time.Time) {
	if len(s.entries) < s.maxKeys {
		return
	}
	oldestKey := ""
	var oldest time.Time
	for key, entry := range s.entries {
		if now.Sub(entry.sentAt) >= s.retention {
			delete(s.entries, key)
			continue
		}
		if oldestKey == "" || entry.sentAt.Before(oldest) {
			oldestKey, oldest = key, entry.sentAt
		}
	}
	if len(s.entries) >= s.maxKeys {
		delete(s.entries, oldestKey)
	}
}

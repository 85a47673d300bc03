package ttl_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/connect-secure-input/processor/internal/ttl"
)

// TestConcurrentPutTakeExpiry runs Put, Get, Take and Delete from several
// goroutines against entries that expire while the real sweeper runs. Under
// -race it shows the vault is free of data races. Afterwards every backing
// array must be zero and the hooks must account for every entry once.
func TestConcurrentPutTakeExpiry(t *testing.T) {
	const (
		workers      = 8
		opsPerWorker = 300
		// Workers go on past opsPerWorker until this many entries have
		// expired, so that expiry races with the other operations even
		// on a machine fast enough to finish before the first deadline.
		minExpired = 20
		maxRun     = 10 * time.Second
	)
	hooks := newRecorder()
	v, err := ttl.New(ttl.Config{SweepInterval: time.Millisecond, Hooks: hooks})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	var (
		mu      sync.Mutex
		backing [][]byte
		puts    int
	)
	start := time.Now()
	keepGoing := func(i int) bool {
		if i < opsPerWorker {
			return true
		}
		return hooks.wipes(ttl.WipeExpired) < minExpired && time.Since(start) < maxRun
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; keepGoing(i); i++ {
				// Ids repeat across workers, so operations collide on
				// the same entries.
				id := fmt.Sprintf("auth-%d", rng.IntN(64))
				switch op := rng.IntN(4); op {
				case 0:
					values, b := card(testPAN)
					ttlFor := time.Duration(1+rng.IntN(3)) * time.Millisecond
					err := v.Put(id, ttlFor, values...)
					switch {
					case err == nil:
						mu.Lock()
						backing = append(backing, b...)
						puts++
						mu.Unlock()
					case errors.Is(err, ttl.ErrDuplicate):
						for _, value := range values {
							value.Wipe()
						}
					default:
						t.Errorf("worker %d op %d: Put: %v", w, i, err)
					}
				case 1:
					values, err := v.Get(id)
					if err == nil {
						// Len takes the value's lock, so it is safe while
						// the sweeper may wipe the bytes.
						_ = values[0].Len()
					} else if !errors.Is(err, ttl.ErrNotFound) && !errors.Is(err, ttl.ErrExpired) {
						t.Errorf("worker %d op %d: Get: %v", w, i, err)
					}
				case 2:
					values, err := v.Take(id)
					if err == nil {
						for _, value := range values {
							value.Wipe()
						}
					} else if !errors.Is(err, ttl.ErrNotFound) && !errors.Is(err, ttl.ErrExpired) {
						t.Errorf("worker %d op %d: Take: %v", w, i, err)
					}
				case 3:
					v.Delete(id)
				}
			}
		})
	}
	wg.Wait()
	v.Close()

	for i, b := range backing {
		for _, c := range b {
			if c != 0 {
				t.Fatalf("backing array %d of %d is not zero after Close", i, len(backing))
			}
		}
	}
	removed := 0
	for _, reason := range []ttl.WipeReason{ttl.WipeTaken, ttl.WipeDeleted, ttl.WipeExpired, ttl.WipeClosed} {
		removed += hooks.wipes(reason)
	}
	if removed != puts {
		t.Errorf("hooks counted %d removals for %d successful puts", removed, puts)
	}
	if entries, n := hooks.lastHeld(); entries != 0 || n != 0 {
		t.Errorf("last Held hook = %d, %d; want 0, 0", entries, n)
	}
	if got := hooks.wipes(ttl.WipeExpired); got < minExpired {
		t.Errorf("%d entries expired in %s, want at least %d so that expiry raced with the other operations", got, maxRun, minExpired)
	}
}

package ttl

import (
	"time"

	"github.com/connect-secure-input/processor/internal/secret"
)

// entry is one id's secret values and the instant they expire.
type entry struct {
	id       string
	values   []secret.Value
	bytes    int
	deadline time.Time
	index    int // position in deadlineHeap, kept up to date by its methods
}

// deadlineHeap orders entries by deadline, earliest first, so the sweeper
// finds every expired entry without scanning the whole vault. It implements
// container/heap.Interface.
type deadlineHeap []*entry

func (h deadlineHeap) Len() int { return len(h) }

func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }

func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *deadlineHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *deadlineHeap) Pop() any {
	old := *h
	last := len(old) - 1
	e := old[last]
	// Clear the slot so the backing array does not keep the entry alive.
	old[last] = nil
	*h = old[:last]
	e.index = -1
	return e
}

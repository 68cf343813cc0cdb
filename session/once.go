package session

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"
)

// Once remembers keys for a while, to make things single-use (a login
// state, a logout token's jti).
type Once interface {
	// First reports whether key is seen for the first time within ttl: it
	// returns true and remembers key for ttl if key is not remembered, and
	// false if it is. An error means Once could not tell (a store that
	// cannot be reached); callers must then fail closed.
	First(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// DefaultMemoryOnceMax is the capacity of a MemoryOnce created with a
// max of zero or less.
const DefaultMemoryOnceMax = 10000

// MemoryOnce is a Once that remembers keys in memory, in one process. It
// holds at most a fixed number of keys: when full, it forgets expired keys
// and then the key nearest to expiry (with equal ttls, the oldest). A key
// forgotten early can be used once more, so size it for the number of
// keys expected within the longest ttl.
//
// Keys are stored as SHA-256 hashes, so long keys cost no extra memory.
// A MemoryOnce is safe for concurrent use.
type MemoryOnce struct {
	max     int
	now     func() time.Time
	mu      sync.Mutex
	entries map[[sha256.Size]byte]*onceEntry
	byTime  onceHeap // entries ordered by expiry
}

// NewMemoryOnce returns a MemoryOnce holding at most max keys
// (DefaultMemoryOnceMax if max <= 0). now is its clock; nil means
// time.Now.
func NewMemoryOnce(max int, now func() time.Time) *MemoryOnce {
	if max <= 0 {
		max = DefaultMemoryOnceMax
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryOnce{
		max:     max,
		now:     now,
		entries: make(map[[sha256.Size]byte]*onceEntry),
	}
}

// errBadTTL is returned by First for a ttl that is not positive.
var errBadTTL = errors.New("session: Once ttl must be positive")

// First implements Once. It fails only for a done ctx or a ttl that is
// not positive.
func (o *MemoryOnce) First(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, errBadTTL
	}
	k := sha256.Sum256([]byte(key))
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.byTime) > 0 && !now.Before(o.byTime[0].expires) {
		o.forget()
	}
	if _, seen := o.entries[k]; seen {
		return false, nil
	}
	for len(o.byTime) >= o.max {
		o.forget()
	}
	e := &onceEntry{key: k, expires: now.Add(ttl)}
	heap.Push(&o.byTime, e)
	o.entries[k] = e
	return true, nil
}

// forget drops the entry nearest to expiry. o.mu must be held.
func (o *MemoryOnce) forget() {
	e := heap.Pop(&o.byTime).(*onceEntry)
	delete(o.entries, e.key)
}

// onceEntry is a remembered key.
type onceEntry struct {
	key     [sha256.Size]byte
	expires time.Time
}

// onceHeap is a min-heap of entries by expiry, for container/heap.
type onceHeap []*onceEntry

func (h onceHeap) Len() int           { return len(h) }
func (h onceHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h onceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *onceHeap) Push(x any)        { *h = append(*h, x.(*onceEntry)) }
func (h *onceHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

var _ Once = (*MemoryOnce)(nil)

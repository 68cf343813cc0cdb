package bearer

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Bounds of the in-memory structures that attackers can make grow.
const (
	maxInflight    = 64    // concurrent introspections or password grants
	maxLimiterKeys = 10000 // failure counters per limiter
	evictProbe     = 8     // entries looked at to find an expired one
)

// errBusy is returned when maxInflight distinct calls are already running.
var errBusy = errors.New("bearer: too many issuer calls in flight")

// ttlCache is a bounded map from a 32-byte key (a hash) to a value that
// expires. A hit costs a read lock, a map lookup and a time comparison.
// When full, an insert evicts an expired entry if one of the first few it
// looks at is expired, and otherwise one of those: Go's map iteration
// starts at a random place, so this is cheap random eviction. A nil
// *ttlCache stores nothing.
type ttlCache[V any] struct {
	mu  sync.RWMutex
	max int
	m   map[[32]byte]ttlItem[V]
}

type ttlItem[V any] struct {
	v     V
	until time.Time
}

func newTTLCache[V any](max int) *ttlCache[V] {
	if max <= 0 {
		return nil
	}
	return &ttlCache[V]{max: max, m: make(map[[32]byte]ttlItem[V])}
}

// get returns the value stored for k if it has not expired at now.
func (c *ttlCache[V]) get(k [32]byte, now time.Time) (V, bool) {
	var zero V
	if c == nil {
		return zero, false
	}
	c.mu.RLock()
	it, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(it.until) {
		return zero, false
	}
	return it.v, true
}

// put stores v for k until until; values already expired are not stored.
func (c *ttlCache[V]) put(k [32]byte, v V, until, now time.Time) {
	if c == nil || !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		c.evictLocked(now)
	}
	c.m[k] = ttlItem[V]{v: v, until: until}
}

// remove forgets k.
func (c *ttlCache[V]) remove(k [32]byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

func (c *ttlCache[V]) evictLocked(now time.Time) {
	var victim [32]byte
	n := 0
	for k, it := range c.m {
		if !now.Before(it.until) {
			delete(c.m, k)
			return
		}
		if n == 0 {
			victim = k
		}
		if n++; n == evictProbe {
			break
		}
	}
	delete(c.m, victim)
}

// len reports the number of entries, expired ones included.
func (c *ttlCache[V]) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// limiter counts failures per key in fixed windows that start at a key's
// first failure. It holds at most max keys; when full it forgets an expired
// window, or else an arbitrary one.
type limiter struct {
	mu  sync.Mutex
	max int
	m   map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(max int) *limiter {
	return &limiter{max: max, m: make(map[string]*window)}
}

// blocked reports whether key has limit or more failures in its current
// window, and if so how long until the window ends. A negative limit never
// blocks.
func (l *limiter) blocked(key string, limit int, win time.Duration, now time.Time) (time.Duration, bool) {
	if limit < 0 {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[key]
	if w == nil || !now.Before(w.start.Add(win)) || w.n < limit {
		return 0, false
	}
	return w.start.Add(win).Sub(now), true
}

// fail counts one failure for key.
func (l *limiter) fail(key string, win time.Duration, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[key]
	if w != nil && !now.Before(w.start.Add(win)) {
		w.start, w.n = now, 0
	}
	if w == nil {
		if len(l.m) >= l.max {
			l.evictLocked(win, now)
		}
		w = &window{start: now}
		l.m[key] = w
	}
	w.n++
}

func (l *limiter) evictLocked(win time.Duration, now time.Time) {
	victim, n := "", 0
	for k, w := range l.m {
		if !now.Before(w.start.Add(win)) {
			delete(l.m, k)
			return
		}
		if n == 0 {
			victim = k
		}
		if n++; n == evictProbe {
			break
		}
	}
	delete(l.m, victim)
}

// flight runs at most one call per key at a time, each in its own
// goroutine, and lets every caller asking for that key wait for the result
// (or give up when its context ends, without cancelling the call). At most
// max calls run at once; beyond that do fails fast with errBusy, so a flood
// of distinct tokens cannot pile up goroutines behind a slow issuer.
type flight[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	calls map[K]*call[V]
}

type call[V any] struct {
	done chan struct{}
	v    V
}

func newFlight[K comparable, V any](max int) *flight[K, V] {
	return &flight[K, V]{max: max, calls: make(map[K]*call[V])}
}

// do returns fn's result for k, running fn unless a call for k is running.
func (f *flight[K, V]) do(ctx context.Context, k K, fn func() V) (V, error) {
	var zero V
	f.mu.Lock()
	c := f.calls[k]
	if c == nil {
		if len(f.calls) >= f.max {
			f.mu.Unlock()
			return zero, errBusy
		}
		c = &call[V]{done: make(chan struct{})}
		f.calls[k] = c
		go func() {
			c.v = fn()
			f.mu.Lock()
			delete(f.calls, k)
			f.mu.Unlock()
			close(c.done)
		}()
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

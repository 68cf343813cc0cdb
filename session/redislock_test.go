package session_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/session/redistest"
)

// testExclusion runs goroutines on every locker (replicas sharing one
// lock store) that each take the same key many times, and checks that
// no two are ever inside at once.
func testExclusion(t *testing.T, lockers ...session.Locker) {
	t.Helper()
	var inside, entered atomic.Int32
	var wg sync.WaitGroup
	for _, l := range lockers {
		for range 3 {
			wg.Go(func() {
				for range 10 {
					unlock, err := l.Lock(t.Context(), "session-1")
					if err != nil {
						t.Errorf("Lock: %v", err)
						return
					}
					if n := inside.Add(1); n != 1 {
						t.Errorf("%d holders inside the lock", n)
					}
					entered.Add(1)
					time.Sleep(time.Millisecond)
					inside.Add(-1)
					unlock()
					unlock() // a second call does nothing
				}
			})
		}
	}
	wg.Wait()
	if want := int32(30 * len(lockers)); entered.Load() != want {
		t.Errorf("entered %d times; want %d", entered.Load(), want)
	}
}

// testCancel checks that a wait for a held lock ends with ctx.
func testCancel(t *testing.T, l session.Locker) {
	t.Helper()
	unlock, err := l.Lock(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := l.Lock(ctx, "k"); !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "session: ") {
		t.Errorf("Lock of a held key, cancelled: %v; want a session: error wrapping context.Canceled", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("cancelled Lock returned after %v", took)
	}
	done, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := l.Lock(done, "other"); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a done ctx: %v", err)
	}
	// Another key is independent.
	u2, err := l.Lock(t.Context(), "k2")
	if err != nil {
		t.Fatalf("Lock of another key: %v", err)
	}
	u2()
}

func TestMemoryLocker(t *testing.T) {
	l := session.NewMemoryLocker()
	testExclusion(t, l)
	testCancel(t, l)
}

func TestRedisLocker(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	prefix := redisPrefix()
	a := session.NewRedisLocker(redisClient(t, addr), prefix, 0)
	b := session.NewRedisLocker(redisClient(t, addr), prefix, 0)
	t.Run("Exclusion", func(t *testing.T) { testExclusion(t, a, b) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, a) })
	t.Run("KeysHashed", func(t *testing.T) {
		unlock, err := a.Lock(t.Context(), "secret-session-id")
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		keys := redisClient(t, addr).Keys(t.Context(), prefix+"*").Val()
		if len(keys) != 1 || strings.Contains(keys[0], "secret") || !strings.HasPrefix(keys[0], prefix+"lock:") {
			t.Errorf("keys %q; want one hashed lock key", keys)
		}
	})
}

func TestRedisLockerLease(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	c := redisClient(t, addr)
	prefix := redisPrefix()
	const lease = 300 * time.Millisecond
	a := session.NewRedisLocker(redisClient(t, addr), prefix, lease)
	b := session.NewRedisLocker(redisClient(t, addr), prefix, lease)

	// Work lasting three leases keeps the lock.
	unlock, err := a.Lock(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*lease)
	_, err = b.Lock(ctx, "k")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("B took the lock A holds for 3 leases: %v", err)
	}
	unlock()
	// Unlock deletes the key at once: B does not wait for the lease.
	if keys, err := c.Keys(t.Context(), prefix+"lock:*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("lock keys after unlock: %q, %v", keys, err)
	}
	unlockB, err := b.Lock(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()

	// A holder whose lock was lost (its lease ran out) cannot release or
	// extend the new holder's lock.
	unlockA, err := a.Lock(t.Context(), "k2")
	if err != nil {
		t.Fatal(err)
	}
	keys := c.Keys(t.Context(), prefix+"lock:*").Val()
	if len(keys) != 1 {
		t.Fatalf("lock keys %q; want one", keys)
	}
	c.Del(t.Context(), keys[0]) // as if A's lease had run out
	unlockB, err = b.Lock(t.Context(), "k2")
	if err != nil {
		t.Fatal(err)
	}
	tokenB := c.Get(t.Context(), keys[0]).Val()
	unlockA()
	time.Sleep(lease / 2)
	if got := c.Get(t.Context(), keys[0]).Val(); got != tokenB {
		t.Errorf("after the old holder's unlock the lock holds %q; want B's token %q", got, tokenB)
	}
	ctx, cancel = context.WithTimeout(t.Context(), lease)
	_, err = a.Lock(ctx, "k2")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("A took the lock B holds: %v", err)
	}
	unlockB()
	if n := c.Exists(t.Context(), keys[0]).Val(); n != 0 {
		t.Error("B's unlock left the key")
	}
}

func TestRedisLockerUnavailable(t *testing.T) {
	quietRedis()
	addr, stop, _ := redistest.Start(t)
	l := session.NewRedisLocker(redisClient(t, addr), redisPrefix(), time.Second)
	unlock, err := l.Lock(t.Context(), "held")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if _, err := l.Lock(ctx, "k"); !errors.Is(err, session.ErrStoreUnavailable) {
		t.Errorf("Lock with Redis down: %v; want ErrStoreUnavailable", err)
	}
	start := time.Now()
	unlock() // does not hang
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("unlock with Redis down took %v", took)
	}
}

func TestRedisOnce(t *testing.T) {
	quietRedis()
	addr, stop, _ := redistest.Start(t)
	c := redisClient(t, addr)
	prefix := redisPrefix()
	var o session.Once = session.NewRedisOnce(c, prefix)
	other := session.NewRedisOnce(redisClient(t, addr), prefix) // another replica
	for i, want := range []bool{true, false} {
		if got, err := o.First(t.Context(), "state-abc", time.Second); got != want || err != nil {
			t.Errorf("First #%d = %v, %v; want %v", i+1, got, err, want)
		}
	}
	if got, err := other.First(t.Context(), "state-abc", time.Second); got || err != nil {
		t.Errorf("First on another replica = %v, %v; want false", got, err)
	}
	if got, _ := o.First(t.Context(), "short", 100*time.Millisecond); !got {
		t.Error("First of a new key = false")
	}
	if ttl := c.PTTL(t.Context(), keyLike(t, c.Keys(t.Context(), prefix+"once:*").Val(), "state-abc")).Val(); ttl <= 0 || ttl > time.Second {
		t.Errorf("once key TTL = %v; want ≤ 1s", ttl)
	}
	time.Sleep(150 * time.Millisecond)
	if got, _ := o.First(t.Context(), "short", time.Second); !got {
		t.Error("First after the ttl = false; want true")
	}
	if _, err := o.First(t.Context(), "x", 0); err == nil {
		t.Error("First with ttl 0 succeeded")
	}
	stop()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := o.First(ctx, "y", time.Second); !errors.Is(err, session.ErrStoreUnavailable) {
		t.Errorf("First with Redis down: %v; want ErrStoreUnavailable", err)
	}
}

// keyLike checks that no key contains raw and returns the first.
func keyLike(t *testing.T, keys []string, raw string) string {
	t.Helper()
	if len(keys) == 0 {
		t.Fatal("no keys")
	}
	for _, k := range keys {
		if strings.Contains(k, raw) {
			t.Errorf("key %q holds the raw key", k)
		}
	}
	return keys[0]
}

func TestRedisCounterSharedByReplicas(t *testing.T) {
	addr, stop, _ := redistest.Start(t)
	prefix := redisPrefix()
	a := session.NewRedisCounter(redisClient(t, addr), prefix)
	b := session.NewRedisCounter(redisClient(t, addr), prefix)
	for range 3 {
		if err := a.Add(t.Context(), "u:alice", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(t.Context(), "u:alice", time.Minute); err != nil {
		t.Fatal(err)
	}
	n, left, err := b.Count(t.Context(), "u:alice")
	if err != nil || n != 4 || left <= 0 || left > time.Minute {
		t.Fatalf("Count = %d, %v, %v; want 4 within a minute", n, left, err)
	}
	if n, _, _ := a.Count(t.Context(), "u:bob"); n != 0 {
		t.Errorf("an unused key counts %d", n)
	}
	keys, _ := redisClient(t, addr).Keys(t.Context(), prefix+"*").Result()
	for _, k := range keys {
		if strings.Contains(k, "alice") {
			t.Errorf("key %q holds the username", k)
		}
	}
	// A short window ends.
	if err := a.Add(t.Context(), "short", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if n, _, _ := a.Count(t.Context(), "short"); n != 0 {
		t.Errorf("window did not end: %d", n)
	}
	stop()
	if _, _, err := a.Count(t.Context(), "u:alice"); !errors.Is(err, session.ErrStoreUnavailable) {
		t.Errorf("Count with Redis down: %v", err)
	}
}

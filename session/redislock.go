package session

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// defaultRedisLease is the RedisLocker lease when none is given.
	defaultRedisLease = 10 * time.Second
	// minRedisLease is the shortest lease a RedisLocker uses.
	minRedisLease = 30 * time.Millisecond
	// minLockPoll and maxLockPoll bound the wait between attempts at a taken
	// lock, before jitter.
	minLockPoll = 10 * time.Millisecond
	maxLockPoll = 100 * time.Millisecond
)

// lockRenewScript extends the lease of KEYS[1] to ARGV[2] milliseconds if the
// lock still holds our token ARGV[1].
const lockRenewScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`

// lockReleaseScript deletes KEYS[1] if it still holds our token ARGV[1].
const lockReleaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`

// RedisLocker is a Locker shared by every replica that uses the same
// Redis and prefix. A lock is the key prefix + "lock:" +
// hex(SHA-256(key)), set with SET NX PX to a random token for a lease.
// While it is held, a goroutine extends the lease every third of it, and
// unlock stops that goroutine and deletes the key; both only while the
// key still holds the holder's token, so nobody but the holder can
// extend or release a lock.
//
// A lock is only as good as its lease: a holder that cannot reach Redis
// for a whole lease, or stalls that long, loses the lock without being
// told, and another caller may take it. Keep the work under a lock
// idempotent or checked (for a refresh: re-load the session first).
//
// A RedisLocker is safe for concurrent use.
type RedisLocker struct {
	client  redis.UniversalClient
	prefix  string
	lease   time.Duration
	renew   *redis.Script
	release *redis.Script
}

// NewRedisLocker returns a RedisLocker using c, with keys that start with
// prefix ("gatehouse:" if empty) and the given lease (10s if zero or
// less; at least 30ms).
func NewRedisLocker(c redis.UniversalClient, prefix string, lease time.Duration) *RedisLocker {
	if prefix == "" {
		prefix = defaultRedisKeyPrefix
	}
	if lease <= 0 {
		lease = defaultRedisLease
	}
	return &RedisLocker{
		client:  c,
		prefix:  prefix,
		lease:   max(lease, minRedisLease),
		renew:   redis.NewScript(lockRenewScript),
		release: redis.NewScript(lockReleaseScript),
	}
}

// Lock implements Locker. While the lock is taken it tries again after
// short random sleeps until ctx is done. A Redis failure ends the wait
// with an error wrapping ErrStoreUnavailable; each call to Redis is
// bounded by ctx and by two seconds.
func (l *RedisLocker) Lock(ctx context.Context, key string) (func(), error) {
	k := redisKey(l.prefix, "lock:", key)
	token := NewRandom()
	for wait := minLockPoll; ; wait = min(2*wait, maxLockPoll) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("session: waiting for lock: %w", err)
		}
		opCtx, cancel := context.WithTimeout(ctx, defaultRedisTimeout)
		ok, err := l.client.SetNX(opCtx, k, token, l.lease).Result()
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("session: waiting for lock: %w", ctx.Err())
		case err != nil:
			return nil, redisUnavailable("lock", err)
		case ok:
			return l.hold(k, token), nil
		}
		t := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("session: waiting for lock: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// hold starts renewing the lock k held with token and returns its
// unlock.
func (l *RedisLocker) hold(k, token string) func() {
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(l.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rctx, cancel := context.WithTimeout(ctx, l.lease/3)
			n, err := l.renew.Run(rctx, l.client, []string{k}, token, l.lease.Milliseconds()).Int()
			cancel()
			if err == nil && n == 0 {
				return // lost: someone else may hold it now
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			stop()
			<-stopped
			rctx, cancel := context.WithTimeout(context.Background(), defaultRedisTimeout)
			defer cancel()
			// A failure leaves the lock to expire with its lease.
			_ = l.release.Run(rctx, l.client, []string{k}, token).Err()
		})
	}
}

var _ Locker = (*RedisLocker)(nil)

package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counter counts events per key in fixed windows that start with a key's
// first event. Backed by Redis, every replica sees the same counts, so a
// limit on failed logins holds across all of them. Keys are hashed before
// they are stored; they may be usernames.
type Counter interface {
	// Count returns key's events in its current window and the time the
	// window has left (zero when there is none).
	Count(ctx context.Context, key string) (n int, left time.Duration, err error)
	// Add counts one event for key; the first one starts a window of win.
	Add(ctx context.Context, key string, win time.Duration) error
}

// RedisCounter is a Counter shared by every replica using the same Redis.
type RedisCounter struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedisCounter returns a Counter storing its windows under prefix.
func NewRedisCounter(c redis.UniversalClient, prefix string) *RedisCounter {
	return &RedisCounter{c: c, prefix: prefix}
}

var _ Counter = (*RedisCounter)(nil)

// addScript increments a window and gives a new one its expiry, atomically.
var addScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

func (rc *RedisCounter) key(k string) string {
	sum := sha256.Sum256([]byte(k))
	return rc.prefix + "count:" + hex.EncodeToString(sum[:])
}

// Count implements Counter.
func (rc *RedisCounter) Count(ctx context.Context, key string) (int, time.Duration, error) {
	k := rc.key(key)
	pipe := rc.c.Pipeline()
	get := pipe.Get(ctx, k)
	ttl := pipe.PTTL(ctx, k)
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return 0, 0, fmt.Errorf("%w: redis count: %v", ErrStoreUnavailable, err)
	}
	n, err := get.Int()
	if err == redis.Nil {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w: redis count: %v", ErrStoreUnavailable, err)
	}
	left := ttl.Val()
	if left < 0 {
		left = 0
	}
	return n, left, nil
}

// Add implements Counter.
func (rc *RedisCounter) Add(ctx context.Context, key string, win time.Duration) error {
	if err := addScript.Run(ctx, rc.c, []string{rc.key(key)}, win.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("%w: redis count: %v", ErrStoreUnavailable, err)
	}
	return nil
}

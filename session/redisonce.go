package session

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOnce is a Once shared by every replica that uses the same Redis
// and prefix. Each key is stored as prefix + "once:" + hex(SHA-256(key))
// with SET NX PX, so Redis forgets it after its ttl and the number of
// keys stays bounded by what callers remember within their ttls.
//
// A RedisOnce is safe for concurrent use.
type RedisOnce struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisOnce returns a RedisOnce using c, whose keys start with prefix
// ("gatehouse:" if empty).
func NewRedisOnce(c redis.UniversalClient, prefix string) *RedisOnce {
	if prefix == "" {
		prefix = defaultRedisKeyPrefix
	}
	return &RedisOnce{client: c, prefix: prefix}
}

// First implements Once. A ttl below a millisecond counts as one. Each
// call is bounded by ctx and by two seconds; a Redis failure yields an
// error wrapping ErrStoreUnavailable, and callers must fail closed.
func (o *RedisOnce) First(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, errBadTTL
	}
	if o.client == nil {
		return false, fmt.Errorf("%w: RedisOnce has no client", ErrStoreUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, defaultRedisTimeout)
	defer cancel()
	first, err := o.client.SetNX(ctx, redisKey(o.prefix, "once:", key), 1, max(ttl, time.Millisecond)).Result()
	if err != nil {
		return false, redisUnavailable("once", err)
	}
	return first, nil
}

var _ Once = (*RedisOnce)(nil)

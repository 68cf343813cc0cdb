package session

import (
	"context"
	"crypto/sha256"
	"errors"
)

// redisIndexScript adds a session key (ARGV[1]) to a revocation index
// (KEYS[1]), a sorted set scored by each session's absolute deadline in
// Unix milliseconds (ARGV[2]). It first drops members whose deadline is
// before now (ARGV[3]), so an index holds only sessions that may still
// live, and it extends the index's TTL to ARGV[4] milliseconds, never
// shortening it, so the index outlives all its members. One key only, so
// it runs on Redis Cluster.
const redisIndexScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then
	redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1`

// RevokeSID ends every session whose Identity.SID is sid, and makes Save
// refuse new sessions with that SID for the absolute lifetime (so that a
// back-channel logout that overtakes the login it ends still wins).
func (s *RedisStore) RevokeSID(ctx context.Context, sid string) error {
	if sid == "" {
		return errors.New("session: RevokeSID needs a sid")
	}
	ctx, cancel := s.context(ctx)
	defer cancel()
	if err := s.client.Set(ctx, s.revokedKey(sid), 1, s.lifetime).Err(); err != nil {
		return redisUnavailable("revoke", err)
	}
	return s.revoke(ctx, s.sidKey(sid))
}

// RevokeSubject ends every session whose Identity.Subject is sub. A
// session saved for sub while RevokeSubject runs may survive it, as it
// would if saved just after.
func (s *RedisStore) RevokeSubject(ctx context.Context, sub string) error {
	if sub == "" {
		return errors.New("session: RevokeSubject needs a subject")
	}
	ctx, cancel := s.context(ctx)
	defer cancel()
	return s.revoke(ctx, s.subKey(sub))
}

// revoke deletes the sessions listed in the index idx, and removes them
// from it. It removes only what it read, so a session indexed meanwhile
// stays revocable.
func (s *RedisStore) revoke(ctx context.Context, idx string) error {
	members, err := s.client.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		return redisUnavailable("revoke", err)
	}
	mine := s.prefix + "s:"
	// The sessions deleted (or maybe deleted) are announced to the stores'
	// caches together, once: one wait for acknowledgements, however many
	// batches.
	var keys []string
	for len(members) > 0 {
		batch := members[:min(len(members), redisRevokeBatch)]
		members = members[len(batch):]
		pipe := s.client.Pipeline()
		for _, m := range batch {
			if len(m) == len(mine)+2*sha256.Size && m[:len(mine)] == mine {
				pipe.Del(ctx, m)
				keys = append(keys, m)
			}
		}
		pipe.ZRem(ctx, idx, redisArgs(batch)...)
		if _, err := pipe.Exec(ctx); err != nil {
			_ = s.invalidate(ctx, keys...)
			return redisUnavailable("revoke", err)
		}
	}
	if err := s.invalidate(ctx, keys...); err != nil {
		return redisUnavailable("revoke", err)
	}
	return nil
}

// redisArgs converts strings to the arguments go-redis takes.
func redisArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

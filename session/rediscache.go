package session

import (
	"context"
	"crypto/subtle"
	"sync"
	"time"
)

const (
	// maxRedisCacheTTL bounds RedisConfig.CacheTTL.
	maxRedisCacheTTL = 10 * time.Second
	// redisCacheBytes bounds the session data the cache of loaded sessions
	// holds, whatever its count.
	redisCacheBytes = 16 << 20
)

// redisCache is RedisStore's cache of loaded sessions (RedisConfig.CacheTTL),
// keyed by the SHA-256 of the session ID, as the session key is.
//
// It serves hits only while the subscription to the invalidation channel
// is confirmed. Every store that changes or deletes a session key drops
// its own entry and announces the key there, and each store drops the
// entries the channel names, and acknowledges that; the announcing store
// waits for every acknowledgement (see redisnotify.go). When the
// subscription breaks, or is made again (a reconnect may have lost
// announcements), the cache forgets everything; it serves nothing until
// Redis confirms a new subscription.
//
// A Load that misses reads Redis and then puts what it read. So that an
// announcement processed in between is not undone by that put, every
// announcement (of any session), reset and confirmation changes gen, and
// put only succeeds if gen is what it was before the read was sent.
// Announcements come from other connections than the reads, but Redis
// executes both in one order, and a store announces a change only once
// Redis has acknowledged it.
type redisCache struct {
	ttl     time.Duration
	channel string
	half    int // most entries of one generation

	mu        sync.Mutex
	cur, old  map[[32]byte]*redisEntry
	curBytes  int
	gen       uint64
	live      bool
	waiters   map[string]*ackWaiter // announcements of ours awaiting acknowledgements, by nonce
	stop      context.CancelFunc    // ends the subscriber; nil before Start
	done      chan struct{}         // closed when the subscriber has returned
	closed    bool
	testEvent func(event, payload string) // set by tests before Start
}

// redisEntry is one loaded session. It is never changed once put, and
// its session is never handed out: hits return copies.
type redisEntry struct {
	sess   Session
	secret [redisSecretLength]byte // the handle's; a hit needs the same
	size   int
	// fetched is when the read that produced the entry was sent, and
	// expires when Redis expires the key at the earliest, as far as this
	// store knows (fetched + PTTL, or the time of its own PEXPIRE + TTL).
	// Both on the monotonic clock.
	fetched, expires time.Time
	// deadline is the end of the session's absolute lifetime, on the
	// store's clock.
	deadline time.Time
}

func newRedisCache(ttl time.Duration, size int, channel string) *redisCache {
	return &redisCache{
		ttl:     ttl,
		channel: channel,
		half:    max(size/2, 1),
		cur:     make(map[[32]byte]*redisEntry),
		waiters: make(map[string]*ackWaiter),
	}
}

// lookup returns the entry for id if it may serve a hit at mono (a
// time.Now reading): the subscription is live, the entry belongs to the
// handle's secret, is younger than the TTL and its key has not expired.
func (c *redisCache) lookup(id [32]byte, secret []byte, mono time.Time) (*redisEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		return nil, false
	}
	e, ok := c.cur[id]
	if !ok {
		if e, ok = c.old[id]; !ok {
			return nil, false
		}
		delete(c.old, id)
		c.addLocked(id, e)
	}
	if subtle.ConstantTimeCompare(e.secret[:], secret) != 1 {
		return nil, false
	}
	if mono.Sub(e.fetched) >= c.ttl || !mono.Before(e.expires) {
		c.removeLocked(id)
		return nil, false
	}
	return e, true
}

// token returns what put needs to know that nothing was invalidated since;
// ok is false when the cache takes no entries (not subscribed).
func (c *redisCache) token() (gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.live
}

// put adds e for id unless anything was invalidated since token returned
// gen.
func (c *redisCache) put(id [32]byte, e *redisEntry, gen uint64) {
	if e.size > redisCacheBytes/2 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	c.removeLocked(id)
	c.addLocked(id, e)
}

// drop forgets the sessions of the given ID hashes; none: every session.
func (c *redisCache) drop(ids [][32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(ids) == 0 {
		c.cur, c.old, c.curBytes = make(map[[32]byte]*redisEntry), nil, 0
	}
	for _, id := range ids {
		c.removeLocked(id)
	}
}

// reset forgets every session; live tells whether hits may be served
// from now on. Acknowledgements awaited are given up: they may be lost.
func (c *redisCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	c.cur, c.old, c.curBytes = make(map[[32]byte]*redisEntry), nil, 0
	for _, w := range c.waiters {
		w.abandoned = true
		w.poke()
	}
}

// addLocked adds e to the current generation, first retiring it when it
// is full: entries in use move back from the old one (lookup), the rest
// are dropped with it.
func (c *redisCache) addLocked(id [32]byte, e *redisEntry) {
	if len(c.cur) >= c.half || c.curBytes+e.size > redisCacheBytes/2 {
		c.old, c.cur, c.curBytes = c.cur, make(map[[32]byte]*redisEntry, len(c.cur)), 0
	}
	c.cur[id] = e
	c.curBytes += e.size
}

func (c *redisCache) removeLocked(id [32]byte) {
	if e, ok := c.cur[id]; ok {
		c.curBytes -= e.size
		delete(c.cur, id)
	}
	delete(c.old, id)
}

// len returns the number of entries.
func (c *redisCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}

// Start subscribes the store to the announcements of changed and deleted
// sessions, which its cache of loaded sessions (RedisConfig.CacheTTL)
// needs before it serves any hit, and which carry the acknowledgements
// its own changes wait for. The subscriber runs in a goroutine until ctx
// ends or Close is called, and subscribes again whenever the
// subscription breaks; meanwhile the cache is empty, every Load reads
// Redis and changes do not wait. Start does nothing without CacheTTL, or
// when called again.
func (s *RedisStore) Start(ctx context.Context) {
	if s.cache != nil {
		s.cache.start(ctx, s.client)
	}
}

// Close stops what Start started and waits for it to end. The store goes
// on working, reading every session from Redis. It does not close the
// client.
func (s *RedisStore) Close() error {
	if s.cache != nil {
		s.cache.close()
	}
	return nil
}

// cached returns a copy of the session for the ID hashed to id from the
// cache of loaded sessions, if it may serve h. It leaves to Load, which
// reads Redis, sessions past their lifetime, due for refresh, or whose
// key's TTL has run down enough to be extended.
func (s *RedisStore) cached(id [32]byte, h redisHandle) (*Session, bool) {
	mono := time.Now()
	e, ok := s.cache.lookup(id, h.Secret, mono)
	if !ok {
		return nil, false
	}
	now := s.now()
	remaining := e.deadline.Sub(now)
	if remaining <= 0 || e.sess.NeedsRefresh(now, s.refreshSkew) ||
		min(s.idle, remaining)-e.expires.Sub(mono) > s.slack {
		return nil, false
	}
	return e.sess.clone(), true
}

// remember puts a session Load read into the cache of loaded sessions.
func (s *RedisStore) remember(id [32]byte, h redisHandle, sess *Session, fetched, expires, deadline time.Time, gen uint64) {
	e := &redisEntry{sess: *sess.clone(), fetched: fetched, expires: expires, deadline: deadline}
	copy(e.secret[:], h.Secret)
	e.size = sessionSize(sess) + cacheEntryOverhead
	s.cache.put(id, e, gen)
}

// invalidate drops the session keys from the store's own cache, announces
// them to every store's, and waits until each has acknowledged dropping
// them, for at most redisAckWait: after that, a store that was slow to
// read the announcement drops them when it does. Callers invalidate a key
// only once Redis has acknowledged its change (or failed to), so that a
// store that reads the key after the announcement sees the change. Its
// error is that of the announcement; waiting does not fail.
//
// Without a confirmed subscription of its own, the store cannot hear the
// acknowledgements: it announces without waiting.
func (s *RedisStore) invalidate(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	ids := make([][32]byte, len(keys))
	for i, k := range keys {
		var ok bool
		if ids[i], ok = sessionKeyHash(k); !ok {
			ids = nil // not a session key of ours: forget every session
			break
		}
	}
	var w *ackWaiter
	if s.cache != nil {
		s.cache.drop(ids)
		w = s.cache.await()
		defer s.cache.unawait(w)
	}
	// The change may be done in Redis: announce it even if the request
	// that made it has gone (a browser that hung up after its sign-out),
	// but within the caller's deadline, so a Redis that is down still
	// fails fast.
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
		defer cancel()
	} else {
		ctx = context.WithoutCancel(ctx)
	}
	n, err := publish(ctx, s.client, s.channel, invalidation(w.id(), ids))
	if err != nil {
		if s.cache == nil {
			// This store caches nothing (CacheTTL 0), so it may run where
			// pub/sub is not allowed (an ACL user without channel
			// rights): a store elsewhere that does cache still drops the
			// session within its TTL.
			return nil
		}
		return err
	}
	if w != nil {
		s.cache.wait(ctx, w, n)
	}
	return nil
}

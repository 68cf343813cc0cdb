package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The stores' caches of loaded sessions (RedisConfig.CacheTTL) keep each
// other current over one Redis pub/sub channel, KeyPrefix + "invalidate",
// which carries two kinds of message:
//
//	i NONCE HASH...  these sessions changed or ended: drop them
//	a NONCE          the announcement NONCE was acted on
//
// where each HASH is the hex SHA-256 that ends a session key (none: every
// session), and NONCE is random, or "-" when the announcing store does not
// wait for acknowledgements. Every store with a cache acknowledges every
// announcement, after it has dropped what it names. The announcing store
// learns from PUBLISH how many subscribers received its announcement and
// waits for as many acknowledgements, so that once a sign-out or
// revocation returns, no store serves the session from memory; a store
// that fails to acknowledge in time only delays it by redisAckWait.
const (
	// redisInvalidateChannel follows KeyPrefix in the channel's name.
	redisInvalidateChannel = "invalidate"
	// redisAckWait bounds the wait for acknowledgements.
	redisAckWait = 500 * time.Millisecond
	// redisPingEvery is how long the subscription may be silent before it
	// is pinged; unanswered for as long again, it counts as broken.
	redisPingEvery = time.Second
	// redisResubscribeMin and redisResubscribeMax bound the wait before
	// subscribing again after a failure (doubling while Redis is away).
	redisResubscribeMin = 50 * time.Millisecond
	redisResubscribeMax = 2 * time.Second
	// noAck is the nonce of announcements nobody waits for.
	noAck = "-"
)

// ackWaiter counts the acknowledgements of one announcement. Its fields
// are guarded by the cache's mutex.
type ackWaiter struct {
	nonce     string
	acks      int
	abandoned bool          // the subscription broke: they may be lost
	poked     chan struct{} // signalled on each change
}

// id returns the nonce to announce with.
func (w *ackWaiter) id() string {
	if w == nil {
		return noAck
	}
	return w.nonce
}

func (w *ackWaiter) poke() {
	select {
	case w.poked <- struct{}{}:
	default:
	}
}

// await registers a waiter for an announcement about to be made; nil
// when the subscription, which would hear the acknowledgements, is down.
func (c *redisCache) await() *ackWaiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		return nil
	}
	w := &ackWaiter{nonce: rand.Text()[:16], poked: make(chan struct{}, 1)}
	c.waiters[w.nonce] = w
	return w
}

// unawait forgets w.
func (c *redisCache) unawait(w *ackWaiter) {
	if w == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.waiters, w.nonce)
}

// acked counts an acknowledgement.
func (c *redisCache) acked(nonce string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w := c.waiters[nonce]; w != nil {
		w.acks++
		w.poke()
	}
}

// wait waits until w has n acknowledgements, or redisAckWait has passed,
// or ctx has ended, or the subscription broke.
func (c *redisCache) wait(ctx context.Context, w *ackWaiter, n int64) {
	if w == nil {
		return
	}
	t := time.NewTimer(redisAckWait)
	defer t.Stop()
	for {
		c.mu.Lock()
		done := int64(w.acks) >= n || w.abandoned
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-w.poked:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// publish publishes msg on channel and returns how many subscribers
// received it. On Redis Cluster, it goes to the master of the channel's
// slot, which is where go-redis subscribes, so that the count is theirs.
func publish(ctx context.Context, client redis.UniversalClient, channel, msg string) (int64, error) {
	cmd := redis.NewIntCmd(ctx, "publish", channel, msg)
	cmd.SetFirstKeyPos(1)
	_ = client.Process(ctx, cmd)
	return cmd.Result()
}

// invalidation returns the announcement of the sessions ids.
func invalidation(nonce string, ids [][32]byte) string {
	var b strings.Builder
	b.Grow(3 + len(nonce) + len(ids)*(2*len([32]byte{})+1))
	b.WriteString("i ")
	b.WriteString(nonce)
	for _, id := range ids {
		b.WriteByte(' ')
		b.WriteString(hex.EncodeToString(id[:]))
	}
	return b.String()
}

// parseMessage reads a message of the channel. For an announcement, ids
// nil means every session; ok is false for anything else.
func parseMessage(msg string) (kind byte, nonce string, ids [][32]byte, ok bool) {
	f := strings.Fields(msg)
	switch {
	case len(f) == 2 && f[0] == "a" && f[1] != noAck:
		return 'a', f[1], nil, true
	case len(f) >= 2 && f[0] == "i":
		for _, h := range f[2:] {
			id, ok := parseHash(h)
			if !ok {
				return 0, "", nil, false
			}
			ids = append(ids, id)
		}
		return 'i', f[1], ids, true
	}
	return 0, "", nil, false
}

// parseHash decodes 64 hex digits.
func parseHash(h string) (id [32]byte, ok bool) {
	if len(h) != 2*len(id) {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(h))
	return id, err == nil
}

// sessionKeyHash returns the hash that ends a session key.
func sessionKeyHash(key string) ([32]byte, bool) {
	if len(key) < 2*sha256.Size {
		return [32]byte{}, false
	}
	return parseHash(key[len(key)-2*sha256.Size:])
}

// start runs the subscriber until ctx ends or close is called; once.
func (c *redisCache) start(ctx context.Context, client redis.UniversalClient) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil || c.closed {
		return
	}
	ctx, c.stop = context.WithCancel(ctx)
	c.done = make(chan struct{})
	go c.subscriber(ctx, client)
}

// close stops the subscriber and waits for it to return. The cache then
// serves no hits.
func (c *redisCache) close() {
	c.mu.Lock()
	stop, done := c.stop, c.done
	c.closed = true
	c.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	c.reset(false)
}

// subscriber keeps the cache subscribed to its channel, subscribing again
// after every failure, until ctx ends or the client is closed.
func (c *redisCache) subscriber(ctx context.Context, client redis.UniversalClient) {
	defer close(c.done)
	wait := redisResubscribeMin
	for {
		confirmed, err := c.subscribe(ctx, client)
		c.reset(false)
		c.event("down", fmt.Sprint(err))
		if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
			return
		}
		if confirmed {
			wait = redisResubscribeMin
		} else {
			wait = min(2*wait, redisResubscribeMax)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// subscribe subscribes once and handles what arrives until the
// subscription fails, which it always does in the end (with ctx at the
// latest); confirmed tells whether Redis confirmed it.
func (c *redisCache) subscribe(ctx context.Context, client redis.UniversalClient) (confirmed bool, err error) {
	ps := client.Subscribe(ctx, c.channel) // errors come again from Receive
	defer ps.Close()
	// Receive does not watch ctx; closing ps ends it.
	defer context.AfterFunc(ctx, func() { _ = ps.Close() })()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, redisPingEvery)
		if err != nil {
			var ne net.Error
			if !pinged && errors.As(err, &ne) && ne.Timeout() {
				// Silence: a dead peer would not say so. A pong, or
				// anything else, within the next interval proves it alive.
				if err := ps.Ping(ctx); err != nil {
					return confirmed, err
				}
				pinged = true
				continue
			}
			return confirmed, err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" || m.Channel != c.channel {
				return confirmed, fmt.Errorf("session: unexpected %s on the invalidation subscription", m)
			}
			// A second confirmation means go-redis reconnected by itself:
			// what was announced meanwhile is lost, so forget everything.
			c.reset(true)
			confirmed = true
			c.event("live", "")
		case *redis.Message:
			c.handle(ctx, client, m.Payload)
			c.event("message", m.Payload)
		}
	}
}

// handle acts on a message of the channel.
func (c *redisCache) handle(ctx context.Context, client redis.UniversalClient, msg string) {
	kind, nonce, ids, ok := parseMessage(msg)
	switch {
	case !ok:
		c.drop(nil) // not ours to understand: forget every session
	case kind == 'a':
		c.acked(nonce)
	default:
		c.drop(ids)
		if nonce != noAck {
			ctx, cancel := context.WithTimeout(ctx, redisAckWait)
			_, _ = publish(ctx, client, c.channel, "a "+nonce)
			cancel()
		}
	}
}

// event tells a test what the subscriber did.
func (c *redisCache) event(event, payload string) {
	if c.testEvent != nil {
		c.testEvent(event, payload)
	}
}

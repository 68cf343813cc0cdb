package session_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/session/redistest"
	"github.com/gatehouse-proxy/gatehouse/session/storetest"
)

// The Redis store's caches spare decoding, never Redis: a session deleted,
// revoked or changed in Redis is seen at the next Load.
func TestRedisStoreCaches(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	client := redisClient(t, addr)
	prefix := redisPrefix()
	st := newRedisStore(t, session.RedisConfig{Client: client, KeyPrefix: prefix}, redisKeys(t), nil)
	want := storetest.FullSession(1000, 1200, 400)
	want.ID = ""
	jar := new(storetest.Jar)
	mustSave(t, st, jar, want)
	wantLoads(t, st, jar, want, "first Load")
	if h, p := session.RedisCacheLens(st); h != 1 || p != 1 {
		t.Fatalf("caches hold %d handles and %d payloads, want 1 and 1", h, p)
	}
	// The handle now comes from the cache: decoding is not needed.
	session.BreakRedisHandleDecoding(st)
	wantLoads(t, st, jar, want, "cached Load")
	got, err := loadFrom(st, jar)
	if err != nil {
		t.Fatal(err)
	}
	got.Identity.Groups[0] = "changed"
	wantLoads(t, st, jar, want, "Load after the caller changed its copy")

	// A changed payload is a miss and is opened (here: refused) again.
	keys, err := client.Keys(context.Background(), prefix+"s:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("session keys %v, %v", keys, err)
	}
	payload, err := client.Get(context.Background(), keys[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), payload...)
	tampered[len(tampered)-1] ^= 1
	if err := client.Set(context.Background(), keys[0], tampered, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := loadFrom(st, jar); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Load of a tampered payload: %v, want ErrNoSession", err)
	}
	if err := client.Set(context.Background(), keys[0], payload, 0).Err(); err != nil {
		t.Fatal(err)
	}
	wantLoads(t, st, jar, want, "Load of the restored payload")

	// A session gone from Redis is gone, whatever the caches hold.
	if err := client.Del(context.Background(), keys[0]).Err(); err != nil {
		t.Fatal(err)
	}
	wantGone(t, st, jar, "a session deleted in Redis")
}

func TestRedisStoreCacheOff(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	st := newRedisStore(t, session.RedisConfig{Client: redisClient(t, addr), KeyPrefix: redisPrefix(), Cookie: session.CookieConfig{CacheSize: -1}}, redisKeys(t), nil)
	want := storetest.FullSession(10, 10, 10)
	want.ID = ""
	jar := new(storetest.Jar)
	mustSave(t, st, jar, want)
	wantLoads(t, st, jar, want, "Load")
	if h, p := session.RedisCacheLens(st); h != 0 || p != 0 {
		t.Errorf("CacheSize -1: caches hold %d and %d", h, p)
	}
}

// getCounter counts the GET commands a client sends: one per Load that
// reads Redis.
type getCounter struct{ n atomic.Int64 }

func (g *getCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (g *getCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		g.count(cmd)
		return next(ctx, cmd)
	}
}
func (g *getCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			g.count(cmd)
		}
		return next(ctx, cmds)
	}
}
func (g *getCounter) count(cmd redis.Cmder) {
	if cmd.Name() == "get" {
		g.n.Add(1)
	}
}

// cacheEvents records what a store's cache subscriber did.
type cacheEvents struct {
	t  testing.TB
	ch chan [2]string
}

// cachedStore returns a RedisStore with cfg (its Client replaced by a new
// one for addr that counts GETs and speaks RESP2, as gatehouse's does),
// started, with its subscription confirmed.
func cachedStore(t testing.TB, addr string, cfg session.RedisConfig, keys session.Keys, now func() time.Time) (*session.RedisStore, *getCounter, *cacheEvents) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, Protocol: 2})
	t.Cleanup(func() { _ = c.Close() })
	gets := new(getCounter)
	c.AddHook(gets)
	cfg.Client = c
	st := newRedisStore(t, cfg, keys, now)
	ev := &cacheEvents{t: t, ch: make(chan [2]string, 1000)}
	session.OnRedisCacheEvent(st, func(event, payload string) {
		select {
		case ev.ch <- [2]string{event, payload}:
		default:
			t.Error("too many cache events unread")
		}
	})
	st.Start(context.Background())
	t.Cleanup(func() { _ = st.Close() })
	ev.wait("live", "")
	return st, gets, ev
}

// wait waits for the next event of kind whose payload contains
// payload, skipping others.
func (e *cacheEvents) wait(kind, payload string) {
	e.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ev[0] == kind && strings.Contains(ev[1], payload) {
				return
			}
		case <-timeout:
			e.t.Fatalf("no %q event with %q within 5s", kind, payload)
		}
	}
}

// keyHash is what announcements name a session by.
func keyHash(s *session.Session) string {
	sum := sha256.Sum256([]byte(s.ID))
	return hex.EncodeToString(sum[:])
}

// cachedLoads loads twice from st, checking that the second load was a
// hit.
func cachedLoads(t *testing.T, st session.Store, gets *getCounter, jar *storetest.Jar, want *session.Session, what string) {
	t.Helper()
	wantLoads(t, st, jar, want, what)
	before := gets.n.Load()
	wantLoads(t, st, jar, want, what+" (again)")
	if n := gets.n.Load() - before; n != 0 {
		t.Fatalf("%s: loading again read Redis %d times; want a hit", what, n)
	}
}

// Two stores with a long CacheTTL agree only through the announcements,
// and at once: whatever one changes or deletes, the other sees at its
// next Load, because the change returns only once the other has
// acknowledged dropping it.
func TestRedisStoreCacheInvalidation(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	cfg := session.RedisConfig{KeyPrefix: redisPrefix(), CacheTTL: 10 * time.Second}
	keys := redisKeys(t)
	a, _, _ := cachedStore(t, addr, cfg, keys, nil)
	b, bGets, _ := cachedStore(t, addr, cfg, keys, nil)
	login := func(sub, sid string) (*storetest.Jar, *session.Session) {
		s := storetest.FullSession(100, 100, 100)
		s.Identity.Subject, s.Identity.SID = sub, sid
		jar := new(storetest.Jar)
		mustSave(t, a, jar, s)
		cachedLoads(t, b, bGets, jar, s, "saved on A, loaded on B")
		return jar, s
	}

	jar, s := login("alice", "S1")
	s.AccessToken = "refreshed-on-A"
	mustSave(t, a, jar, s)
	cachedLoads(t, b, bGets, jar, s, "saved again on A")

	if err := a.Clear(httptest.NewRecorder(), storetest.Request(jar.Cookies())); err != nil {
		t.Fatal(err)
	}
	wantGone(t, b, jar, "cleared on A")

	jar, _ = login("alice", "S2")
	other, otherS := login("bob", "S3")
	if err := a.RevokeSID(t.Context(), "S2"); err != nil {
		t.Fatal(err)
	}
	wantGone(t, b, jar, "revoked by sid on A")
	cachedLoads(t, b, bGets, other, otherS, "another sid")

	jar1, _ := login("carol", "S4")
	jar2, _ := login("carol", "S5")
	if err := a.RevokeSubject(t.Context(), "carol"); err != nil {
		t.Fatal(err)
	}
	wantGone(t, b, jar1, "revoked by subject on A (1)")
	wantGone(t, b, jar2, "revoked by subject on A (2)")

	// A new login in the same browser deletes the old session.
	old := other.Cookies()
	mustSave(t, a, other, storetest.FullSession(10, 10, 10))
	if _, err := b.Load(storetest.Request(old)); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("the session a new login replaced: Load on B: %v; want ErrNoSession", err)
	}

	// The store's own changes need no announcement to reach its cache.
	jar, s = login("dave", "S6")
	s.AccessToken = "refreshed-on-B"
	mustSave(t, b, jar, s)
	cachedLoads(t, b, bGets, jar, s, "saved on B")
	if err := b.Clear(httptest.NewRecorder(), storetest.Request(jar.Cookies())); err != nil {
		t.Fatal(err)
	}
	wantGone(t, b, jar, "cleared on B")
}

// A subscriber that never acknowledges delays a change by a bounded wait,
// and does not fail it; a store without a subscription of its own does
// not wait.
func TestRedisStoreCacheUnacknowledged(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	cfg := session.RedisConfig{KeyPrefix: redisPrefix(), CacheTTL: 10 * time.Second}
	keys := redisKeys(t)
	a, _, _ := cachedStore(t, addr, cfg, keys, nil)
	s := storetest.FullSession(100, 100, 100)
	jar := new(storetest.Jar)
	start := time.Now()
	mustSave(t, a, jar, s)
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("Save acknowledged by its own store only took %v", d)
	}
	mute := redisClient(t, addr).Subscribe(t.Context(), cfg.KeyPrefix+"invalidate")
	t.Cleanup(func() { _ = mute.Close() })
	if _, err := mute.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := a.Clear(httptest.NewRecorder(), storetest.Request(jar.Cookies())); err != nil {
		t.Fatalf("Clear with a silent subscriber: %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("Clear with a silent subscriber took %v; want the bounded wait, about 500ms", d)
	}
	cfg.CacheTTL, cfg.Client = 0, redisClient(t, addr)
	plain := newRedisStore(t, cfg, keys, nil)
	start = time.Now()
	mustSave(t, plain, jar, storetest.FullSession(100, 100, 100))
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("Save without a cache took %v; want no wait", d)
	}
}

// Hits do not touch Redis, and copies are handed out; without CacheTTL,
// or before the subscription is confirmed, every Load reads Redis.
func TestRedisStoreCacheHits(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	keys := redisKeys(t)
	prefix := redisPrefix()
	st, gets, _ := cachedStore(t, addr, session.RedisConfig{KeyPrefix: prefix, CacheTTL: 10 * time.Second}, keys, nil)
	want := storetest.FullSession(1000, 1200, 400)
	jar := new(storetest.Jar)
	mustSave(t, st, jar, want)
	wantLoads(t, st, jar, want, "first Load")
	before := gets.n.Load()
	for range 10 {
		got, err := loadFrom(st, jar)
		if err != nil || !storetest.Equal(got, want) {
			t.Fatalf("Load = %+v, %v", got, err)
		}
		got.Identity.Groups[0], got.AccessToken = "changed", "changed"
	}
	if n := gets.n.Load() - before; n != 0 {
		t.Errorf("10 Loads within the TTL read Redis %d times; want 0", n)
	}
	if n := session.RedisLoadedLen(st); n != 1 {
		t.Errorf("cache holds %d sessions; want 1", n)
	}

	for _, tc := range []struct {
		name  string
		cfg   session.RedisConfig
		start bool
	}{
		{"CacheTTL 0", session.RedisConfig{KeyPrefix: prefix}, true},
		{"not started", session.RedisConfig{KeyPrefix: prefix, CacheTTL: 10 * time.Second}, false},
		{"CacheSize -1", session.RedisConfig{KeyPrefix: prefix, CacheTTL: 10 * time.Second, Cookie: session.CookieConfig{CacheSize: -1}}, true},
	} {
		c := redisClient(t, addr)
		gets := new(getCounter)
		c.AddHook(gets)
		tc.cfg.Client = c
		other := newRedisStore(t, tc.cfg, keys, nil)
		if tc.start {
			other.Start(t.Context())
			t.Cleanup(func() { _ = other.Close() })
		}
		for range 10 {
			wantLoads(t, other, jar, want, tc.name)
		}
		if n := gets.n.Load(); n != 10 {
			t.Errorf("%s: 10 Loads read Redis %d times; want 10", tc.name, n)
		}
	}
}

// The cache serves nothing it may have missed an announcement for: when
// the subscription breaks it forgets everything, and while Redis is away
// nothing is served at all.
func TestRedisStoreCacheSubscriptionLoss(t *testing.T) {
	quietRedis()
	addr, stop, restart := redistest.Start(t)
	prefix := redisPrefix()
	st, gets, events := cachedStore(t, addr, session.RedisConfig{KeyPrefix: prefix, CacheTTL: 10 * time.Second, Timeout: 500 * time.Millisecond}, redisKeys(t), nil)
	s := storetest.FullSession(100, 100, 100)
	jar := new(storetest.Jar)
	mustSave(t, st, jar, s)
	cachedLoads(t, st, gets, jar, s, "before")

	// Deleted behind the store's back, unannounced: the cache is stale.
	admin := redisClient(t, addr)
	if err := admin.Del(t.Context(), prefix+"s:"+keyHash(s)).Err(); err != nil {
		t.Fatal(err)
	}
	wantLoads(t, st, jar, s, "stale hit (the premise of this test)")
	if err := admin.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	events.wait("down", "")
	wantGone(t, st, jar, "after the subscription broke")
	events.wait("live", "")
	s = storetest.FullSession(100, 100, 100)
	jar = new(storetest.Jar)
	mustSave(t, st, jar, s)
	cachedLoads(t, st, gets, jar, s, "subscribed again")

	stop()
	events.wait("down", "")
	if _, err := loadFrom(st, jar); !errors.Is(err, session.ErrStoreUnavailable) {
		t.Errorf("Load with Redis down: %v; want ErrStoreUnavailable, not a hit", err)
	}
	restart()
	events.wait("live", "")
	wantGone(t, st, jar, "session lost with Redis's memory")
	s = storetest.FullSession(100, 100, 100)
	jar = new(storetest.Jar)
	mustSave(t, st, jar, s)
	cachedLoads(t, st, gets, jar, s, "after Redis came back")
}

// A subscription that goes silent, as a dead peer behind a dropped
// connection would, counts as broken once a ping goes unanswered.
func TestRedisStoreCacheSilentSubscription(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	st, gets, events := cachedStore(t, addr, session.RedisConfig{KeyPrefix: redisPrefix(), CacheTTL: 10 * time.Second}, redisKeys(t), nil)
	s := storetest.FullSession(100, 100, 100)
	jar := new(storetest.Jar)
	mustSave(t, st, jar, s)
	cachedLoads(t, st, gets, jar, s, "before")
	// Redis answers no one for 3.5s: the subscriber's ping neither.
	if err := redisClient(t, addr).Do(t.Context(), "CLIENT", "PAUSE", 3500, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	events.wait("down", "")
	if d := time.Since(paused); d > 3*time.Second {
		t.Errorf("a silent subscription was noticed after %v; want about 2s at most", d)
	}
	if n := session.RedisLoadedLen(st); n != 0 {
		t.Errorf("%d sessions cached after the subscription went silent", n)
	}
	events.wait("live", "")
	before := gets.n.Load()
	wantLoads(t, st, jar, s, "after the pause")
	if gets.n.Load() == before {
		t.Error("a session cached before the subscription broke was served after it")
	}
}

// Hits extend the idle timeout as Loads from Redis do: a session used
// only through hits outlives its idle timeout.
func TestRedisStoreCacheIdleExtension(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	prefix := redisPrefix()
	keys := redisKeys(t)
	const idle = 2 * time.Second // slack idle/16 = 125ms
	st, gets, events := cachedStore(t, addr, session.RedisConfig{KeyPrefix: prefix, CacheTTL: 10 * time.Second, IdleTimeout: idle}, keys, nil)
	s := storetest.FullSession(100, 100, 100)
	jar := new(storetest.Jar)
	mustSave(t, st, jar, s)
	start, loads := time.Now(), int64(0)
	for time.Since(start) < idle+time.Second {
		wantLoads(t, st, jar, s, "within the idle timeout")
		loads++
		time.Sleep(20 * time.Millisecond)
	}
	if n := gets.n.Load(); n > loads/2 {
		t.Errorf("%d of %d Loads read Redis; want most to be hits", n, loads)
	}
	ttl := redisClient(t, addr).PTTL(t.Context(), prefix+"s:"+keyHash(s)).Val()
	if ttl < idle-500*time.Millisecond {
		t.Errorf("TTL %v after %v of hits; want it extended to about %v", ttl, time.Since(start), idle)
	}
	plain := newRedisStore(t, session.RedisConfig{Client: redisClient(t, addr), KeyPrefix: prefix}, keys, nil)
	wantLoads(t, plain, jar, s, "from Redis after the idle timeout")
	// Seconds without announcements: the subscription stayed up (pings).
	for len(events.ch) > 0 {
		if ev := <-events.ch; ev[0] != "message" {
			t.Errorf("subscriber event %q %q while Redis was up", ev[0], ev[1])
		}
	}
}

// A session due for refresh is always read from Redis: the refresh that
// waits for another replica's, then loads again, must see its result.
func TestRedisStoreCacheSkipsSessionsDueForRefresh(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	st, gets, _ := cachedStore(t, addr, session.RedisConfig{KeyPrefix: redisPrefix(), CacheTTL: 10 * time.Second, RefreshSkew: time.Minute}, redisKeys(t), nil)
	s := storetest.FullSession(100, 100, 100)
	s.RefreshedAt, s.Expiry = time.Now().Add(-time.Hour).UTC().Truncate(time.Second), time.Now().Add(50*time.Second).UTC().Truncate(time.Second)
	jar := new(storetest.Jar)
	mustSave(t, st, jar, s)
	for range 5 {
		wantLoads(t, st, jar, s, "due for refresh")
	}
	if n := gets.n.Load(); n != 5 {
		t.Errorf("5 Loads of a session due for refresh read Redis %d times; want 5", n)
	}
}

func TestRedisStoreCacheConformance(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) session.Store {
		st, _, _ := cachedStore(t, addr, session.RedisConfig{KeyPrefix: redisPrefix(), CacheTTL: 10 * time.Second}, redisKeys(t), nil)
		return st
	})
}

func TestRedisStoreCacheConfig(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	c := redisClient(t, addr)
	for _, ttl := range []time.Duration{-time.Second, 11 * time.Second} {
		if _, err := session.NewRedisStore(session.RedisConfig{Client: c, CacheTTL: ttl}, redisKeys(t), nil); err == nil || !strings.HasPrefix(err.Error(), "session: ") {
			t.Errorf("CacheTTL %v: %v; want a session: error", ttl, err)
		}
	}
	if _, err := session.NewRedisStore(session.RedisConfig{Client: c, RefreshSkew: -time.Second}, redisKeys(t), nil); err == nil {
		t.Error("negative RefreshSkew accepted")
	}
	// Close before Start, and twice, is harmless; Start after Close does
	// nothing.
	st := newRedisStore(t, session.RedisConfig{Client: c, CacheTTL: time.Second}, redisKeys(t), nil)
	_ = st.Close()
	st.Start(t.Context())
	_ = st.Close()
}

// BenchmarkRedisStoreLoad measures Load of one session: from the cache of
// loaded sessions (hit) and from Redis (CacheTTL 0, a round trip to a
// local redis-server).
func BenchmarkRedisStoreLoad(b *testing.B) {
	addr, _, _ := redistest.Start(b)
	keys := redisKeys(b)
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"hit", 10 * time.Second}, {"nocache", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, Protocol: 2})
			b.Cleanup(func() { _ = c.Close() })
			st := newRedisStore(b, session.RedisConfig{Client: c, KeyPrefix: redisPrefix(), CacheTTL: bc.ttl}, keys, nil)
			live := make(chan struct{})
			if bc.ttl > 0 {
				var once sync.Once
				session.OnRedisCacheEvent(st, func(event, _ string) {
					if event == "live" {
						once.Do(func() { close(live) })
					}
				})
				st.Start(context.Background())
				b.Cleanup(func() { _ = st.Close() })
				<-live
			}
			jar := new(storetest.Jar)
			mustSave(b, st, jar, storetest.FullSession(1000, 1200, 400))
			r := storetest.Request(jar.Cookies())
			if _, err := st.Load(r); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Load(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// hookFunc runs f around every command a client sends.
type hookFunc func(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook) error

func (h hookFunc) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h hookFunc) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { return h(ctx, cmd, next) }
}
func (h hookFunc) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		// Each command of the pipeline goes through h; next sends them all.
		var err error
		sent := false
		for _, cmd := range cmds {
			if e := h(ctx, cmd, func(ctx context.Context, _ redis.Cmder) error {
				if !sent {
					sent, err = true, next(ctx, cmds)
				}
				return err
			}); e != nil && err == nil {
				err = e
			}
		}
		return err
	}
}

// A sign-out is announced even when the browser hangs up once Redis has
// deleted its session: the other stores must not go on serving it.
func TestRedisStoreCacheAnnouncesAfterHangUp(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	cfg := session.RedisConfig{KeyPrefix: redisPrefix(), CacheTTL: 10 * time.Second}
	keys := redisKeys(t)
	b, bGets, _ := cachedStore(t, addr, cfg, keys, nil)

	ctx, hangUp := context.WithCancel(context.Background())
	defer hangUp()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, Protocol: 2})
	t.Cleanup(func() { _ = c.Close() })
	c.AddHook(hookFunc(func(cctx context.Context, cmd redis.Cmder, next redis.ProcessHook) error {
		err := next(cctx, cmd)
		if cmd.Name() == "del" {
			hangUp() // the request's context ends right after the delete
		}
		return err
	}))
	acfg := cfg
	acfg.Client = c
	a := newRedisStore(t, acfg, keys, nil)
	a.Start(context.Background())
	t.Cleanup(func() { _ = a.Close() })

	s := storetest.FullSession(10, 10, 10)
	jar := new(storetest.Jar)
	mustSave(t, a, jar, s)
	cachedLoads(t, b, bGets, jar, s, "saved on A, loaded on B")
	_ = a.Clear(httptest.NewRecorder(), storetest.Request(jar.Cookies()).WithContext(ctx))
	if ctx.Err() == nil {
		t.Fatal("Clear sent no DEL")
	}
	// B drops it when the announcement arrives; without one it would serve
	// it for its 10 s TTL.
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := b.Load(storetest.Request(jar.Cookies()))
		if errors.Is(err, session.ErrNoSession) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still serves the session A deleted for a request that hung up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Where pub/sub is refused (an ACL user without channel rights), a store
// without a cache still saves and clears; a store with one fails closed.
func TestRedisStorePublishRefused(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	refuse := hookFunc(func(ctx context.Context, cmd redis.Cmder, next redis.ProcessHook) error {
		if cmd.Name() == "publish" {
			err := errors.New("NOPERM this user has no permissions to access one of the channels")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	})
	for _, ttl := range []time.Duration{0, time.Second} {
		c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, Protocol: 2})
		t.Cleanup(func() { _ = c.Close() })
		c.AddHook(refuse)
		st := newRedisStore(t, session.RedisConfig{Client: c, KeyPrefix: redisPrefix(), CacheTTL: ttl}, redisKeys(t), nil)
		jar := new(storetest.Jar)
		w := httptest.NewRecorder()
		err := st.Save(w, storetest.Request(nil), storetest.FullSession(10, 10, 10))
		switch {
		case ttl == 0 && err != nil:
			t.Errorf("CacheTTL 0: Save with PUBLISH refused: %v", err)
		case ttl > 0 && !errors.Is(err, session.ErrStoreUnavailable):
			t.Errorf("CacheTTL %v: Save with PUBLISH refused: %v; want ErrStoreUnavailable", ttl, err)
		}
		if ttl == 0 {
			jar.Update(w)
			if err := st.Clear(httptest.NewRecorder(), storetest.Request(jar.Cookies())); err != nil {
				t.Errorf("CacheTTL 0: Clear with PUBLISH refused: %v", err)
			}
			if _, err := st.Load(storetest.Request(jar.Cookies())); !errors.Is(err, session.ErrNoSession) {
				t.Errorf("CacheTTL 0: Load after Clear: %v; want ErrNoSession", err)
			}
		}
	}
}

// Revoking more sessions than one batch waits for acknowledgements once,
// so a subscriber that never acknowledges (a dead replica, a stray
// redis-cli) delays a large revocation by one wait, not one per batch.
func TestRedisStoreCacheRevokesManyWithOneWait(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	prefix := redisPrefix()
	cfg := session.RedisConfig{KeyPrefix: prefix, CacheTTL: 10 * time.Second}
	keys := redisKeys(t)
	a, _, aEv := cachedStore(t, addr, cfg, keys, nil)
	b, bGets, bEv := cachedStore(t, addr, cfg, keys, nil)
	for _, ev := range []*cacheEvents{aEv, bEv} {
		go func() { // thousands of events; none is looked at
			for {
				select {
				case <-ev.ch:
				case <-t.Context().Done():
					return
				}
			}
		}()
	}
	const n = 1300 // six batches
	var first *storetest.Jar
	var firstS *session.Session
	for i := range n {
		s := storetest.FullSession(10, 10, 10)
		s.Identity.Subject = "many"
		jar := new(storetest.Jar)
		mustSave(t, a, jar, s)
		if i == 0 {
			first, firstS = jar, s
		}
	}
	cachedLoads(t, b, bGets, first, firstS, "one of many, on B")

	stray := redisClient(t, addr).Subscribe(t.Context(), prefix+"invalidate")
	t.Cleanup(func() { _ = stray.Close() })
	if _, err := stray.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeSubject(t.Context(), "many"); err != nil {
		t.Fatalf("revoking %d sessions with a subscriber that never acknowledges: %v", n, err)
	}
	wantGone(t, b, first, "revoked by subject on A")
}

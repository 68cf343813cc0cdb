package session_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/session/redistest"
	"github.com/gatehouse-proxy/gatehouse/session/storetest"
)

// redisClient returns a client for addr, closed when the test ends.
func redisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// quietRedis stops go-redis from logging the dial failures of outages
// that tests cause on purpose.
func quietRedis() { redis.SetLogger(&logging.VoidLogger{}) }

// redisPrefix returns a key prefix no other store in the test uses.
func redisPrefix() string { return "test:" + session.NewRandom()[:12] + ":" }

// redisKeys returns fresh random keys.
func redisKeys(t testing.TB) session.Keys {
	t.Helper()
	k, err := session.ParseKeys([]byte(session.NewRandom()))
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	return k
}

// newRedisStore returns a store over c, failing the test on error.
func newRedisStore(t testing.TB, cfg session.RedisConfig, keys session.Keys, now func() time.Time) *session.RedisStore {
	t.Helper()
	st, err := session.NewRedisStore(cfg, keys, now)
	if err != nil {
		t.Fatalf("NewRedisStore: %v", err)
	}
	return st
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// saveTo saves s with the jar's cookies and updates the jar.
func saveTo(t testing.TB, st session.Store, jar *storetest.Jar, s *session.Session) error {
	t.Helper()
	rec := httptest.NewRecorder()
	err := st.Save(rec, storetest.Request(jar.Cookies()), s)
	jar.Update(rec)
	return err
}

// mustSave is saveTo that fails the test on error.
func mustSave(t testing.TB, st session.Store, jar *storetest.Jar, s *session.Session) {
	t.Helper()
	if err := saveTo(t, st, jar, s); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// loadFrom loads with the jar's cookies.
func loadFrom(st session.Store, jar *storetest.Jar) (*session.Session, error) {
	return st.Load(storetest.Request(jar.Cookies()))
}

// wantGone checks that the jar's session does not load.
func wantGone(t testing.TB, st session.Store, jar *storetest.Jar, what string) {
	t.Helper()
	if s, err := loadFrom(st, jar); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("%s: Load = %v, %v; want ErrNoSession", what, s, err)
	}
}

// wantLoads checks that the jar's session loads as want.
func wantLoads(t testing.TB, st session.Store, jar *storetest.Jar, want *session.Session, what string) {
	t.Helper()
	got, err := loadFrom(st, jar)
	if err != nil {
		t.Fatalf("%s: Load: %v", what, err)
	}
	if !storetest.Equal(got, want) {
		t.Errorf("%s: Load = %+v\nwant %+v", what, got, want)
	}
}

func TestRedisStoreConformance(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	c := redisClient(t, addr)
	storetest.Run(t, func(t *testing.T) session.Store {
		return newRedisStore(t, session.RedisConfig{Client: c, KeyPrefix: redisPrefix()}, redisKeys(t), nil)
	})
}

func TestRedisStoreConfig(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	c := redisClient(t, addr)
	keys := redisKeys(t)
	for _, cfg := range []session.RedisConfig{
		{},
		{Client: c, IdleTimeout: time.Millisecond},
		{Client: c, Timeout: -time.Second},
		{Client: c, Cookie: session.CookieConfig{Lifetime: time.Millisecond}},
		{Client: c, Cookie: session.CookieConfig{Name: "__Host-x"}},
		{Client: c, Cookie: session.CookieConfig{SameSite: http.SameSiteNoneMode}},
	} {
		if _, err := session.NewRedisStore(cfg, keys, nil); err == nil || !strings.HasPrefix(err.Error(), "session: ") {
			t.Errorf("NewRedisStore(%+v) = %v; want a session: error", cfg, err)
		}
	}
	if _, err := session.NewRedisStore(session.RedisConfig{Client: c}, session.Keys{}, nil); err == nil {
		t.Error("NewRedisStore with no keys succeeded")
	}
	st := newRedisStore(t, session.RedisConfig{Client: c, Cookie: session.CookieConfig{Secure: true}}, keys, nil)
	if got := st.CookieName(); got != "__Host-gatehouse" {
		t.Errorf("CookieName = %q", got)
	}
	if err := st.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	jar := new(storetest.Jar)
	rec := httptest.NewRecorder()
	s := storetest.FullSession(100, 100, 100)
	if err := st.Save(rec, storetest.Request(nil), s); err != nil {
		t.Fatal(err)
	}
	jar.Update(rec)
	cs := rec.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != "__Host-gatehouse" || !cs[0].Secure || !cs[0].HttpOnly || cs[0].Path != "/" ||
		cs[0].SameSite != http.SameSiteLaxMode || cs[0].MaxAge < 24*3600-120 || cs[0].MaxAge > 24*3600 || len(cs[0].Value) > 600 {
		t.Errorf("Save set %+v; want one small __Host- cookie, Secure, HttpOnly, Path=/, Lax, Max-Age ≈ 24h less a minute", cs)
	}
	// An empty ID is filled in; a short one is refused.
	s = storetest.FullSession(0, 10, 10)
	s.ID = ""
	mustSave(t, st, jar, s)
	if len(s.ID) < 43 {
		t.Errorf("Save left ID %q", s.ID)
	}
	wantLoads(t, st, jar, s, "generated ID")
	s.ID = "short"
	if err := st.Save(httptest.NewRecorder(), storetest.Request(nil), s); err == nil {
		t.Error("Save with a 5-byte ID succeeded")
	}
}

func TestRedisStoreNoPlaintext(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	c := redisClient(t, addr)
	prefix := redisPrefix()
	st := newRedisStore(t, session.RedisConfig{Client: c, KeyPrefix: prefix}, redisKeys(t), nil)
	s := storetest.FullSession(900, 800, 300)
	s.Identity.PreferredUsername, s.Identity.Email, s.Identity.Name = "alice", "alice@example.com", "Alice"
	jar := new(storetest.Jar)
	mustSave(t, st, jar, s)

	keys, err := c.Keys(t.Context(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 { // session, sid index, sub index
		t.Errorf("keys %q; want a session and two indexes", keys)
	}
	secrets := []string{"alice", s.IDToken[:40], s.AccessToken[:40], s.RefreshToken[:40], s.ID, s.Identity.Subject, s.Identity.SID}
	found := 0
	for _, k := range keys {
		var dump string
		switch typ := c.Type(t.Context(), k).Val(); typ {
		case "string":
			found++
			dump = c.Get(t.Context(), k).Val()
		case "zset":
			dump = strings.Join(c.ZRange(t.Context(), k, 0, -1).Val(), " ")
		default:
			t.Errorf("key %s has type %s", k, typ)
		}
		for _, secret := range secrets {
			if strings.Contains(k, secret) || strings.Contains(dump, secret) {
				t.Errorf("key %s or its value contains %.20q", k, secret)
			}
		}
	}
	if found != 1 {
		t.Errorf("%d session keys; want 1", found)
	}
	for _, ck := range jar.Cookies() {
		for _, secret := range secrets {
			if strings.Contains(ck.Value, secret) {
				t.Errorf("cookie %s contains %.20q", ck.Name, secret)
			}
		}
	}
}

func TestRedisStoreReplicas(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	cfg := session.RedisConfig{KeyPrefix: redisPrefix()}
	keys := redisKeys(t)
	cfg.Client = redisClient(t, addr)
	a := newRedisStore(t, cfg, keys, nil)
	cfg.Client = redisClient(t, addr)
	b := newRedisStore(t, cfg, keys, nil)

	s := storetest.FullSession(900, 800, 300)
	jar := new(storetest.Jar)
	mustSave(t, a, jar, s)
	wantLoads(t, b, jar, s, "saved on A, loaded on B")

	// A refresh on B keeps the handle: a request still carrying the old
	// cookie (another tab) sees the new tokens.
	old := jar.Cookies()
	s.AccessToken, s.RefreshedAt = "new-access-token", time.Now().UTC().Truncate(time.Second)
	mustSave(t, b, jar, s)
	got, err := a.Load(storetest.Request(old))
	if err != nil || got.AccessToken != "new-access-token" {
		t.Errorf("old cookie after refresh on B: Load = %v, %v; want the new tokens", got, err)
	}
	wantLoads(t, a, jar, s, "refreshed on B, loaded on A")

	// A new login in the same browser gets a new handle and ends the
	// old session (case 82: nothing from before login is reused).
	s2 := storetest.FullSession(100, 100, 100)
	mustSave(t, a, jar, s2)
	if jar.Cookies()[0].Value == old[0].Value {
		t.Error("new session kept the old cookie")
	}
	if _, err := b.Load(storetest.Request(old)); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("pre-login cookie after a new login: Load error %v; want ErrNoSession", err)
	}
	wantLoads(t, b, jar, s2, "new login")

	rec := httptest.NewRecorder()
	if err := a.Clear(rec, storetest.Request(jar.Cookies())); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	cleared := jar.Cookies()
	jar.Update(rec)
	if len(jar.Cookies()) != 0 {
		t.Errorf("Clear left cookies %v", jar.Cookies())
	}
	if _, err := b.Load(storetest.Request(cleared)); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("replayed cookie after Clear on A: Load on B error %v; want ErrNoSession (case 84)", err)
	}
	// Saving the cleared session again through its old handle does not
	// revive it.
	if err := b.Save(httptest.NewRecorder(), storetest.Request(cleared), s2); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Save of a cleared session through its handle: %v; want ErrNoSession", err)
	}
}

func TestRedisStoreRevoke(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	c := redisClient(t, addr)
	prefix := redisPrefix()
	st := newRedisStore(t, session.RedisConfig{Client: c, KeyPrefix: prefix}, redisKeys(t), nil)
	var revoker session.Revoker = st
	login := func(sub, sid string) (*storetest.Jar, *session.Session) {
		s := storetest.FullSession(100, 100, 100)
		s.Identity.Subject, s.Identity.SID = sub, sid
		jar := new(storetest.Jar)
		mustSave(t, st, jar, s)
		return jar, s
	}
	alice1a, _ := login("alice", "S1")
	alice1b, _ := login("alice", "S1") // a second app session of the same IdP session
	alice2, alice2s := login("alice", "S2")
	bob, bobS := login("bob", "S3")

	if err := revoker.RevokeSID(t.Context(), "S1"); err != nil {
		t.Fatalf("RevokeSID: %v", err)
	}
	wantGone(t, st, alice1a, "alice S1 (a) after RevokeSID S1")
	wantGone(t, st, alice1b, "alice S1 (b) after RevokeSID S1")
	wantLoads(t, st, alice2, alice2s, "alice S2 after RevokeSID S1 (case 92h)")
	wantLoads(t, st, bob, bobS, "bob after RevokeSID S1")

	// A login for a revoked sid that arrives after its logout loses.
	late := storetest.FullSession(100, 100, 100)
	late.Identity.Subject, late.Identity.SID = "alice", "S1"
	if err := saveTo(t, st, new(storetest.Jar), late); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Save for a revoked sid: %v; want ErrNoSession", err)
	}
	// Replaying the logout is harmless.
	if err := revoker.RevokeSID(t.Context(), "S1"); err != nil {
		t.Errorf("RevokeSID again: %v", err)
	}

	if err := revoker.RevokeSubject(t.Context(), "alice"); err != nil {
		t.Fatalf("RevokeSubject: %v", err)
	}
	wantGone(t, st, alice2, "alice S2 after RevokeSubject alice")
	wantLoads(t, st, bob, bobS, "bob after RevokeSubject alice")
	// A refresh racing the revocation does not revive the session.
	if err := saveTo(t, st, alice2, alice2s); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("refresh after RevokeSubject: %v; want ErrNoSession", err)
	}
	// Alice may log in again after a subject-wide logout.
	again, againS := login("alice", "S4")
	wantLoads(t, st, again, againS, "alice logs in again")

	if err := revoker.RevokeSubject(t.Context(), "nobody"); err != nil {
		t.Errorf("RevokeSubject without sessions: %v", err)
	}
	if revoker.RevokeSID(t.Context(), "") == nil || revoker.RevokeSubject(t.Context(), "") == nil {
		t.Error("revoking an empty sid or subject succeeded")
	}
	// Indexes have TTLs.
	keys, _ := c.Keys(t.Context(), prefix+"*").Result()
	for _, k := range keys {
		if ttl := c.PTTL(t.Context(), k).Val(); ttl <= 0 {
			t.Errorf("key %s has TTL %v; want one", k, ttl)
		}
	}
}

func TestRedisStoreExpiry(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	c := redisClient(t, addr)
	prefix := redisPrefix()
	clock := &testClock{t: time.Now()}
	st := newRedisStore(t, session.RedisConfig{
		Client: c, KeyPrefix: prefix, IdleTimeout: 2 * time.Second,
		Cookie: session.CookieConfig{Lifetime: time.Hour},
	}, redisKeys(t), clock.Now)
	sessionTTL := func() time.Duration {
		t.Helper()
		keys, err := c.Keys(t.Context(), prefix+"s:*").Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("session keys %q, %v; want one", keys, err)
		}
		return c.PTTL(t.Context(), keys[0]).Val()
	}

	s := storetest.FullSession(10, 10, 10)
	s.CreatedAt = clock.Now().Add(-time.Minute)
	jar := new(storetest.Jar)
	mustSave(t, st, jar, s)
	if ttl := sessionTTL(); ttl <= 1500*time.Millisecond || ttl > 2*time.Second {
		t.Errorf("TTL after Save = %v; want the 2s idle timeout", ttl)
	}
	time.Sleep(500 * time.Millisecond)
	wantLoads(t, st, jar, s, "within the idle timeout")
	if ttl := sessionTTL(); ttl <= 1800*time.Millisecond {
		t.Errorf("TTL after Load = %v; want it extended to about 2s", ttl)
	}

	// Near the end of the absolute lifetime, the TTL and Max-Age shrink.
	clock.Set(s.CreatedAt.Add(time.Hour - 1500*time.Millisecond))
	rec := httptest.NewRecorder()
	if err := st.Save(rec, storetest.Request(jar.Cookies()), s); err != nil {
		t.Fatal(err)
	}
	if ttl := sessionTTL(); ttl > 1500*time.Millisecond {
		t.Errorf("TTL 1.5s before the lifetime ends = %v; want at most 1.5s", ttl)
	}
	if cs := rec.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge != 1 {
		t.Errorf("cookies 1.5s before the lifetime ends: %+v; want Max-Age 1", cs)
	}
	// Load checks the lifetime itself, with the store's clock.
	clock.Set(s.CreatedAt.Add(time.Hour))
	wantGone(t, st, jar, "at the end of the lifetime")
	if err := saveTo(t, st, jar, s); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Save after the lifetime: %v; want ErrNoSession", err)
	}

	// Unused for longer than the idle timeout: gone.
	clock.Set(time.Now())
	s = storetest.FullSession(10, 10, 10)
	jar = new(storetest.Jar)
	mustSave(t, st, jar, s)
	time.Sleep(2500 * time.Millisecond)
	wantGone(t, st, jar, "idle for 2.5s")
}

func TestRedisStoreUnavailable(t *testing.T) {
	quietRedis()
	addr, stop, restart := redistest.Start(t)
	c := redisClient(t, addr)
	const timeout = 500 * time.Millisecond
	st := newRedisStore(t, session.RedisConfig{Client: c, KeyPrefix: redisPrefix(), Timeout: timeout}, redisKeys(t), nil)
	jar := new(storetest.Jar)
	mustSave(t, st, jar, storetest.FullSession(100, 100, 100))
	stop()

	wantUnavailable := func(what string, err error, took time.Duration) {
		t.Helper()
		if !errors.Is(err, session.ErrStoreUnavailable) || errors.Is(err, session.ErrNoSession) || !strings.HasPrefix(err.Error(), "session: ") {
			t.Errorf("%s with Redis down: %v; want ErrStoreUnavailable", what, err)
		}
		if took > timeout+500*time.Millisecond {
			t.Errorf("%s with Redis down took %v; want at most about %v", what, took, timeout)
		}
	}
	start := time.Now()
	_, err := loadFrom(st, jar)
	wantUnavailable("Load", err, time.Since(start))
	t.Logf("first Load with Redis down: %v after %v", err, time.Since(start))

	rec := httptest.NewRecorder()
	start = time.Now()
	err = st.Save(rec, storetest.Request(nil), storetest.FullSession(100, 100, 100))
	wantUnavailable("Save", err, time.Since(start))
	if len(rec.Result().Cookies()) != 0 {
		t.Error("failed Save set a cookie")
	}
	rec = httptest.NewRecorder()
	start = time.Now()
	err = st.Clear(rec, storetest.Request(jar.Cookies()))
	wantUnavailable("Clear", err, time.Since(start))
	if cs := rec.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("failed Clear set %+v; want the cookie expired anyway", cs)
	}
	start = time.Now()
	wantUnavailable("Ping", st.Ping(t.Context()), time.Since(start))
	start = time.Now()
	wantUnavailable("RevokeSID", st.RevokeSID(t.Context(), "x"), time.Since(start))

	// Failed calls cost no goroutines.
	before := runtime.NumGoroutine()
	start = time.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 20 {
				if _, err := loadFrom(st, jar); !errors.Is(err, session.ErrStoreUnavailable) {
					t.Errorf("Load with Redis down: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("200 Loads with Redis down took %v", time.Since(start))
	time.Sleep(100 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Errorf("goroutines: %d before 200 failed Loads, %d after", before, after)
	}

	// Redis comes back, empty: the same store works again.
	restart()
	deadline := time.Now().Add(10 * time.Second)
	for st.Ping(t.Context()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store still unavailable 10s after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantGone(t, st, jar, "session lost with Redis's memory")
	s := storetest.FullSession(100, 100, 100)
	mustSave(t, st, jar, s)
	wantLoads(t, st, jar, s, "after Redis came back")
}

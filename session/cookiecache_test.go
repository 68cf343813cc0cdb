package session_test

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/session/storetest"
)

// savedCookies saves s in st and returns the cookies a browser would send.
func savedCookies(t testing.TB, st session.Store, s *session.Session) []*http.Cookie {
	t.Helper()
	jar := new(storetest.Jar)
	save(t, st, jar, s)
	return jar.Cookies()
}

func mustLoad(t *testing.T, st session.Store, cookies []*http.Cookie) *session.Session {
	t.Helper()
	got, err := st.Load(storetest.Request(cookies))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return got
}

func TestCookieCacheHitReturnsCopies(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil)
	want := storetest.FullSession(1000, 1200, 400)
	cookies := savedCookies(t, st, want)
	first := mustLoad(t, st, cookies)
	if n := session.CookieCacheLen(st); n != 1 {
		t.Fatalf("cache holds %d sessions after one Load, want 1", n)
	}
	session.BreakCookieDecoding(st)
	// The same bytes load without decoding: from the cache.
	second := mustLoad(t, st, cookies)
	if !storetest.Equal(second, want) || !storetest.Equal(first, want) {
		t.Fatal("cached session differs from the saved one")
	}
	if first == second {
		t.Fatal("two Loads returned the same *Session")
	}
	// Callers may change what they got without changing the cache.
	second.Identity.Groups[0] = "root"
	second.Identity.Scopes = append(second.Identity.Scopes, "admin")
	second.AccessToken = "changed"
	third := mustLoad(t, st, cookies)
	if !storetest.Equal(third, want) {
		t.Fatal("changing a loaded session changed the cached one")
	}
}

func TestCookieCacheMissOnAnyChange(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil)
	// Three chunks, so that a change in any of them is tried.
	cookies := savedCookies(t, st, storetest.FullSession(3000, 2000, 1000))
	if len(cookies) < 3 {
		t.Fatalf("%d chunks, want 3", len(cookies))
	}
	mustLoad(t, st, cookies)
	other := savedCookies(t, st, storetest.FullSession(10, 10, 10)) // valid, never loaded
	session.BreakCookieDecoding(st)
	mustLoad(t, st, cookies)

	clone := func() []*http.Cookie {
		out := make([]*http.Cookie, len(cookies))
		for i, c := range cookies {
			cc := *c
			out[i] = &cc
		}
		return out
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	cases := map[string]func() []*http.Cookie{
		"first byte": func() []*http.Cookie { c := clone(); c[0].Value = flip(c[0].Value, 0); return c },
		"last byte": func() []*http.Cookie {
			c := clone()
			n := len(c) - 1
			c[n].Value = flip(c[n].Value, len(c[n].Value)-1)
			return c
		},
		"middle chunk":         func() []*http.Cookie { c := clone(); c[1].Value = flip(c[1].Value, 100); return c },
		"last chunk missing":   func() []*http.Cookie { return clone()[:len(cookies)-1] },
		"a byte more":          func() []*http.Cookie { c := clone(); n := len(c) - 1; c[n].Value += "A"; return c },
		"another valid cookie": func() []*http.Cookie { return other },
	}
	for name, mk := range cases {
		if _, err := st.Load(storetest.Request(mk())); !errors.Is(err, session.ErrNoSession) {
			t.Errorf("%s: Load = %v, want a cache miss (ErrNoSession with decoding broken)", name, err)
		}
	}
}

func TestCookieCacheLifetime(t *testing.T) {
	clk := newClock()
	st := newCookieStore(t, session.CookieConfig{Lifetime: time.Hour}, randomKeys(t), clk.Now)
	s := storetest.FullSession(100, 100, 100)
	s.CreatedAt = clk.Now()
	cookies := savedCookies(t, st, s)
	mustLoad(t, st, cookies)
	clk.Advance(59 * time.Minute)
	mustLoad(t, st, cookies)
	clk.Advance(time.Minute)
	if _, err := st.Load(storetest.Request(cookies)); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("Load after the lifetime: %v, want ErrNoSession", err)
	}
	if n := session.CookieCacheLen(st); n != 0 {
		t.Errorf("an expired session stays cached (%d entries)", n)
	}

	// The signed timestamp securecookie checks with the wall clock is
	// checked on hits too.
	st = newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil)
	cookies = savedCookies(t, st, storetest.FullSession(100, 100, 100))
	mustLoad(t, st, cookies)
	session.ExpireCookieCacheSignatures(st)
	if _, err := st.Load(storetest.Request(cookies)); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("Load past the signed timestamp's MaxAge: %v, want ErrNoSession", err)
	}
}

func TestCookieCacheSignedTimestamp(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil)
	cookies := savedCookies(t, st, storetest.FullSession(100, 100, 100))
	ts, ok := session.SignedTimestamp(cookies[0].Value)
	if now := time.Now().Unix(); !ok || ts < now-5 || ts > now+5 {
		t.Fatalf("SignedTimestamp = %d, %v; want about %d", ts, ok, now)
	}
	for _, bad := range []string{"", "short", "!!!!notbase64notbase64notbase64!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if _, ok := session.SignedTimestamp(bad); ok {
			t.Errorf("SignedTimestamp(%q) succeeded", bad)
		}
	}
}

func TestCookieCacheBounded(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{CacheSize: 8}, randomKeys(t), nil)
	var all [][]*http.Cookie
	for range 50 {
		c := savedCookies(t, st, storetest.FullSession(100, 100, 100))
		mustLoad(t, st, c)
		all = append(all, c)
		if n := session.CookieCacheLen(st); n > 8 {
			t.Fatalf("cache holds %d sessions, over its size of 8", n)
		}
	}
	// Evicted sessions still load (by decoding).
	for _, c := range all {
		mustLoad(t, st, c)
	}
	// Large sessions are bounded by bytes as well: 8 MiB of each
	// generation hold fewer than 4096 sessions of 10 KB.
	big := newCookieStore(t, session.CookieConfig{MaxChunks: 10}, randomKeys(t), nil)
	for range 2000 {
		mustLoad(t, big, savedCookies(t, big, storetest.FullSession(6000, 3000, 1000)))
	}
	if n := session.CookieCacheLen(big); n >= 2000 || n < 100 {
		t.Errorf("cache of 10 KB sessions holds %d entries, want a byte-bounded number", n)
	}

	off := newCookieStore(t, session.CookieConfig{CacheSize: -1}, randomKeys(t), nil)
	c := savedCookies(t, off, storetest.FullSession(10, 10, 10))
	mustLoad(t, off, c)
	if n := session.CookieCacheLen(off); n != 0 {
		t.Errorf("CacheSize -1 cached %d sessions", n)
	}
}

func TestCookieCacheKeepsNoInvalidCookies(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil)
	foreign := savedCookies(t, newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil), storetest.FullSession(10, 10, 10))
	for _, cs := range [][]*http.Cookie{
		foreign,
		{{Name: "gatehouse", Value: "garbage"}},
		{{Name: "gatehouse", Value: foreign[0].Value[:len(foreign[0].Value)-4]}},
	} {
		if _, err := st.Load(storetest.Request(cs)); !errors.Is(err, session.ErrNoSession) {
			t.Fatalf("Load = %v, want ErrNoSession", err)
		}
	}
	if n := session.CookieCacheLen(st); n != 0 {
		t.Errorf("%d invalid cookies cached", n)
	}
}

func TestCookieCacheConcurrent(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{CacheSize: 16}, randomKeys(t), nil)
	type pair struct {
		cookies []*http.Cookie
		want    *session.Session
	}
	var pairs []pair
	for i := range 40 {
		s := storetest.FullSession(100+i, 100, 100)
		pairs = append(pairs, pair{savedCookies(t, st, s), s})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 400 {
				p := pairs[(g*7+i)%len(pairs)]
				if i%3 == 0 {
					p = pairs[g%2] // a few hot sessions
				}
				got, err := st.Load(storetest.Request(p.cookies))
				if err != nil || !storetest.Equal(got, p.want) {
					errs <- fmt.Errorf("goroutine %d: Load = %v", g, err)
					return
				}
				got.Identity.Groups = append(got.Identity.Groups[:0], "mutated")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := session.CookieCacheLen(st); n > 16 {
		t.Errorf("cache holds %d, over 16", n)
	}
}

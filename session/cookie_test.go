package session_test

import (
	"errors"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/session/storetest"
)

func TestCookieStoreConformance(t *testing.T) {
	for _, cfg := range []session.CookieConfig{
		{},
		{Secure: true, Name: "gh", SameSite: http.SameSiteStrictMode, Lifetime: 8 * time.Hour},
	} {
		// Not with SignOutPath: a refreshed session saved there comes back
		// with its sign-in's ID token, not its own (TestCookieStoreSignOutHint).
		t.Run("Secure="+strconv.FormatBool(cfg.Secure), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) session.Store {
				return newCookieStore(t, cfg, randomKeys(t), nil)
			})
		})
	}
}

func TestNewCookieStore(t *testing.T) {
	keys := randomKeys(t)
	good := []struct {
		cfg  session.CookieConfig
		name string
	}{
		{session.CookieConfig{}, "gatehouse"},
		{session.CookieConfig{Secure: true}, "__Host-gatehouse"},
		{session.CookieConfig{Name: "my.gate-house_1", Secure: true, SameSite: http.SameSiteNoneMode}, "__Host-my.gate-house_1"},
	}
	for _, tt := range good {
		s, err := session.NewCookieStore(tt.cfg, keys, nil)
		if err != nil {
			t.Errorf("NewCookieStore(%+v): %v", tt.cfg, err)
			continue
		}
		if s.CookieName() != tt.name {
			t.Errorf("CookieName() = %q, want %q", s.CookieName(), tt.name)
		}
	}
	bad := []session.CookieConfig{
		{Name: "__Host-x", Secure: true},
		{Name: "__secure-x"},
		{Name: "has space"},
		{Name: "semi;colon"},
		{Name: strings.Repeat("n", 65)},
		{Lifetime: -time.Hour},
		{Lifetime: time.Millisecond},
		{SameSite: http.SameSiteNoneMode},
		{SameSite: http.SameSiteDefaultMode},
		{SameSite: 42},
		{MaxChunks: -1},
		{MaxChunks: 11},
	}
	for _, cfg := range bad {
		if _, err := session.NewCookieStore(cfg, keys, nil); err == nil || !strings.HasPrefix(err.Error(), "session: ") {
			t.Errorf("NewCookieStore(%+v) = %v, want a session: error", cfg, err)
		}
	}
	if _, err := session.NewCookieStore(session.CookieConfig{}, session.Keys{}, nil); err == nil {
		t.Error("NewCookieStore with no keys succeeded")
	}
}

func TestCookieStoreAttributes(t *testing.T) {
	clk := newClock()
	st := newCookieStore(t, session.CookieConfig{Secure: true}, randomKeys(t), clk.Now)
	s := storetest.FullSession(10, 10, 10)
	s.CreatedAt = clk.Now().Add(-time.Hour)
	rec := httptest.NewRecorder()
	if err := st.Save(rec, storetest.Request(nil), s); err != nil {
		t.Fatal(err)
	}
	lines := setCookies(rec)
	if len(lines) != 1 {
		t.Fatalf("Set-Cookie = %q, want one cookie", lines)
	}
	for _, want := range []string{"__Host-gatehouse=", "; Path=/", "; Max-Age=82800", "; HttpOnly", "; Secure", "; SameSite=Lax"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("Set-Cookie %.80q… lacks %q", lines[0], want)
		}
	}
	if strings.Contains(lines[0], "Domain=") {
		t.Error("Set-Cookie has a Domain")
	}

	rec = httptest.NewRecorder()
	if err := st.Clear(rec, storetest.Request(nil)); err != nil {
		t.Fatal(err)
	}
	lines = setCookies(rec)
	if len(lines) != 4 {
		t.Errorf("Clear set %d cookies, want 4 (every chunk)", len(lines))
	}
	for i, line := range lines {
		name := "__Host-gatehouse"
		if i > 0 {
			name += "_" + strconv.Itoa(i)
		}
		want := name + "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
		if line != want {
			t.Errorf("Clear: Set-Cookie %q, want %q", line, want)
		}
	}
}

func TestCookieStoreChunks(t *testing.T) {
	keys := randomKeys(t)
	want := storetest.FullSession(6*1024, 3*1024, 1024)

	// securecookie encodes in base64 twice (×16/9), so 10 KB of tokens
	// need five chunks.
	st := newCookieStore(t, session.CookieConfig{Secure: true, MaxChunks: 6}, keys, nil)
	jar := new(storetest.Jar)
	rec := save(t, st, jar, want)
	lines := setCookies(rec)
	if len(lines) < 2 {
		t.Fatalf("%d cookies, want the session split into chunks", len(lines))
	}
	for _, line := range lines {
		if n := len("Set-Cookie: ") + len(line); n >= 4096 {
			t.Errorf("Set-Cookie line of %d bytes, want < 4096", n)
		}
	}
	got, err := st.Load(storetest.Request(jar.Cookies()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !storetest.Equal(got, want) {
		t.Error("chunked session does not round-trip")
	}

	// With the default four chunks, the ID token is dropped.
	st = newCookieStore(t, session.CookieConfig{Secure: true}, keys, nil)
	jar = new(storetest.Jar)
	save(t, st, jar, want)
	got, err = st.Load(storetest.Request(jar.Cookies()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.IDToken != "" || got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken {
		t.Errorf("default chunks: ID token %d bytes, access token %d, refresh token %d; want 0, %d, %d",
			len(got.IDToken), len(got.AccessToken), len(got.RefreshToken), len(want.AccessToken), len(want.RefreshToken))
	}
}

func TestCookieStoreSlimming(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil)
	load := func(s *session.Session) *session.Session {
		t.Helper()
		jar := new(storetest.Jar)
		save(t, st, jar, s)
		got, err := st.Load(storetest.Request(jar.Cookies()))
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return got
	}

	big := storetest.FullSession(20*1024, 2000, 500)
	got := load(big)
	if got.IDToken != "" || got.AccessToken != big.AccessToken || got.RefreshToken != big.RefreshToken {
		t.Errorf("20 KB ID token: stored ID token %d bytes, access token %d; want 0, %d", len(got.IDToken), len(got.AccessToken), len(big.AccessToken))
	}
	if len(big.IDToken) != 20*1024 {
		t.Error("Save changed the caller's session")
	}

	big = storetest.FullSession(3000, 20*1024, 500)
	got = load(big)
	if got.IDToken != "" || got.AccessToken != "" || got.RefreshToken != big.RefreshToken || !got.Expiry.Equal(big.Expiry) {
		t.Errorf("20 KB access token: stored %d/%d/%d bytes of tokens, want only the refresh token and Expiry",
			len(got.IDToken), len(got.AccessToken), len(got.RefreshToken))
	}

	big = storetest.FullSession(100, 100, 20*1024)
	rec := httptest.NewRecorder()
	err := st.Save(rec, storetest.Request(nil), big)
	if !errors.Is(err, session.ErrTooLarge) || !strings.Contains(err.Error(), "Redis") {
		t.Errorf("20 KB refresh token: Save = %v, want ErrTooLarge suggesting Redis", err)
	}
	if n := len(setCookies(rec)); n != 0 {
		t.Errorf("failed Save set %d cookies", n)
	}
}

func TestCookieStoreExpiresUnusedChunks(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil)
	jar := new(storetest.Jar)
	save(t, st, jar, storetest.FullSession(2000, 1500, 1000))
	n := len(jar.Cookies())
	if n < 2 || n > 3 {
		t.Fatalf("big session in %d cookies, want 2 or 3", n)
	}
	rec := save(t, st, jar, storetest.FullSession(0, 100, 100))
	set := responseCookies(rec)
	if c := set["gatehouse"]; c == nil || c.MaxAge <= 0 {
		t.Errorf("gatehouse not set: %+v", c)
	}
	for i := 1; i < n; i++ {
		name := "gatehouse_" + strconv.Itoa(i)
		if c := set[name]; c == nil || c.MaxAge >= 0 {
			t.Errorf("%s not expired: %+v", name, c)
		}
	}
	if _, ok := set["gatehouse_3"]; ok {
		t.Error("expired gatehouse_3, which the request did not carry")
	}
	if n := len(jar.Cookies()); n != 1 {
		t.Errorf("%d cookies left, want 1", n)
	}
}

func TestCookieStoreLifetime(t *testing.T) {
	clk := newClock()
	st := newCookieStore(t, session.CookieConfig{Lifetime: 24 * time.Hour}, randomKeys(t), clk.Now)
	s := storetest.FullSession(100, 100, 100)
	s.CreatedAt = clk.Now()
	jar := new(storetest.Jar)
	save(t, st, jar, s)
	old := jar.Cookies()

	clk.Advance(23 * time.Hour)
	if _, err := st.Load(storetest.Request(old)); err != nil {
		t.Fatalf("Load after 23h: %v", err)
	}
	// A refresh does not extend the lifetime: Max-Age is what is left.
	rec := save(t, st, jar, s)
	if c := responseCookies(rec)["gatehouse"]; c == nil || c.MaxAge != 3600 {
		t.Errorf("Save after 23h: cookie %+v, want Max-Age 3600", c)
	}

	// The browser ignores Max-Age and replays the cookies.
	clk.Advance(time.Hour)
	if _, err := st.Load(storetest.Request(old)); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Load of the first cookie after 24h: %v, want ErrNoSession", err)
	}
	if _, err := st.Load(storetest.Request(jar.Cookies())); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Load of the refreshed cookie after 24h: %v, want ErrNoSession", err)
	}
	if err := st.Save(httptest.NewRecorder(), storetest.Request(nil), s); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Save of an ended session: %v, want ErrNoSession", err)
	}
}

func TestCookieStoreSaveInvalid(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil)
	noID := storetest.FullSession(1, 1, 1)
	noID.ID = ""
	noTime := storetest.FullSession(1, 1, 1)
	noTime.CreatedAt = time.Time{}
	for _, s := range []*session.Session{nil, noID, noTime} {
		rec := httptest.NewRecorder()
		if err := st.Save(rec, storetest.Request(nil), s); err == nil {
			t.Errorf("Save(%+v) succeeded", s)
		}
		if len(setCookies(rec)) != 0 {
			t.Error("failed Save set cookies")
		}
	}
}

func TestCookieStoreOversizedChunks(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil)
	jar := new(storetest.Jar)
	save(t, st, jar, storetest.FullSession(3000, 2000, 1000))
	cookies := jar.Cookies()
	n := len(cookies)
	if n < 2 || len(cookies[n-1].Value) >= 3800 {
		t.Fatalf("want a session in chunks with a short last chunk, got %d chunks", n)
	}
	// Move a byte between chunks: the joined value is the same, which is
	// fine while each chunk stays within 3,800 bytes.
	a, b := cookies[n-2], cookies[n-1]
	b.Value = a.Value[len(a.Value)-1:] + b.Value
	a.Value = a.Value[:len(a.Value)-1]
	if _, err := st.Load(storetest.Request(cookies)); err != nil {
		t.Errorf("shorter chunk: %v", err)
	}
	cookies = jar.Cookies()
	a, b = cookies[n-2], cookies[n-1]
	a.Value += b.Value[:1]
	b.Value = b.Value[1:]
	if _, err := st.Load(storetest.Request(cookies)); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("chunk over 3,800 bytes: %v, want ErrNoSession", err)
	}
	// Chunks past a missing one, and names that are not chunk names, are
	// ignored.
	jar = new(storetest.Jar)
	save(t, st, jar, storetest.FullSession(10, 10, 10))
	cookies = append(jar.Cookies(),
		&http.Cookie{Name: "gatehouse_2", Value: "junk"},
		&http.Cookie{Name: "gatehouse_1of1000000", Value: "junk"},
		&http.Cookie{Name: "gatehouse_flow_0123456789abcdef", Value: "junk"})
	if _, err := st.Load(storetest.Request(cookies)); err != nil {
		t.Errorf("junk beside a valid session: %v", err)
	}
}

func FuzzCookieStoreLoad(f *testing.F) {
	keys := mustKeys(f, secret('f'))
	st := newCookieStore(f, session.CookieConfig{MaxChunks: 3}, keys, nil)
	jar := new(storetest.Jar)
	save(f, st, jar, storetest.FullSession(2000, 1000, 500))
	valid := storetest.Request(jar.Cookies()).Header.Get("Cookie")
	f.Add(valid)
	f.Add("")
	f.Add("gatehouse=")
	f.Add("gatehouse=a; gatehouse=b")
	f.Add("gatehouse_1of1000000=x; gatehouse_99999999999999999999=y")
	f.Add(valid + "; " + valid)
	f.Add(strings.Replace(valid, "gatehouse_1", "gatehouse_2", 1))
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", header)
		s, err := st.Load(r)
		switch {
		case err == nil:
			if s == nil || s.ID == "" {
				t.Fatalf("Load = %+v, nil", s)
			}
		case err != session.ErrNoSession:
			t.Fatalf("Load error %v, want ErrNoSession", err)
		}
	})
}

// BenchmarkCookieStoreLoad measures Load of one browser's cookies: decode
// (no cache: HMAC, AES, base64 twice, JSON) and cached (the same cookie
// bytes again: a hash and a map lookup, the lifetime checks and a copy).
func BenchmarkCookieStoreLoad(b *testing.B) {
	for _, bc := range []struct {
		name       string
		id, at, rt int
	}{{"small", 0, 0, 0}, {"typical", 1000, 1200, 400}, {"chunked", 3000, 2000, 1000}} {
		for _, cache := range []struct {
			name string
			size int
		}{{"decode", -1}, {"cached", 0}} {
			b.Run(bc.name+"/"+cache.name, func(b *testing.B) {
				st := newCookieStore(b, session.CookieConfig{Secure: true, CacheSize: cache.size}, randomKeys(b), nil)
				jar := new(storetest.Jar)
				save(b, st, jar, storetest.FullSession(bc.id, bc.at, bc.rt))
				r := storetest.Request(jar.Cookies())
				b.ReportAllocs()
				for b.Loop() {
					if _, err := st.Load(r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCookieStoreLoadCachedParallel is the cached path under
// contention: every goroutine loads the same few sessions.
func BenchmarkCookieStoreLoadCachedParallel(b *testing.B) {
	st := newCookieStore(b, session.CookieConfig{Secure: true}, randomKeys(b), nil)
	var reqs []*http.Request
	for range 8 {
		jar := new(storetest.Jar)
		save(b, st, jar, storetest.FullSession(1000, 1200, 400))
		reqs = append(reqs, storetest.Request(jar.Cookies()))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := st.Load(reqs[i%len(reqs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// TestCookieStoreReadsCookiesLikeNetHTTP checks that Load finds the
// session in the Cookie header wherever net/http's parser finds it, over
// the spellings browsers and proxies produce, and refuses it where
// net/http would see none.
func TestCookieStoreReadsCookiesLikeNetHTTP(t *testing.T) {
	st := newCookieStore(t, session.CookieConfig{}, randomKeys(t), nil)
	jar := new(storetest.Jar)
	save(t, st, jar, storetest.FullSession(10, 10, 10))
	c := jar.Cookies()[0]
	pair := c.Name + "=" + c.Value
	for _, tc := range []struct {
		name  string
		lines []string
		want  bool
	}{
		{"alone", []string{pair}, true},
		{"among others", []string{"a=1; " + pair + "; b=2"}, true},
		{"no spaces", []string{"a=1;" + pair + ";b=2"}, true},
		{"blanks around", []string{"  a=1 ;  " + pair + "  ; "}, true},
		{"tab before the name", []string{"a=1;\t" + pair}, true},
		{"second line", []string{"a=1", pair}, true},
		{"empty pairs", []string{";;" + pair + ";;"}, true},
		{"twice", []string{pair + "; " + pair}, false},
		{"twice over lines", []string{pair, pair}, false},
		{"other case", []string{strings.ToUpper(c.Name) + "=" + c.Value}, false},
		{"blank before the value", []string{c.Name + "= " + c.Value}, false},
		{"quoted", []string{c.Name + "=\"" + c.Value + "\""}, false},
		{"too many cookies", []string{strings.Repeat("x=1; ", 3000) + pair}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header["Cookie"] = tc.lines
			_, err := st.Load(r)
			if got := err == nil; got != tc.want {
				t.Errorf("Load error %v, want a session: %v", err, tc.want)
			}
			// Where Load finds the session, net/http finds the same pair.
			if tc.want {
				if ck, err := r.Cookie(c.Name); err != nil || ck.Value != c.Value {
					t.Errorf("net/http reads %v, %v", ck, err)
				}
			}
		})
	}
}

// With SignOutPath, the ID token rides in a cookie browsers send only to
// the sign-out path: other requests carry a smaller session, and the
// sign-out request gets the whole one back.
func TestCookieStoreSignOutHint(t *testing.T) {
	const signOut = "/oauth2/sign_out"
	for _, secure := range []bool{false, true} {
		t.Run("Secure="+strconv.FormatBool(secure), func(t *testing.T) {
			keys := randomKeys(t)
			st := newCookieStore(t, session.CookieConfig{Secure: secure, SignOutPath: signOut}, keys, nil)
			whole := newCookieStore(t, session.CookieConfig{Secure: secure}, keys, nil)
			scheme, hintName := "http", "gatehouse_hint"
			if secure {
				scheme, hintName = "https", "__Secure-gatehouse_hint"
			}
			base, _ := url.Parse(scheme + "://gw.test/")
			page, out := base.JoinPath("/app/page"), base.JoinPath(signOut)
			want := storetest.FullSession(900, 0, 40)
			want.RefreshedAt = want.CreatedAt // as signed in

			jar, _ := cookiejar.New(nil)
			rec := httptest.NewRecorder()
			if err := st.Save(rec, httptest.NewRequest("GET", page.String(), nil), want); err != nil {
				t.Fatalf("Save: %v", err)
			}
			set := responseCookies(rec)
			h := set[hintName]
			if h == nil {
				t.Fatalf("Save set %v, want a %s cookie", slices.Collect(maps.Keys(set)), hintName)
			}
			if h.Path != signOut || !h.HttpOnly || h.Secure != secure || h.SameSite != http.SameSiteLaxMode || h.MaxAge <= 0 {
				t.Errorf("hint cookie %s: want Path=%s, HttpOnly, Secure=%v, SameSite=Lax and a Max-Age", h, signOut, secure)
			}
			jar.SetCookies(page, rec.Result().Cookies())

			loadAt := func(u *url.URL, extra ...*http.Cookie) *session.Session {
				t.Helper()
				r := httptest.NewRequest("GET", u.String(), nil)
				for _, c := range append(jar.Cookies(u), extra...) {
					r.AddCookie(c)
				}
				got, err := st.Load(r)
				if err != nil {
					t.Fatalf("Load %s: %v", u.Path, err)
				}
				return got
			}

			// An application page: no hint cookie, a session without the
			// ID token, a cookie smaller by at least the token.
			pageCookies := jar.Cookies(page)
			for _, c := range pageCookies {
				if c.Name == hintName {
					t.Fatalf("the browser sends the hint cookie to %s", page.Path)
				}
			}
			got := loadAt(page)
			if got.IDToken != "" || got.Identity.Subject != want.Identity.Subject || got.RefreshToken != want.RefreshToken {
				t.Errorf("on %s: ID token %d bytes, sub %q, refresh token %q; want none, %q, %q",
					page.Path, len(got.IDToken), got.Identity.Subject, got.RefreshToken, want.Identity.Subject, want.RefreshToken)
			}
			wrec := httptest.NewRecorder()
			if err := whole.Save(wrec, httptest.NewRequest("GET", page.String(), nil), want); err != nil {
				t.Fatal(err)
			}
			if small, big := cookieBytes(pageCookies), cookieBytes(wrec.Result().Cookies()); big-small < len(want.IDToken) {
				t.Errorf("session cookies of %d bytes with the hint cookie, %d without; want at least %d fewer",
					small, big, len(want.IDToken))
			}

			// The sign-out path: the whole session, twice (the second from
			// the cache of decoded sessions).
			for range 2 {
				if got := loadAt(out); !storetest.Equal(got, want) {
					t.Errorf("on %s: the session does not round-trip (ID token %d bytes, want %d)", out.Path, len(got.IDToken), len(want.IDToken))
				}
			}

			// Another session's hint, a tampered hint and two hints are
			// all ignored; the session itself still loads.
			other := *want
			other.ID, other.IDToken = session.NewRandom(), "other-sessions-id-token"
			orec := httptest.NewRecorder()
			if err := st.Save(orec, httptest.NewRequest("GET", page.String(), nil), &other); err != nil {
				t.Fatal(err)
			}
			foreign := responseCookies(orec)[hintName]
			r := httptest.NewRequest("GET", out.String(), nil)
			for _, c := range jar.Cookies(page) {
				r.AddCookie(c)
			}
			r.AddCookie(&http.Cookie{Name: hintName, Value: foreign.Value})
			if got, err := st.Load(r); err != nil || got.IDToken != "" {
				t.Errorf("another session's hint: Load = %v, ID token %q; want the session without ID token", err, got.IDToken)
			}
			own := responseCookies(rec)[hintName]
			tampered := own.Value[:len(own.Value)-2] + "AA"
			if got := loadAt(page, &http.Cookie{Name: hintName, Value: tampered}); got.IDToken != "" {
				t.Error("a tampered hint cookie was read")
			}
			if got := loadAt(out, &http.Cookie{Name: hintName, Value: own.Value}); got.IDToken != "" {
				t.Error("a request with two hint cookies got an ID token")
			}

			// A refresh with a new ID token sets the session cookie alone
			// (forward-auth proxies pass on one Set-Cookie), without the
			// new token; sign-out still gets the sign-in's.
			refreshed := *want
			refreshed.IDToken, refreshed.RefreshedAt = "refreshed-id-token", want.CreatedAt.Add(time.Minute)
			rrec := httptest.NewRecorder()
			if err := st.Save(rrec, httptest.NewRequest("GET", page.String(), nil), &refreshed); err != nil {
				t.Fatal(err)
			}
			if lines := setCookies(rrec); len(lines) != 1 {
				t.Errorf("refresh: %d Set-Cookie lines, want 1: %q", len(lines), lines)
			}
			jar.SetCookies(page, rrec.Result().Cookies())
			if got := loadAt(page); got.IDToken != "" || !got.RefreshedAt.Equal(refreshed.RefreshedAt) {
				t.Errorf("after refresh, on %s: ID token %q, refreshed at %v", page.Path, got.IDToken, got.RefreshedAt)
			}
			if got := loadAt(out); got.IDToken != want.IDToken {
				t.Errorf("after refresh, on %s: ID token %q, want the sign-in's", out.Path, got.IDToken)
			}

			// Clear expires the hint cookie where it lives.
			crec := httptest.NewRecorder()
			st.Clear(crec, httptest.NewRequest("POST", out.String(), nil))
			if c := responseCookies(crec)[hintName]; c == nil || c.MaxAge >= 0 || c.Path != signOut {
				t.Errorf("Clear: hint cookie %v, want it expired with Path=%s", c, signOut)
			}
		})
	}
	for _, p := range []string{"oauth2/sign_out", "/a;b", "/a b", "/a\x00"} {
		if _, err := session.NewCookieStore(session.CookieConfig{SignOutPath: p}, randomKeys(t), nil); err == nil {
			t.Errorf("SignOutPath %q accepted", p)
		}
	}
}

// cookieBytes is what cookies add to a Cookie header.
func cookieBytes(cs []*http.Cookie) int {
	n := 0
	for _, c := range cs {
		if c.MaxAge >= 0 {
			n += len(c.Name) + 1 + len(c.Value) + 2
		}
	}
	return n
}

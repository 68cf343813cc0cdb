// Package storetest is the conformance suite for session.Store
// implementations: what every store, in the browser or on a server, must
// do.
//
// It drives a store only through the session.Store interface and
// net/http/httptest, playing the browser with a small cookie jar.
package storetest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// Run runs the conformance suite against the stores newStore returns.
//
// Each call to newStore must return a new store that shares no secrets
// and no state with the others, whose clock is the wall clock, whose
// session lifetime is at least an hour, and which holds sessions with
// about 6 KB of tokens without dropping any of them.
func Run(t *testing.T, newStore func(t *testing.T) session.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, func(*testing.T) session.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"NoCookies", testNoCookies},
		{"Clear", testClear},
		{"ClearWithoutSession", testClearWithoutSession},
		{"SaveTwiceOverwrites", testSaveTwice},
		{"Tampered", testTampered},
		{"OtherStore", testOtherStore},
		{"DuplicateCookies", testDuplicateCookies},
		{"Garbage", testGarbage},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore) })
	}
}

// FullSession returns a session with every field set, its tokens of the
// given sizes, created a minute ago.
func FullSession(idToken, accessToken, refreshToken int) *session.Session {
	now := time.Now().UTC().Truncate(time.Second)
	return &session.Session{
		ID: session.NewRandom(),
		Identity: session.Identity{
			Issuer:            "https://issuer.example/realms/main",
			Subject:           "248289761001",
			Email:             "jane@example.com",
			PreferredUsername: "jane",
			Name:              "Jane Doe",
			Groups:            []string{"admins", "developers", "ops"},
			ClientID:          "gatehouse",
			Scopes:            []string{"openid", "email", "profile"},
			Machine:           false,
			SID:               "c5f4b6e0-sid",
		},
		IDToken:      token("id", idToken),
		AccessToken:  token("at", accessToken),
		RefreshToken: token("rt", refreshToken),
		Expiry:       now.Add(5 * time.Minute),
		CreatedAt:    now.Add(-time.Minute),
		RefreshedAt:  now.Add(-30 * time.Second),
	}
}

// token returns a JWT-looking string of n bytes.
func token(kind string, n int) string {
	if n == 0 {
		return ""
	}
	b := make([]byte, n)
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range b {
		b[i] = alphabet[(i*7+len(kind)*13+i/64)%len(alphabet)]
	}
	copy(b, "eyJ"+kind+".")
	return string(b)
}

// Jar is a browser's cookies for one site, enough to play a browser.
type Jar struct {
	mu      sync.Mutex
	cookies []*http.Cookie
}

// Update applies the Set-Cookie headers of rec's response, in order.
func (j *Jar) Update(rec *httptest.ResponseRecorder) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range rec.Result().Cookies() {
		j.cookies = removeCookie(j.cookies, c.Name)
		if c.MaxAge >= 0 {
			j.cookies = append(j.cookies, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
}

func removeCookie(cs []*http.Cookie, name string) []*http.Cookie {
	out := cs[:0]
	for _, c := range cs {
		if c.Name != name {
			out = append(out, c)
		}
	}
	return out
}

// Cookies returns a copy of the jar's cookies.
func (j *Jar) Cookies() []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]*http.Cookie, len(j.cookies))
	for i, c := range j.cookies {
		cc := *c
		out[i] = &cc
	}
	return out
}

// Request returns a request to the gateway carrying cookies.
func Request(cookies []*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://gatehouse.example/app", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

// save saves s on a request carrying jar's cookies and updates jar.
func save(t *testing.T, st session.Store, jar *Jar, s *session.Session) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := st.Save(rec, Request(jar.Cookies()), s); err != nil {
		t.Fatalf("Save: %v", err)
	}
	jar.Update(rec)
	return rec
}

// wantNoSession checks that loading from cookies yields ErrNoSession.
func wantNoSession(t *testing.T, st session.Store, cookies []*http.Cookie, what string) {
	t.Helper()
	s, err := loadNoPanic(st, Request(cookies))
	if !errors.Is(err, session.ErrNoSession) {
		t.Errorf("%s: Load = %v, %v; want ErrNoSession", what, s, err)
	}
}

// loadNoPanic calls Load, turning a panic into an error.
func loadNoPanic(st session.Store, r *http.Request) (s *session.Session, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("storetest: Load panicked: %v", p)
		}
	}()
	return st.Load(r)
}

// Equal reports whether two sessions are the same, comparing times as
// instants.
func Equal(a, b *session.Session) bool {
	if a == nil || b == nil {
		return a == b
	}
	ca, cb := *a, *b
	if !ca.Expiry.Equal(cb.Expiry) || !ca.CreatedAt.Equal(cb.CreatedAt) || !ca.RefreshedAt.Equal(cb.RefreshedAt) {
		return false
	}
	ca.Expiry, cb.Expiry = time.Time{}, time.Time{}
	ca.CreatedAt, cb.CreatedAt = time.Time{}, time.Time{}
	ca.RefreshedAt, cb.RefreshedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(ca, cb)
}

func testRoundTrip(t *testing.T, newStore func(*testing.T) session.Store) {
	st := newStore(t)
	for _, size := range []struct{ id, at, rt int }{{0, 0, 0}, {900, 1200, 300}, {3000, 2000, 1000}} {
		jar := new(Jar)
		want := FullSession(size.id, size.at, size.rt)
		rec := save(t, st, jar, want)
		for _, line := range rec.Result().Header["Set-Cookie"] {
			if len("Set-Cookie: ")+len(line) >= 4096 {
				t.Errorf("tokens %v: Set-Cookie line of %d bytes, want < 4096", size, len(line))
			}
			if !strings.Contains(line, "HttpOnly") || !strings.Contains(line, "Path=/") {
				t.Errorf("tokens %v: Set-Cookie %.60q… lacks HttpOnly or Path=/", size, line)
			}
			if strings.HasPrefix(line, "__Host-") && !strings.Contains(line, "Secure") {
				t.Errorf("tokens %v: __Host- cookie without Secure", size)
			}
		}
		got, err := st.Load(Request(jar.Cookies()))
		if err != nil {
			t.Fatalf("tokens %v: Load: %v", size, err)
		}
		if !Equal(got, want) {
			t.Errorf("tokens %v: Load = %+v\nwant %+v", size, got, want)
		}
	}
}

func testNoCookies(t *testing.T, newStore func(*testing.T) session.Store) {
	wantNoSession(t, newStore(t), nil, "no cookies")
	wantNoSession(t, newStore(t), []*http.Cookie{{Name: "other", Value: "x"}}, "unrelated cookie")
}

func testClear(t *testing.T, newStore func(*testing.T) session.Store) {
	st := newStore(t)
	jar := new(Jar)
	save(t, st, jar, FullSession(3000, 2000, 1000))
	rec := httptest.NewRecorder()
	if err := st.Clear(rec, Request(jar.Cookies())); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	jar.Update(rec)
	wantNoSession(t, st, jar.Cookies(), "after Clear")
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge >= 0 {
			t.Errorf("Clear set cookie %s with Max-Age %d, want it expired", c.Name, c.MaxAge)
		}
	}
}

func testClearWithoutSession(t *testing.T, newStore func(*testing.T) session.Store) {
	st := newStore(t)
	if err := st.Clear(httptest.NewRecorder(), Request(nil)); err != nil {
		t.Errorf("Clear without a session: %v", err)
	}
}

func testSaveTwice(t *testing.T, newStore func(*testing.T) session.Store) {
	st := newStore(t)
	jar := new(Jar)
	save(t, st, jar, FullSession(3000, 2000, 1000))
	want := FullSession(0, 100, 100)
	want.Identity.Subject = "someone-else"
	save(t, st, jar, want)
	got, err := st.Load(Request(jar.Cookies()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !Equal(got, want) {
		t.Errorf("Load after second Save = %+v\nwant %+v", got, want)
	}
}

// flip returns v with the byte at i replaced by another cookie-safe byte.
// A base64url digit has the top bit of its six flipped, which no decoder
// ignores, even in a last digit that carries padding bits.
func flip(v string, i int) string {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := []byte(v)
	if d := strings.IndexByte(digits, b[i]); d >= 0 {
		b[i] = digits[d^32]
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func testTampered(t *testing.T, newStore func(*testing.T) session.Store) {
	st := newStore(t)
	jar := new(Jar)
	save(t, st, jar, FullSession(3000, 2000, 1000))
	cookies := jar.Cookies()
	for i := range cookies {
		v := cookies[i].Value
		for _, at := range []int{0, len(v) / 2, len(v) - 1} {
			tampered := jar.Cookies()
			tampered[i].Value = flip(v, at)
			wantNoSession(t, st, tampered, fmt.Sprintf("cookie %s byte %d flipped", cookies[i].Name, at))
		}
		truncated := jar.Cookies()
		truncated[i].Value = v[:len(v)-1]
		wantNoSession(t, st, truncated, fmt.Sprintf("cookie %s truncated", cookies[i].Name))
	}
}

func testOtherStore(t *testing.T, newStore func(*testing.T) session.Store) {
	a, b := newStore(t), newStore(t)
	jar := new(Jar)
	save(t, a, jar, FullSession(900, 900, 100))
	wantNoSession(t, b, jar.Cookies(), "cookie from another store")
}

func testDuplicateCookies(t *testing.T, newStore func(*testing.T) session.Store) {
	st := newStore(t)
	jar := new(Jar)
	save(t, st, jar, FullSession(100, 100, 100))
	other := new(Jar)
	save(t, st, other, FullSession(100, 100, 100))
	cookies := jar.Cookies()
	wantNoSession(t, st, append(cookies, cookies[0]), "same cookie twice")
	wantNoSession(t, st, append(cookies, other.Cookies()[0]), "two sessions' cookies under one name")
}

func testGarbage(t *testing.T, newStore func(*testing.T) session.Store) {
	st := newStore(t)
	jar := new(Jar)
	save(t, st, jar, FullSession(3000, 2000, 1000))
	valid := jar.Cookies()
	junk := base64.RawURLEncoding.EncodeToString(make([]byte, 6*1024)) // 8 KB
	values := []string{"", "=", "|", "a|b|c", "0", "-1", junk, junk + junk, strings.Repeat("A", 4095)}
	for _, base := range valid {
		for _, v := range values {
			wantNoSession(t, st, []*http.Cookie{{Name: base.Name, Value: v}}, fmt.Sprintf("%s=%.20q", base.Name, v))
		}
	}
	name := valid[0].Name
	for _, suffix := range []string{"_1of10000000000", "_10000000000", "_-1", "_0", "_01", "_1of1", "_999999999999999999999999"} {
		cookies := []*http.Cookie{{Name: name + suffix, Value: valid[0].Value}}
		wantNoSession(t, st, cookies, "cookie named "+name+suffix)
		for _, v := range values {
			wantNoSession(t, st, []*http.Cookie{{Name: name + suffix, Value: v}}, "cookie named "+name+suffix)
		}
	}
	// Valid cookies with junk beside them still load or yield ErrNoSession,
	// never panic or fail otherwise.
	r := Request(append(valid, &http.Cookie{Name: name + "_1of10000000000", Value: junk}))
	if _, err := loadNoPanic(st, r); err != nil && !errors.Is(err, session.ErrNoSession) {
		t.Errorf("valid cookies with junk beside them: Load: %v", err)
	}
	// A header too mangled to parse into cookies.
	r = Request(nil)
	r.Header.Set("Cookie", name+"=;;;==;"+name+"_1="+junk+"; =; "+strings.Repeat(";", 1000))
	if _, err := loadNoPanic(st, r); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("mangled Cookie header: Load: %v, want ErrNoSession", err)
	}
}

func testConcurrent(t *testing.T, newStore func(*testing.T) session.Store) {
	st := newStore(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			jar := new(Jar)
			for i := range 20 {
				want := FullSession(500*(i%3), 800, 100)
				want.Identity.Subject = fmt.Sprintf("user-%d-%d", g, i)
				rec := httptest.NewRecorder()
				if err := st.Save(rec, Request(jar.Cookies()), want); err != nil {
					t.Errorf("Save: %v", err)
					return
				}
				jar.Update(rec)
				got, err := st.Load(Request(jar.Cookies()))
				if err != nil {
					t.Errorf("Load: %v", err)
					return
				}
				if !Equal(got, want) {
					t.Errorf("goroutine %d: loaded %s, want %s", g, got.Identity.Subject, want.Identity.Subject)
					return
				}
			}
		})
	}
	wg.Wait()
}

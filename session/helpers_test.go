package session_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/session/storetest"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// secret returns a base64 secret of 32 bytes, all b.
func secret(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(b), 32)))
}

// mustKeys parses one secret a line.
func mustKeys(t testing.TB, secrets ...string) session.Keys {
	t.Helper()
	k, err := session.ParseKeys([]byte(strings.Join(secrets, "\n")))
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	return k
}

// randomKeys returns a fresh random key.
func randomKeys(t testing.TB) session.Keys {
	return mustKeys(t, session.NewRandom())
}

// setCookies returns the Set-Cookie header lines of rec.
func setCookies(rec *httptest.ResponseRecorder) []string {
	return rec.Result().Header["Set-Cookie"]
}

// responseCookies returns the cookies rec's response sets.
func responseCookies(rec *httptest.ResponseRecorder) map[string]*http.Cookie {
	m := make(map[string]*http.Cookie)
	for _, c := range rec.Result().Cookies() {
		m[c.Name] = c
	}
	return m
}

// save saves s on a request with jar's cookies and updates jar.
func save(t testing.TB, st session.Store, jar *storetest.Jar, s *session.Session) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := st.Save(rec, storetest.Request(jar.Cookies()), s); err != nil {
		t.Fatalf("Save: %v", err)
	}
	jar.Update(rec)
	return rec
}

// newCookieStore returns a CookieStore or fails t.
func newCookieStore(t testing.TB, cfg session.CookieConfig, keys session.Keys, now func() time.Time) *session.CookieStore {
	t.Helper()
	s, err := session.NewCookieStore(cfg, keys, now)
	if err != nil {
		t.Fatalf("NewCookieStore: %v", err)
	}
	return s
}

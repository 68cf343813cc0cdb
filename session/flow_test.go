package session_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/session/storetest"
)

func newFlows(t *testing.T, cfg session.FlowConfig, keys session.Keys, clk *clock) *session.FlowCookies {
	t.Helper()
	f, err := session.NewFlowCookies(cfg, keys, clk.Now)
	if err != nil {
		t.Fatalf("NewFlowCookies: %v", err)
	}
	return f
}

func newFlow(clk *clock) *session.Flow {
	return &session.Flow{
		State:      session.NewRandom(),
		Nonce:      session.NewRandom(),
		Verifier:   "verifier-" + session.NewRandom(),
		RedirectTo: "https://app.example/path?q=1",
		CreatedAt:  clk.Now(),
	}
}

func saveFlow(t *testing.T, f *session.FlowCookies, jar *storetest.Jar, fl *session.Flow) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := f.Save(rec, storetest.Request(jar.Cookies()), fl); err != nil {
		t.Fatalf("Save: %v", err)
	}
	jar.Update(rec)
	return rec
}

func take(f *session.FlowCookies, jar *storetest.Jar, state string) (*session.Flow, error) {
	rec := httptest.NewRecorder()
	fl, err := f.Take(rec, storetest.Request(jar.Cookies()), state)
	jar.Update(rec)
	return fl, err
}

func TestNewFlowCookies(t *testing.T) {
	keys := randomKeys(t)
	for _, cfg := range []session.FlowConfig{{}, {Lifetime: 15 * time.Minute, MaxFlows: 32, Secure: true, Name: "x"}} {
		if _, err := session.NewFlowCookies(cfg, keys, nil); err != nil {
			t.Errorf("NewFlowCookies(%+v): %v", cfg, err)
		}
	}
	for _, cfg := range []session.FlowConfig{
		{Lifetime: 16 * time.Minute},
		{Lifetime: -time.Minute},
		{MaxFlows: -1},
		{MaxFlows: 33},
		{Name: "__Host-x"},
		{Name: "a b"},
	} {
		if _, err := session.NewFlowCookies(cfg, keys, nil); err == nil || !strings.HasPrefix(err.Error(), "session: ") {
			t.Errorf("NewFlowCookies(%+v) = %v, want a session: error", cfg, err)
		}
	}
	if _, err := session.NewFlowCookies(session.FlowConfig{}, session.Keys{}, nil); err == nil {
		t.Error("NewFlowCookies with no keys succeeded")
	}
}

func TestFlowTwoTabs(t *testing.T) {
	clk := newClock()
	f := newFlows(t, session.FlowConfig{}, randomKeys(t), clk)
	jar := new(storetest.Jar)
	a, b := newFlow(clk), newFlow(clk)
	b.RedirectTo = "/other"
	saveFlow(t, f, jar, a)
	saveFlow(t, f, jar, b)
	if n := len(jar.Cookies()); n != 2 {
		t.Fatalf("%d flow cookies, want 2", n)
	}
	for _, want := range []*session.Flow{b, a} {
		got, err := take(f, jar, want.State)
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		if *got != *want {
			t.Errorf("Take = %+v, want %+v", got, want)
		}
		if _, err := take(f, jar, want.State); !errors.Is(err, session.ErrNoFlow) {
			t.Errorf("second Take = %v, want ErrNoFlow", err)
		}
	}
	if n := len(jar.Cookies()); n != 0 {
		t.Errorf("%d flow cookies left, want 0", n)
	}
}

func TestFlowTakeExpiresCookie(t *testing.T) {
	clk := newClock()
	f := newFlows(t, session.FlowConfig{Secure: true}, randomKeys(t), clk)
	jar := new(storetest.Jar)
	fl := newFlow(clk)
	rec := saveFlow(t, f, jar, fl)
	lines := setCookies(rec)
	set := regexp.MustCompile(`^__Host-gatehouse_flow_[0-9a-f]{16}=[^;]+; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax$`)
	if len(lines) != 1 || !set.MatchString(lines[0]) {
		t.Errorf("Save set %q", lines)
	}
	rec = httptest.NewRecorder()
	if _, err := f.Take(rec, storetest.Request(jar.Cookies()), fl.State); err != nil {
		t.Fatal(err)
	}
	lines = setCookies(rec)
	want := regexp.MustCompile(`^__Host-gatehouse_flow_[0-9a-f]{16}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax$`)
	if len(lines) != 1 || !want.MatchString(lines[0]) {
		t.Errorf("Take set %q, want the flow cookie expired", lines)
	}
}

func TestFlowRejects(t *testing.T) {
	clk := newClock()
	f := newFlows(t, session.FlowConfig{}, randomKeys(t), clk)
	jar := new(storetest.Jar)
	fl := newFlow(clk)
	saveFlow(t, f, jar, fl)
	other := newFlow(clk)

	for _, state := range []string{"", other.State, fl.State + "x", strings.ToUpper(fl.State)} {
		if _, err := take(f, jar, state); !errors.Is(err, session.ErrNoFlow) {
			t.Errorf("Take(%q) = %v, want ErrNoFlow", state, err)
		}
	}

	// The cookie for one state renamed to another's: the name is signed.
	renamed := jar.Cookies()
	renamed[0].Name = flowCookieName(t, f, other)
	r := storetest.Request(renamed)
	if _, err := f.Take(httptest.NewRecorder(), r, other.State); !errors.Is(err, session.ErrNoFlow) {
		t.Errorf("renamed cookie: %v, want ErrNoFlow", err)
	}

	// A duplicate cookie.
	dup := append(jar.Cookies(), jar.Cookies()...)
	if _, err := f.Take(httptest.NewRecorder(), storetest.Request(dup), fl.State); !errors.Is(err, session.ErrNoFlow) {
		t.Errorf("duplicated cookie: %v, want ErrNoFlow", err)
	}

	// From other keys.
	g := newFlows(t, session.FlowConfig{}, randomKeys(t), clk)
	if _, err := g.Take(httptest.NewRecorder(), storetest.Request(jar.Cookies()), fl.State); !errors.Is(err, session.ErrNoFlow) {
		t.Errorf("other keys: %v, want ErrNoFlow", err)
	}

	// Too old, even if the browser still sends it.
	clk.Advance(10*time.Minute + time.Second)
	if _, err := take(f, jar, fl.State); !errors.Is(err, session.ErrNoFlow) {
		t.Errorf("Take after 10m1s = %v, want ErrNoFlow", err)
	}
}

// flowCookieName returns the name of the cookie f sets for fl.
func flowCookieName(t *testing.T, f *session.FlowCookies, fl *session.Flow) string {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := f.Save(rec, storetest.Request(nil), fl); err != nil {
		t.Fatal(err)
	}
	return rec.Result().Cookies()[0].Name
}

func TestFlowEviction(t *testing.T) {
	clk := newClock()
	f := newFlows(t, session.FlowConfig{MaxFlows: 3}, randomKeys(t), clk)
	jar := new(storetest.Jar)
	var flows []*session.Flow
	for range 6 {
		clk.Advance(time.Second)
		fl := newFlow(clk)
		flows = append(flows, fl)
		saveFlow(t, f, jar, fl)
		if n := len(jar.Cookies()); n > 3 {
			t.Fatalf("%d flow cookies, want at most 3", n)
		}
	}
	for i, fl := range flows {
		_, err := take(f, jar, fl.State)
		if (i >= 3) != (err == nil) {
			t.Errorf("flow %d: Take = %v; want only the newest three kept", i, err)
		}
	}

	// Undecodable flow cookies go first.
	jar = new(storetest.Jar)
	saveFlow(t, f, jar, flows[0])
	saveFlow(t, f, jar, flows[1])
	cookies := append(jar.Cookies(), &http.Cookie{Name: "gatehouse_flow_00000000000000ff", Value: "junk"})
	rec := httptest.NewRecorder()
	if err := f.Save(rec, storetest.Request(cookies), flows[2]); err != nil {
		t.Fatal(err)
	}
	set := responseCookies(rec)
	if c := set["gatehouse_flow_00000000000000ff"]; c == nil || c.MaxAge >= 0 {
		t.Errorf("undecodable flow cookie not evicted: %+v", c)
	}
	if len(set) != 2 {
		t.Errorf("Save set %d cookies, want the new one and one eviction", len(set))
	}
}

func TestFlowSaveInvalid(t *testing.T) {
	clk := newClock()
	f := newFlows(t, session.FlowConfig{}, randomKeys(t), clk)
	short := newFlow(clk)
	short.State = "abc"
	long := newFlow(clk)
	long.RedirectTo = "/" + strings.Repeat("x", 3000)
	old := newFlow(clk)
	old.CreatedAt = clk.Now().Add(-10 * time.Minute)
	for _, tt := range []struct {
		fl      *session.Flow
		tooBig  bool
		explain string
	}{{nil, false, "nil"}, {short, false, "short state"}, {long, true, "long RedirectTo"}, {old, false, "expired"}} {
		rec := httptest.NewRecorder()
		err := f.Save(rec, storetest.Request(nil), tt.fl)
		if err == nil || errors.Is(err, session.ErrTooLarge) != tt.tooBig {
			t.Errorf("%s: Save = %v", tt.explain, err)
		}
		if len(setCookies(rec)) != 0 {
			t.Errorf("%s: failed Save set cookies", tt.explain)
		}
	}

	// CreatedAt defaults to now.
	jar := new(storetest.Jar)
	fl := newFlow(clk)
	fl.CreatedAt = time.Time{}
	saveFlow(t, f, jar, fl)
	got, err := take(f, jar, fl.State)
	if err != nil || !got.CreatedAt.Equal(clk.Now()) {
		t.Errorf("Take = %+v, %v; want CreatedAt %v", got, err, clk.Now())
	}
}

func TestFlowAndSessionCookiesDoNotMix(t *testing.T) {
	clk := newClock()
	keys := randomKeys(t)
	st := newCookieStore(t, session.CookieConfig{Secure: true}, keys, clk.Now)
	f := newFlows(t, session.FlowConfig{Secure: true}, keys, clk)

	jar := new(storetest.Jar)
	fl := newFlow(clk)
	saveFlow(t, f, jar, fl)
	flowCookie := jar.Cookies()[0]
	if !strings.HasPrefix(flowCookie.Name, st.CookieName()) {
		t.Errorf("flow cookie %q does not start with %q", flowCookie.Name, st.CookieName())
	}
	asSession := []*http.Cookie{{Name: st.CookieName(), Value: flowCookie.Value}}
	if _, err := st.Load(storetest.Request(asSession)); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("flow cookie loaded as a session: %v", err)
	}
	s := storetest.FullSession(10, 10, 10)
	s.CreatedAt = clk.Now()
	sjar := new(storetest.Jar)
	save(t, st, sjar, s)
	asFlow := []*http.Cookie{{Name: flowCookie.Name, Value: sjar.Cookies()[0].Value}}
	if _, err := f.Take(httptest.NewRecorder(), storetest.Request(asFlow), fl.State); !errors.Is(err, session.ErrNoFlow) {
		t.Errorf("session cookie taken as a flow: %v", err)
	}
}

func TestNewRandom(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		r := session.NewRandom()
		if len(r) != 43 || strings.ContainsAny(r, "+/=") || seen[r] {
			t.Fatalf("NewRandom() = %q", r)
		}
		seen[r] = true
	}
}

// BenchmarkFlow measures one login's flow-cookie work: Save when the login
// starts (a browser carrying a few of the application's cookies), Take at
// the callback.
func BenchmarkFlow(b *testing.B) {
	clk := newClock()
	f, err := session.NewFlowCookies(session.FlowConfig{}, randomKeys(b), clk.Now)
	if err != nil {
		b.Fatal(err)
	}
	fl := newFlow(clk)
	start := httptest.NewRequest("GET", "/app/page", nil)
	start.Header.Set("Cookie", "theme=dark; _ga=GA1.1.1234567890.1700000000; lang=en")
	b.ReportAllocs()
	for b.Loop() {
		w := &headerWriter{h: http.Header{}}
		if err := f.Save(w, start, fl); err != nil {
			b.Fatal(err)
		}
		cb := httptest.NewRequest("GET", "/oauth2/callback", nil)
		for _, line := range w.h["Set-Cookie"] {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				b.Fatal(err)
			}
			cb.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		if _, err := f.Take(&headerWriter{h: http.Header{}}, cb, fl.State); err != nil {
			b.Fatal(err)
		}
	}
}

// headerWriter is a ResponseWriter that keeps only its header.
type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(int)             {}

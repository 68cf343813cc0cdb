package login_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
	"github.com/gatehouse-proxy/gatehouse/proxy/login"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// loginEnv is a Login wired as cmd/gatehouse wires it (cookie sessions,
// flow cookies, in-memory single-use states) against the development
// issuer served over loopback HTTP, so that the token exchange is a real
// round trip.
type loginEnv struct {
	l   *login.Login
	iss *devissuer.Issuer
	// issuerTime is the time spent in the issuer's handlers and in its
	// form (Authorize), in nanoseconds.
	issuerTime atomic.Int64
	// issuerConns counts the connections the issuer accepted.
	issuerConns atomic.Int64
}

// newLoginEnv builds a loginEnv whose issuer client times out after
// timeout.
func newLoginEnv(tb testing.TB, timeout time.Duration) *loginEnv {
	tb.Helper()
	e := &loginEnv{}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	srv := httptest.NewUnstartedServer(nil)
	issURL := "http://" + srv.Listener.Addr().String()
	iss, err := devissuer.New(devissuer.Config{
		Issuer:  issURL,
		Clients: []devissuer.Client{{ID: "gw", Secret: "gw-secret", RedirectURIs: []string{"http://gw.test/oauth2/callback"}}},
		Users: []devissuer.User{{Username: "alice", Password: "pw-alice", Subject: "alice-sub", Email: "alice@corp.test",
			EmailVerified: true, Name: "Alice Example", Groups: []string{"dev", "staff"}}},
		AccessTokenTTL: time.Hour, IDTokenTTL: time.Hour,
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.iss = iss
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer e.timeIssuer(time.Now())
		iss.ServeHTTP(w, r)
	})
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			e.issuerConns.Add(1)
		}
	}
	srv.Start()
	tb.Cleanup(srv.Close)

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, err := session.ParseKeys([]byte(session.NewRandom() + session.NewRandom()))
	if err != nil {
		tb.Fatal(err)
	}
	cookies, err := session.NewCookieStore(session.CookieConfig{}, keys, nil)
	if err != nil {
		tb.Fatal(err)
	}
	flows, err := session.NewFlowCookies(session.FlowConfig{}, keys, nil)
	if err != nil {
		tb.Fatal(err)
	}
	redirects, err := login.NewRedirects("http://gw.test")
	if err != nil {
		tb.Fatal(err)
	}
	// As cmd/gatehouse builds it: a timeout, a RoundTripper that wraps
	// the Transport (there, to bound response sizes), no redirects.
	client := &http.Client{
		Timeout:       timeout,
		Transport:     wrappedTransport{http.DefaultTransport.(*http.Transport).Clone()},
		CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("no redirects") },
	}
	disc := login.Discover(ctx, login.DiscoveryConfig{IssuerURL: issURL, ClientID: "gw", Client: client, Logger: logger})
	select {
	case <-disc.Ready():
	case <-time.After(10 * time.Second):
		tb.Fatal("discovery never finished")
	}
	l, err := login.New(login.Config{
		ClientID: "gw", ClientSecret: "gw-secret", CallbackURL: "http://gw.test/oauth2/callback",
		PostLogoutURL: "http://gw.test/", Discovery: disc, Sessions: cookies, SessionCookie: cookies.CookieName(),
		Flows: flows, Once: session.NewMemoryOnce(session.DefaultMemoryOnceMax, nil), Redirects: redirects,
		Client: client, Logger: logger,
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.l = l
	return e
}

func (e *loginEnv) timeIssuer(t0 time.Time) { e.issuerTime.Add(int64(time.Since(t0))) }

// wrappedTransport stands for cmd/gatehouse's size-limiting RoundTripper:
// one that net/http does not know.
type wrappedTransport struct{ base http.RoundTripper }

func (t wrappedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r)
}

// login runs one browser login: Start, the issuer's form (in process),
// Callback. It returns the callback's response.
func (e *loginEnv) login(tb testing.TB) *http.Response {
	tb.Helper()
	r, err := e.callback(tb)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// callback runs a login up to the callback and returns what it did.
func (e *loginEnv) callback(tb testing.TB) (*http.Response, error) {
	tb.Helper()
	w := httptest.NewRecorder()
	if err := e.l.Start(w, httptest.NewRequest("GET", "http://gw.test/app/page", nil), "/app/page"); err != nil {
		tb.Fatal(err)
	}
	start := w.Result()
	t0 := time.Now()
	cb, err := e.iss.Authorize(start.Header.Get("Location"), "alice", "pw-alice")
	e.timeIssuer(t0)
	if err != nil {
		tb.Fatal(err)
	}
	r := httptest.NewRequest("GET", "http://gw.test/oauth2/callback?"+cb.RawQuery, nil)
	for _, c := range start.Cookies() {
		r.AddCookie(c)
	}
	w = httptest.NewRecorder()
	err = e.l.Callback(w, r)
	return w.Result(), err
}

// TestLoginRoundTrip checks the benchmark's setup: a login ends in a
// redirect to the flow's target with a session cookie.
func TestLoginRoundTrip(t *testing.T) {
	e := newLoginEnv(t, 5*time.Second)
	resp := e.login(t)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/app/page" {
		t.Fatalf("callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session bool
	for _, c := range resp.Cookies() {
		session = session || c.MaxAge >= 0 && c.Value != "" && !strings.Contains(c.Name, "_flow_")
	}
	if !session {
		t.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	}
}

// TestLoginReusesIssuerConnections checks that logins after the first
// open no connection to the issuer: every response body is read to the
// end and the connection goes back to the pool.
func TestLoginReusesIssuerConnections(t *testing.T) {
	e := newLoginEnv(t, 5*time.Second)
	e.login(t)
	before := e.issuerConns.Load()
	for range 5 {
		e.login(t)
	}
	if n := e.issuerConns.Load() - before; n != 0 {
		t.Errorf("5 logins opened %d new connections to the issuer, want 0", n)
	}
}

// TestLoginTokenTimeout checks that the token request is bounded by the
// client's timeout (which Login applies as a deadline) and fails as a 502.
func TestLoginTokenTimeout(t *testing.T) {
	e := newLoginEnv(t, 300*time.Millisecond)
	release := make(chan struct{})
	defer close(release)
	e.iss.SetHooks(devissuer.Hooks{TokenResponse: func(string, map[string]any) (int, []byte, bool) {
		<-release
		return 0, nil, false
	}})
	t0 := time.Now()
	_, err := e.callback(t)
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("the callback took %v", d)
	}
	if login.StatusOf(err) != http.StatusBadGateway {
		t.Errorf("err = %v (status %d), want a 502", err, login.StatusOf(err))
	}
}

// BenchmarkLogin measures one browser login through Login: Start (state,
// nonce, PKCE verifier, flow cookie, authorization URL) and Callback (flow
// cookie, checks, the code exchange over loopback HTTP, ID-token
// verification, session cookie). The issuer runs in the same process; its
// work (the form, signing two tokens, the token endpoint) is part of ns/op
// but not of gatehouse-ns/op, which subtracts the time spent in its
// handlers; goroutines/op counts the goroutines started per login (one is
// the issuer's server reading ahead on its connection). RS256 is what the
// load harness's issuer signs with; with
// ES256 the issuer's signing is cheap, which makes gatehouse's share of a
// CPU profile large enough to read:
//
//	go test ./proxy/login -run '^$' -bench Login/ES256 -benchmem -cpuprofile /tmp/login.prof
//	go tool pprof -top -cum -focus 'login\.\(\*Login\)' /tmp/login.prof
func BenchmarkLogin(b *testing.B) {
	for _, kid := range []struct{ name, kid string }{{"RS256", "k1"}, {"ES256", "k2"}} {
		b.Run(kid.name, func(b *testing.B) {
			e := newLoginEnv(b, 5*time.Second)
			if err := e.iss.SetSigningKey(kid.kid); err != nil {
				b.Fatal(err)
			}
			e.login(b) // connections, JWKS
			e.issuerTime.Store(0)
			b.ReportAllocs()
			n, g0 := 0, goroutinesCreated()
			for b.Loop() {
				e.login(b)
				n++
			}
			b.ReportMetric(float64(goroutinesCreated()-g0)/float64(n), "goroutines/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds()-e.issuerTime.Load())/float64(n), "gatehouse-ns/op")
		})
	}
}

// goroutinesCreated is how many goroutines this process has started.
func goroutinesCreated() uint64 {
	m := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return m[0].Value.Uint64()
}

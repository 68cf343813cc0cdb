package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
	"github.com/gatehouse-proxy/gatehouse/proxy"
	"github.com/gatehouse-proxy/gatehouse/proxy/bearer"
	"github.com/gatehouse-proxy/gatehouse/proxy/login"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// BenchmarkGateway runs gatehouse's whole request path in process (the
// gateway built from the product's packages as cmd/gatehouse builds it,
// access log formatted into io.Discard) against an in-memory upstream, next
// to a plain httputil.ReverseProxy. Without sockets, it shows the CPU and
// the allocations that are gatehouse's own; the harness (go run
// ./contrib/bench) shows what they cost end to end.
//
//	go test ./contrib/bench -run '^$' -bench Gateway -benchmem
func BenchmarkGateway(b *testing.B) {
	env := newGatewayEnv(b)
	cases := []struct {
		name    string
		h       http.Handler
		browser bool
		cookie  string
		auth    string
		status  int
	}{
		{"plain", env.plain, true, appCookies, "", 200},
		{"cookie", env.gw, true, appCookies + "; " + env.cookie, "", 200},
		{"jwt", env.gw, false, "", "Bearer " + env.jwt, 200},
		{"redirect", env.gw, true, appCookies, "", 302},
		{"api401", env.gw, false, "", "", 401},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/app/page?id=42", nil)
			r.Host = "gw.test"
			r.RemoteAddr = "127.0.0.1:40000"
			r.Header.Set("User-Agent", "Mozilla/5.0 gatehouse-bench")
			if c.browser {
				r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
				r.Header.Set("Accept-Language", "en-US,en;q=0.5")
				r.Header.Set("Sec-Fetch-Mode", "navigate")
			} else {
				r.Header.Set("Accept", "application/json")
			}
			if c.cookie != "" {
				r.Header.Set("Cookie", c.cookie)
			}
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			serve := func() {
				w := &discardWriter{h: http.Header{}}
				c.h.ServeHTTP(w, r.Clone(r.Context()))
				if w.status != c.status {
					b.Fatalf("status %d, want %d", w.status, c.status)
				}
			}
			serve()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serve()
			}
		})
	}
}

// TestGatewayEnv checks that the benchmark's setup works (it runs in CI
// with the other tests; BenchmarkGateway itself does not).
func TestGatewayEnv(t *testing.T) {
	env := newGatewayEnv(t)
	for _, c := range []struct {
		h      http.Handler
		header string
		value  string
		want   int
	}{
		{env.plain, "", "", 200},
		{env.gw, "Cookie", env.cookie, 200},
		{env.gw, "Authorization", "Bearer " + env.jwt, 200},
		{env.gw, "Authorization", "Bearer " + env.jwt + "x", 401},
		{env.gw, "", "", 302},
	} {
		r := httptest.NewRequest("GET", "/app/page", nil)
		r.Host = "gw.test"
		r.Header.Set("Accept", "text/html")
		if c.header != "" {
			r.Header.Set(c.header, c.value)
		}
		w := &discardWriter{h: http.Header{}}
		c.h.ServeHTTP(w, r)
		if w.status != c.want {
			t.Errorf("%s %.20s: status %d, want %d", c.header, c.value, w.status, c.want)
		}
	}
}

type gatewayEnv struct {
	plain, gw   http.Handler
	cookie, jwt string
}

// stubUpstream answers every request in memory.
type stubUpstream struct{}

func (stubUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(upstreamBody)),
		ContentLength: int64(len(upstreamBody)),
		Request:       r,
	}, nil
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return len(b), nil
}
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}

func newGatewayEnv(tb testing.TB) *gatewayEnv {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	issSrv := httptest.NewUnstartedServer(nil)
	issURL := "http://" + issSrv.Listener.Addr().String()
	iss, err := devissuer.New(devissuer.Config{
		Issuer: issURL,
		Clients: []devissuer.Client{
			{ID: "gw", Secret: clientSecret, RedirectURIs: []string{"http://gw.test/oauth2/callback"}},
			{ID: "svc", Secret: "svc-secret", Audience: []string{"gw"}, Groups: []string{"robots"}},
		},
		AccessTokenTTL: time.Hour,
	})
	if err != nil {
		tb.Fatal(err)
	}
	issSrv.Config.Handler = iss
	issSrv.Start()
	tb.Cleanup(issSrv.Close)

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, err := session.ParseKeys([]byte(session.NewRandom() + session.NewRandom()))
	if err != nil {
		tb.Fatal(err)
	}
	public, _ := url.Parse("http://gw.test")
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
	client := &http.Client{Timeout: 5 * time.Second}
	disc := login.Discover(ctx, login.DiscoveryConfig{IssuerURL: issURL, ClientID: "gw", Client: client, Logger: logger})
	select {
	case <-disc.Ready():
	case <-time.After(10 * time.Second):
		tb.Fatal("discovery never finished")
	}
	lg, err := login.New(login.Config{
		ClientID: "gw", ClientSecret: clientSecret, Scopes: []string{"openid", "email", "profile", "offline_access"},
		CallbackURL: "http://gw.test/oauth2/callback", Discovery: disc, Sessions: cookies, SessionCookie: cookies.CookieName(),
		Flows: flows, Once: session.NewMemoryOnce(session.DefaultMemoryOnceMax, nil), Redirects: redirects,
		Client: client, Logger: logger,
	})
	if err != nil {
		tb.Fatal(err)
	}
	machines, err := bearer.New(ctx, bearer.Config{
		Issuers: []bearer.IssuerConfig{{URL: issURL, Audiences: []string{"gw"}}}, Client: client, Logger: logger,
	})
	if err != nil {
		tb.Fatal(err)
	}
	route, err := proxy.ParseRoute("/=http://127.0.0.1:9")
	if err != nil {
		tb.Fatal(err)
	}
	gw, err := proxy.New(proxy.Config{
		PublicURL: public, Routes: []proxy.Route{route}, Login: lg, Redirects: redirects,
		CookiePrefix: cookies.CookieName(), Transport: stubUpstream{}, Logger: logger, Bearer: machines,
	})
	if err != nil {
		tb.Fatal(err)
	}

	// A typical signed-in browser: what the callback stores for alice.
	now := time.Now()
	sess := &session.Session{
		ID: session.NewRandom(),
		Identity: session.Identity{Issuer: issURL, Subject: "alice-sub", Email: "alice@corp.test", PreferredUsername: "alice",
			Name: "Alice Example", Groups: []string{"dev", "staff"}, ClientID: "gw", SID: session.NewRandom()},
		IDToken: strings.Repeat("i", 900), RefreshToken: strings.Repeat("r", 300),
		Expiry: now.Add(time.Hour), CreatedAt: now, RefreshedAt: now,
	}
	rec := httptest.NewRecorder()
	if err := cookies.Save(rec, httptest.NewRequest("GET", "/", nil), sess); err != nil {
		tb.Fatal(err)
	}
	var parts []string
	for _, c := range rec.Result().Cookies() {
		parts = append(parts, c.Name+"="+c.Value)
	}

	tok, err := clientCredentials(issURL)
	if err != nil {
		tb.Fatal(err)
	}
	target, _ := url.Parse("http://127.0.0.1:9")
	plain := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:  stubUpstream{},
		BufferPool: &bufferPool{},
	}
	return &gatewayEnv{plain: plain, gw: gw, cookie: strings.Join(parts, "; "), jwt: tok}
}

func clientCredentials(issURL string) (string, error) {
	e := &env{issURL: issURL}
	return e.clientToken("svc", "svc-secret")
}

package upstream

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// seen is what a test backend received.
type seen struct {
	Method     string
	RequestURI string
	Host       string
	Header     http.Header
	Trailer    http.Header
	Body       string
}

// newBackend starts a backend that records each request it receives and
// then calls next (which may be nil, meaning "answer 200 ok").
func newBackend(t *testing.T, next http.HandlerFunc) (*httptest.Server, <-chan seen) {
	t.Helper()
	ch := make(chan seen, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- seen{r.Method, r.RequestURI, r.Host, r.Header.Clone(), r.Trailer.Clone(), string(body)}
		if next != nil {
			next(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

// newFront puts a Proxy for backend in front of it, attaching headers to
// every request as the gateway would. cfg.Target is filled in when nil.
func newFront(t *testing.T, backend *httptest.Server, cfg Config, headers http.Header) *httptest.Server {
	t.Helper()
	if cfg.Target == nil {
		cfg.Target = mustParse(t, backend.URL)
	}
	if cfg.Transport == nil {
		tr := NewTransport(5*time.Second, 0)
		t.Cleanup(tr.CloseIdleConnections)
		cfg.Transport = tr
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headers != nil {
			r = r.WithContext(WithHeaders(r.Context(), headers))
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func receive(t *testing.T, ch <-chan seen) seen {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("backend received no request")
		return seen{}
	}
}

// rawRequest sends raw bytes to srv over a fresh connection and reads one
// response.
func rawRequest(t *testing.T, srv *httptest.Server, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func TestClientCannotInjectHeaders(t *testing.T) {
	backend, got := newBackend(t, nil)
	gateway := http.Header{
		"X-Forwarded-User":   {"alice"},
		"X-Forwarded-Email":  {"alice@example.com"},
		"X-Forwarded-Groups": {"admins", "devs"},
		"X-App-Role":         {"viewer"},
	}
	front := newFront(t, backend, Config{StripHeaders: []string{"x_custom_secret"}}, gateway)

	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	spoof := map[string]string{ // sent with these exact spellings
		"X-Forwarded-User":       "mallory",
		"x_forwarded_user":       "mallory",
		"X-FORWARDED-EMAIL":      "m@evil",
		"X_Forwarded_Groups":     "root",
		"X-Forwarded-For":        "6.6.6.6",
		"x-forwarded_for":        "6.6.6.6",
		"X-Forwarded-Proto":      "https",
		"X-Forwarded-Host":       "evil.example",
		"X-Forwarded-Prefix":     "/evil",
		"Forwarded":              "for=6.6.6.6",
		"X-Auth-Request-Email":   "m@evil",
		"X_AUTH_REQUEST_USER":    "mallory",
		"X-Gatehouse-Identity":   "mallory",
		"Remote_User":            "mallory",
		"X-Real-IP":              "6.6.6.6",
		"Cf-Connecting-Ip":       "6.6.6.6",
		"True-Client-IP":         "6.6.6.6",
		"X-Original-URL":         "/admin",
		"X-HTTP-Method-Override": "DELETE",
		"X-Access-Token":         "forged",
		"X_User":                 "mallory",
		"X-Custom-Secret":        "leak",
		"X_app_role":             "admin",
	}
	for k, v := range spoof {
		req.Header[k] = []string{v}
	}
	req.Header.Set("X-Keep", "yes")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	s := receive(t, got)

	want := map[string][]string{
		"X-Forwarded-User":   {"alice"},
		"X-Forwarded-Email":  {"alice@example.com"},
		"X-Forwarded-Groups": {"admins", "devs"},
		"X-Forwarded-For":    {"127.0.0.1"},
		"X-Forwarded-Proto":  {"http"},
		"X-Forwarded-Host":   {strings.TrimPrefix(front.URL, "http://")},
		"X-App-Role":         {"viewer"},
		"X-Keep":             {"yes"},
	}
	for k, vv := range want {
		if !slices.Equal(s.Header[k], vv) {
			t.Errorf("backend got %s = %q, want %q", k, s.Header[k], vv)
		}
	}
	for k, vv := range s.Header {
		if _, ok := want[k]; ok {
			continue
		}
		if IsReservedHeader(k) || sameHeaderName(k, "X-Custom-Secret") || sameHeaderName(k, "X-App-Role") {
			t.Errorf("client header reached the backend: %s = %q", k, vv)
		}
		for _, v := range vv {
			if strings.Contains(v, "mallory") || strings.Contains(v, "6.6.6.6") {
				t.Errorf("spoofed value reached the backend: %s = %q", k, v)
			}
		}
	}
}

func TestContextOverridesForwardedHeaders(t *testing.T) {
	backend, got := newBackend(t, nil)
	front := newFront(t, backend, Config{}, http.Header{
		"X-Forwarded-For":   {"203.0.113.7"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"app.example.com"},
	})
	req, _ := http.NewRequest("GET", front.URL, nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := receive(t, got).Header
	for k, v := range map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com"} {
		if !slices.Equal(h[k], []string{v}) {
			t.Errorf("%s = %q, want %q", k, h[k], v)
		}
	}
}

func TestConnectionHeaderCannotRemoveGatewayHeaders(t *testing.T) {
	backend, got := newBackend(t, nil)
	front := newFront(t, backend, Config{}, http.Header{"X-Forwarded-User": {"alice"}})
	res, _ := rawRequest(t, front, "GET /conn HTTP/1.1\r\nHost: app\r\n"+
		"Connection: close, X-Forwarded-User, X-Forwarded-For\r\n"+
		"X-Forwarded-User: mallory\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	h := receive(t, got).Header
	if !slices.Equal(h["X-Forwarded-User"], []string{"alice"}) {
		t.Errorf("X-Forwarded-User = %q, want alice", h["X-Forwarded-User"])
	}
	if !slices.Equal(h["X-Forwarded-For"], []string{"127.0.0.1"}) {
		t.Errorf("X-Forwarded-For = %q, want 127.0.0.1", h["X-Forwarded-For"])
	}
}

func TestPassHostHeader(t *testing.T) {
	for _, pass := range []bool{true, false} {
		backend, got := newBackend(t, nil)
		front := newFront(t, backend, Config{PassHostHeader: pass}, nil)
		req, _ := http.NewRequest("GET", front.URL, nil)
		req.Host = "app.example.com"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		want := strings.TrimPrefix(backend.URL, "http://")
		if pass {
			want = "app.example.com"
		}
		if h := receive(t, got).Host; h != want {
			t.Errorf("PassHostHeader=%v: backend Host = %q, want %q", pass, h, want)
		}
	}
}

func TestCookiePrefix(t *testing.T) {
	backend, got := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "_gh_session=evil; Path=/; HttpOnly")
		w.Header().Add("Set-Cookie", "app=1; Path=/")
		w.Header().Add("Set-Cookie", " _gh_csrf=x")
		w.Header().Add("Set-Cookie", "_GH_other=kept")
		w.Header().Add("Set-Cookie", "__Secure-_gh_hint=evil; Path=/oauth2/sign_out; Secure")
	})
	// The configured prefix's own browser prefix does not narrow it.
	front := newFront(t, backend, Config{StripCookiePrefix: "__Host-_gh"}, nil)

	tests := []struct {
		name  string
		lines []string
		want  []string // nil: no Cookie header
	}{
		{"mixed lines", []string{"a=1; _gh_session=x", "_gh_csrf=y;b=2"}, []string{"a=1; b=2"}},
		{"only gateway cookies", []string{"_gh_session=x", "_gh_csrf=y"}, nil},
		{"untouched", []string{"a=1", "b=2; c"}, []string{"a=1", "b=2; c"}},
		{"case-sensitive", []string{"_GH=1; _gh=2"}, []string{"_GH=1"}},
		{"browser prefixes", []string{"__Host-_gh=1; a=1", "__Secure-_gh_hint=2"}, []string{"a=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", front.URL, nil)
			req.Header["Cookie"] = tt.lines
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if c := receive(t, got).Header["Cookie"]; !slices.Equal(c, tt.want) {
				t.Errorf("backend Cookie = %q, want %q", c, tt.want)
			}
			want := []string{"app=1; Path=/", "_GH_other=kept"}
			if sc := res.Header["Set-Cookie"]; !slices.Equal(sc, want) {
				t.Errorf("client Set-Cookie = %q, want %q", sc, want)
			}
		})
	}
}

func TestRequestTrailersNotForwarded(t *testing.T) {
	backend, got := newBackend(t, nil)
	front := newFront(t, backend, Config{}, http.Header{"X-Forwarded-User": {"alice"}})
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", front.URL, pr)
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Forwarded-User": nil, "X-Smuggled": nil}
	go func() {
		io.WriteString(pw, "body")
		req.Trailer.Set("X-Forwarded-User", "mallory")
		req.Trailer.Set("X-Smuggled", "yes")
		pw.Close()
	}()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	s := receive(t, got)
	if s.Body != "body" {
		t.Errorf("body = %q", s.Body)
	}
	if len(s.Trailer) != 0 {
		t.Errorf("backend got trailers %q", s.Trailer)
	}
	if !slices.Equal(s.Header["X-Forwarded-User"], []string{"alice"}) || s.Header["X-Smuggled"] != nil {
		t.Errorf("backend headers %q", s.Header)
	}
}

func TestRequestTargetVerbatim(t *testing.T) {
	tests := []struct{ target, sent, want string }{
		{"", "/a%2Fb/%7Ec?x=1;y=2&x=3", "/a%2Fb/%7Ec?x=1;y=2&x=3"},
		{"", "/search/{id}|\"x\"?q=%zz&q=%41", "/search/{id}|\"x\"?q=%zz&q=%41"},
		{"", "/caf\xc3\xa9/%C3%A9?", "/caf\xc3\xa9/%C3%A9?"},
		{"", "/p;v=1/%2e%2e/x?b=2&a=1&b=1", "/p;v=1/%2e%2e/x?b=2&a=1&b=1"},
		{"", "//double//slash", "//double//slash"},
		{"/base", "/x/{y}?z=1;2", "/base/x/{y}?z=1;2"},
		{"/base/", "/%41%42", "/base/%41%42"},
		{"/base?t=1", "/x?y=2;3", "/base/x?t=1&y=2;3"},
	}
	for _, tt := range tests {
		backend, got := newBackend(t, nil)
		front := newFront(t, backend, Config{Target: mustParse(t, backend.URL+tt.target)}, nil)
		res, _ := rawRequest(t, front, "GET "+tt.sent+" HTTP/1.1\r\nHost: app\r\n\r\n")
		if res.StatusCode != 200 {
			t.Errorf("%q: status %d", tt.sent, res.StatusCode)
			continue
		}
		if s := receive(t, got); s.RequestURI != tt.want {
			t.Errorf("target %q, sent %q: backend got %q, want %q", tt.target, tt.sent, s.RequestURI, tt.want)
		}
	}
}

func TestBackendDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	target := mustParse(t, "http://"+addr+"/base")

	t.Run("default handler", func(t *testing.T) {
		p, err := New(Config{Target: target, Transport: NewTransport(time.Second, 0)})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/secret-path?token=s3cr3t", nil)
		req.Header.Set("Authorization", "Bearer s3cr3t")
		req = req.WithContext(WithHeaders(req.Context(), http.Header{"X-Forwarded-User": {"alice"}}))
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code != http.StatusBadGateway {
			t.Errorf("status %d, want 502", w.Code)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
		body := w.Body.String()
		host, port, _ := net.SplitHostPort(addr)
		for _, leak := range []string{"s3cr3t", "secret-path", "alice", host, port, "refused", "dial", "tcp"} {
			if strings.Contains(body, leak) {
				t.Errorf("body %q contains %q", body, leak)
			}
		}
	})
	t.Run("custom handler", func(t *testing.T) {
		var gotErr error
		var gotReq *http.Request
		p, err := New(Config{Target: target, Transport: NewTransport(time.Second, 0),
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				gotErr, gotReq = err, r
				w.WriteHeader(599)
			}})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
		var opErr *net.OpError
		if w.Code != 599 || !errors.As(gotErr, &opErr) || gotReq == nil {
			t.Errorf("code %d, error %v (%T), request %v", w.Code, gotErr, gotErr, gotReq)
		}
	})
}

func TestNew(t *testing.T) {
	bad := []Config{
		{},
		{Target: &url.URL{Scheme: "ftp", Host: "x"}},
		{Target: &url.URL{Scheme: "http"}},
		{Target: &url.URL{Scheme: "http", Opaque: "x"}},
		{Target: &url.URL{Scheme: "http", Host: "x", User: url.User("u")}},
		{Target: &url.URL{Scheme: "http", Host: "x", Fragment: "f"}},
		{Target: &url.URL{Scheme: "http", Host: "x"}, StripHeaders: []string{"X-Ok", " "}},
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), "upstream: ") {
			t.Errorf("New(%+v) error = %v", cfg, err)
		}
	}
	target := &url.URL{Scheme: "https", Host: "backend:8443", Path: "/app"}
	p, err := New(Config{Target: target, StripHeaders: []string{"X_Secret"}})
	if err != nil {
		t.Fatal(err)
	}
	target.Host = "changed"
	if p.target.Host != "backend:8443" {
		t.Error("Proxy shares the caller's Target")
	}
	if !p.extra["x-secret"] {
		t.Errorf("extra = %v", p.extra)
	}
	if p.rp.ErrorLog == nil || p.rp.ErrorHandler == nil || p.rp.Rewrite == nil || p.rp.ModifyResponse != nil || p.rp.BufferPool == nil {
		t.Error("defaults not applied")
	}
	if _, ok := p.rp.Transport.(*http.Transport); !ok {
		t.Errorf("default transport %T", p.rp.Transport)
	}
}

func TestNewTransport(t *testing.T) {
	tr := NewTransport(0, -1)
	if tr.Proxy != nil || !tr.ForceAttemptHTTP2 || tr.MaxIdleConnsPerHost != 256 ||
		tr.IdleConnTimeout != 90*time.Second || tr.ExpectContinueTimeout != time.Second ||
		tr.TLSHandshakeTimeout <= 0 || tr.ResponseHeaderTimeout != 0 || !tr.DisableCompression || tr.DialContext == nil {
		t.Errorf("unexpected transport %+v", tr)
	}
	if tr := NewTransport(time.Second, 3*time.Second); tr.ResponseHeaderTimeout != 3*time.Second {
		t.Errorf("ResponseHeaderTimeout = %v", tr.ResponseHeaderTimeout)
	}
}

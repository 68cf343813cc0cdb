package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

// harness runs the real program on :0 listeners against the development
// issuer and a recording upstream.
type harness struct {
	t      *testing.T
	iss    *devissuer.Issuer
	issURL string
	gw     string // gatehouse base URL
	admin  string // admin base URL
	up     *recordingUpstream
	logs   *syncBuffer
	m      *Main
	args   []string // gatehouse's flags

	replicas []*Main // with harnessOptions.replicas > 1
	admins   []string

	issuerMode atomic.Int32  // issuerUp, issuerDown or issuerSlow
	slowIssuer chan struct{} // closed to release requests held in issuerSlow
	slowOnce   sync.Once
}

const (
	issuerUp int32 = iota
	issuerDown
	issuerSlow
)

// gate puts the issuer behind a switch: down drops every connection
// without an answer, slow holds every request until the test ends.
func (h *harness) gate(next http.Handler) http.Handler {
	h.slowIssuer = make(chan struct{})
	h.t.Cleanup(func() { h.slowOnce.Do(func() { close(h.slowIssuer) }) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch h.issuerMode.Load() {
		case issuerDown:
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		case issuerSlow:
			select {
			case <-h.slowIssuer:
			case <-r.Context().Done():
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

type harnessOptions struct {
	accessTTL   time.Duration
	revokeReuse bool
	extraFlags  []string
	scope       string
	// flagsFor adds flags that need the harness's addresses.
	flagsFor func(h *harness) []string
	// replicas > 1 runs that many gatehouses behind a test load balancer.
	replicas int
	// issuerDown starts the issuer switched off (see harness.gate).
	issuerDown bool
	// discardLogs drops gatehouse's logs (for memory measurements: the
	// test's log buffer would otherwise grow with every request).
	discardLogs bool
}

type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	discard bool
	flush   []func() // the writers' FlushLogs, called before reading
}

// flushFrom makes String write out what m holds first, so a test sees
// every line logged before it reads.
func (s *syncBuffer) flushFrom(m *Main) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flush = append(s.flush, m.FlushLogs)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	if s.discard {
		return len(p), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	flush := s.flush
	s.mu.Unlock()
	for _, f := range flush {
		f()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recordingUpstream remembers every request it receives.
type recordingUpstream struct {
	mu    sync.Mutex
	reqs  []recorded
	url   string
	block chan struct{} // when non-nil, /slow waits on it
}

type recorded struct {
	URI    string
	Host   string
	Header http.Header
}

func (u *recordingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.reqs = append(u.reqs, recorded{URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone()})
	block := u.block
	u.mu.Unlock()
	if r.URL.Path == "/slow" && block != nil {
		<-block
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "upstream ok")
}

func (u *recordingUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *recordingUpstream) last(t *testing.T) recorded {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream was never called")
	}
	return u.reqs[len(u.reqs)-1]
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func serve(t *testing.T, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// Machine clients of the test issuer: their tokens are meant for gatehouse
// (audience "gw", the default --bearer-audience).
var (
	machineClient = devissuer.Client{ID: "svc", Secret: "svc-secret", Audience: []string{"gw"}, Groups: []string{"robots"}}
	opaqueClient  = devissuer.Client{ID: "svc-opaque", Secret: "opaque-secret", Audience: []string{"gw"}, AccessTokenFormat: "opaque"}
)

var demoTestUsers = []devissuer.User{
	{Username: "alice", Password: "pw-alice", Subject: "alice-sub", Email: "alice@corp.test", EmailVerified: true, Groups: []string{"dev"}},
	{Username: "bob", Password: "pw-bob", Subject: "bob-sub", Email: "bob@corp.test", EmailVerified: false, Groups: []string{"admins"}},
}

func startHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncBuffer{discard: o.discardLogs}, up: &recordingUpstream{}}
	issLn, appLn, upLn := listen(t), listen(t), listen(t)
	h.issURL = "http://" + issLn.Addr().String()
	h.gw = "http://" + appLn.Addr().String()
	h.up.url = "http://" + upLn.Addr().String()
	iss, err := devissuer.New(devissuer.Config{
		Issuer: h.issURL,
		Clients: []devissuer.Client{{
			ID: "gw", Secret: "s3cr3t",
			RedirectURIs:           []string{h.gw + "/oauth2/callback"},
			PostLogoutRedirectURIs: []string{h.gw + "/oauth2/sign_in"},
		}, machineClient, opaqueClient},
		Users:                demoTestUsers,
		AccessTokenTTL:       o.accessTTL,
		RevokeOnRefreshReuse: o.revokeReuse,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.iss = iss
	if o.issuerDown {
		h.issuerMode.Store(issuerDown)
	}
	serve(t, issLn, h.gate(iss))
	serve(t, upLn, h.up)
	scope := o.scope
	if scope == "" {
		scope = "openid email profile offline_access"
	}
	h.args = append([]string{
		"--public-url=" + h.gw, "--issuer=" + h.issURL, "--client-id=gw",
		"--upstream=/=" + h.up.url, "--scope=" + scope, "--log-level=debug",
	}, o.extraFlags...)
	if o.flagsFor != nil {
		h.args = append(h.args, o.flagsFor(h)...)
	}
	if o.replicas < 2 {
		h.m, h.admin = h.startReplica(appLn)
		return h
	}
	// Several replicas share the public URL behind a test load balancer
	// that picks the replica named in X-Test-Replica (default: round robin).
	var backends []*url.URL
	for range o.replicas {
		ln := listen(t)
		m, admin := h.startReplica(ln)
		h.replicas = append(h.replicas, m)
		h.admins = append(h.admins, admin)
		backends = append(backends, &url.URL{Scheme: "http", Host: ln.Addr().String()})
	}
	h.m, h.admin = h.replicas[0], h.admins[0]
	var next atomic.Uint64
	serve(t, appLn, &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		i := int(next.Add(1)) % len(backends)
		if v := pr.In.Header.Get("X-Test-Replica"); v != "" {
			i, _ = strconv.Atoi(v)
		}
		pr.SetURL(backends[i])
		pr.Out.Host = pr.In.Host
	}})
	return h
}

// startReplica runs one gatehouse with the harness's flags on ln and
// returns it and its admin URL.
func (h *harness) startReplica(ln net.Listener) (*Main, string) {
	t := h.t
	t.Helper()
	env := map[string]string{
		"GATEHOUSE_CLIENT_SECRET": "s3cr3t",
		"GATEHOUSE_COOKIE_SECRET": "aW5zZWN1cmUtdGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==",
	}
	adminLn := listen(t)
	m := NewMain(h.logs)
	m.AppListener, m.AdminListener = ln, adminLn
	if err := m.ParseFlags(h.args, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.logs.flushFrom(m)
	t.Cleanup(func() {
		m.Close()
		for _, secret := range []string{"s3cr3t", "pw-alice", "pw-bob"} {
			if strings.Contains(h.logs.String(), secret) {
				t.Errorf("a secret (%q) reached the log", secret)
			}
		}
	})
	admin := "http://" + adminLn.Addr().String()
	if h.issuerMode.Load() == issuerUp {
		h.waitReadyAt(admin)
	}
	return m, admin
}

func (h *harness) waitReadyAt(admin string) {
	h.t.Helper()
	for range 200 {
		resp, err := http.Get(admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	h.t.Fatal("gatehouse never became ready")
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see every hop.
type browser struct {
	t   *testing.T
	c   *http.Client
	jar *cookiejar.Jar
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, jar: jar, c: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request with browser-like headers plus extra ones.
func (b *browser) do(method, u string, body io.Reader, hdr map[string]string) *http.Response {
	b.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header[k] = []string{v}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (b *browser) get(u string) *http.Response { return b.do("GET", u, nil, nil) }

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func location(t *testing.T, resp *http.Response, want int) *url.URL {
	t.Helper()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, want, b)
	}
	u, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var requestIDField = regexp.MustCompile(`name="request_id" value="([A-Za-z0-9_-]+)"`)

// loginAt follows a redirect to the issuer through its login form and
// returns the callback URL the issuer sends the browser to.
func (b *browser) loginAt(authorize *url.URL, user, password string) *url.URL {
	b.t.Helper()
	resp := b.get(authorize.String())
	page := readBody(b.t, resp)
	m := requestIDField.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		b.t.Fatalf("issuer login form: status %d", resp.StatusCode)
	}
	form := url.Values{"request_id": {m[1]}, "username": {user}, "password": {password}, "action": {"login"}}
	resp = b.do("POST", authorize.Scheme+"://"+authorize.Host+authorize.Path, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	return location(b.t, resp, http.StatusFound)
}

// login signs in from path and returns the final landing URL.
func (h *harness) login(b *browser, path, user, password string) *url.URL {
	h.t.Helper()
	authorize := location(h.t, b.get(h.gw+path), http.StatusFound)
	if !strings.HasPrefix(authorize.String(), h.issURL+"/authorize") {
		h.t.Fatalf("not sent to the issuer: %s", authorize)
	}
	callback := b.loginAt(authorize, user, password)
	return location(h.t, b.get(callback.String()), http.StatusFound)
}

// issuerRequests returns the issuer's logged requests to path.
func (h *harness) issuerRequests(path string) []devissuer.LoggedRequest {
	var out []devissuer.LoggedRequest
	for _, r := range h.iss.Requests() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) grants(grant string) int {
	n := 0
	for _, r := range h.issuerRequests("/token") {
		if r.Form.Get("grant_type") == grant {
			n++
		}
	}
	return n
}

// decodeClaims returns a JWT's claims without verifying it (tests only).
func decodeClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// hooksCaptureIDToken records the ID tokens the issuer mints.
func hooksCaptureIDToken(dst *string) devissuer.Hooks {
	return devissuer.Hooks{TokenResponse: func(grant string, resp map[string]any) (int, []byte, bool) {
		if s, ok := resp["id_token"].(string); ok {
			*dst = s
		}
		return 0, nil, false
	}}
}

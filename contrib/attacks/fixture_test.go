package attacks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

// fixture is one running gatehouse with its own issuer (I) and upstream (U).
type fixture struct {
	name    string
	gw      string // base URL, e.g. http://127.0.0.1:4180
	host    string // host:port of gw
	scheme  string
	admin   string
	iss     *devissuer.Issuer
	issURL  string
	front   *issuerFront
	up      *upstream
	upSrv   *http.Server
	issSrv  *http.Server
	cmd     *exec.Cmd
	done    chan struct{}
	logs    *syncBuffer
	args    []string
	tls     *tls.Config // client configuration trusting gw, for https fixtures
	started time.Time   // when gatehouse became ready
	downURL string      // an upstream address that refuses connections

	mu sync.Mutex // one test at a time per fixture
}

// spec describes a fixture.
type spec struct {
	name      string
	tls       bool
	accessTTL time.Duration
	flags     func(f *fixture) []string
	cookieKey string
}

// The users at I (password "pw" for all).
var users = []devissuer.User{
	{Username: "alice", Password: "pw", Email: "alice@corp.test", EmailVerified: true, Groups: []string{"dev"}},
	{Username: "bob", Password: "pw", Email: "bob@corp.test", EmailVerified: true, Groups: []string{"admins"}},
	{Username: "mallory", Password: "pw", Email: "mallory@evil.test", EmailVerified: true, Groups: []string{}},
	{Username: "nogroups", Password: "pw"},
	{Username: "carol", Password: "pw", Email: "carol@corp.test", EmailVerified: true, Groups: []string{"admins"}},
	{Username: "dave", Password: "pw", Email: "dave@corp.test", EmailVerified: true, Groups: []string{"dev"}},
}

// The F0 reference configuration (ATTACKS.md §0.2), adapted to gatehouse's
// flags: prefix rules instead of regexes, default-deny with "/ authenticated"
// so that every listed route needs a signed-in caller, PRX as the only
// trusted proxy, the identity assertion on, *.apps.test as an extra
// redirect origin, bearer tokens for aud = the public URL typed at+jwt.
func f0Flags(f *fixture) []string {
	return []string{
		"--default-deny",
		"--rule=GET,HEAD /public/ public",
		"--rule=/ authenticated",
		"--rule=/admin/ groups=admins",
		"--rule=/api/admin/ scopes=admin",
		"--rule=/internal/ deny",
		"--rule=/corp/ domains=corp.test",
		"--rule=/people/ humans",
		"--rule=/clients-only/ clients=svc",
		"--trusted-proxy=127.0.0.2/32",
		"--identity-assertion",
		"--allowed-redirect=" + f.scheme + "://*.apps.test",
		"--bearer-audience=" + f.gw,
		"--bearer-require-at-jwt",
		"--upstream=/other/=" + strings.Replace(f.up.url, "127.0.0.1", "localhost", 1),
		"--upstream=/down/=" + f.downURL,
		"--upstream-timeout=5s", // #149: a hung upstream gets a 502 page
	}
}

var specs = []spec{
	{name: "F0", flags: f0Flags},
	{name: "FT", tls: true, accessTTL: 3 * time.Second, flags: f0Flags},
	{name: "F1", flags: func(f *fixture) []string {
		return append(f0Flags(f), "--session-store=redis", "--redis-url=redis://"+redis.addr+"/0")
	}},
	// The password grant's access tokens are issued to gatehouse's own
	// client (aud "gw", the default --bearer-audience).
	{name: "F2", flags: func(f *fixture) []string {
		return []string{"--password-grant", "--password-grant-path=/legacy/"}
	}},
	{name: "F2t", flags: func(f *fixture) []string {
		return []string{"--password-grant", "--password-grant-path=/legacy/"}
	}},
	{name: "F3", flags: func(f *fixture) []string {
		return []string{"--introspection-url=" + f.issURL + "/introspect-scripted", "--bearer-audience=" + f.gw,
			"--rule=/clients-only/ clients=svc"}
	}},
	{name: "F3b", flags: func(f *fixture) []string {
		return []string{"--introspection-url=" + f.issURL + "/introspect-scripted", "--bearer-audience=" + f.gw}
	}},
	{name: "F5", cookieKey: randomKey(), flags: func(f *fixture) []string {
		return []string{"--pass-authorization=bearer", "--bearer-audience=" + f.gw}
	}},
	{name: "F6", accessTTL: 2 * time.Second, flags: func(f *fixture) []string {
		return []string{"--session-lifetime=1m", "--rule=/admin/ groups=admins"}
	}},
	{name: "F6L", flags: func(f *fixture) []string { return []string{"--session-lifetime=1m"} }},
	{name: "FR", flags: func(f *fixture) []string { return []string{"--bearer-audience=" + f.gw} }},
	{name: "FJ", flags: f0Flags},
	{name: "FK", flags: func(f *fixture) []string { return []string{"--bearer-audience=" + f.gw} }},
}

// sharedCookieKey is the cookie key of every fixture but F5.
var sharedCookieKey = randomKey()

func startFixtures() error {
	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var f *fixture
			var err error
			for range 3 { // a port picked as free may be taken before gatehouse binds it
				if f, err = startFixture(s); err == nil || !strings.Contains(err.Error(), "address already in use") {
					break
				}
			}
			if err != nil {
				errs[i] = fmt.Errorf("fixture %s: %w", s.name, err)
				return
			}
			resultsMu.Lock()
			fixtures[s.name] = f
			resultsMu.Unlock()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func stopFixtures() {
	var wg sync.WaitGroup
	for _, f := range fixtures {
		wg.Add(1)
		go func() {
			defer wg.Done()
			terminate(f.cmd, f.done)
			f.upSrv.Close()
			f.issSrv.Close()
		}()
	}
	wg.Wait()
}

func startFixture(s spec) (*fixture, error) {
	f := &fixture{name: s.name, logs: &syncBuffer{}, scheme: "http"}
	if s.tls {
		f.scheme = "https"
	}
	issLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.issURL = "http://" + issLn.Addr().String()
	f.host = "127.0.0.1:" + strconv.Itoa(freePort())
	f.gw = f.scheme + "://" + f.host
	f.admin = "http://127.0.0.1:" + strconv.Itoa(freePort())
	f.downURL = "http://127.0.0.1:" + strconv.Itoa(freePort()) // nothing listens there
	f.up = newUpstream("http://" + upLn.Addr().String())
	f.iss, err = devissuer.New(devissuer.Config{
		Issuer: f.issURL,
		Clients: []devissuer.Client{
			{ID: "gw", Secret: "s3cr3t", RedirectURIs: []string{f.gw + "/oauth2/callback"},
				PostLogoutRedirectURIs: []string{f.gw + "/oauth2/sign_in"}},
			{ID: "svc", Secret: "svc-secret", Audience: []string{f.gw}, Groups: []string{"robots"}},
			{ID: "alice", Secret: "alice-secret", Audience: []string{f.gw}},
			{ID: "svc-opaque", Secret: "opaque-secret", Audience: []string{f.gw}, AccessTokenFormat: "opaque"},
		},
		Users:          users,
		AccessTokenTTL: s.accessTTL,
	})
	if err != nil {
		return nil, err
	}
	f.front = &issuerFront{iss: f.iss, counts: map[string]int{}}
	f.issSrv = &http.Server{Handler: f.front}
	go f.issSrv.Serve(issLn)
	f.upSrv = &http.Server{Handler: f.up}
	go f.upSrv.Serve(upLn)

	f.args = []string{
		"--listen=" + f.host, "--admin-listen=" + strings.TrimPrefix(f.admin, "http://"),
		"--public-url=" + f.gw, "--issuer=" + f.issURL, "--client-id=gw",
		"--upstream=/=" + f.up.url, "--scope=openid email profile offline_access",
		"--shutdown-timeout=2s",
		// Cases read the log right after a request: write each line at once.
		"--log-flush-interval=0",
	}
	if s.tls {
		dir, err := os.MkdirTemp(tmpDir, "tls")
		if err != nil {
			return nil, err
		}
		cert, key, client, err := selfSigned(dir)
		if err != nil {
			return nil, err
		}
		f.tls = client
		f.args = append(f.args, "--tls-cert-file="+cert, "--tls-key-file="+key)
	}
	if s.flags != nil {
		f.args = append(f.args, s.flags(f)...)
	}
	key := sharedCookieKey
	if s.cookieKey != "" {
		key = s.cookieKey
	}
	cmd := exec.Command(binPath, f.args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "GATEHOUSE_CLIENT_SECRET=s3cr3t", "GATEHOUSE_COOKIE_SECRET="+key)
	cmd.Stdout, cmd.Stderr = f.logs, f.logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	f.cmd = cmd
	f.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(f.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The banner comes after both listeners are bound: until this
		// process has logged it, whatever answers on f.admin is not it.
		started := strings.Contains(f.logs.String(), `msg="gatehouse started"`)
		resp, err := http.Get(f.admin + "/readyz")
		if err == nil && !started {
			resp.Body.Close()
			err = errors.New("not started")
		}
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-f.done:
			return nil, fmt.Errorf("gatehouse exited: %s", f.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gatehouse never became ready: %s", f.logs.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
	f.started = time.Now()
	return f, nil
}

// use returns the fixture for this test, held exclusively until the test
// ends, with the issuer's hooks and scripts reset.
func use(t *testing.T, name string) *fixture {
	t.Helper()
	f := fixtures[name]
	if f == nil && name == "F1" && noRedis != "" {
		skipCase(t, "fixture F1 needs redis-server: "+noRedis)
	}
	if f == nil {
		t.Fatalf("no fixture %s", name)
	}
	f.mu.Lock()
	f.reset()
	t.Cleanup(func() {
		f.reset()
		f.mu.Unlock()
	})
	return f
}

func (f *fixture) reset() {
	f.iss.SetHooks(devissuer.Hooks{})
	f.front.setScript(nil)
	f.up.setBehaviour(nil)
}

// running reports whether gatehouse's process is still alive.
func (f *fixture) running() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

// ---------------------------------------------------------------------------
// The issuer front: counts requests by path and lets a test replace any
// endpoint's answer (a hanging JWKS, a scripted introspection, a token
// endpoint that redirects).

type issuerFront struct {
	iss    *devissuer.Issuer
	mu     sync.Mutex
	counts map[string]int
	script func(w http.ResponseWriter, r *http.Request) bool // true: handled
	intro  []introCall
}

type introCall struct {
	Method, ContentType, Query, Body, BasicUser, BasicPass string
}

func (i *issuerFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	i.counts[r.URL.Path]++
	script := i.script
	i.mu.Unlock()
	if r.URL.Path == "/introspect-scripted" {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		u, p, _ := r.BasicAuth()
		i.mu.Lock()
		i.intro = append(i.intro, introCall{Method: r.Method, ContentType: r.Header.Get("Content-Type"),
			Query: r.URL.RawQuery, Body: string(body), BasicUser: u, BasicPass: p})
		i.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
	}
	if script != nil && script(w, r) {
		return
	}
	if r.URL.Path == "/introspect-scripted" {
		r.URL.Path = "/introspect"
	}
	i.iss.ServeHTTP(w, r)
}

func (i *issuerFront) setScript(s func(w http.ResponseWriter, r *http.Request) bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.script = s
}

func (i *issuerFront) count(path string) int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.counts[path]
}

func (i *issuerFront) introCalls() []introCall {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]introCall(nil), i.intro...)
}

// issuerRequests returns I's logged requests to path.
func (f *fixture) issuerRequests(path string) []devissuer.LoggedRequest {
	var out []devissuer.LoggedRequest
	for _, r := range f.iss.Requests() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// grants counts token requests of a grant type.
func (f *fixture) grants(grant string) int {
	n := 0
	for _, r := range f.issuerRequests("/token") {
		if r.Form.Get("grant_type") == grant {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// The recording upstream U.

type upstream struct {
	url string
	mu  sync.Mutex
	log []upReq
	beh func(w http.ResponseWriter, r *http.Request) bool
}

type upReq struct {
	Method, URI, Host, Proto string
	Header, Trailer          http.Header
	Body                     []byte
}

func newUpstream(u string) *upstream { return &upstream{url: u} }

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	u.mu.Lock()
	u.log = append(u.log, upReq{Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto,
		Header: r.Header.Clone(), Trailer: r.Trailer.Clone(), Body: body})
	beh := u.beh
	u.mu.Unlock()
	if beh != nil && beh(w, r) {
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "upstream ok")
}

func (u *upstream) setBehaviour(b func(w http.ResponseWriter, r *http.Request) bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.beh = b
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.log)
}

// since returns the requests U received after the first n.
func (u *upstream) since(n int) []upReq {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n > len(u.log) {
		return nil
	}
	return append([]upReq(nil), u.log[n:]...)
}

func (u *upstream) last(t *testing.T) upReq {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.log) == 0 {
		t.Fatal("U was never called")
	}
	return u.log[len(u.log)-1]
}

// ---------------------------------------------------------------------------
// Clients: ATT (127.0.0.1, untrusted) and PRX (127.0.0.2, the trusted proxy).

func (f *fixture) client(from string, jar http.CookieJar) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: f.tls, MaxIdleConnsPerHost: 16,
		ForceAttemptHTTP2: false, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	return &http.Client{
		Jar: jar, Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (f *fixture) att() *http.Client { return f.client("127.0.0.1", nil) }
func (f *fixture) prx() *http.Client { return f.client("127.0.0.2", nil) }

// resp is a response with its body read.
type resp struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
	Cookies  []*http.Cookie
	Took     time.Duration
	URL      *url.URL
}

// hdr builds a header from name, value pairs; names are used verbatim (no
// canonicalisation), and a name may repeat.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = append(h[kv[i]], kv[i+1])
	}
	return h
}

// send makes one request. target is a path (joined to gw) or a full URL.
func (f *fixture) send(t *testing.T, c *http.Client, method, target string, h http.Header, body io.Reader) *resp {
	t.Helper()
	r, err := f.trySend(c, method, target, h, body)
	if err != nil {
		if !f.running() {
			t.Fatalf("%s %s: %v; gatehouse (fixture %s) has exited: %s", method, target, err, f.name, f.logs.String())
		}
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return r
}

func (f *fixture) trySend(c *http.Client, method, target string, h http.Header, body io.Reader) (*resp, error) {
	if strings.HasPrefix(target, "/") {
		target = f.gw + target
	}
	req, err := http.NewRequestWithContext(context.Background(), method, target, body)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		if strings.EqualFold(k, "Host") {
			req.Host = v[0]
			continue
		}
		req.Header[k] = v
	}
	start := time.Now()
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	return &resp{Status: res.StatusCode, Header: res.Header, Body: string(b), Location: res.Header.Get("Location"),
		Cookies: res.Cookies(), Took: time.Since(start), URL: req.URL}, nil
}

// ---------------------------------------------------------------------------
// Browsers and LOGIN (ATTACKS.md §0.3).

type browser struct {
	f   *fixture
	c   *http.Client
	jar *memJar
}

func (f *fixture) browser(from string) *browser {
	j := newJar()
	return &browser{f: f, c: f.client(from, j), jar: j}
}

// get navigates like a browser (Accept: text/html) to target.
func (b *browser) get(t *testing.T, target string, kv ...string) *resp {
	t.Helper()
	h := hdr(append([]string{"Accept", "text/html,application/xhtml+xml"}, kv...)...)
	return b.f.send(t, b.c, "GET", target, h, nil)
}

// login runs LOGIN(user, rd) from /oauth2/start; rdRaw is the rd value as
// it goes on the wire ("" for none). It returns the response of /start and,
// when /start redirected to I, the callback's response (whose Location is L).
func (b *browser) login(t *testing.T, user, rdRaw string) (start, callback *resp) {
	t.Helper()
	target := "/oauth2/start"
	if rdRaw != "" {
		target += "?rd=" + rdRaw
	}
	start = b.get(t, target)
	if start.Status != http.StatusFound {
		return start, nil
	}
	return start, b.finish(t, start, user)
}

// finish completes a login whose first response redirected to I.
func (b *browser) finish(t *testing.T, start *resp, user string) *resp {
	t.Helper()
	if !strings.HasPrefix(start.Location, b.f.issURL+"/authorize?") {
		t.Fatalf("login did not go to I's /authorize: %q", start.Location)
	}
	cb, err := b.f.iss.Authorize(start.Location, user, "pw")
	if err != nil {
		t.Fatalf("I's login: %v", err)
	}
	return b.get(t, cb.String())
}

// signIn logs user in through /oauth2/start and fails the test otherwise.
func (b *browser) signIn(t *testing.T, user string) {
	t.Helper()
	_, cb := b.login(t, user, "")
	if cb == nil || cb.Status != http.StatusFound || !b.hasSession() {
		t.Fatalf("LOGIN(%s) failed: %+v", user, cb)
	}
}

// callbackURL runs steps 1–2 of LOGIN and returns the callback URL without
// visiting it.
func (b *browser) callbackURL(t *testing.T, user, startTarget string) *url.URL {
	t.Helper()
	start := b.get(t, startTarget)
	if start.Status != http.StatusFound || !strings.HasPrefix(start.Location, b.f.issURL+"/authorize?") {
		t.Fatalf("%s: status %d Location %q", startTarget, start.Status, start.Location)
	}
	cb, err := b.f.iss.Authorize(start.Location, user, "pw")
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

// sessionCookie is the fixture's session cookie base name.
func (f *fixture) sessionCookie() string {
	if f.scheme == "https" {
		return "__Host-gatehouse"
	}
	return "gatehouse"
}

func (f *fixture) isSessionCookie(name string) bool {
	base := f.sessionCookie()
	if name == base {
		return true
	}
	rest, ok := strings.CutPrefix(name, base+"_")
	if !ok || rest == "" {
		return false
	}
	_, err := strconv.Atoi(rest)
	return err == nil
}

func (b *browser) hasSession() bool {
	for _, c := range b.jar.all() {
		if b.f.isSessionCookie(c.Name) && c.Value != "" {
			return true
		}
	}
	return false
}

// cookieHeader is the Cookie header the browser would send to gw.
func (b *browser) cookieHeader() string {
	var parts []string
	for _, c := range b.jar.all() {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// sessionHeader is the Cookie header with only the session cookies.
func (b *browser) sessionHeader() string {
	var parts []string
	for _, c := range b.jar.all() {
		if b.f.isSessionCookie(c.Name) {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	return strings.Join(parts, "; ")
}

// setsSession reports whether r sets a (non-clearing) session cookie.
func (f *fixture) setsSession(r *resp) bool {
	for _, c := range r.Cookies {
		if f.isSessionCookie(c.Name) && c.MaxAge >= 0 && c.Value != "" {
			return true
		}
	}
	return false
}

// clearsSession reports whether r deletes the session cookie.
func (f *fixture) clearsSession(r *resp) bool {
	for _, c := range r.Cookies {
		if f.isSessionCookie(c.Name) && (c.MaxAge < 0 || c.Value == "") {
			return true
		}
	}
	return false
}

// aliceCookie logs a user in and returns the Cookie header of the session.
func (f *fixture) userCookie(t *testing.T, user string) string {
	t.Helper()
	b := f.browser("")
	b.signIn(t, user)
	return b.sessionHeader()
}

// memJar is a minimal cookie jar for one origin that ignores Secure and
// Domain (the harness plays the browser and inspects attributes itself).
type memJar struct {
	mu sync.Mutex
	m  map[string]*http.Cookie
	o  []string
}

func newJar() *memJar { return &memJar{m: map[string]*http.Cookie{}} }

func (j *memJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 || (c.Value == "" && c.MaxAge == 0 && !c.Expires.IsZero() && c.Expires.Before(time.Now())) {
			delete(j.m, c.Name)
			j.o = slices.DeleteFunc(j.o, func(n string) bool { return n == c.Name })
			continue
		}
		if _, ok := j.m[c.Name]; !ok {
			j.o = append(j.o, c.Name)
		}
		cc := *c
		j.m[c.Name] = &cc
	}
}

func (j *memJar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, n := range j.o {
		if c, ok := j.m[n]; ok {
			out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return out
}

func (j *memJar) all() []*http.Cookie { return j.Cookies(nil) }

func (j *memJar) set(name, value string) {
	j.SetCookies(nil, []*http.Cookie{{Name: name, Value: value}})
}

// ---------------------------------------------------------------------------
// Raw TCP.

// raw writes request on a new connection (from source address from, "" for
// the default) and returns everything gatehouse answered until it closed
// the connection or went quiet for quiet.
func (f *fixture) raw(t *testing.T, from, request string) string {
	t.Helper()
	out, err := f.rawErr(from, request, 500*time.Millisecond)
	if err != nil {
		t.Fatalf("%.60q: %v", request, err)
	}
	return out
}

func (f *fixture) rawErr(from, request string, quiet time.Duration) (string, error) {
	c, err := f.dialRaw(from)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		return "", err
	}
	return readUntilQuiet(c, quiet, 10*time.Second), nil
}

func (f *fixture) dialRaw(from string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", f.host)
	if err != nil {
		return nil, err
	}
	if f.tls != nil {
		tc := tls.Client(c, &tls.Config{RootCAs: f.tls.RootCAs, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		return tc, nil
	}
	return c, nil
}

// readUntilQuiet reads until EOF, until nothing arrives for quiet, or max.
func readUntilQuiet(c net.Conn, quiet, max time.Duration) string {
	var b strings.Builder
	buf := make([]byte, 32<<10)
	end := time.Now().Add(max)
	for time.Now().Before(end) {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// statusLines returns the status lines of every HTTP/1.x response in out.
func statusLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\r\n") {
		if strings.HasPrefix(l, "HTTP/1.") && len(l) >= 12 {
			lines = append(lines, l)
		}
	}
	return lines
}

func statusOf(line string) int {
	if len(line) < 12 {
		return 0
	}
	n, _ := strconv.Atoi(line[9:12])
	return n
}

func firstStatus(out string) int {
	l := statusLines(out)
	if len(l) == 0 {
		return 0
	}
	return statusOf(l[0])
}

// ---------------------------------------------------------------------------
// DENY (ATTACKS.md §0.3).

// deny checks DENY: 401/403, or a 302 to I for browser routes; U not called
// since upBefore; no session Set-Cookie.
func (f *fixture) deny(t *testing.T, what string, r *resp, upBefore int) {
	t.Helper()
	switch {
	case r.Status == 401 || r.Status == 403:
	case r.Status == 302 && strings.HasPrefix(r.Location, f.issURL+"/authorize?"):
	default:
		t.Errorf("%s: status %d (Location %q), want DENY (401/403 or 302 to I)", what, r.Status, r.Location)
	}
	if n := f.up.count(); n != upBefore {
		t.Errorf("%s: U was called (%d → %d)", what, upBefore, n)
	}
	if f.setsSession(r) {
		t.Errorf("%s: a session cookie was set", what)
	}
}

// refused checks a 4xx (400/401/403/405/…) with U not called: stricter DENY
// variants where gatehouse refuses before authenticating.
func (f *fixture) refused(t *testing.T, what string, r *resp, upBefore int, allowed ...int) {
	t.Helper()
	ok := false
	for _, s := range allowed {
		ok = ok || r.Status == s
	}
	if !ok {
		t.Errorf("%s: status %d, want one of %v", what, r.Status, allowed)
	}
	if n := f.up.count(); n != upBefore {
		t.Errorf("%s: U was called (%d → %d)", what, upBefore, n)
	}
	if f.setsSession(r) {
		t.Errorf("%s: a session cookie was set", what)
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
	"github.com/gatehouse-proxy/gatehouse/session/redistest"
)

// The nginx integration (contrib/nginx/gatehouse.conf) runs here against a
// real nginx on a free loopback port, with gatehouse beside it in forward-
// auth mode and the harness's recording upstream as the application.

const contribDir = "../../contrib"

// nginxBinary finds nginx. Without it the nginx tests are skipped, except
// in CI, where they fail.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed (CI=true): apt-get install nginx-light")
	}
	t.Skip("nginx is not installed; apt-get install nginx-light to run the nginx integration test")
	return ""
}

type nginxOptions struct {
	harnessOptions
	// opaqueAccessTokens makes the issuer's access tokens short, so that
	// the whole session fits in one cookie.
	opaqueAccessTokens bool
}

// nginxFront is gatehouse in forward-auth mode behind a real nginx that
// runs contrib/nginx/gatehouse.conf.
type nginxFront struct {
	*harness
	url    string             // nginx's origin: the public URL
	gwUp   *recordingUpstream // gatehouse's own --upstream: must never be called
	errLog string
}

// startNginxFront is startHarness for the nginx setup. startHarness cannot
// be used as is: the issuer must register nginx's origin, not gatehouse's,
// as the redirect URI, and nginx's port must be known before gatehouse
// starts (it is its --public-url). gatehouse itself starts as the
// harness's replicas do.
func startNginxFront(t *testing.T, o nginxOptions) *nginxFront {
	t.Helper()
	bin := nginxBinary(t)
	f := &nginxFront{harness: &harness{t: t, logs: &syncBuffer{}, up: &recordingUpstream{}}, gwUp: &recordingUpstream{}}
	h := f.harness
	issLn, appLn, upLn, gwUpLn := listen(t), listen(t), listen(t), listen(t)
	h.issURL = "http://" + issLn.Addr().String()
	h.gw = "http://" + appLn.Addr().String()
	h.up.url = "http://" + upLn.Addr().String()
	f.gwUp.url = "http://" + gwUpLn.Addr().String()
	serve(t, upLn, h.up)
	serve(t, gwUpLn, f.gwUp)
	f.startNginx(bin, appLn.Addr().String(), upLn.Addr().String())

	client := devissuer.Client{
		ID: "gw", Secret: "s3cr3t",
		RedirectURIs:           []string{f.url + "/oauth2/callback"},
		PostLogoutRedirectURIs: []string{f.url + "/oauth2/sign_in"},
	}
	if o.opaqueAccessTokens {
		client.AccessTokenFormat = "opaque"
	}
	iss, err := devissuer.New(devissuer.Config{
		Issuer:               h.issURL,
		Clients:              []devissuer.Client{client},
		Users:                demoTestUsers,
		AccessTokenTTL:       o.accessTTL,
		RevokeOnRefreshReuse: o.revokeReuse,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.iss = iss
	serve(t, issLn, iss)
	h.args = append([]string{
		"--public-url=" + f.url, "--issuer=" + h.issURL, "--client-id=gw",
		"--upstream=/=" + f.gwUp.url, "--scope=openid email profile offline_access", "--log-level=debug",
		"--trusted-proxy=127.0.0.1/32", // nginx connects from 127.0.0.1
		"--rule=GET,HEAD /public/ public",
	}, o.extraFlags...)
	t.Cleanup(func() {
		if n := f.gwUp.count(); n != 0 {
			t.Errorf("gatehouse proxied %d requests itself; behind nginx it must only answer auth sub-requests", n)
		}
		if t.Failed() {
			if b, err := os.ReadFile(f.errLog); err == nil {
				t.Logf("nginx error log:\n%s", b)
			}
		}
	})
	h.m, h.admin = h.startReplica(appLn)
	return f
}

// nginxConfig is contrib/nginx/gatehouse.conf with its three CHANGE lines
// pointed at the test's addresses.
func nginxConfig(t *testing.T, listenAddr, gatehouse, app string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(contribDir, "nginx", "gatehouse.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, r := range []struct{ re, with string }{
		{`(?m)^(\s*server )127\.0\.0\.1:4180;`, "${1}" + gatehouse + ";"},
		{`(?m)^(\s*server )127\.0\.0\.1:8080;`, "${1}" + app + ";"},
		{`(?m)^(\s*listen )80;`, "${1}" + listenAddr + ";"},
	} {
		re := regexp.MustCompile(r.re)
		if n := len(re.FindAllStringIndex(conf, -1)); n != 1 {
			t.Fatalf("contrib/nginx/gatehouse.conf: %d lines match %s, want exactly 1", n, r.re)
		}
		conf = re.ReplaceAllString(conf, r.with)
	}
	return conf
}

// startNginx runs nginx in the foreground on a free loopback port, trying
// again on another port if the one picked was taken in the meantime.
func (f *nginxFront) startNginx(bin, gatehouse, app string) {
	t := f.t
	dir := t.TempDir()
	f.errLog = filepath.Join(dir, "error.log")
	for attempt := 0; ; attempt++ {
		ln := listen(t)
		addr := ln.Addr().String()
		ln.Close()
		f.url = "http://" + addr
		if err := os.WriteFile(filepath.Join(dir, "gatehouse.conf"), []byte(nginxConfig(t, addr, gatehouse, app)), 0o600); err != nil {
			t.Fatal(err)
		}
		main := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[2]s info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/gatehouse.conf;
}
`, dir, f.errLog)
		if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Remove(f.errLog)
		stop, err := runNginx(bin, dir, f.errLog, addr)
		if err == nil {
			t.Cleanup(stop)
			return
		}
		if errors.Is(err, errPortTaken) && attempt < 5 {
			continue
		}
		t.Fatal(err)
	}
}

var errPortTaken = errors.New("nginx: address already in use")

// runNginx starts nginx and waits until it accepts connections on addr.
// stop ends it.
func runNginx(bin, dir, errLog, addr string) (stop func(), err error) {
	cmd := exec.Command(bin, "-p", dir, "-e", errLog, "-c", filepath.Join(dir, "nginx.conf"))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(errLog)
			if strings.Contains(string(log), "Address already in use") {
				return nil, errPortTaken
			}
			return nil, fmt.Errorf("nginx exited: %v\n%s%s", err, out.String(), log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return stop, nil
		}
	}
	stop()
	return nil, errors.New("nginx did not start listening within 10s")
}

// authAnswers counts gatehouse's forward-auth answers of one outcome.
func (f *nginxFront) authAnswers(outcome string) int {
	return strings.Count(f.logs.String(), "outcome="+outcome+" ")
}

// loginThroughNginx follows a browser from path on nginx through the
// issuer's form and back, and returns where it lands.
func (f *nginxFront) loginThroughNginx(b *browser, path, user, password string) *url.URL {
	t := f.t
	t.Helper()
	start := location(t, b.get(f.url+path), http.StatusFound)
	if start.Scheme+"://"+start.Host != f.url || start.Path != "/oauth2/start" {
		t.Fatalf("not sent to nginx's /oauth2/start: %s", start)
	}
	authorize := location(t, b.get(start.String()), http.StatusFound)
	if !strings.HasPrefix(authorize.String(), f.issURL+"/authorize") || authorize.Query().Get("redirect_uri") != f.url+"/oauth2/callback" {
		t.Fatalf("not sent to the issuer with nginx's callback: %s", authorize)
	}
	callback := b.loginAt(authorize, user, password)
	if callback.Scheme+"://"+callback.Host != f.url || callback.Path != "/oauth2/callback" {
		t.Fatalf("issuer returned to %s, not to nginx", callback)
	}
	return location(t, b.get(callback.String()), http.StatusFound)
}

// forgedHeaders are client-sent identity headers in every spelling the
// application might read. Every value contains "forged".
var forgedHeaders = map[string]string{
	"X-Forwarded-User": "forged-1", "x-forwarded-user": "forged-2", "X_Forwarded_User": "forged-3", "X-Forwarded_User": "forged-4",
	"x_forwarded_groups": "forged-5", "X_Forwarded_Email": "forged-6", "X-Auth-Request-User": "forged-7", "X-Auth_Request_User": "forged-8",
	"X-Forwarded-Email": "forged-9", "X-Forwarded-Groups": "forged-10", "X-Forwarded-Preferred-Username": "forged-11",
	"X-Auth-Request-Email": "forged-12", "X-Auth-Request-Groups": "forged-13", "X-Auth-Request-Preferred-Username": "forged-14",
	"X-Forwarded-Assertion": "forged-15", "Remote-User": "forged-16", "Remote_User": "forged-17", "X-Remote-User": "forged-18",
	"X-Forwarded-Client-Id": "forged-19", "X-Original-Url": "/forged-20", "X-Forwarded-Uri": "/forged-21", "X-User": "forged-22",
}

// noForgedValue fails if any header the application received carries a
// client-forged value.
func noForgedValue(t *testing.T, what string, got recorded) {
	t.Helper()
	for name, vs := range got.Header {
		for _, v := range vs {
			if strings.Contains(v, "forged") {
				t.Errorf("%s: the application received %s: %s", what, name, v)
			}
		}
	}
}

func TestNginxAuthRequest(t *testing.T) {
	f := startNginxFront(t, nginxOptions{})
	app := f.up
	json := map[string]string{"Accept": "application/json"}

	// Without a session a browser is sent to sign in, through nginx, and
	// lands back on the original URL on nginx's host. The app is not
	// called until then.
	alice := newBrowser(t)
	const page = "/app/page?x=1"
	if loc := location(t, alice.get(f.url+page), http.StatusFound); loc.RequestURI() != "/oauth2/start?rd=/app/page?x=1" {
		t.Fatalf("sign-in redirect %s", loc)
	}
	landing := f.loginThroughNginx(alice, page, "alice", "pw-alice")
	if landing.String() != f.url+page {
		t.Fatalf("landed on %s, want %s", landing, f.url+page)
	}
	if app.count() != 0 {
		t.Fatalf("the app was called %d times before sign-in", app.count())
	}

	// With the session: the app gets the identity from the auth answer,
	// and gatehouse answered one sub-request for it.
	n, answers := app.count(), f.authAnswers("auth_ok")
	resp := alice.get(landing.String())
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "upstream ok" {
		t.Fatalf("signed in: %d %q", resp.StatusCode, body)
	}
	if app.count() != n+1 || f.authAnswers("auth_ok") != answers+1 {
		t.Fatalf("one page: app called %d times, %d auth answers", app.count()-n, f.authAnswers("auth_ok")-answers)
	}
	got := app.last(t)
	want := map[string]string{
		"X-Forwarded-User": "alice-sub", "X-Forwarded-Email": "alice@corp.test", "X-Forwarded-Groups": "dev",
		"X-Forwarded-Preferred-Username": "alice", "X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1",
	}
	for name, v := range want {
		if vs := got.Header.Values(name); len(vs) != 1 || vs[0] != v {
			t.Errorf("app got %s = %q, want %q", name, vs, v)
		}
	}
	if got.URI != page {
		t.Errorf("app got %s, want %s", got.URI, page)
	}
	// gatehouse's cookies stay between the browser and gatehouse.
	if c := got.Header.Get("Cookie"); strings.Contains(c, "gatehouse") {
		t.Errorf("the app received gatehouse's cookies: %.80s…", c)
	}

	// Client-sent identity headers never reach the app, in any spelling,
	// also when named in Connection (case 29).
	hdr := copyMap(forgedHeaders)
	hdr["Connection"] = "X-Forwarded-User, X-Forwarded-Email, X-Forwarded-Groups, X-Forwarded-Preferred-Username"
	hdr["Cookie"] = "theme=dark"
	resp = alice.do("GET", f.url+"/app/x", nil, hdr)
	if resp.StatusCode != 200 {
		t.Fatalf("signed in with forged headers: %d", resp.StatusCode)
	}
	got = app.last(t)
	noForgedValue(t, "alice", got)
	for name, v := range want {
		if got.Header.Get(name) != v {
			t.Errorf("forged request: app got %s = %q, want %q", name, got.Header.Get(name), v)
		}
	}
	if c := got.Header.Get("Cookie"); c != "theme=dark" {
		t.Errorf("app cookies %.120q, want only the app's own", c)
	}
	// A cookie of gatehouse's under the other browser prefix (the sign-out
	// hint over https) is removed too.
	resp = alice.do("GET", f.url+"/app/x", nil, map[string]string{"Cookie": "__Secure-gatehouse_hint=x; theme=dark"})
	if resp.StatusCode != 200 {
		t.Fatalf("signed in with a stray hint cookie: %d", resp.StatusCode)
	}
	if c := app.last(t).Header.Get("Cookie"); c != "theme=dark" {
		t.Errorf("app cookies %.120q, want only the app's own", c)
	}

	// bob has no verified email: the app sees no X-Forwarded-Email at all,
	// whatever the client sends.
	bob := newBrowser(t)
	if landing := f.loginThroughNginx(bob, "/", "bob", "pw-bob"); landing.String() != f.url+"/" {
		t.Fatalf("bob landed on %s", landing)
	}
	if resp := bob.do("GET", f.url+"/bob", nil, forgedHeaders); resp.StatusCode != 200 {
		t.Fatalf("bob: %d", resp.StatusCode)
	}
	got = app.last(t)
	noForgedValue(t, "bob", got)
	if vs, ok := got.Header["X-Forwarded-Email"]; ok {
		t.Errorf("bob (unverified email): app got X-Forwarded-Email %q", vs)
	}
	if got.Header.Get("X-Forwarded-User") != "bob-sub" || got.Header.Get("X-Forwarded-Groups") != "admins" {
		t.Errorf("bob: app got %v", got.Header)
	}

	// A public route (gatehouse's rule) passes without a session, still
	// without any client identity header.
	anon := newBrowser(t)
	for _, method := range []string{"GET", "HEAD"} {
		n, answers = app.count(), f.authAnswers("auth_ok")
		if resp := anon.do(method, f.url+"/public/x?y=1", nil, forgedHeaders); resp.StatusCode != 200 {
			t.Fatalf("%s public route: %d", method, resp.StatusCode)
		}
		if app.count() != n+1 || f.authAnswers("auth_ok") != answers+1 {
			t.Fatalf("%s public route: app called %d times, %d auth answers", method, app.count()-n, f.authAnswers("auth_ok")-answers)
		}
		got = app.last(t)
		noForgedValue(t, method+" public route", got)
		for name := range got.Header {
			if l := strings.ToLower(name); strings.HasPrefix(l, "x-forwarded-user") || strings.HasPrefix(l, "x-forwarded-email") ||
				strings.HasPrefix(l, "x-forwarded-groups") || strings.HasPrefix(l, "x-forwarded-preferred") || strings.HasPrefix(l, "x-auth-request") {
				t.Errorf("public route: app got %s", name)
			}
		}
	}

	// Everything below is refused by nginx on gatehouse's answer; the app
	// is never called.
	n = app.count()
	for _, c := range []struct {
		name, method, path string
		hdr                map[string]string
		want               int
	}{
		// API clients and scripts get 401, never a login redirect.
		{"json", "GET", "/app", json, 401},
		{"xhr", "GET", "/app", map[string]string{"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"}, 401},
		{"fetch", "GET", "/app", map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "cors"}, 401},
		{"bearer", "GET", "/app", map[string]string{"Accept": "text/html", "Authorization": "Bearer forged"}, 401},
		{"post", "POST", "/app", map[string]string{"Accept": "text/html"}, 401},
		{"public rule is GET/HEAD only", "DELETE", "/public/x", json, 401},
		// The client cannot say which request is being authorised (case 41
		// through nginx): nginx overwrites every such header.
		{"forwarded uri", "GET", "/app", map[string]string{"Accept": "application/json", "X-Forwarded-Uri": "/public/x",
			"X-Forwarded-Method": "GET", "X-Original-Url": "http://127.0.0.1/public/x", "X-Original-Method": "GET"}, 401},
		{"forwarded method", "POST", "/public/x", map[string]string{"Accept": "application/json", "X-Forwarded-Method": "GET"}, 401},
		// The auth endpoint is only a sub-request target.
		{"auth endpoint", "GET", "/oauth2/auth", map[string]string{"Cookie": strings.Join(cookieStrings(alice.jar.Cookies(mustURL(t, f.url))), "; ")}, 404},
		// An ambiguous path is not judged, and not passed (nginx turns
		// gatehouse's 400 into 500: never allow).
		{"encoded slash", "GET", "/public%2F..%2Fapp", json, 500},
		{"path parameter", "GET", "/public;x/../app", json, 500},
	} {
		resp := newBrowser(t).do(c.method, f.url+c.path, strings.NewReader(""), c.hdr)
		body := readBody(t, resp)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %s %s: %d, want %d: %.200s", c.name, c.method, c.path, resp.StatusCode, c.want, body)
			continue
		}
		if c.want == 401 {
			if resp.Header.Get("Location") != "" || !strings.Contains(resp.Header.Get("Content-Type"), "application/json") ||
				!strings.Contains(body, `"unauthorized"`) || len(resp.Header.Values("Www-Authenticate")) != 1 {
				t.Errorf("%s: 401 answer %v %q", c.name, resp.Header, body)
			}
		}
	}
	if app.count() != n {
		t.Errorf("refused requests reached the app %d times", app.count()-n)
	}

	// An unreadable session cookie is deleted on the way to sign-in (or to
	// the 401): gatehouse's Set-Cookie reaches the browser.
	for _, hdr := range []map[string]string{{"Accept": "text/html"}, json} {
		hdr := copyMap(hdr)
		hdr["Cookie"] = "gatehouse=garbage"
		resp := newBrowser(t).do("GET", f.url+"/app", nil, hdr)
		cleared := false
		for _, c := range resp.Cookies() {
			cleared = cleared || (c.Name == "gatehouse" && c.MaxAge < 0)
		}
		if (resp.StatusCode != 302 && resp.StatusCode != 401) || !cleared {
			t.Errorf("unreadable cookie, Accept %s: %d, Set-Cookie %q", hdr["Accept"], resp.StatusCode, resp.Header.Values("Set-Cookie"))
		}
	}

	// The return address survives exactly when it can; otherwise the path
	// alone, or "/". Sign-in is never refused for it.
	for path, rd := range map[string]string{
		"/a/b.html":              "/a/b.html",
		"/a?x=1":                 "/a?x=1",
		"/a?x=1&y=2":             "/a",
		"/a?next=https://x.test": "/a",
		"/a%20b?x=1":             "/",
		"/a?x=1;y=2":             "/a",
		"/a?x=a+b":               "/a",
	} {
		start := location(t, newBrowser(t).get(f.url+path), http.StatusFound)
		if got := start.Query().Get("rd"); start.Path != "/oauth2/start" || got != rd {
			t.Errorf("%s: sent to %s, want rd=%s", path, start, rd)
			continue
		}
		if loc := location(t, newBrowser(t).get(start.String()), http.StatusFound); !strings.HasPrefix(loc.String(), f.issURL+"/authorize") {
			t.Errorf("%s: start sent to %s", path, loc)
		}
	}
}

// TestNginxRawHeaders sends header lines no Go client would: every odd
// spelling is either refused or arrives without a forged value.
func TestNginxRawHeaders(t *testing.T) {
	f := startNginxFront(t, nginxOptions{})
	b := newBrowser(t)
	f.loginThroughNginx(b, "/", "alice", "pw-alice")
	cookie := strings.Join(cookieStrings(b.jar.Cookies(mustURL(t, f.url))), "; ")
	host := strings.TrimPrefix(f.url, "http://")
	for _, line := range []string{
		"X-Forwarded-User: forged",
		"x-forwarded-user: forged",
		"X-FORWARDED-USER: forged",
		"X_Forwarded_User: forged",
		"X-Forwarded-User : forged",
		"X-Forwarded-User\t: forged",
		" X-Forwarded-User: forged",
		"X-Forwarded-User: alice-sub\r\nX-Forwarded-User: forged",
		"X-Forwarded-Email: a@b.test\r\n forged",
		"X-Forwarded-User:forged",
		"X-Forwarded-User: forged\x00",
		"X-Forwarded-User\x00: forged",
	} {
		n := f.up.count()
		status := rawStatus(t, host, "GET /app HTTP/1.1\r\nHost: "+host+"\r\nCookie: "+cookie+"\r\n"+line+"\r\nConnection: close\r\n\r\n")
		t.Logf("%q: %d", line, status)
		switch {
		case status == 200:
			if f.up.count() != n+1 {
				t.Fatalf("%q: 200 without the app", line)
			}
			got := f.up.last(t)
			noForgedValue(t, fmt.Sprintf("%q", line), got)
			if vs := got.Header.Values("X-Forwarded-User"); len(vs) != 1 || vs[0] != "alice-sub" {
				t.Errorf("%q: X-Forwarded-User %q", line, vs)
			}
		case status == 400:
			if f.up.count() != n {
				t.Errorf("%q: 400, yet the app was called", line)
			}
		default:
			t.Errorf("%q: status %d", line, status)
		}
	}
}

// TestNginxRefreshedSession: a session refreshed during the auth
// sub-request must reach the browser through nginx. The issuer rotates
// refresh tokens and ends the session when an old one is presented again,
// so if the browser kept its old cookie, the next request would end the
// session.
func TestNginxRefreshedSession(t *testing.T) {
	// Access tokens live 2s; gatehouse refreshes in their last quarter.
	opts := harnessOptions{accessTTL: 2 * time.Second, revokeReuse: true}
	// refreshOnce signs in, waits for the refresh window, and sends three
	// requests: the first refreshes, the others must use its result (for a
	// minute gatehouse would also accept the old cookie, so the cookie
	// itself is compared). It returns their statuses and whether the first
	// changed the browser's cookies.
	refreshOnce := func(t *testing.T, f *nginxFront) (statuses []int, changed bool) {
		b := newBrowser(t)
		f.loginThroughNginx(b, "/", "alice", "pw-alice")
		t.Logf("session cookie sizes: %v", cookieSizes(b.jar.Cookies(mustURL(t, f.url))))
		time.Sleep(1600 * time.Millisecond)
		for i := range 3 {
			n := f.up.count()
			before := cookieStrings(b.jar.Cookies(mustURL(t, f.url)))
			resp := b.get(f.url + "/app")
			if i == 0 {
				changed = !slices.Equal(before, cookieStrings(b.jar.Cookies(mustURL(t, f.url))))
			}
			statuses = append(statuses, resp.StatusCode)
			switch resp.StatusCode {
			case 200:
				if u := f.up.last(t).Header.Get("X-Forwarded-User"); f.up.count() != n+1 || u != "alice-sub" {
					t.Errorf("request %d: X-Forwarded-User %q", i, u)
				}
			case 302: // fail closed: sign in again, the app not called
				if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/oauth2/start?") || f.up.count() != n {
					t.Errorf("request %d: redirect to %s", i, loc)
				}
			default:
				t.Errorf("request %d: status %d", i, resp.StatusCode)
			}
		}
		if n := f.grants("refresh_token"); n != 1 {
			t.Errorf("%d refreshes, want 1", n)
		}
		return statuses, changed
	}
	t.Run("cookie session in one cookie", func(t *testing.T) {
		t.Parallel()
		f := startNginxFront(t, nginxOptions{harnessOptions: opts, opaqueAccessTokens: true})
		if s, changed := refreshOnce(t, f); !slices.Equal(s, []int{200, 200, 200}) || !changed {
			t.Errorf("statuses %v, want 200 200 200; refreshed cookie handed to the browser: %v", s, changed)
		}
	})
	t.Run("redis session", func(t *testing.T) {
		t.Parallel()
		addr, _, _ := redistest.Start(t)
		o := opts
		o.extraFlags = []string{"--session-store=redis", "--redis-url=redis://" + addr + "/0"}
		f := startNginxFront(t, nginxOptions{harnessOptions: o})
		if s, _ := refreshOnce(t, f); !slices.Equal(s, []int{200, 200, 200}) {
			t.Errorf("statuses %v, want 200 200 200", s)
		}
	})
	// nginx hands on one Set-Cookie of the auth answer, so a refreshed
	// cookie session that needs several cookies does not reach the browser
	// whole (contrib/nginx/README.md). It must fail closed: the browser
	// signs in again, the app never sees a wrong identity.
	t.Run("cookie session in several cookies", func(t *testing.T) {
		t.Parallel()
		f := startNginxFront(t, nginxOptions{harnessOptions: opts})
		s, _ := refreshOnce(t, f)
		t.Logf("statuses: %v", s)
	})
}

func cookieSizes(cs []*http.Cookie) []int {
	var out []int
	for _, c := range cs {
		out = append(out, len(c.Name)+1+len(c.Value))
	}
	return out
}

func rawStatus(t *testing.T, addr, request string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%q: %v", request, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func cookieStrings(cs []*http.Cookie) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name+"="+c.Value)
	}
	return out
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestContribForwardAuthHeaders keeps the ingress examples in contrib/ in
// step with gatehouse. The headers of a live forward-auth answer are the
// reference: every X-Auth-Request-* header an example copies must be one
// of them, and every one that carries the caller's identity must be
// copied. The Traefik and Caddy examples are not run in CI; this is their
// check.
func TestContribForwardAuthHeaders(t *testing.T) {
	h := startHarness(t, harnessOptions{extraFlags: []string{"--identity-assertion", "--trusted-proxy=127.0.0.2/32"}})
	alice := h.sessionCookieHeader(t)
	resp := send(t, fromProxy(), "GET", h.gw+"/oauth2/auth", map[string]string{
		"Cookie": alice, "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/app", "X-Forwarded-Host": "app.test", "X-Forwarded-Proto": "https",
	})
	if resp.StatusCode != 200 {
		t.Fatalf("forward-auth for alice: %d", resp.StatusCode)
	}
	// The caller's identity as gatehouse reports it.
	var who struct {
		User              string   `json:"user"`
		Email             string   `json:"email"`
		PreferredUsername string   `json:"preferred_username"`
		Groups            []string `json:"groups"`
	}
	info := send(t, &http.Client{}, "GET", h.gw+"/oauth2/userinfo", map[string]string{"Cookie": alice})
	if err := json.NewDecoder(info.Body).Decode(&who); err != nil || who.User == "" {
		t.Fatalf("userinfo: %d %v", info.StatusCode, err)
	}
	values := map[string]bool{who.User: true, who.Email: true, who.PreferredUsername: true, strings.Join(who.Groups, ","): true}
	// emitted: every X-Auth-Request-* header of the answer; identity: those
	// that carry the caller's identity.
	emitted, identity := map[string]bool{}, []string{}
	for name, vs := range resp.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-auth-request-") {
			emitted[name] = true
			if len(vs) == 1 && vs[0] != "" && values[vs[0]] {
				identity = append(identity, name)
			}
		}
	}
	if len(identity) != 4 {
		t.Fatalf("forward-auth answer %v carries %d of the 4 parts of alice's identity %+v", resp.Header, len(identity), who)
	}
	for file, parse := range map[string]func(string) []string{
		"nginx/gatehouse.conf":  nginxCopiedHeaders,
		"traefik/gatehouse.yml": traefikCopiedHeaders,
		"caddy/Caddyfile":       caddyCopiedHeaders,
	} {
		b, err := os.ReadFile(filepath.Join(contribDir, file))
		if err != nil {
			t.Fatal(err)
		}
		copied := map[string]bool{}
		for _, name := range parse(string(b)) {
			name = http.CanonicalHeaderKey(name)
			copied[name] = true
			if !emitted[name] {
				t.Errorf("contrib/%s copies %s, which gatehouse's forward-auth answer does not have (it has %v)", file, name, emitted)
			}
		}
		for _, name := range identity {
			if !copied[name] {
				t.Errorf("contrib/%s does not hand on %s from gatehouse's answer", file, name)
			}
		}
	}
}

// nginxCopiedHeaders: the X-Auth-Request-* headers read with
// auth_request_set … $upstream_http_x_auth_request_….
func nginxCopiedHeaders(conf string) []string {
	var out []string
	re := regexp.MustCompile(`(?m)^\s*auth_request_set\s+\$\w+\s+\$upstream_http_(x_auth_request_\w+)\s*;`)
	for _, m := range re.FindAllStringSubmatch(conf, -1) {
		out = append(out, strings.ReplaceAll(m[1], "_", "-"))
	}
	return out
}

// traefikCopiedHeaders: the items of every authResponseHeaders list.
func traefikCopiedHeaders(yml string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(yml, "\n") {
		l := strings.TrimSpace(line)
		switch {
		case l == "authResponseHeaders:":
			in = true
		case in && strings.HasPrefix(l, "- "):
			out = append(out, strings.Trim(strings.TrimSpace(l[2:]), `"'`))
		default:
			in = false
		}
	}
	return out
}

// caddyCopiedHeaders: the source names of copy_headers, inline or in a
// block ("From>To" or "Name").
func caddyCopiedHeaders(caddyfile string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(caddyfile, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) > 0 && fields[0] == "copy_headers":
			in = fields[len(fields)-1] == "{"
			for _, f := range fields[1:] {
				if f != "{" {
					out = append(out, strings.SplitN(f, ">", 2)[0])
				}
			}
		case in && len(fields) == 1 && fields[0] == "}":
			in = false
		case in && len(fields) > 0:
			for _, f := range fields {
				out = append(out, strings.SplitN(f, ">", 2)[0])
			}
		}
	}
	return out
}

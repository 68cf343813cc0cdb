package interop

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const (
	// chromiumPath is where Debian's chromium package (and CI's apt-get)
	// puts the browser. Nothing here ever downloads one.
	chromiumPath = "/usr/bin/chromium"

	// browserTimeout bounds everything one test does in the browser, so a
	// hung browser fails the test instead of hanging it.
	browserTimeout = 60 * time.Second

	// bannerTimeout bounds the wait for the demo's "Open:" line.
	bannerTimeout = 20 * time.Second

	// exitTimeout is how long the demo may take to exit after SIGTERM.
	exitTimeout = 10 * time.Second
)

// gatehouseBin is the binary TestMain builds.
var gatehouseBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gatehouse-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gatehouseBin = filepath.Join(dir, "gatehouse")
	// Built in the product's own module (the checkout's root), not in
	// this one: this module also requires Hydra and zitadel/oidc, whose
	// requirements raise shared dependencies (go-jose among them), and the
	// binary under test must be the one gatehouse's go.mod describes.
	build := exec.Command("go", "build", "-o", gatehouseBin, "./cmd/gatehouse")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: building gatehouse: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// bannerWatcher collects the demo's stdout and reports the URL of its
// "Open:" line once.
type bannerWatcher struct {
	syncBuffer
	once  sync.Once
	found chan string
}

var openLine = regexp.MustCompile(`(?m)^\s*Open:\s+(http://\S+?)/?\s*$`)

func (w *bannerWatcher) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if m := openLine.FindStringSubmatch(w.String()); m != nil {
		w.once.Do(func() { w.found <- m[1] })
	}
	return n, err
}

// demo is a running `gatehouse demo` process.
type demo struct {
	URL    string // gatehouse's public URL, without a trailing slash
	stdout *bannerWatcher
	stderr *syncBuffer
}

// startDemo runs the gatehouse binary the way a user runs the demo, waits
// for its banner and stops it (asserting a clean exit) when t ends. On
// failure it logs the process's output.
func startDemo(t *testing.T) *demo {
	t.Helper()
	d := &demo{
		stdout: &bannerWatcher{found: make(chan string, 1)},
		stderr: &syncBuffer{},
	}
	cmd := exec.Command(gatehouseBin, "demo",
		"--listen", "127.0.0.1:0",
		"--issuer-listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0")
	cmd.Stdout = d.stdout
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting gatehouse demo: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM to gatehouse demo: %v", err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("gatehouse demo did not exit cleanly after SIGTERM: %v", err)
			}
		case <-time.After(exitTimeout):
			cmd.Process.Kill()
			<-exited
			t.Errorf("gatehouse demo still running %v after SIGTERM; killed it", exitTimeout)
		}
		if t.Failed() {
			t.Logf("gatehouse demo stdout:\n%s", d.stdout.String())
			t.Logf("gatehouse demo stderr:\n%s", d.stderr.String())
		}
	}
	t.Cleanup(stop)

	select {
	case d.URL = <-d.stdout.found:
	case err := <-exited:
		stopped = true
		t.Fatalf("gatehouse demo exited before printing its banner: %v\nstdout:\n%s\nstderr:\n%s",
			err, d.stdout.String(), d.stderr.String())
	case <-time.After(bannerTimeout):
		t.Fatalf("no \"Open:\" line from gatehouse demo within %v", bannerTimeout)
	}
	t.Logf("gatehouse demo at %s", d.URL)
	return d
}

// requireChromium skips the test when there is no chromium, except in CI
// (CI=true), where it fails: CI must run these tests.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is required in CI: %v (apt-get install chromium)", err)
		}
		t.Skipf("SKIP: no chromium at %s (%v); install it (Debian: apt-get install chromium) to run the browser tests", chromiumPath, err)
	}
}

// newBrowser starts a headless chromium and returns a context for one tab
// in it; every action on it shares one deadline of browserTimeout. Without
// chromium the test is skipped, except in CI, where it fails.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserFor(t, browserTimeout)
}

// newBrowserFor is newBrowser with another deadline, for tests that wait
// for tokens to expire.
func newBrowserFor(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	requireChromium(t)
	userData := t.TempDir() // removed after the browser is closed: cleanups run last-in first-out
	var browserLog syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // running as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(userData),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&browserLog),
	)
	base, cancelBase := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(func(f string, a ...any) { fmt.Fprintf(&browserLog, "chromedp: "+f+"\n", a...) }),
		chromedp.WithErrorf(func(f string, a ...any) { fmt.Fprintf(&browserLog, "chromedp error: "+f+"\n", a...) }),
	)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to go
		cancelBase()
		if t.Failed() {
			t.Logf("browser output (D-Bus noise left out):\n%s", withoutDBus(browserLog.String()))
		}
	})
	// Start the browser now, so a browser that cannot start fails here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// withoutDBus drops chromium's harmless complaints about the missing D-Bus
// from its output.
func withoutDBus(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if !strings.Contains(line, ":ERROR:dbus/") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// must returns v, or fails the test with what was being done.
func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// location returns the tab's current URL.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	return must[string](t, "reading location")(chromedp.Run(ctx, chromedp.Location()))
}

// expectIssuerLogin asserts the tab shows the development issuer's login
// form: another origin than gatehouse's, at /authorize.
func expectIssuerLogin(t *testing.T, ctx context.Context, d *demo) {
	t.Helper()
	do(t, ctx, "waiting for the issuer's login form",
		chromedp.WaitVisible(chromedp.CSS(`form input[name=username]`)),
		chromedp.WaitVisible(chromedp.CSS(`form input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`form button[name=action][value=login]`)),
		chromedp.WaitVisible(chromedp.CSS(`form button[name=action][value=deny]`)),
	)
	loc := location(t, ctx)
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("location %q: %v", loc, err)
	}
	demoURL, _ := url.Parse(d.URL)
	if u.Host == demoURL.Host || !strings.HasPrefix(u.Host, "127.0.0.1:") || u.Path != "/authorize" {
		t.Fatalf("expected the issuer's login page at http://127.0.0.1:<port>/authorize, not on gatehouse (%s); got %s", d.URL, loc)
	}
}

// logIn fills the issuer's form and submits it, waiting until the
// navigation (through the callback) has loaded.
func logIn(t *testing.T, ctx context.Context, user, password string) {
	t.Helper()
	do(t, ctx, "filling the login form",
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
	)
	if got := must[string](t, "reading username")(chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`input[name=username]`)))); got != user {
		t.Fatalf("username field holds %q after typing %q", got, user)
	}
	resp := must[*network.Response](t, "clicking Sign in")(chromedp.RunResponse(ctx,
		chromedp.Click(chromedp.CSS(`button[name=action][value=login]`))))
	if resp.Status != 200 {
		t.Errorf("after login: HTTP %d for %s", resp.Status, resp.URL)
	}
}

// echoPage is what the demo upstream's HTML page shows.
type echoPage struct {
	Identity map[string]string // the Identity table: header name to text
	Headers  map[string]string // the Headers table
	Cookies  []string          // names in the Cookies table
}

// readEchoPage reads the echo page's tables, located by their h2 headings.
func readEchoPage(t *testing.T, ctx context.Context) echoPage {
	t.Helper()
	do(t, ctx, "waiting for the echo page", chromedp.WaitVisible(chromedp.CSS(`form[action="/oauth2/sign_out"] button`)))
	const js = `(() => {
	const table = (title) => {
		const h = [...document.querySelectorAll('h2')].find(e => e.textContent.trim() === title);
		const el = h && h.nextElementSibling;
		const out = {};
		if (el && el.tagName === 'TABLE') {
			for (const tr of el.querySelectorAll('tr')) {
				out[tr.querySelector('th').textContent] = tr.querySelector('td').innerText;
			}
		}
		return out;
	};
	return {Identity: table('Identity'), Headers: table('Headers'), Cookies: Object.keys(table('Cookies'))};
})()`
	return must[echoPage](t, "reading the echo page")(chromedp.Run(ctx, chromedp.Evaluate[echoPage](js)))
}

func expectIdentity(t *testing.T, p echoPage, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got, ok := p.Identity[name]; !ok || got != v {
			t.Errorf("Identity table: %s = %q (present %v), want %q", name, got, ok, v)
		}
		if got := p.Headers[name]; got != v {
			t.Errorf("Headers table: %s = %q, want %q", name, got, v)
		}
	}
	for _, c := range p.Cookies {
		if strings.HasPrefix(c, "gatehouse") {
			t.Errorf("upstream received gatehouse's cookie %q", c)
		}
	}
}

// screenshot saves the whole page to testdata/out/name.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := must[[]byte](t, "screenshot")(chromedp.Run(ctx, chromedp.FullScreenshot(100)))
	dir := filepath.Join("testdata", "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(p)
	t.Logf("screenshot: %s", abs)
}

// TestBrowserSignInSignOut drives the whole browser flow of the demo:
// redirect to the issuer, login, landing on the page first asked for with
// the identity headers, sign-out through the issuer's end_session_endpoint,
// and a fresh login required afterwards.
func TestBrowserSignInSignOut(t *testing.T) {
	requireChromium(t)
	d := startDemo(t)
	ctx := newBrowser(t)

	target := d.URL + "/some/page?x=1"
	do(t, ctx, "opening "+target, chromedp.Navigate(target))
	expectIssuerLogin(t, ctx, d)

	logIn(t, ctx, "alice", "alice")
	if loc := location(t, ctx); loc != target {
		t.Fatalf("after login: at %s, want %s", loc, target)
	}
	text := must[string](t, "reading page text")(chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))))
	for _, s := range []string{"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "GET /some/page?x=1"} {
		if !strings.Contains(text, s) {
			t.Errorf("echo page text lacks %q:\n%s", s, text)
		}
	}
	expectIdentity(t, readEchoPage(t, ctx), map[string]string{
		"X-Forwarded-User":   "alice",
		"X-Forwarded-Email":  "alice@example.test",
		"X-Forwarded-Groups": "dev,staff",
	})
	screenshot(t, ctx, "signed-in.png")

	// Sign out: POST /oauth2/sign_out, then the issuer's end_session
	// endpoint, which sends the browser back to /oauth2/sign_in.
	resp := must[*network.Response](t, "clicking Sign out")(chromedp.RunResponse(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/oauth2/sign_out"] button[type=submit]`))))
	if resp.Status != 200 {
		t.Errorf("after sign-out: HTTP %d for %s", resp.Status, resp.URL)
	}
	signIn := d.URL + "/oauth2/sign_in"
	if loc := location(t, ctx); loc != signIn {
		t.Fatalf("after sign-out: at %s, want %s", loc, signIn)
	}
	do(t, ctx, "waiting for the Sign in button", chromedp.WaitVisible(chromedp.CSS(`a.button`)))
	if b := must[string](t, "reading the button")(chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`a.button`)))); strings.TrimSpace(b) != "Sign in" {
		t.Errorf("sign-in page button says %q, want \"Sign in\"", b)
	}
	if title := must[string](t, "reading the title")(chromedp.Run(ctx, chromedp.Title())); title != "Sign in" {
		t.Errorf("sign-in page title %q, want \"Sign in\"", title)
	}
	screenshot(t, ctx, "signed-out.png")

	// The session is gone: the next request goes to the issuer again.
	do(t, ctx, "opening "+d.URL+"/some/page", chromedp.Navigate(d.URL+"/some/page"))
	expectIssuerLogin(t, ctx, d)
}

// TestBrowserGroupsAndHttpOnlyCookie logs in as bob and checks his groups,
// and that page script cannot read gatehouse's session cookie.
func TestBrowserGroupsAndHttpOnlyCookie(t *testing.T) {
	requireChromium(t)
	d := startDemo(t)
	ctx := newBrowser(t)

	target := d.URL + "/some/page"
	do(t, ctx, "opening "+target, chromedp.Navigate(target))
	expectIssuerLogin(t, ctx, d)
	logIn(t, ctx, "bob", "bob")
	if loc := location(t, ctx); loc != target {
		t.Fatalf("after login: at %s, want %s", loc, target)
	}
	expectIdentity(t, readEchoPage(t, ctx), map[string]string{
		"X-Forwarded-User":   "bob",
		"X-Forwarded-Email":  "bob@example.test",
		"X-Forwarded-Groups": "admins",
	})

	// The browser holds gatehouse's session cookie...
	cookies := must[network.GetCookiesResult](t, "reading cookies")(chromedp.Call(ctx, network.GetCookies,
		network.GetCookiesParams{URLs: []string{d.URL + "/"}}))
	var session []string
	for _, c := range cookies.Cookies {
		if !strings.HasPrefix(c.Name, "gatehouse") {
			continue
		}
		session = append(session, c.Name)
		if !c.HTTPOnly {
			t.Errorf("cookie %s is not HttpOnly", c.Name)
		}
	}
	if len(session) == 0 {
		t.Fatalf("no gatehouse cookie in the browser after login; cookies: %v", cookieNames(cookies.Cookies))
	}
	t.Logf("gatehouse cookies: %v", session)

	// ...which page script cannot see.
	jsCookies := must[string](t, "evaluating document.cookie")(chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`)))
	if strings.Contains(jsCookies, "gatehouse") {
		t.Errorf("document.cookie exposes gatehouse's cookie: %q", jsCookies)
	}
}

func cookieNames(cs []*network.Cookie) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

package interop

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/echo"
	"github.com/gatehouse-proxy/gatehouse/contrib/freeport"
)

// These helpers run gatehouse the way an operator does: the binary built by
// TestMain, as its own process, configured by flags and the environment,
// in front of the echo upstream, against an issuer on 127.0.0.1.

const (
	// readyTimeout bounds the wait for gatehouse's /readyz (which needs the
	// issuer's discovery document).
	readyTimeout = 30 * time.Second

	// httpTimeout bounds every single HTTP call the tests make themselves.
	httpTimeout = 10 * time.Second
)

// verboseLogs (INTEROP_LOGS=1) prints the issuers' and gatehouse's logs
// of passing tests too; failing tests always print them.
var verboseLogs = os.Getenv("INTEROP_LOGS") == "1"

// httpClient never follows redirects, so tests see gatehouse's answers.
var httpClient = &http.Client{
	Timeout:       httpTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// freePort returns a port on 127.0.0.1 that was free a moment ago and
// that no other caller in this run got (freeport.Get). It is used where
// the port must be known before the process starts: gatehouse's public URL
// is registered at the issuer before gatehouse runs.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	return port
}

// startEcho serves the echo upstream on 127.0.0.1 until t ends.
func startEcho(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(echo.New())
	t.Cleanup(srv.Close)
	return srv.URL
}

// randomSecret is 32 random bytes, base64: a cookie key or client secret.
func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// gatehouseConfig is what one gatehouse process is started with.
type gatehouseConfig struct {
	Port         int // the app port on 127.0.0.1; the public URL is http://localhost:Port
	Issuer       string
	ClientID     string
	ClientSecret string
	Upstream     string   // the echo upstream's URL
	Scope        string   // default "openid email profile offline_access"
	Args         []string // more flags
}

// gatehouseProc is a running gatehouse.
type gatehouseProc struct {
	URL   string // public URL, http://localhost:<port> (the browser's origin)
	Admin string // admin listener, http://127.0.0.1:<port>
	log   *syncBuffer
	cmd   *exec.Cmd
}

// publicURL is gatehouse's public URL for a port: localhost, so that its
// cookies and the issuers' (on 127.0.0.1) never share a host.
func publicURL(port int) string { return fmt.Sprintf("http://localhost:%d", port) }

// gatehouseEnv is the process environment without any GATEHOUSE_* variable
// of the caller's, plus extra.
func gatehouseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startGatehouse runs gatehouse with cfg, waits until /readyz says the
// issuer's discovery succeeded, and stops it (asserting a clean exit) when
// t ends. Its log is printed when t fails.
func startGatehouse(t *testing.T, cfg gatehouseConfig) *gatehouseProc {
	t.Helper()
	if cfg.Scope == "" {
		cfg.Scope = "openid email profile offline_access"
	}
	g := &gatehouseProc{URL: publicURL(cfg.Port), log: &syncBuffer{}}
	args := append([]string{
		"--public-url=" + g.URL,
		"--listen=" + fmt.Sprintf("127.0.0.1:%d", cfg.Port),
		"--admin-listen=127.0.0.1:0",
		"--issuer=" + cfg.Issuer,
		"--client-id=" + cfg.ClientID,
		"--upstream=/=" + cfg.Upstream,
		"--scope=" + cfg.Scope,
		"--log-format=json",
		"--log-level=debug",
		"--shutdown-timeout=5s",
	}, cfg.Args...)
	g.cmd = exec.Command(gatehouseBin, args...)
	g.cmd.Env = gatehouseEnv(
		"GATEHOUSE_CLIENT_SECRET="+cfg.ClientSecret,
		"GATEHOUSE_COOKIE_SECRET="+randomSecret(t),
	)
	started := make(chan string, 1)
	g.cmd.Stdout = g.log
	g.cmd.Stderr = &startWatcher{buf: g.log, found: started}
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("starting gatehouse: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- g.cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stopped = true
			g.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("gatehouse did not exit cleanly after SIGTERM: %v", err)
				}
			case <-time.After(exitTimeout):
				g.cmd.Process.Kill()
				<-exited
				t.Errorf("gatehouse still running %v after SIGTERM; killed it", exitTimeout)
			}
		}
		if t.Failed() || verboseLogs {
			t.Logf("gatehouse %s log:\n%s", strings.Join(args, " "), g.log.String())
		}
	})

	select {
	case admin := <-started:
		g.Admin = "http://" + admin
	case err := <-exited:
		stopped = true
		t.Fatalf("gatehouse exited at start: %v", err)
	case <-time.After(bannerTimeout):
		t.Fatalf("gatehouse did not log \"gatehouse started\" within %v", bannerTimeout)
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		code, body := get(t, g.Admin+"/readyz", nil)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse not ready within %v: %d %s", readyTimeout, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return g
}

// startWatcher copies gatehouse's JSON log into buf and reports the admin
// address from its "gatehouse started" line.
type startWatcher struct {
	buf   *syncBuffer
	found chan string
	once  sync.Once
	line  []byte
}

func (w *startWatcher) Write(p []byte) (int, error) {
	w.buf.Write(p)
	w.line = append(w.line, p...)
	for {
		i := strings.IndexByte(string(w.line), '\n')
		if i < 0 {
			break
		}
		var rec struct {
			Msg   string `json:"msg"`
			Admin string `json:"admin"`
		}
		if json.Unmarshal(w.line[:i], &rec) == nil && rec.Msg == "gatehouse started" && rec.Admin != "" {
			w.once.Do(func() { w.found <- rec.Admin })
		}
		w.line = w.line[i+1:]
	}
	return len(p), nil
}

// get fetches url with optional headers, returning status and body; a
// transport error is status 0 with the error as body.
func get(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// metric returns the value of one sample of gatehouse's /metrics, e.g.
// `gatehouse_login_events_total{event="refresh",result="ok"}`, or 0 when
// the sample is absent.
func (g *gatehouseProc) metric(t *testing.T, sample string) float64 {
	t.Helper()
	code, body := get(t, g.Admin+"/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s/metrics: %d %s", g.Admin, code, body)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == sample {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return v
		}
	}
	return 0
}

// loginEvents is gatehouse_login_events_total for event and result.
func (g *gatehouseProc) loginEvents(t *testing.T, event, result string) float64 {
	t.Helper()
	return g.metric(t, fmt.Sprintf(`gatehouse_login_events_total{event=%q,result=%q}`, event, result))
}

// waitFor polls cond every 100ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// echoJSON is the echo upstream's JSON description of a request.
type echoJSON struct {
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Headers map[string][]string `json:"headers"`
}

// callAPI sends a non-navigation request (Accept: application/json) with
// the given Authorization or Cookie header, as a script or service would.
// It returns the status, the WWW-Authenticate header and, on 200, what the
// upstream received.
func callAPI(t *testing.T, url string, header http.Header) (int, string, *echoJSON) {
	t.Helper()
	code, challenge, e, err := tryAPI(url, header)
	if err != nil {
		t.Fatal(err)
	}
	return code, challenge, e
}

// tryAPI is callAPI for goroutines other than the test's own.
func tryAPI(url string, header http.Header) (int, string, *echoJSON, error) {
	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", nil, fmt.Errorf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), nil, nil
	}
	var e echoJSON
	if err := json.Unmarshal(body, &e); err != nil {
		return 0, "", nil, fmt.Errorf("GET %s: 200 but not the echo upstream's JSON: %v\n%s", url, err, body)
	}
	return resp.StatusCode, "", &e, nil
}

func (e *echoJSON) header(name string) string {
	if e == nil {
		return ""
	}
	return strings.Join(e.Headers[name], ",")
}

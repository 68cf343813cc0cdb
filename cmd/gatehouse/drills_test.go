package main

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Failure drills: what gatehouse does when the things around it fail.

func readyz(t *testing.T, admin string) int {
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The issuer is down when gatehouse starts: it starts anyway, says it is
// not ready, answers 503 pages, and comes up by itself with the issuer.
func TestDrillIssuerDownAtStartup(t *testing.T) {
	h := startHarness(t, harnessOptions{issuerDown: true})
	if s := readyz(t, h.admin); s != 503 {
		t.Fatalf("/readyz with the issuer down: %d", s)
	}
	b := newBrowser(t)
	resp := b.get(h.gw + "/app")
	if body := readBody(t, resp); resp.StatusCode != 503 || !strings.Contains(body, "identity provider") {
		t.Fatalf("browser with the issuer down: %d %s", resp.StatusCode, body)
	}
	if resp := bearerReq(t, "GET", h.gw+"/api", "some-opaque-token"); resp.StatusCode != 503 {
		t.Errorf("bearer request with the issuer down: %d", resp.StatusCode)
	}
	h.issuerMode.Store(issuerUp)
	deadline := time.Now().Add(30 * time.Second) // discovery retries back off to 30s at most
	for readyz(t, h.admin) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("gatehouse did not become ready after the issuer came up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.login(b, "/", "alice", "pw-alice")
	if resp := b.get(h.gw + "/"); resp.StatusCode != 200 {
		t.Fatalf("after the issuer came up: %d", resp.StatusCode)
	}
}

// The issuer goes down mid-traffic: signed-in sessions and tokens already
// verified (or signed with cached keys) keep working; what needs the issuer
// fails closed with a clear page.
func TestDrillIssuerDownMidTraffic(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	seen := h.clientToken(t, "svc", "svc-secret")
	fresh := h.clientToken(t, "svc", "svc-secret")
	if resp := bearerReq(t, "GET", h.gw+"/api", seen); resp.StatusCode != 200 {
		t.Fatalf("bearer before the outage: %d", resp.StatusCode)
	}
	h.issuerMode.Store(issuerDown)
	if resp := b.get(h.gw + "/"); resp.StatusCode != 200 {
		t.Errorf("signed-in browser during the outage: %d", resp.StatusCode)
	}
	if resp := bearerReq(t, "GET", h.gw+"/api", seen); resp.StatusCode != 200 {
		t.Errorf("verified token during the outage: %d", resp.StatusCode)
	}
	if resp := bearerReq(t, "GET", h.gw+"/api", fresh); resp.StatusCode != 200 {
		t.Errorf("new token signed with a cached key during the outage: %d", resp.StatusCode)
	}
	// A new login reaches the dead issuer's token endpoint: an error page.
	nb := newBrowser(t)
	authorize := location(t, nb.get(h.gw+"/"), http.StatusFound)
	h.issuerMode.Store(issuerUp)
	cb := nb.loginAt(authorize, "alice", "pw-alice")
	h.issuerMode.Store(issuerDown)
	resp := nb.get(cb.String())
	if body := readBody(t, resp); resp.StatusCode != 502 || !strings.Contains(body, "Request ID") {
		t.Errorf("callback with the token endpoint down: %d %s", resp.StatusCode, body)
	}
}

// A slow issuer costs at most --issuer-timeout per call.
func TestDrillSlowIssuer(t *testing.T) {
	h := startHarness(t, harnessOptions{extraFlags: []string{"--issuer-timeout=1s"}})
	b := newBrowser(t)
	authorize := location(t, b.get(h.gw+"/"), http.StatusFound)
	cb := b.loginAt(authorize, "alice", "pw-alice")
	h.issuerMode.Store(issuerSlow)
	done := make(chan int, 1)
	go func() {
		resp := b.get(cb.String())
		done <- resp.StatusCode
	}()
	select {
	case s := <-done:
		if s != 502 {
			t.Errorf("callback with a hanging token endpoint: %d", s)
		}
	case <-time.After(20 * time.Second): // far beyond the 1s timeout: a hang, not slowness
		t.Fatal("the callback hung with a hanging token endpoint")
	}
}

// The upstream is down: a 502 page that leaks nothing, and no goroutine
// left behind per request.
func TestDrillUpstreamDown(t *testing.T) {
	dead := listen(t)
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	h := startHarness(t, harnessOptions{extraFlags: []string{"--upstream=/down/=" + deadURL}})
	cookie := h.sessionCookieHeader(t)
	get := func() *http.Response {
		return send(t, &http.Client{}, "GET", h.gw+"/down/x", map[string]string{"Cookie": cookie, "Accept": "text/html", "X-Secret": "s3cret-value"})
	}
	resp := get()
	body := readBody(t, resp)
	if resp.StatusCode != 502 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("upstream down: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	for _, leak := range []string{dead.Addr().String(), "s3cret-value", "gatehouse=", "dial tcp", "connection refused"} {
		if strings.Contains(body, leak) {
			t.Errorf("502 page leaks %q", leak)
		}
	}
	runtime.GC()
	before := runtime.NumGoroutine()
	for range 200 {
		resp := get()
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+20 {
		t.Errorf("goroutines %d → %d after 200 failed upstream calls", before, after)
	}
}

// SIGTERM under load: in-flight requests finish, none fails with a 5xx.
func TestDrillShutdownUnderLoad(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	cookie := h.sessionCookieHeader(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := map[int]int{}
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", h.gw+"/load", nil)
				req.Header.Set("Cookie", cookie)
				resp, err := c.Do(req)
				if err != nil {
					continue // refused once the listener is closed: never a broken answer
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					mu.Lock()
					bad[resp.StatusCode]++
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	served := h.up.count()
	if err := h.m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	close(stop)
	wg.Wait()
	if served == 0 {
		t.Fatal("no load reached the upstream before shutdown")
	}
	if len(bad) != 0 {
		t.Errorf("non-200 answers during shutdown: %v", bad)
	}
}

// A flood of distinct invalid bearer tokens keeps memory bounded.
func TestDrillInvalidTokenFlood(t *testing.T) {
	h := startHarness(t, harnessOptions{discardLogs: true})
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	send := func(n int) {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{}
				for i := w; i < n; i += 8 {
					var raw [24]byte
					rand.Read(raw[:])
					// JWT-shaped, naming an issuer gatehouse does not trust:
					// refused without any network call.
					claims := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://unknown.test","sub":"` + base64.RawURLEncoding.EncodeToString(raw[:]) + `"}`))
					req, _ := http.NewRequest("GET", h.gw+"/api", nil)
					req.Header.Set("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9."+claims+".c2ln")
					if resp, err := c.Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			}()
		}
		wg.Wait()
	}
	send(2000) // warm up caches and pools
	before := heap()
	send(30000)
	mid := heap()
	send(30000)
	after := heap()
	t.Logf("heap %d MiB → %d MiB → %d MiB after 30,000 and 60,000 distinct invalid tokens", before>>20, mid>>20, after>>20)
	// Bounded caches fill during the first batch; the second must not
	// grow the heap much further.
	if after > mid+8<<20 {
		t.Errorf("heap kept growing: %d MiB → %d MiB over the second 30,000 tokens", mid>>20, after>>20)
	}
}

// Oversized headers and cookies: 431, never a crash.
func TestDrillOversizedHeaders(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	big := strings.Repeat("a", 64<<10)
	for name, req := range map[string]string{
		"one 64 KB header":   "GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: " + big + "\r\n\r\n",
		"500 headers":        "GET / HTTP/1.1\r\nHost: app.test\r\n" + strings.Repeat("X-Many: "+strings.Repeat("b", 1000)+"\r\n", 500) + "\r\n",
		"100 KB of cookie":   "GET / HTTP/1.1\r\nHost: app.test\r\nCookie: " + strings.Repeat("c=d; ", 20<<10) + "\r\n\r\n",
		"64 KB request line": "GET /" + big + " HTTP/1.1\r\nHost: app.test\r\n\r\n",
	} {
		if line := h.raw(t, req); !strings.Contains(line, " 431 ") && !strings.Contains(line, " 414 ") && !strings.Contains(line, " 400 ") {
			t.Errorf("%s: %s", name, line)
		}
	}
	if line := h.raw(t, "GET /oauth2/sign_in HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"); !strings.Contains(line, " 200 ") {
		t.Errorf("after the oversized requests: %s", line)
	}
	if h.up.count() != 0 {
		t.Error("an oversized request reached the upstream")
	}
}

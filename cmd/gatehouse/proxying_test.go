package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/echo"
)

// sessionCookieHeader logs alice in and returns her Cookie header value.
func (h *harness) sessionCookieHeader(t *testing.T) string {
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	var parts []string
	for _, c := range h.jarCookies(b) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// raw sends bytes on a new connection to gatehouse and returns the status
// line of the answer.
func (h *harness) raw(t *testing.T, request string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(h.gw, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("%q: %v", request, err)
	}
	return strings.TrimSpace(line)
}

// Group C at the wire: ambiguous paths, odd methods and absolute-form
// targets are refused before routing; the upstream is never called.
func TestAttackPathsOnTheWire(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	cookie := h.sessionCookieHeader(t)
	for _, target := range []string{
		"/public/../admin", "/public/%2e%2e/admin", "/public/%2E%2E%2Fadmin", "/public/.%2e/admin", "/public%2F..%2Fadmin",
		"/public%2fsecret", "/%2e%2e/admin", "//admin", "/public//../admin", "///public/../admin", `/public\..\admin`,
		"/public/%5c..%5cadmin", "/public/%00/../admin", "/public/%c0%ae%c0%ae/admin", "/public/%zz", "/foo/secret%23/bar",
		"/xxx/..;/admin", "/admin;x/secret", "/public;/../admin", "http://169.254.169.254/latest/meta-data/", "https://admin.apps.test/secret", "*",
	} {
		for _, withCookie := range []bool{false, true} {
			req := "GET " + target + " HTTP/1.1\r\nHost: app.test\r\nAccept: text/html\r\n"
			if withCookie {
				req += "Cookie: " + cookie + "\r\n"
			}
			line := h.raw(t, req+"Connection: close\r\n\r\n")
			if !strings.HasPrefix(line, "HTTP/1.1 400") {
				t.Errorf("GET %s (cookie %v): %s, want 400", target, withCookie, line)
			}
		}
	}
	for _, req := range []string{
		"get /admin HTTP/1.1\r\nHost: app.test\r\n",
		"GeT /admin HTTP/1.1\r\nHost: app.test\r\n",
		"CONNECT internal-db:5432 HTTP/1.1\r\nHost: internal-db:5432\r\n",
		"TRACE / HTTP/1.1\r\nHost: app.test\r\n",
	} {
		line := h.raw(t, req+"Cookie: "+cookie+"\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(line, "HTTP/1.1 405") && !strings.HasPrefix(line, "HTTP/1.1 400") {
			t.Errorf("%q: %s, want 400 or 405", strings.SplitN(req, "\r", 2)[0], line)
		}
	}
	if n := h.up.count(); n != 0 {
		t.Errorf("upstream called %d times", n)
	}
	// The control: a plain path with the same cookie goes through.
	if line := h.raw(t, "GET /admin HTTP/1.1\r\nHost: app.test\r\nCookie: "+cookie+"\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("control request: %s", line)
	}
}

func TestAccessTokenInURLRefused(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	cookie := h.sessionCookieHeader(t)
	for _, q := range []string{"access_token=abc", "x=1&ACCESS_TOKEN=abc", "access%5Ftoken=abc"} {
		line := h.raw(t, "GET /api/data?"+q+" HTTP/1.1\r\nHost: app.test\r\nCookie: "+cookie+"\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(line, "HTTP/1.1 400") {
			t.Errorf("?%s: %s", q, line)
		}
	}
	if h.up.count() != 0 {
		t.Error("a request with a token in the URL reached the upstream")
	}
	if strings.Contains(h.logs.String(), "access_token=abc") {
		t.Error("the query with the token was logged")
	}
}

// Streams and websockets pass through; other upgrades do not.
func TestStreamingAndUpgrades(t *testing.T) {
	release := make(chan struct{})
	sse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: two\n\n")
	})
	sseLn, echoLn := listen(t), listen(t)
	serve(t, sseLn, sse)
	serve(t, echoLn, echo.New())
	h := startHarness(t, harnessOptions{extraFlags: []string{
		"--upstream=/stream=http://" + sseLn.Addr().String(),
		"--upstream=/ws=http://" + echoLn.Addr().String(),
	}})
	cookie := h.sessionCookieHeader(t)

	req, _ := http.NewRequest("GET", h.gw+"/stream", nil)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "data: one\n" {
			t.Errorf("first event %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first event was not flushed before the upstream sent the second")
	}
	close(release)

	// Websocket: handshake and one echoed frame through gatehouse.
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.gw, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: app.test\r\nCookie: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", cookie, key)
	br := bufio.NewReader(conn)
	wsResp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if wsResp.StatusCode != http.StatusSwitchingProtocols || wsResp.Header.Get("Sec-Websocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("websocket handshake: %d %v", wsResp.StatusCode, wsResp.Header)
	}
	mask := []byte{1, 2, 3, 4}
	payload := []byte("hello")
	frame := []byte{0x81, 0x80 | byte(len(payload))}
	frame = append(frame, mask...)
	for i, c := range payload {
		frame = append(frame, c^mask[i%4])
	}
	conn.Write(frame)
	head := make([]byte, 2+len(payload))
	if _, err := io.ReadFull(br, head); err != nil || string(head[2:]) != "hello" {
		t.Fatalf("websocket echo: %q, %v", head, err)
	}

	// h2c is not allowed through (case 139): no 101, no Upgrade upstream.
	line := h.raw(t, "GET /x HTTP/1.1\r\nHost: app.test\r\nCookie: "+cookie+"\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	if strings.HasPrefix(line, "HTTP/1.1 101") {
		t.Fatal("h2c upgrade switched protocols")
	}
	if up := h.up.last(t); up.Header.Get("Upgrade") != "" || up.Header.Get("Http2-Settings") != "" {
		t.Errorf("upstream saw upgrade headers: %v", up.Header)
	}
}

// SIGTERM lets in-flight requests finish, then stops.
func TestShutdownDrains(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	cookie := h.sessionCookieHeader(t)
	h.up.mu.Lock()
	h.up.block = make(chan struct{})
	h.up.mu.Unlock()
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", h.gw+"/slow", nil)
		req.Header.Set("Cookie", cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	for h.up.count() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- h.m.Close() }()
	// New connections are refused once shutdown has begun.
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", strings.TrimPrefix(h.gw, "http://"))
		if err != nil {
			break
		}
		c.Close()
		if i > 400 {
			t.Fatal("still accepting connections during shutdown")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-closed:
		t.Fatal("shutdown finished while a request was in flight")
	default:
	}
	close(h.up.block)
	if status := <-done; status != http.StatusOK {
		t.Fatalf("in-flight request ended with %d", status)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// Group E and the pages gatehouse renders itself.
func TestCookiesAndPages(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	cookie := h.sessionCookieHeader(t)
	name, value, _ := strings.Cut(strings.Split(cookie, "; ")[0], "=")

	// 80: tampered, truncated, empty and junk cookies → login, cleared, no 5xx.
	flip := []byte(value)
	flip[len(flip)/2] ^= 1
	for _, bad := range []string{string(flip), value[:len(value)-1], "", strings.Repeat("QUFB", 2048)} {
		b := newBrowser(t)
		resp := b.do("GET", h.gw+"/app", nil, map[string]string{"Cookie": name + "=" + bad})
		if resp.StatusCode != http.StatusFound || (bad != "" && !clearsCookie(resp, "gatehouse")) {
			t.Errorf("tampered cookie %.20q: status %d, cleared %v", bad, resp.StatusCode, clearsCookie(resp, "gatehouse"))
		}
	}
	// 89: chunk-count abuse.
	for _, c := range []string{name + "_1of10000000000=x", name + "_99999=x", strings.Repeat(name+"_7=x; ", 300)} {
		resp := newBrowser(t).do("GET", h.gw+"/app", nil, map[string]string{"Cookie": c, "Accept": "application/json"})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("cookie %.40q: %d", c, resp.StatusCode)
		}
	}
	// 22, 94: the sign-in page escapes rd, cannot be framed, runs no script.
	resp := newBrowser(t).get(h.gw + "/oauth2/sign_in?rd=" + url.QueryEscape(`"><svg/onload=alert(1)>`))
	body := readBody(t, resp)
	csp := resp.Header.Get("Content-Security-Policy")
	if strings.Contains(body, "<svg") || strings.Contains(body, "javascript:") || resp.Header.Get("X-Frame-Options") != "DENY" ||
		!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") ||
		resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("sign-in page: CSP %q XFO %q body %s", csp, resp.Header.Get("X-Frame-Options"), body)
	}
	// 91: no CORS on gatehouse endpoints.
	resp = newBrowser(t).do("GET", h.gw+"/oauth2/userinfo", nil, map[string]string{"Cookie": cookie, "Origin": "https://evil.test"})
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("userinfo answered CORS: %v", resp.Header)
	}
	// 164: metrics and debug endpoints are not on the app listener.
	for _, p := range []string{"/metrics", "/debug/pprof/", "/debug/vars", "/healthz"} {
		resp := newBrowser(t).do("GET", h.gw+p, nil, map[string]string{"Cookie": cookie})
		if b := readBody(t, resp); strings.Contains(b, "go_goroutines") || strings.Contains(b, "gatehouse_build_info") {
			t.Errorf("%s on the app listener served metrics", p)
		}
	}
	resp, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if b := readBody(t, resp); !strings.Contains(b, "gatehouse_build_info") {
		t.Error("admin /metrics lacks gatehouse_build_info")
	}
}

// 79: with an https public URL, every gatehouse cookie is __Host-,
// Secure, HttpOnly, SameSite=Lax, Path=/ and short-lived for flows.
func TestSecureCookieAttributes(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	secure := startHarness(t, harnessOptions{extraFlags: []string{"--public-url=https://app.test"}})
	_ = h
	resp := newBrowser(t).get(secure.gw + "/oauth2/start")
	lines := resp.Header.Values("Set-Cookie")
	if len(lines) == 0 {
		t.Fatal("no flow cookie")
	}
	for _, line := range lines {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" ||
			c.SameSite != http.SameSiteLaxMode || c.MaxAge <= 0 || c.MaxAge > 900 {
			t.Errorf("flow cookie attributes: %s", line)
		}
	}
	loc := location(t, resp, http.StatusFound)
	if loc.Query().Get("redirect_uri") != "https://app.test/oauth2/callback" {
		t.Errorf("redirect_uri %q", loc.Query().Get("redirect_uri"))
	}
}

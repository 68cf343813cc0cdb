package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

var policyFlags = []string{
	"--rule=GET,HEAD /public/ public",
	"--rule=/admin/ groups=admins",
	"--rule=/internal/ deny",
	"--trusted-proxy=127.0.0.2/32",
}

// fromProxy is a client whose requests come from 127.0.0.2, the trusted
// proxy (PRX in the attack catalogue).
func fromProxy() *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func send(t *testing.T, c *http.Client, method, u string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = []string{v}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestPolicyInProxyMode(t *testing.T) {
	h := startHarness(t, harnessOptions{extraFlags: policyFlags})
	alice := h.sessionCookieHeader(t)
	bobB := newBrowser(t)
	h.login(bobB, "/", "bob", "pw-bob")
	var bob string
	for _, c := range h.jarCookies(bobB) {
		bob += c.Name + "=" + c.Value + "; "
	}
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	json := map[string]string{"Accept": "application/json"}

	// 25, 30: a public route needs no login, and spoofed identity headers
	// are still stripped; gatehouse's forwarding headers survive Connection.
	n := h.up.count()
	resp := send(t, anon, "GET", h.gw+"/public/x", map[string]string{
		"X-Forwarded-User": "admin", "X-Forwarded-Email": "admin@corp.test", "X-Forwarded-Groups": "admins",
		"X-Auth-Request-User": "admin", "Remote-User": "admin", "X-Forwarded-Assertion": "eyJ", "X_Forwarded_User": "admin",
		"Connection": "X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host",
	})
	if resp.StatusCode != 200 || h.up.count() != n+1 {
		t.Fatalf("public route: %d", resp.StatusCode)
	}
	up := h.up.last(t)
	for name := range up.Header {
		l := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if strings.HasPrefix(l, "x-forwarded-user") || strings.HasPrefix(l, "x-forwarded-email") || strings.HasPrefix(l, "x-forwarded-groups") ||
			strings.HasPrefix(l, "x-auth-request") || l == "remote-user" || l == "x-forwarded-assertion" {
			t.Errorf("public route forwarded %s", name)
		}
	}
	if up.Header.Get("X-Forwarded-For") != "127.0.0.1" || up.Header.Get("X-Forwarded-Proto") != "http" || up.Header.Get("X-Forwarded-Host") == "" {
		t.Errorf("forwarding headers on the public route: %v", up.Header)
	}

	for _, c := range []struct {
		method, path, cookie string
		hdr                  map[string]string
		want                 int
	}{
		{"DELETE", "/public/x", "", json, 401}, // 56: the public rule is GET/HEAD only
		{"PUT", "/public/x", "", json, 401},
		{"POST", "/public/x", "", json, 401},
		{"GET", "/admin?x=/public/", "", json, 401},                                 // 44: the query is not the path
		{"GET", "/admin", "", map[string]string{"User-Agent": "GoogleHC/1.0"}, 401}, // 34: no User-Agent skips
		{"GET", "/admin/x", alice, json, 403},
		{"GET", "/admin/x", bob, json, 200},
		{"GET", "/administrator", alice, json, 200}, // prefix rules match whole segments
		{"GET", "/internal/x", bob, json, 403},
		{"GET", "/internal/x", "", json, 403}, // closed to everyone: no point signing in
		{"GET", "/public/x", alice, json, 200},
	} {
		hdr := map[string]string{"Cookie": c.cookie}
		for k, v := range c.hdr {
			hdr[k] = v
		}
		if c.cookie == "" {
			delete(hdr, "Cookie")
		}
		if resp := send(t, anon, c.method, h.gw+c.path, hdr); resp.StatusCode != c.want {
			t.Errorf("%s %s (cookie %v): %d, want %d", c.method, c.path, c.cookie != "", resp.StatusCode, c.want)
		}
	}
	// A signed-in browser that is not allowed learns who it is signed in as.
	resp = send(t, anon, "GET", h.gw+"/admin/", map[string]string{"Cookie": alice, "Accept": "text/html"})
	if body := readBody(t, resp); resp.StatusCode != 403 || !strings.Contains(body, "alice@corp.test") || !strings.Contains(body, "admins") {
		t.Errorf("403 page: %d %s", resp.StatusCode, body)
	}
}

func TestForwardAuth(t *testing.T) {
	h := startHarness(t, harnessOptions{extraFlags: policyFlags})
	alice := h.sessionCookieHeader(t)
	prx, att := fromProxy(), &http.Client{}
	auth := h.gw + "/oauth2/auth"
	fwd := func(uri string, extra ...string) map[string]string {
		m := map[string]string{"X-Forwarded-Uri": uri, "X-Forwarded-Method": "GET", "X-Forwarded-Host": "app.test", "X-Forwarded-Proto": "https"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	n := h.up.count()

	// 41: from an untrusted peer the forwarded headers are ignored.
	if resp := send(t, att, "GET", auth, fwd("/public/x")); resp.StatusCode != 401 {
		t.Errorf("41: untrusted forward-auth for /public/x: %d", resp.StatusCode)
	}
	// 42: a public route answers 2xx with every identity header present and empty.
	resp := send(t, prx, "GET", auth, fwd("/public/x", "X-Auth-Request-User", "admin"))
	if resp.StatusCode != 200 {
		t.Fatalf("public via PRX: %d", resp.StatusCode)
	}
	for _, name := range forwardAuthHeaderNames {
		if vs, ok := resp.Header[name]; !ok || len(vs) != 1 || vs[0] != "" {
			t.Errorf("42: public answer %s = %q (present %v)", name, vs, ok)
		}
	}
	// Signed in: identity headers; policy applies to the original path.
	resp = send(t, prx, "GET", auth, fwd("/app/x", "Cookie", alice))
	if resp.StatusCode != 200 || resp.Header.Get("X-Auth-Request-User") != "alice-sub" || resp.Header.Get("X-Auth-Request-Groups") != "dev" ||
		resp.Header.Get("X-Auth-Request-Email") != "alice@corp.test" {
		t.Errorf("alice via PRX: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := send(t, prx, "GET", auth, fwd("/admin/x", "Cookie", alice)); resp.StatusCode != 403 {
		t.Errorf("alice on /admin/ via PRX: %d", resp.StatusCode)
	}
	if resp := send(t, prx, "GET", auth, fwd("/app/x")); resp.StatusCode != 401 {
		t.Errorf("anonymous /app/x via PRX: %d", resp.StatusCode)
	}
	// 40, 44, 45, 34: malformed or tricky originals never give 2xx.
	for name, hdr := range map[string]map[string]string{
		"bad escape":           fwd("/%zz"),
		"encoded fragment":     fwd("/foo/secret%23/bar"),
		"fragment":             fwd("/public/x#/admin"),
		"dot segments":         fwd("/public/../admin/"),
		"query is not a path":  fwd("/api/private/sensitive?path=/public/"),
		"bad original url":     {"X-Original-Url": "http://[::1"},
		"empty host":           fwd("/public/x", "X-Forwarded-Host", ""),
		"ftp proto":            fwd("/public/x", "X-Forwarded-Proto", "ftp"),
		"empty method":         fwd("/public/x", "X-Forwarded-Method", ""),
		"lower-case method":    fwd("/public/x", "X-Forwarded-Method", "get"),
		"method not public":    fwd("/public/x", "X-Forwarded-Method", "DELETE"),
		"health user-agent":    fwd("/admin/", "User-Agent", "GoogleHC/1.0"),
		"original url, public": {"X-Original-Url": "https://app.test/public/../admin/"},
	} {
		cookies := []string{"", alice}
		if name == "method not public" || name == "query is not a path" {
			cookies = cookies[:1] // alice may do these; anonymous callers may not
		}
		for _, cookie := range cookies {
			hdr := copyMap(hdr)
			if cookie != "" {
				hdr["Cookie"] = cookie
			}
			resp := send(t, prx, "GET", auth, hdr)
			if resp.StatusCode < 400 {
				t.Errorf("%s (cookie %v): %d", name, cookie != "", resp.StatusCode)
			}
		}
	}
	// nginx style: X-Original-URL carries host and path.
	if resp := send(t, prx, "GET", auth, map[string]string{"X-Original-Url": "https://app.test/public/y?z=1"}); resp.StatusCode != 200 {
		t.Errorf("X-Original-URL public: %d", resp.StatusCode)
	}
	// 150: forward-auth never proxies and does not read bodies.
	req, _ := http.NewRequestWithContext(context.Background(), "POST", auth, bytes.NewReader(make([]byte, 10<<20)))
	for k, v := range fwd("/public/x", "X-Forwarded-Method", "GET") {
		req.Header.Set(k, v)
	}
	if resp, err := prx.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("POST with a body: %d", resp.StatusCode)
		}
	}
	if line := h.raw(t, "GET /oauth2/auth/../../admin HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"); !strings.Contains(line, " 400 ") {
		t.Errorf("path tricks on the auth endpoint: %s", line)
	}
	if h.up.count() != n {
		t.Errorf("forward-auth reached the upstream %d times", h.up.count()-n)
	}
}

var forwardAuthHeaderNames = []string{"X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups", "X-Auth-Request-Preferred-Username", "X-Auth-Request-Client-Id"}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestRuleErrorsNameTheRule(t *testing.T) {
	m := NewMain(&bytes.Buffer{})
	if err := m.ParseFlags(append(validArgs(), "--rule=/x/ grups=a"), envOf(map[string]string{"GATEHOUSE_COOKIE_SECRET": testCookieKey})); err != nil {
		t.Fatal(err)
	}
	_, err := m.cfg.validate()
	if err == nil || !strings.Contains(err.Error(), "--rule") || !strings.Contains(err.Error(), "grups") {
		t.Fatalf("bad rule: %v", err)
	}
}

// Legacy apps get identity their own way; client copies never pass (36).
func TestLegacyHeadersAndAuthorization(t *testing.T) {
	for _, mode := range []string{"none", "basic", "bearer"} {
		h := startHarness(t, harnessOptions{extraFlags: []string{
			"--upstream-header=Remote-User=preferred_username", "--upstream-header=/:X-Remote-Groups=groups",
			"--pass-authorization=" + mode,
		}})
		alice := h.sessionCookieHeader(t)
		resp := send(t, &http.Client{}, "GET", h.gw+"/app", map[string]string{
			"Cookie": alice, "Remote-User": "admin", "Remote_User": "admin", "X-Remote-Groups": "admins",
			"Proxy-Authorization": "Basic Zm9vOmJhcg==",
		})
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", mode, resp.StatusCode)
		}
		up := h.up.last(t)
		if up.Header.Get("Remote-User") != "alice" || len(up.Header.Values("Remote-User")) != 1 || up.Header.Get("X-Remote-Groups") != "dev" {
			t.Errorf("%s: Remote-User %q X-Remote-Groups %q", mode, up.Header.Values("Remote-User"), up.Header.Values("X-Remote-Groups"))
		}
		for name := range up.Header {
			if strings.EqualFold(strings.ReplaceAll(name, "_", "-"), "remote-user") && name != "Remote-User" {
				t.Errorf("%s: client variant %q reached the upstream", mode, name)
			}
		}
		if up.Header.Get("Proxy-Authorization") != "" {
			t.Errorf("%s: Proxy-Authorization forwarded", mode)
		}
		auth := up.Header.Values("Authorization")
		switch mode {
		case "none":
			if len(auth) != 0 {
				t.Errorf("none: upstream Authorization %q", auth)
			}
		case "basic":
			if len(auth) != 1 || auth[0] != "Basic YWxpY2U6" { // alice:
				t.Errorf("basic: upstream Authorization %q", auth)
			}
		case "bearer":
			if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ey") {
				t.Errorf("bearer: upstream Authorization %q", auth)
			}
		}
	}
}

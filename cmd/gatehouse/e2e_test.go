package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

func TestLoginForwardsIdentity(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	b := newBrowser(t)

	resp := b.get(h.gw + "/app/page?x=1")
	authorize := location(t, resp, http.StatusFound)
	q := authorize.Query()
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("redirect_uri") != h.gw+"/oauth2/callback" || q.Get("state") == "" || q.Get("nonce") == "" || q.Get("client_id") != "gw" {
		t.Fatalf("authorization request: %v", q)
	}
	if h.up.count() != 0 {
		t.Fatal("upstream called before login")
	}
	callback := b.loginAt(authorize, "alice", "pw-alice")
	if callback.Query().Get("iss") != h.issURL {
		t.Fatalf("issuer did not send iss: %s", callback)
	}
	resp = b.get(callback.String())
	landing := location(t, resp, http.StatusFound)
	if landing.String() != h.gw+"/app/page?x=1" {
		t.Fatalf("landed on %s", landing)
	}
	// The PKCE verifier sent to the token endpoint matches the challenge.
	tokenReqs := h.issuerRequests("/token")
	if len(tokenReqs) != 1 {
		t.Fatalf("%d token requests", len(tokenReqs))
	}
	sum := sha256.Sum256([]byte(tokenReqs[0].Form.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
		t.Fatal("code_verifier does not match code_challenge")
	}
	if tokenReqs[0].Form.Get("redirect_uri") != h.gw+"/oauth2/callback" {
		t.Fatalf("token redirect_uri %q", tokenReqs[0].Form.Get("redirect_uri"))
	}

	// Spoofed identity headers in every spelling are gone; gatehouse's own
	// survive being named in Connection (cases 26, 27, 29, 31, 32, 35).
	resp = b.do("GET", landing.String(), nil, map[string]string{
		"X-Forwarded-User": "admin", "X_Forwarded_User": "admin", "X-Forwarded_User": "admin",
		"x_forwarded_groups": "admins", "X_Forwarded_Email": "bob@corp.test", "X-Auth-Request-User": "admin",
		"X-Auth_Request_User": "admin", "Remote-User": "admin", "X-Remote-User": "admin", "Remote_User": "admin",
		"X-Forwarded-Groups": "admins", "X-Forwarded-Email": "bob@corp.test", "X-Forwarded-Preferred-Username": "admin",
		"X-Forwarded-Access-Token": "x", "X-Forwarded-Uri": "/public/x", "X-Original-Url": "/admin",
		"X-Rewrite-Url": "/admin", "X-Forwarded-Prefix": "/admin", "X-Http-Method-Override": "DELETE",
		"X-Real-Ip": "10.0.0.1", "X-Forwarded-For": "10.0.0.1", "Cf-Connecting-Ip": "10.0.0.1", "True-Client-Ip": "10.0.0.1",
		"Forwarded": "for=1.2.3.4;host=evil.test;proto=https", "X-Forwarded-Host": "evil.test",
		"Connection": "keep-alive, X-Forwarded-User, X-Forwarded-Groups, X-Forwarded-Email, X-Forwarded-For",
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, readBody(t, resp))
	}
	got := h.up.last(t)
	if got.URI != "/app/page?x=1" {
		t.Errorf("upstream request-target %q", got.URI)
	}
	want := map[string]string{
		"X-Forwarded-User": "alice-sub", "X-Forwarded-Email": "alice@corp.test", "X-Forwarded-Groups": "dev",
		"X-Forwarded-Preferred-Username": "alice", "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": strings.TrimPrefix(h.gw, "http://"),
		"X-Forwarded-Proto": "http",
	}
	for k, v := range want {
		if vs := got.Header.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("upstream %s = %q, want exactly %q", k, vs, v)
		}
	}
	for name := range got.Header {
		n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if _, ok := want[http.CanonicalHeaderKey(n)]; ok && name != http.CanonicalHeaderKey(n) {
			t.Errorf("upstream got spoofed variant %q", name)
		}
		for _, bad := range []string{"x-auth-request-", "remote-user", "x-remote-user", "x-forwarded-uri", "x-original-url", "x-rewrite-url", "x-forwarded-prefix", "x-http-method-override", "x-real-ip", "cf-connecting-ip", "true-client-ip", "forwarded", "x-forwarded-access-token"} {
			if strings.HasPrefix(n, bad) {
				t.Errorf("upstream got %q", name)
			}
		}
	}
	if c := got.Header.Get("Cookie"); strings.Contains(c, "gatehouse") {
		t.Errorf("gatehouse cookies reached the upstream: %q", c)
	}

	// userinfo shows the identity, never tokens (case 90).
	resp = b.do("GET", h.gw+"/oauth2/userinfo", nil, map[string]string{"Accept": "application/json"})
	body := readBody(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(body, `"alice-sub"`) {
		t.Fatalf("userinfo %d %q: %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	for _, leak := range []string{"token", "eyJ"} {
		if strings.Contains(body, leak) {
			t.Errorf("userinfo leaks %q: %s", leak, body)
		}
	}
}

func TestUnverifiedEmailIsNotForwarded(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	b := newBrowser(t)
	h.login(b, "/", "bob", "pw-bob")
	b.get(h.gw + "/")
	got := h.up.last(t)
	if got.Header.Get("X-Forwarded-User") != "bob-sub" || got.Header.Values("X-Forwarded-Email") != nil {
		t.Fatalf("bob: user %q email %q", got.Header.Get("X-Forwarded-User"), got.Header.Values("X-Forwarded-Email"))
	}
}

func TestNonBrowsersGet401(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	b := newBrowser(t)
	for _, c := range []struct {
		method string
		hdr    map[string]string
	}{
		{"GET", map[string]string{"Accept": "application/json"}},
		{"GET", map[string]string{"Accept": ""}},
		{"POST", nil},
		{"GET", map[string]string{"X-Requested-With": "XMLHttpRequest"}},
		{"GET", map[string]string{"Sec-Fetch-Mode": "cors"}},
		{"GET", map[string]string{"Authorization": "Bearer nope"}},
		{"GET", map[string]string{"Authorization": "Basic YWxpY2U6cHctYWxpY2U="}},
	} {
		resp := b.do(c.method, h.gw+"/api/data", nil, c.hdr)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %v: %d %q", c.method, c.hdr, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if c.hdr["Accept"] != "" && !json.Valid([]byte(body)) {
			t.Errorf("%s %v: body is not JSON: %s", c.method, c.hdr, body)
		}
	}
	if h.up.count() != 0 {
		t.Fatal("upstream called for unauthenticated requests")
	}
	if n := len(h.issuerRequests("/token")); n != 0 {
		t.Fatalf("Basic credentials reached the issuer (%d token requests) with the password grant off", n)
	}
}

func TestRefreshOnExpiryIsShared(t *testing.T) {
	h := startHarness(t, harnessOptions{accessTTL: 2 * time.Second, revokeReuse: true})
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	if resp := b.get(h.gw + "/"); resp.StatusCode != 200 || h.grants("refresh_token") != 0 {
		t.Fatalf("fresh session: %d, %d refreshes", resp.StatusCode, h.grants("refresh_token"))
	}
	// Tokens within a quarter of their lifetime of expiry are refreshed on
	// the next request; concurrent requests with the same cookie share one
	// refresh, so a rotating issuer that revokes on reuse logs no one out.
	time.Sleep(1600 * time.Millisecond)
	h.iss.SetUserGroups("alice", []string{"dev", "admins"})
	cookies := h.jarCookies(b)
	var wg sync.WaitGroup
	statuses := make([]int, 12)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", h.gw+"/x", nil)
			req.Header.Set("Accept", "application/json")
			for _, c := range cookies {
				req.AddCookie(c)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d: status %d", i, s)
		}
	}
	if n := h.grants("refresh_token"); n != 1 {
		t.Fatalf("%d refresh requests, want exactly 1", n)
	}
	if g := h.up.last(t).Header.Get("X-Forwarded-Groups"); g != "dev,admins" {
		t.Errorf("groups after refresh %q, want dev,admins", g)
	}
}

func (h *harness) jarCookies(b *browser) []*http.Cookie {
	u, _ := url.Parse(h.gw)
	return b.jar.Cookies(u)
}

func TestRefreshRejectedEndsSession(t *testing.T) {
	h := startHarness(t, harnessOptions{accessTTL: 2 * time.Second})
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	time.Sleep(1600 * time.Millisecond)
	// The issuer now refuses the refresh token (case 85).
	h.iss.SetHooks(devissuer.Hooks{TokenResponse: func(grant string, _ map[string]any) (int, []byte, bool) {
		if grant != "refresh_token" {
			return 0, nil, false
		}
		return http.StatusBadRequest, []byte(`{"error":"invalid_grant"}`), true
	}})
	resp := b.get(h.gw + "/")
	if loc := location(t, resp, http.StatusFound); !strings.HasPrefix(loc.String(), h.issURL+"/authorize") {
		t.Fatalf("after refresh failure, sent to %s", loc)
	}
	if !clearsCookie(resp, "gatehouse") {
		t.Error("the dead session's cookie was not cleared")
	}
	if h.up.count() != 0 {
		t.Error("upstream was called with a session whose refresh failed")
	}
	if n := h.grants("refresh_token"); n != 1 {
		t.Errorf("%d refresh attempts, want 1", n)
	}
}

func TestSignOut(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	if resp := b.get(h.gw + "/"); resp.StatusCode != 200 {
		t.Fatalf("signed-in request: %d", resp.StatusCode)
	}
	// The ID token is kept for the sign-out path only: the browser sends
	// it there and nowhere else.
	hasHint := func(path string) bool {
		u, _ := url.Parse(h.gw + path)
		for _, c := range b.jar.Cookies(u) {
			if c.Name == "gatehouse_hint" {
				return true
			}
		}
		return false
	}
	if hasHint("/") || hasHint("/oauth2/sign_in") || !hasHint("/oauth2/sign_out") {
		t.Fatalf("hint cookie sent to /: %v, to /oauth2/sign_in: %v, to /oauth2/sign_out: %v; want only the last",
			hasHint("/"), hasHint("/oauth2/sign_in"), hasHint("/oauth2/sign_out"))
	}
	// Cross-site POSTs cannot sign anyone out.
	resp := b.do("POST", h.gw+"/oauth2/sign_out", nil, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site sign-out: %d", resp.StatusCode)
	}
	// A sign-out with an off-list target still signs out, but never goes
	// there (case 16): the issuer's end-session URL carries only the
	// registered post-logout URI. The captured cookie is refused afterwards
	// by this gatehouse (case 84).
	captured := h.jarCookies(b)
	resp = b.do("POST", h.gw+"/oauth2/sign_out?rd="+url.QueryEscape("https://evil.test/"), nil, map[string]string{"Origin": h.gw, "Sec-Fetch-Site": "same-origin"})
	end := location(t, resp, http.StatusSeeOther)
	if !strings.HasPrefix(end.String(), h.issURL+"/end_session") || strings.Count(end.Query().Get("id_token_hint"), ".") != 2 ||
		end.Query().Get("post_logout_redirect_uri") != h.gw+"/oauth2/sign_in" {
		t.Fatalf("sign-out went to %s", end)
	}
	if !clearsCookie(resp, "gatehouse") {
		t.Fatal("sign-out did not clear the session cookie")
	}
	if strings.Contains(end.String(), "evil") {
		t.Fatalf("sign-out location mentions the off-list target: %s", end)
	}
	replay := newBrowser(t)
	gu, _ := url.Parse(h.gw)
	replay.jar.SetCookies(gu, captured)
	if r := replay.do("GET", h.gw+"/", nil, map[string]string{"Accept": "application/json"}); r.StatusCode != 401 {
		t.Fatalf("the signed-out cookie replayed: %d", r.StatusCode)
	}
	back := location(t, b.get(end.String()), http.StatusFound)
	if back.String() != h.gw+"/oauth2/sign_in" {
		t.Fatalf("issuer sent the browser to %s", back)
	}
	if resp := b.get(back.String()); resp.StatusCode != 200 || !strings.Contains(readBody(t, resp), "Sign in") {
		t.Fatal("sign-in page not shown after sign-out")
	}
	n := h.up.count()
	if loc := location(t, b.get(h.gw+"/"), http.StatusFound); !strings.HasPrefix(loc.String(), h.issURL) {
		t.Fatalf("after sign-out, / went to %s", loc)
	}
	if h.up.count() != n {
		t.Fatal("upstream reached after sign-out")
	}
}

func clearsCookie(resp *http.Response, prefix string) bool {
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(strings.TrimPrefix(c.Name, "__Host-"), prefix) && !strings.Contains(c.Name, "flow") && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

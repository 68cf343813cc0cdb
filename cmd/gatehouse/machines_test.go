package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
)

// clientToken gets a real client-credentials token from the test issuer.
func (h *harness) clientToken(t *testing.T, id, secret string, scopes ...string) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: h.issURL + "/token", Scopes: scopes}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func bearerReq(t *testing.T, method, u, token string) *http.Response {
	return send(t, &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		method, u, map[string]string{"Authorization": "Bearer " + token, "Accept": "text/html"})
}

// Client credentials: a machine's token reaches the upstream with a machine
// identity that cannot pass for a person (case 112), and is never
// redirected to sign in.
func TestMachineTokens(t *testing.T) {
	h := startHarness(t, harnessOptions{extraFlags: []string{"--rule=/api/admin/ scopes=admin"}})
	jwt := h.clientToken(t, "svc", "svc-secret", "read")
	if strings.Count(jwt, ".") != 2 {
		t.Fatalf("expected a JWT access token, got %.20q", jwt)
	}
	resp := bearerReq(t, "GET", h.gw+"/api/data", jwt)
	if resp.StatusCode != 200 {
		t.Fatalf("client-credentials JWT: %d %s", resp.StatusCode, readBody(t, resp))
	}
	up := h.up.last(t)
	for k, want := range map[string]string{
		"X-Forwarded-User": "client:svc", "X-Forwarded-Client-Id": "svc", "X-Forwarded-Caller": "machine",
		"X-Forwarded-Groups": "robots", "Authorization": "Bearer " + jwt,
	} {
		if got := up.Header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("upstream %s = %q, want %q", k, got, want)
		}
	}
	// Scope rules (case 115): read is not admin.
	resp = bearerReq(t, "GET", h.gw+"/api/admin/x", jwt)
	if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("read token on an admin-scope route: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp := bearerReq(t, "GET", h.gw+"/api/admin/x", h.clientToken(t, "svc", "svc-secret", "read admin")); resp.StatusCode != 200 {
		t.Errorf("admin token on an admin-scope route: %d", resp.StatusCode)
	}
	// Opaque tokens go through introspection.
	opaque := h.clientToken(t, "svc-opaque", "opaque-secret")
	if resp := bearerReq(t, "GET", h.gw+"/api/data", opaque); resp.StatusCode != 200 || h.up.last(t).Header.Get("X-Forwarded-Client-Id") != "svc-opaque" {
		t.Errorf("opaque token: %d", resp.StatusCode)
	}
	if n := len(h.issuerRequests("/introspect")); n != 1 {
		t.Errorf("%d introspection calls, want 1", n)
	}
	bearerReq(t, "GET", h.gw+"/api/data", opaque)
	if n := len(h.issuerRequests("/introspect")); n != 1 {
		t.Errorf("a second use of the opaque token introspected again (%d calls)", n)
	}
	// A token revoked before its first use is refused.
	revoked := h.clientToken(t, "svc-opaque", "opaque-secret")
	form := url.Values{"token": {revoked}}
	req, _ := http.NewRequest("POST", h.issURL+"/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc-opaque", "opaque-secret")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("revoke at the issuer: %v %v", err, r)
	}
	if resp := bearerReq(t, "GET", h.gw+"/api/data", revoked); resp.StatusCode != 401 {
		t.Errorf("revoked opaque token: %d", resp.StatusCode)
	}
	// Bad tokens: 401 with invalid_token, never a redirect, upstream untouched.
	n := h.up.count()
	forged, _ := h.iss.Mint(nil, decodeClaims(t, jwt), "evil")
	for name, tok := range map[string]string{"forged": forged, "garbage": "abc.def.ghi", "opaque junk": "not-a-real-token"} {
		resp := bearerReq(t, "GET", h.gw+"/api/data", tok)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if h.up.count() != n {
		t.Error("a bad token reached the upstream")
	}
	// gatehouse's own ID tokens are not access tokens (documented decision).
	var idToken string
	h.iss.SetHooks(hooksCaptureIDToken(&idToken))
	h.login(newBrowser(t), "/", "alice", "pw-alice")
	if resp := bearerReq(t, "GET", h.gw+"/api/data", idToken); resp.StatusCode != 401 {
		t.Errorf("an ID token as bearer: %d", resp.StatusCode)
	}
	for _, secret := range []string{jwt, opaque} {
		if strings.Contains(h.logs.String(), secret) {
			t.Error("a bearer token reached the log")
		}
	}
}

// The legacy password grant: off by default, then per path, never a
// session, never the password upstream, locked out after failures.
func TestPasswordGrant(t *testing.T) {
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	h := startHarness(t, harnessOptions{extraFlags: []string{"--password-grant", "--password-grant-path=/legacy/"}})
	get := func(path, auth string) *http.Response {
		return send(t, &http.Client{}, "GET", h.gw+path, map[string]string{"Authorization": auth, "Accept": "application/json"})
	}
	if resp := get("/app", basic("alice", "pw-alice")); resp.StatusCode != 401 || h.grants("password") != 0 {
		t.Fatalf("Basic outside --password-grant-path: %d, %d grants", resp.StatusCode, h.grants("password"))
	}
	resp := get("/legacy/x", basic("alice", "pw-alice"))
	if resp.StatusCode != 200 {
		t.Fatalf("password grant: %d %s", resp.StatusCode, readBody(t, resp))
	}
	if len(resp.Cookies()) != 0 {
		t.Error("the password grant set a cookie (case 131)")
	}
	up := h.up.last(t)
	if up.Header.Get("X-Forwarded-User") != "alice-sub" || up.Header.Get("Authorization") != "" {
		t.Errorf("upstream: user %q, Authorization %q (case 130)", up.Header.Get("X-Forwarded-User"), up.Header.Get("Authorization"))
	}
	get("/legacy/x", basic("alice", "pw-alice"))
	if n := h.grants("password"); n != 1 {
		t.Errorf("%d password grants for two requests, want 1 (cached)", n)
	}
	// Case 127: a wrong password is never served from the cache.
	if resp := get("/legacy/x", basic("alice", "wrong")); resp.StatusCode != 401 {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	// Lockout: after repeated failures the issuer is not asked any more.
	for range 8 {
		get("/legacy/x", basic("bob", "wrong"))
	}
	before := h.grants("password")
	last := get("/legacy/x", basic("bob", "wrong"))
	if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" || h.grants("password") != before {
		t.Errorf("after repeated failures: %d Retry-After %q, grants %d → %d", last.StatusCode, last.Header.Get("Retry-After"), before, h.grants("password"))
	}
	if strings.Contains(h.logs.String(), "pw-alice") {
		t.Error("a password reached the log")
	}
}

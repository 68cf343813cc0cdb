package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

// Group A of the attack catalogue: /oauth2/start refuses every off-list
// target with 400 and never issues a Location outside the allow-list.
func TestAttackRedirectTargets(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	b := newBrowser(t)
	for _, rd := range []string{
		"//evil.test/", "///evil.test", "////evil.test", `/\evil.test`, `\\evil.test`, `/\/evil.test`,
		"/\t/\t\\evil.test", `/./\evil.test`, `/./../../\evil.test`, "/ok/\t\t\\evil.test",
		"https://evilapp.test/", "http://127.0.0.1.evil.test/", "https://app.test@evil.test/", "//app.test@evil.test",
		`https://evil.test\@app.test/`, `//evil.test\@app.test`, "javascript:alert(document.domain)", "JaVaScRiPt:alert(1)",
		"java\r\nscript:alert(0)", "\x01javascript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)",
		"http:evil.test", "http:/evil.test", "https://app.test\u3002evil.test/", "//evil\u3002test", "%2F%2Fevil.test",
		"/%2F%2Fevil.test", h.gw + "/oauth2/start?rd=https://evil.test", h.gw + "/oauth2/sign_out?rd=//evil.test",
		strings.Replace(h.gw, "http://", "https://", 1) + "/", // scheme change
	} {
		resp := b.get(h.gw + "/oauth2/start?rd=" + url.QueryEscape(rd))
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("rd=%q: status %d (Location %q), want 400", rd, resp.StatusCode, resp.Header.Get("Location"))
		}
		if strings.Contains(resp.Header.Get("Location"), "evil") {
			t.Errorf("rd=%q: Location %q", rd, resp.Header.Get("Location"))
		}
	}
	// Allowed targets survive the whole login unchanged.
	for _, rd := range []string{"/deep/path?q=1", h.gw + "/abs?x=y"} {
		b := newBrowser(t)
		authorize := location(t, b.get(h.gw+"/oauth2/start?rd="+url.QueryEscape(rd)), http.StatusFound)
		landing := location(t, b.get(b.loginAt(authorize, "alice", "pw-alice").String()), http.StatusFound)
		if want, _ := url.Parse(h.gw + "/oauth2/callback"); landing.String() != mustResolve(want, rd) {
			t.Errorf("rd=%q: landed on %s", rd, landing)
		}
	}
	// A forged Host never becomes a redirect target or the redirect_uri (case 17).
	req, _ := http.NewRequest("GET", h.gw+"/private", nil)
	req.Host = "evil.test"
	req.Header.Set("Accept", "text/html")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	gu, _ := url.Parse(h.gw)
	b.jar.SetCookies(gu, resp.Cookies()) // Go's jar files them under the forged host
	authorize := location(t, resp, http.StatusFound)
	if authorize.Query().Get("redirect_uri") != h.gw+"/oauth2/callback" {
		t.Fatalf("redirect_uri %q", authorize.Query().Get("redirect_uri"))
	}
	landing := location(t, b.get(b.loginAt(authorize, "alice", "pw-alice").String()), http.StatusFound)
	if landing.Host != strings.TrimPrefix(h.gw, "http://") {
		t.Fatalf("forged Host led to %s", landing)
	}
}

func mustResolve(base *url.URL, ref string) string {
	u, err := base.Parse(ref)
	if err != nil {
		panic(err)
	}
	return u.String()
}

// Group D: the callback refuses what it did not start, and never calls the
// token endpoint for it.
func TestAttackCallback(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	tokenCalls := func() int { return len(h.issuerRequests("/token")) }

	// 57: no state.
	b := newBrowser(t)
	authorize := location(t, b.get(h.gw+"/oauth2/start"), http.StatusFound)
	cb := b.loginAt(authorize, "alice", "pw-alice")
	noState := *cb
	q := noState.Query()
	q.Del("state")
	noState.RawQuery = q.Encode()
	if resp := b.get(noState.String()); resp.StatusCode != http.StatusBadRequest || tokenCalls() != 0 {
		t.Errorf("57: status %d, %d token calls", resp.StatusCode, tokenCalls())
	}
	// 59: mallory's code and state in the victim's browser.
	victim := newBrowser(t)
	if resp := victim.get(cb.String()); resp.StatusCode != http.StatusForbidden || tokenCalls() != 0 || len(resp.Cookies()) != 0 && !clearsOnly(resp) {
		t.Errorf("59: status %d, %d token calls, cookies %v", resp.StatusCode, tokenCalls(), resp.Cookies())
	}
	// 65: iss response parameter wrong, missing, with a trailing slash, twice.
	for _, mutate := range []func(url.Values){
		func(v url.Values) { v.Set("iss", "https://idp2.test") },
		func(v url.Values) { v.Del("iss") },
		func(v url.Values) { v.Set("iss", h.issURL+"/") },
		func(v url.Values) { v.Add("iss", h.issURL) },
	} {
		b := newBrowser(t)
		cb := b.loginAt(location(t, b.get(h.gw+"/oauth2/start"), http.StatusFound), "alice", "pw-alice")
		v := cb.Query()
		mutate(v)
		cb.RawQuery = v.Encode()
		if resp := b.get(cb.String()); resp.StatusCode != http.StatusForbidden || tokenCalls() != 0 {
			t.Errorf("65 %v: status %d, %d token calls", v["iss"], resp.StatusCode, tokenCalls())
		}
	}
	// 67: the issuer's error is not reflected; no token call.
	b = newBrowser(t)
	authorize = location(t, b.get(h.gw+"/oauth2/start"), http.StatusFound)
	errCB := h.gw + "/oauth2/callback?state=" + authorize.Query().Get("state") + "&iss=" + url.QueryEscape(h.issURL) +
		"&error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&error_description=%3Cimg%20src%3Dx%3E&error_uri=javascript%3Aalert(1)"
	resp := b.get(errCB)
	body := readBody(t, resp)
	if resp.StatusCode < 400 || strings.Contains(body, "<script>alert") || strings.Contains(body, "<img") || strings.Contains(body, "javascript:") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") || tokenCalls() != 0 {
		t.Errorf("67: status %d, CSP %q, body %s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), body)
	}
	// 66: tokens in the callback instead of a code.
	b = newBrowser(t)
	authorize = location(t, b.get(h.gw+"/oauth2/start?response_type=token&response_mode=fragment"), http.StatusFound)
	if authorize.Query().Get("response_type") != "code" || authorize.Query().Has("response_mode") {
		t.Errorf("66: authorization request %v", authorize.Query())
	}
	resp = b.get(h.gw + "/oauth2/callback?access_token=abc&token_type=Bearer&iss=" + url.QueryEscape(h.issURL) + "&state=" + authorize.Query().Get("state"))
	if resp.StatusCode < 400 || resp.StatusCode >= 500 || tokenCalls() != 0 {
		t.Errorf("66: tokens-in-callback status %d", resp.StatusCode)
	}

	// 60: a successful callback replayed, with the flow cookie restored.
	b = newBrowser(t)
	startResp := b.get(h.gw + "/oauth2/start")
	flowCookies := startResp.Cookies()
	cb = b.loginAt(location(t, startResp, http.StatusFound), "alice", "pw-alice")
	location(t, b.get(cb.String()), http.StatusFound)
	before := tokenCalls()
	replay := newBrowser(t)
	u, _ := url.Parse(h.gw)
	replay.jar.SetCookies(u, flowCookies)
	if resp := replay.get(cb.String()); resp.StatusCode != http.StatusForbidden || tokenCalls() != before {
		t.Errorf("60: replay status %d, token calls %d → %d", resp.StatusCode, before, tokenCalls())
	}

	// 64: alice's code injected into mallory's flow: the token request
	// carries mallory's verifier, the issuer refuses, no session.
	alice := newBrowser(t)
	aliceCB := alice.loginAt(location(t, alice.get(h.gw+"/oauth2/start"), http.StatusFound), "alice", "pw-alice")
	mallory := newBrowser(t)
	mAuth := location(t, mallory.get(h.gw+"/oauth2/start"), http.StatusFound)
	inj := h.gw + "/oauth2/callback?code=" + aliceCB.Query().Get("code") + "&state=" + mAuth.Query().Get("state") + "&iss=" + url.QueryEscape(h.issURL)
	if resp := mallory.get(inj); resp.StatusCode != http.StatusForbidden || hasSession(resp) {
		t.Errorf("64: code injection status %d", resp.StatusCode)
	}
}

func clearsOnly(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.MaxAge >= 0 {
			return false
		}
	}
	return true
}

func hasSession(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if !strings.Contains(c.Name, "flow") && c.MaxAge >= 0 && c.Value != "" {
			return true
		}
	}
	return false
}

// Group D, ID-token checks (69–72, 74, 75): each bad token response ends
// in an error page and no session.
func TestAttackIDToken(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	claimHooks := map[string]func(map[string]any){
		"69 wrong nonce":     func(c map[string]any) { c["nonce"] = "attacker" },
		"69 no nonce":        func(c map[string]any) { delete(c, "nonce") },
		"70 other issuer":    func(c map[string]any) { c["iss"] = "https://idp2.test" },
		"70 trailing slash":  func(c map[string]any) { c["iss"] = h.issURL + "/" },
		"71 other audience":  func(c map[string]any) { c["aud"] = "other-client" },
		"71 extra aud":       func(c map[string]any) { c["aud"] = []string{"gw", "untrusted-client"}; delete(c, "azp") },
		"71 azp other":       func(c map[string]any) { c["aud"] = []string{"gw", "untrusted-client"}; c["azp"] = "untrusted-client" },
		"71 empty aud":       func(c map[string]any) { c["aud"] = []string{} },
		"74 at_hash":         func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" },
		"expired":            func(c map[string]any) { c["exp"] = 1000 },
		"37 CRLF in sub":     func(c map[string]any) { c["sub"] = "m\r\nX-Forwarded-User: admin" },
		"37 NUL in username": func(c map[string]any) { c["preferred_username"] = "m\x00" },
	}
	for name, hook := range claimHooks {
		h.iss.SetHooks(devissuer.Hooks{IDTokenClaims: hook})
		h.expectLoginFails(t, name)
	}
	mint := func(key string, header map[string]any) func(string, map[string]any) (int, []byte, bool) {
		return func(grant string, resp map[string]any) (int, []byte, bool) {
			tok, _ := resp["id_token"].(string)
			claims := decodeClaims(t, tok)
			forged, err := h.iss.Mint(header, claims, key)
			if err != nil {
				t.Fatal(err)
			}
			resp["id_token"] = forged
			return 0, nil, false
		}
	}
	tokenHooks := map[string]func(string, map[string]any) (int, []byte, bool){
		"72 evil key as k1": mint("evil", map[string]any{"kid": "k1"}),
		"72 alg none":       mint("none", nil),
		"72 hs256 with client secret": func(g string, resp map[string]any) (int, []byte, bool) {
			forged, _ := h.iss.MintHMAC(map[string]any{"kid": "k1"}, decodeClaims(t, resp["id_token"].(string)), []byte("s3cr3t"))
			resp["id_token"] = forged
			return 0, nil, false
		},
		"75 error in a 200": staticToken(200, `{"error":"invalid_grant"}`, "application/json"),
		"75 no id_token": func(g string, resp map[string]any) (int, []byte, bool) {
			delete(resp, "id_token")
			return 0, nil, false
		},
		"75 token_type MAC": func(g string, resp map[string]any) (int, []byte, bool) {
			resp["token_type"] = "MAC"
			return 0, nil, false
		},
		"75 html body":        staticToken(200, `<html>hello</html>`, "text/html"),
		"75 huge body":        staticToken(200, `{"access_token":"`+strings.Repeat("a", 3<<20)+`"}`, "application/json"),
		"75 issuer 500":       staticToken(500, `oops`, "text/plain"),
		"75 refused (400)":    staticToken(400, `{"error":"invalid_grant"}`, "application/json"),
		"75 missing tokens":   staticToken(200, `{}`, "application/json"),
		"75 not even json":    staticToken(200, `{"access_token":`, "application/json"),
		"75 id_token not str": func(g string, resp map[string]any) (int, []byte, bool) { resp["id_token"] = 42; return 0, nil, false },
	}
	for name, hook := range tokenHooks {
		h.iss.SetHooks(devissuer.Hooks{TokenResponse: hook})
		h.expectLoginFails(t, name)
	}
	h.iss.SetHooks(devissuer.Hooks{})
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	if resp := b.get(h.gw + "/"); resp.StatusCode != 200 {
		t.Fatalf("control login failed: %d", resp.StatusCode)
	}
}

func staticToken(status int, body, _ string) func(string, map[string]any) (int, []byte, bool) {
	return func(string, map[string]any) (int, []byte, bool) { return status, []byte(body), true }
}

func (h *harness) expectLoginFails(t *testing.T, name string) {
	t.Helper()
	b := newBrowser(t)
	authorize := location(t, b.get(h.gw+"/"), http.StatusFound)
	resp := b.get(b.loginAt(authorize, "alice", "pw-alice").String())
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadGateway {
		t.Errorf("%s: callback status %d, want 403 or 502", name, resp.StatusCode)
	}
	if hasSession(resp) {
		t.Errorf("%s: a session cookie was set", name)
	}
	if !strings.Contains(body, "Request ID") {
		t.Errorf("%s: error page without a request ID", name)
	}
	if resp := b.get(h.gw + "/"); resp.StatusCode != http.StatusFound {
		t.Errorf("%s: after the failed login, / answered %d", name, resp.StatusCode)
	}
}

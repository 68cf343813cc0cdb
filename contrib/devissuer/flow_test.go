package devissuer

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

type idClaims struct {
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	Preferred     string   `json:"preferred_username"`
	Groups        []string `json:"groups"`
	Sid           string   `json:"sid"`
	Azp           string   `json:"azp"`
	AuthTime      int64    `json:"auth_time"`
}

func TestCodeFlowInterop(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.oauth("web", "s3cret", oidc.ScopeOpenID, "email", "profile")
	tok := e.login(cfg, "alice", "wonderland", "n-123")
	if tok.TokenType != "Bearer" || tok.RefreshToken != "" {
		t.Fatalf("token type %q refresh %q (no offline_access)", tok.TokenType, tok.RefreshToken)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.verifier("web").Verify(e.ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if idt.Nonce != "n-123" || idt.Subject != "u-alice" || idt.Issuer != e.srv.URL {
		t.Fatalf("id token %+v", idt)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Email != "alice@example.com" || !c.EmailVerified || c.Name != "Alice A" || c.Preferred != "alice" ||
		!slices.Equal(c.Groups, []string{"admins", "dev"}) || c.Sid == "" || c.Azp != "web" || c.AuthTime == 0 {
		t.Fatalf("claims %+v", c)
	}
	// The JWT access token verifies with go-oidc too (aud defaults to the client id).
	at, err := e.verifier("web").Verify(e.ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	if at.Subject != "u-alice" {
		t.Fatal(at.Subject)
	}
	ui, err := e.prov.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if ui.Subject != "u-alice" || ui.Email != "alice@example.com" {
		t.Fatalf("userinfo %+v", ui)
	}
	if m := e.introspect(tok.AccessToken); m["active"] != true || m["username"] != "alice" || m["client_id"] != "web" || m["token_type"] != "access_token" {
		t.Fatalf("introspect %v", m)
	}
}

func TestPublicClientAndScopeGating(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.oauth("spa", "", oidc.ScopeOpenID)
	tok := e.login(cfg, "alice", "wonderland", "")
	idt, err := e.verifier("spa").Verify(e.ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var c idClaims
	_ = idt.Claims(&c)
	if c.Email != "" || c.Name != "" || idt.Nonce != "" {
		t.Fatalf("email/profile claims without scopes: %+v nonce %q", c, idt.Nonce)
	}
	// Public client with params-style auth (no secret) works too.
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	e.login(cfg, "bob", "builder", "x")
	// A public client sending a secret is refused.
	st, m, h := e.post("/token", url.Values{"grant_type": {"client_credentials"}}, "spa", "guess")
	if st != 401 || m["error"] != "invalid_client" || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("%d %v", st, m)
	}
}

func TestWrongPasswordShowsForm(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.oauth("web", "s3cret", "openid")
	resp, err := noRedirect.Get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := formIDRE.FindSubmatch(body)[1]
	resp, err = noRedirect.PostForm(e.srv.URL+"/authorize", url.Values{"request_id": {string(id)}, "username": {"<alice>"}, "password": {"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "Invalid username or password") ||
		strings.Contains(string(body), "<alice>") || !strings.Contains(string(body), "&lt;alice&gt;") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// The same pending request still works with the right password.
	resp, err = noRedirect.PostForm(e.srv.URL+"/authorize", url.Values{"request_id": {string(id)}, "username": {"alice"}, "password": {"wonderland"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 {
		t.Fatal(resp.StatusCode)
	}
}

func TestAuthorizeValidation(t *testing.T) {
	e := newEnv(t, nil)
	v := oauth2.GenerateVerifier()
	base := e.srv.URL + "/authorize?"
	good := url.Values{"client_id": {"web"}, "redirect_uri": {webCB}, "response_type": {"code"}, "state": {"S"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}}
	with := func(k, val string) string {
		q := url.Values{}
		for kk, vv := range good {
			q[kk] = vv
		}
		if val == "" {
			q.Del(k)
		} else {
			q.Set(k, val)
		}
		return base + q.Encode()
	}
	for name, tc := range map[string]struct {
		url      string
		status   int
		redirErr string
	}{
		"ok":               {with("state", "S"), 200, ""},
		"unknown client":   {with("client_id", "nope"), 400, ""},
		"bad redirect":     {with("redirect_uri", webCB+"/x"), 400, ""},
		"implicit token":   {with("response_type", "token"), 400, ""},
		"hybrid":           {with("response_type", "code id_token"), 400, ""},
		"no challenge":     {with("code_challenge", ""), 302, "invalid_request"},
		"short challenge":  {with("code_challenge", "abc"), 302, "invalid_request"},
		"plain method":     {with("code_challenge_method", "plain"), 302, "invalid_request"},
		"no method":        {with("code_challenge_method", ""), 302, "invalid_request"},
		"prompt none":      {with("prompt", "none"), 302, "login_required"},
		"repeated param":   {with("state", "S") + "&client_id=web", 400, ""},
		"empty everything": {base, 400, ""},
	} {
		resp, err := noRedirect.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d want %d", name, resp.StatusCode, tc.status)
			continue
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if tc.status != 302 {
			if loc.String() != "" {
				t.Errorf("%s: redirected to %s", name, loc)
			}
			continue
		}
		q := loc.Query()
		if q.Get("error") != tc.redirErr || q.Get("state") != "S" || q.Get("iss") != e.srv.URL || q.Get("code") != "" {
			t.Errorf("%s: redirect %s", name, loc)
		}
	}
}

func TestPKCEAndCodeReuse(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.oauth("web", "s3cret", "openid", "offline_access")
	code := func() (string, string) {
		v := oauth2.GenerateVerifier()
		loc := e.browserLogin(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "alice", "wonderland")
		return loc.Query().Get("code"), v
	}
	c, _ := code()
	if _, err := cfg.Exchange(e.ctx, c, oauth2.VerifierOption(oauth2.GenerateVerifier())); errCode(err) != "invalid_grant" {
		t.Fatalf("wrong verifier: %v", err)
	}
	c, _ = code()
	if _, err := cfg.Exchange(e.ctx, c); errCode(err) != "invalid_grant" {
		t.Fatalf("missing verifier: %v", err)
	}
	c, v := code()
	other := e.oauth("opq", "opq-secret", "openid")
	if _, err := other.Exchange(e.ctx, c, oauth2.VerifierOption(v)); errCode(err) != "invalid_grant" {
		t.Fatalf("other client: %v", err)
	}
	c, v = code()
	tok, err := cfg.Exchange(e.ctx, c, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Exchange(e.ctx, c, oauth2.VerifierOption(v)); errCode(err) != "invalid_grant" {
		t.Fatalf("reused code: %v", err)
	}
	// Replaying the code revoked what it had produced.
	if m := e.introspect(tok.AccessToken); m["active"] != false {
		t.Fatalf("access token still active after code replay: %v", m)
	}
	if _, err := refresh(e.ctx, cfg, tok.RefreshToken); errCode(err) != "invalid_grant" {
		t.Fatalf("refresh after code replay: %v", err)
	}
}

func TestRefreshRotation(t *testing.T) {
	for _, revoke := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.RevokeOnRefreshReuse = revoke })
		cfg := e.oauth("web", "s3cret", "openid", "offline_access")
		tok := e.login(cfg, "alice", "wonderland", "n")
		rt1 := tok.RefreshToken
		if rt1 == "" {
			t.Fatal("no refresh token")
		}
		if m := e.introspect(rt1); m["active"] != true || m["token_type"] != "refresh_token" {
			t.Fatalf("refresh introspection %v", m)
		}
		e.iss.SetUserGroups("alice", []string{"new-group"})
		tok2, err := refresh(e.ctx, cfg, rt1)
		if err != nil {
			t.Fatal(err)
		}
		rt2 := tok2.RefreshToken
		if rt2 == "" || rt2 == rt1 || tok2.Extra("scope") != "openid offline_access" {
			t.Fatalf("rotation: %q %q scope %v", rt1, rt2, tok2.Extra("scope"))
		}
		idt, err := e.verifier("web").Verify(e.ctx, tok2.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var c idClaims
		_ = idt.Claims(&c)
		if !slices.Equal(c.Groups, []string{"new-group"}) || idt.Nonce != "" {
			t.Fatalf("refreshed id token groups %v nonce %q", c.Groups, idt.Nonce)
		}
		if _, err := refresh(e.ctx, cfg, rt1); errCode(err) != "invalid_grant" {
			t.Fatalf("reuse: %v", err)
		}
		_, err = refresh(e.ctx, cfg, rt2)
		if revoke && errCode(err) != "invalid_grant" {
			t.Fatalf("family not revoked: %v", err)
		}
		if !revoke && err != nil {
			t.Fatalf("revoke=false: rt2 should still work: %v", err)
		}
		if active := e.introspect(tok2.AccessToken)["active"]; active != !revoke {
			t.Fatalf("revoke=%v: access token active=%v", revoke, active)
		}
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t, nil)
	cc := &clientcredentials.Config{ClientID: "svc", ClientSecret: "svc-secret", TokenURL: e.prov.Endpoint().TokenURL,
		Scopes: []string{"read", "write"}, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" || tok.Extra("id_token") != nil {
		t.Fatal("client_credentials must not return refresh or id token")
	}
	at, err := e.prov.Verifier(&oidc.Config{ClientID: "api://backend"}).Verify(e.ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ClientID string   `json:"client_id"`
		Scope    string   `json:"scope"`
		Groups   []string `json:"groups"`
	}
	_ = at.Claims(&c)
	if at.Subject != "svc" || c.ClientID != "svc" || c.Scope != "read write" || !slices.Equal(c.Groups, []string{"robots"}) {
		t.Fatalf("claims %+v sub %s", c, at.Subject)
	}
	if _, err := e.verifier("svc").Verify(e.ctx, tok.AccessToken); err == nil {
		t.Fatal("audience must be api://backend, not the client id")
	}
	// client_secret_post works; wrong secret does not.
	cc.AuthStyle = oauth2.AuthStyleInParams
	if _, err := cc.Token(e.ctx); err != nil {
		t.Fatal(err)
	}
	cc.ClientSecret = "wrong"
	if _, err := cc.Token(e.ctx); errCode(err) != "invalid_client" {
		t.Fatalf("wrong secret: %v", err)
	}
	// Public clients may not use client_credentials.
	st, m, _ := e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"spa"}}, "", "")
	if st != 400 || m["error"] != "unauthorized_client" {
		t.Fatalf("%d %v", st, m)
	}
}

func TestPasswordGrantAndOpaque(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.oauth("opq", "opq-secret", "openid", "offline_access", "email")
	if _, err := cfg.PasswordCredentialsToken(e.ctx, "alice", "bad"); errCode(err) != "invalid_grant" {
		t.Fatalf("bad password: %v", err)
	}
	tok, err := cfg.PasswordCredentialsToken(e.ctx, "alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok.AccessToken, ".") != 0 || tok.RefreshToken == "" {
		t.Fatalf("opaque token %q refresh %q", tok.AccessToken, tok.RefreshToken)
	}
	if _, err := e.verifier("opq").Verify(e.ctx, tok.Extra("id_token").(string)); err != nil {
		t.Fatal(err)
	}
	m := e.introspect(tok.AccessToken)
	if m["active"] != true || m["sub"] != "u-alice" || m["aud"] != "opq" || m["iss"] != e.srv.URL || m["jti"] == nil {
		t.Fatalf("introspect %v", m)
	}
	ui, err := e.prov.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Email != "alice@example.com" {
		t.Fatalf("userinfo %v %v", ui, err)
	}
	// Revoking the access token deactivates it; revoking the refresh token kills the family.
	if st, _, _ := e.post("/revoke", url.Values{"token": {tok.AccessToken}}, "opq", "opq-secret"); st != 200 {
		t.Fatal(st)
	}
	if m := e.introspect(tok.AccessToken); m["active"] != false {
		t.Fatal(m)
	}
	if _, err := e.prov.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("userinfo accepted a revoked token")
	}
	if st, _, _ := e.post("/revoke", url.Values{"token": {tok.RefreshToken}}, "opq", "opq-secret"); st != 200 {
		t.Fatal(st)
	}
	if _, err := refresh(e.ctx, cfg, tok.RefreshToken); errCode(err) != "invalid_grant" {
		t.Fatalf("refresh after revoke: %v", err)
	}
}

func TestIntrospectionAuth(t *testing.T) {
	e := newEnv(t, nil)
	for name, tc := range map[string]struct {
		user, pass string
		form       url.Values
		status     int
	}{
		"no auth":       {"", "", url.Values{"token": {"x"}}, 401},
		"public client": {"", "", url.Values{"token": {"x"}, "client_id": {"spa"}}, 401},
		"wrong secret":  {"web", "nope", url.Values{"token": {"x"}}, 401},
		"no token":      {"web", "s3cret", url.Values{}, 400},
		"garbage":       {"web", "s3cret", url.Values{"token": {"x.y.z"}}, 200},
		"post auth":     {"", "", url.Values{"token": {"x"}, "client_id": {"web"}, "client_secret": {"s3cret"}}, 200},
		"both methods":  {"web", "s3cret", url.Values{"token": {"x"}, "client_secret": {"s3cret"}}, 400},
	} {
		st, m, _ := e.post("/introspect", tc.form, tc.user, tc.pass)
		if st != tc.status || (st == 200 && m["active"] != false) {
			t.Errorf("%s: %d %v", name, st, m)
		}
	}
	// A token minted with our own key but never issued is not active.
	forged, _ := e.iss.Mint(nil, map[string]any{"iss": e.srv.URL, "sub": "x", "exp": 9999999999}, "k1")
	if m := e.introspect(forged); m["active"] != false {
		t.Fatal(m)
	}
}

func TestWeirdClientCredentialsURLEncoded(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.oauth("we ird:id", "p@ss:w rd%", "openid")
	e.login(cfg, "bob", "builder", "") // x/oauth2 url-encodes Basic credentials
	req, _ := http.NewRequest("POST", e.srv.URL+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("we ird:id", "p@ss:w rd%") // not url-encoded: must fail to decode, not panic
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatal(resp.StatusCode)
	}
}

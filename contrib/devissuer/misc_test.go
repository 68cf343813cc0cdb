package devissuer

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func TestMintAndVerifierRejections(t *testing.T) {
	e := newEnv(t, nil)
	now := time.Now()
	claims := map[string]any{"iss": e.srv.URL, "sub": "x", "aud": "web", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	v := e.verifier("web")
	mint := func(h map[string]any, key string) string {
		s, err := e.iss.Mint(h, claims, key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, key := range []string{"k1", "k2"} {
		if _, err := v.Verify(e.ctx, mint(nil, key)); err != nil {
			t.Fatalf("%s control: %v", key, err)
		}
	}
	pub, _ := e.iss.PublicKey("k1")
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs, _ := e.iss.MintHMAC(map[string]any{"kid": "k1"}, claims, pemKey)
	bad := map[string]string{
		"alg none":             mint(nil, "none"),
		"alg none lying RS256": mint(map[string]any{"alg": "RS256", "kid": "k1"}, ""),
		"evil key":             mint(nil, "evil"),
		"evil key as k1":       mint(map[string]any{"kid": "k1"}, "evil"),
		"k1 labelled ES256":    mint(map[string]any{"alg": "ES256"}, "k1"),
		"hs256 confusion":      hs,
	}
	for name, tok := range bad {
		if _, err := v.Verify(e.ctx, tok); err == nil {
			t.Errorf("%s: accepted by go-oidc", name)
		}
	}
	if !strings.HasSuffix(bad["alg none"], ".") {
		t.Error("alg none must have an empty signature")
	}
	// A removed key is not published any more (fresh provider = fresh key cache).
	e.iss.RemoveKey("k2")
	prov, err := oidc.NewProvider(e.ctx, e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Verifier(&oidc.Config{ClientID: "web"}).Verify(e.ctx, mint(nil, "k2")); err == nil {
		t.Error("token signed with removed key accepted")
	}
	if _, err := e.iss.Mint(nil, claims, "nope"); err == nil {
		t.Error("unknown key accepted")
	}
}

func TestRotateKeysAndES256(t *testing.T) {
	e := newEnv(t, nil)
	if kid := e.iss.RotateKeys(); kid != "k3" || e.iss.SigningKey() != "k3" {
		t.Fatalf("rotate: %q", kid)
	}
	resp, err := http.Get(e.srv.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	var kids []string
	for _, k := range jwks.Keys {
		kids = append(kids, k["kid"]+"/"+k["kty"]+"/"+k["alg"]+"/"+k["use"])
		if k["kty"] == "EC" && (len(k["x"]) != 43 || len(k["y"]) != 43 || k["crv"] != "P-256") {
			t.Errorf("EC jwk %v", k)
		}
	}
	if strings.Join(kids, ",") != "k1/RSA/RS256/sig,k2/EC/ES256/sig,k3/RSA/RS256/sig" {
		t.Fatal(kids)
	}
	cfg := e.oauth("web", "s3cret", "openid")
	for _, kid := range []string{"k3", "k2"} {
		if err := e.iss.SetSigningKey(kid); err != nil {
			t.Fatal(err)
		}
		tok := e.login(cfg, "alice", "wonderland", "")
		idt, err := e.verifier("web").Verify(e.ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatalf("%s: %v", kid, err)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEndSession(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.oauth("web", "s3cret", "openid", "offline_access")
	tok := e.login(cfg, "alice", "wonderland", "")
	hint := tok.Extra("id_token").(string)
	get := func(q url.Values) (*http.Response, string) {
		resp, err := noRedirect.Get(e.srv.URL + "/end_session?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	// Unregistered post_logout_redirect_uri: signed-out page, no redirect.
	resp, body := get(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://evil.example/"}})
	if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || !strings.Contains(body, "signed out") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// The login session ended: the refresh family is revoked.
	if _, err := refresh(e.ctx, cfg, tok.RefreshToken); errCode(err) != "invalid_grant" {
		t.Fatalf("refresh after logout: %v", err)
	}
	// Registered URI: redirect with state.
	resp, _ = get(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {webBye}, "state": {"s1"}})
	if resp.StatusCode != 302 || resp.Header.Get("Location") != webBye+"?state=s1" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// client_id without hint also selects the registration.
	resp, _ = get(url.Values{"client_id": {"web"}, "post_logout_redirect_uri": {webBye}})
	if resp.StatusCode != 302 {
		t.Fatal(resp.StatusCode)
	}
	// client_id of another client than the hint's aud: refused.
	resp, _ = get(url.Values{"client_id": {"spa"}, "id_token_hint": {hint}, "post_logout_redirect_uri": {webBye}})
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatal(resp.StatusCode)
	}
	// A hint not signed by us is refused; an expired one of ours is fine.
	forged, _ := e.iss.Mint(map[string]any{"kid": "k1"}, map[string]any{"iss": e.srv.URL, "aud": "web"}, "evil")
	resp, _ = get(url.Values{"id_token_hint": {forged}, "post_logout_redirect_uri": {webBye}})
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatal(resp.StatusCode)
	}
	expired, _ := e.iss.Mint(nil, map[string]any{"iss": e.srv.URL, "aud": "web", "exp": 1}, "k2")
	resp, _ = get(url.Values{"id_token_hint": {expired}, "post_logout_redirect_uri": {webBye}})
	if resp.StatusCode != 302 {
		t.Fatal(resp.StatusCode)
	}
}

func TestHooks(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.oauth("web", "s3cret", "openid")
	e.iss.SetHooks(Hooks{IDTokenClaims: func(c map[string]any) { c["nonce"] = "wrong"; c["aud"] = "someone-else" }})
	tok := e.login(cfg, "alice", "wonderland", "right")
	if _, err := e.verifier("web").Verify(e.ctx, tok.Extra("id_token").(string)); err == nil {
		t.Fatal("wrong aud accepted")
	}
	e.iss.SetHooks(Hooks{TokenResponse: func(grant string, resp map[string]any) (int, []byte, bool) {
		if grant != "authorization_code" {
			t.Errorf("grant %q", grant)
		}
		return 503, []byte(`{"error":"temporarily_unavailable"}`), true
	}})
	v := oauth2.GenerateVerifier()
	loc := e.browserLogin(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "alice", "wonderland")
	if _, err := cfg.Exchange(e.ctx, loc.Query().Get("code"), oauth2.VerifierOption(v)); errCode(err) != "temporarily_unavailable" {
		t.Fatalf("override: %v", err)
	}
	e.iss.SetHooks(Hooks{Introspection: func(token string, resp map[string]any) map[string]any {
		return map[string]any{"active": true, "sub": "hooked"}
	}})
	if m := e.introspect("whatever"); m["sub"] != "hooked" {
		t.Fatal(m)
	}
	e.iss.SetHooks(Hooks{})
}

func TestRequestLog(t *testing.T) {
	e := newEnv(t, nil)
	e.iss.ResetRequests()
	cfg := e.oauth("web", "s3cret", "openid")
	e.login(cfg, "alice", "wonderland", "")
	var paths []string
	var tokenReq LoggedRequest
	for _, r := range e.iss.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
		if r.Path == "/token" {
			tokenReq = r
		}
	}
	if strings.Join(paths, ",") != "GET /authorize,POST /authorize,POST /token" {
		t.Fatal(paths)
	}
	if tokenReq.BasicUser != "web" || tokenReq.Form.Get("grant_type") != "authorization_code" || tokenReq.Form.Get("code_verifier") == "" || tokenReq.Time.IsZero() {
		t.Fatalf("%+v", tokenReq)
	}
	e.iss.ResetRequests()
	if len(e.iss.Requests()) != 0 {
		t.Fatal("not reset")
	}
}

func TestExpiryWithFakeClock(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	e := newEnv(t, func(c *Config) { c.Now = clk.Now; c.RefreshTokenTTL = time.Hour })
	cfg := e.oauth("web", "s3cret", "openid", "offline_access")
	v := oauth2.GenerateVerifier()
	loc := e.browserLogin(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "alice", "wonderland")
	clk.Advance(61 * time.Second)
	if _, err := cfg.Exchange(e.ctx, loc.Query().Get("code"), oauth2.VerifierOption(v)); errCode(err) != "invalid_grant" {
		t.Fatalf("expired code: %v", err)
	}
	clk.Advance(-61 * time.Second)
	tok := e.login(cfg, "alice", "wonderland", "")
	clk.Advance(6 * time.Minute)
	if m := e.introspect(tok.AccessToken); m["active"] != false {
		t.Fatalf("expired access token active: %v", m)
	}
	if _, err := refresh(e.ctx, cfg, tok.RefreshToken); err != nil {
		t.Fatalf("refresh within TTL: %v", err)
	}
	clk.Advance(2 * time.Hour)
	if m := e.introspect(tok.RefreshToken); m["active"] != false {
		t.Fatal(m)
	}
}

func TestAuthorizeHelperAndBadInput(t *testing.T) {
	e := newEnv(t, nil)
	cfg := e.oauth("web", "s3cret", "openid")
	v := oauth2.GenerateVerifier()
	loc, err := e.iss.Authorize(cfg.AuthCodeURL("hs", oauth2.S256ChallengeOption(v)), "alice", "wonderland")
	if err != nil || loc.Query().Get("state") != "hs" {
		t.Fatalf("%v %v", loc, err)
	}
	if _, err := cfg.Exchange(e.ctx, loc.Query().Get("code"), oauth2.VerifierOption(v)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.Authorize(cfg.AuthCodeURL("hs", oauth2.S256ChallengeOption(v)), "alice", "nope"); err == nil {
		t.Fatal("bad password accepted")
	}
	// Oversized body.
	big := strings.NewReader("token=" + strings.Repeat("a", 2<<20))
	resp, err := http.Post(e.srv.URL+"/introspect", "application/x-www-form-urlencoded", big)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatal(resp.StatusCode)
	}
	// Assorted garbage must not panic.
	for _, q := range []url.Values{
		{"grant_type": {"authorization_code"}, "code": {"%%%"}},
		{"grant_type": {"refresh_token"}},
		{"grant_type": {"password"}},
		{"grant_type": {"nope"}},
		{},
	} {
		if st, m, _ := e.post("/token", q, "web", "s3cret"); st != 400 || m["error"] == nil {
			t.Errorf("%v: %d %v", q, st, m)
		}
	}
	for _, p := range []string{"/end_session?id_token_hint=a.b.c", "/end_session?id_token_hint=....", "/userinfo", "/nope", "/token"} {
		resp, err := http.Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	req, _ := http.NewRequestWithContext(context.Background(), "GET", e.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatal(resp.StatusCode)
	}
}

func TestNewValidation(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no issuer":    {},
		"relative":     {Issuer: "/x"},
		"query":        {Issuer: "http://127.0.0.1/?a=b"},
		"dup client":   {Issuer: "http://127.0.0.1", Clients: []Client{{ID: "a"}, {ID: "a"}}},
		"empty client": {Issuer: "http://127.0.0.1", Clients: []Client{{}}},
		"bad format":   {Issuer: "http://127.0.0.1", Clients: []Client{{ID: "a", AccessTokenFormat: "paseto"}}},
		"bad redirect": {Issuer: "http://127.0.0.1", Clients: []Client{{ID: "a", RedirectURIs: []string{"/cb"}}}},
		"dup user":     {Issuer: "http://127.0.0.1", Users: []User{{Username: "u"}, {Username: "u"}}},
		"dup subject":  {Issuer: "http://127.0.0.1", Users: []User{{Username: "u", Subject: "s"}, {Username: "v", Subject: "s"}}},
		"empty user":   {Issuer: "http://127.0.0.1", Users: []User{{}}},
	} {
		if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), "devissuer: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestIssuerWithPath(t *testing.T) {
	var iss *Issuer
	mux := http.NewServeMux()
	mux.Handle("/dex/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { iss.ServeHTTP(w, r) }))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	srv := ts.URL
	var err error
	iss, err = New(Config{Issuer: srv + "/dex", Clients: []Client{{ID: "web", Secret: "s", RedirectURIs: []string{webCB}}},
		Users: []User{{Username: "u", Password: "p"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prov, err := oidc.NewProvider(ctx, srv+"/dex")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &oauth2.Config{ClientID: "web", ClientSecret: "s", Endpoint: prov.Endpoint(), RedirectURL: webCB, Scopes: []string{"openid"}}
	v := oauth2.GenerateVerifier()
	loc, err := iss.Authorize(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), "u", "p")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Verifier(&oidc.Config{ClientID: "web"}).Verify(ctx, tok.Extra("id_token").(string)); err != nil {
		t.Fatal(err)
	}
}

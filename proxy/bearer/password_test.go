package bearer

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func pwEnv(t *testing.T, mutate func(*PasswordConfig)) *testEnv {
	return newEnv(t, func(c *Config) {
		c.PasswordGrant.Enabled = true
		if mutate != nil {
			mutate(&c.PasswordGrant)
		}
	})
}

// grants counts password-grant requests at the issuer.
func (e *testEnv) grants() int {
	n := 0
	for _, lr := range e.iss.Requests() {
		if lr.Path == "/token" && lr.Form.Get("grant_type") == "password" {
			n++
		}
	}
	return n
}

func TestPasswordGrant(t *testing.T) {
	e := pwEnv(t, func(p *PasswordConfig) { p.Scopes = []string{"openid", "email"} })
	res := wantOK(t, e.check(basic("alice", "wonderland")))
	id := res.Identity
	if res.Method != MethodPassword || id.Subject != "u-alice" || id.Email != "alice@corp.test" || id.Machine || id.Issuer != e.srv.URL {
		t.Errorf("identity %+v method %q", id, res.Method)
	}
	wantOK(t, e.check(basic("alice", "wonderland"))) // cached
	if n := e.grants(); n != 1 {
		t.Errorf("%d grant requests, want 1 (cache, and no auth-style retry)", n)
	}
	for _, lr := range e.iss.Requests() {
		if lr.Path == "/token" && (lr.BasicUser != "gw" || lr.Form.Has("client_secret")) {
			t.Errorf("client authentication %q form %v", lr.BasicUser, lr.Form)
		}
	}
	// Cases 130 and 131: nothing of the credential comes back, nothing
	// cookie-like is made, and the next bare request is unauthenticated.
	b, _ := json.Marshal(res)
	if s := string(b); strings.Contains(s, "wonderland") || strings.Contains(strings.ToLower(s), "cookie") {
		t.Errorf("result leaks: %s", s)
	}
	wantDeny(t, e.check(), http.StatusUnauthorized, ReasonMissing)
}

// Case 126: off unless enabled; the issuer sees no password grant.
func TestCase126PasswordGrantOff(t *testing.T) {
	e := newEnv(t, nil)
	wantDeny(t, e.check("Basic YWxpY2U6cHc="), http.StatusUnauthorized, ReasonScheme)
	wantDeny(t, e.check(basic("alice", "wonderland")), http.StatusUnauthorized, ReasonScheme)
	if n := e.grants(); n != 0 {
		t.Errorf("%d grant requests", n)
	}
}

// Case 127: a wrong password is never served from the cache.
func TestCase127CacheKeyedOnWholeCredential(t *testing.T) {
	e := pwEnv(t, nil)
	wantOK(t, e.check(basic("alice", "wonderland")))
	for _, c := range [][2]string{{"alice", "wrong"}, {"ALICE", "wonderland"}, {"alice", "wonderland "}, {"alice", "Wonderland"}} {
		wantDeny(t, e.check(basic(c[0], c[1])), http.StatusUnauthorized, ReasonBadCredentials)
	}
	if n := e.grants(); n != 5 {
		t.Errorf("%d grant requests, want 5 (every variant asks the issuer)", n)
	}
	wantOK(t, e.check(basic("alice", "wonderland")))
}

// Case 129: malformed Basic credentials never reach the issuer.
func TestCase129MalformedBasic(t *testing.T) {
	e := pwEnv(t, nil)
	for _, v := range []string{
		"Basic", "Basic ", "Basic Og==", "Basic YWxpY2U=", "Basic !!!", "Basic Ojpw",
		"Basic " + strings.Repeat("QUFB", 4096),
		basic("al\x00ice", "pw"), basic("alice", "p\x00w"),
		"Basic YWxpY2U6d29uZGVybGFuZA", // unpadded
	} {
		wantDeny(t, e.check(v), http.StatusUnauthorized, ReasonMalformed)
	}
	if n := e.grants(); n != 0 {
		t.Errorf("%d grant requests", n)
	}
}

// Case 132: the token the grant returns passes bearer validation or
// nothing.
func TestCase132GrantedTokenValidated(t *testing.T) {
	e := pwEnv(t, nil)
	other := e.t0(func(_, c map[string]any) { c["aud"] = "https://other.test" })
	e2 := newEnv(t, nil)
	idt2, _ := e2.passwordTokens("alice", "wonderland", "openid").Extra("id_token").(string)
	tests := []struct {
		name   string
		mod    func(resp map[string]any)
		reason string
	}{
		{"foreign audience", func(r map[string]any) { r["access_token"] = other }, ReasonAudience},
		{"id token of another issuer", func(r map[string]any) { r["access_token"] = idt2 }, ReasonIssuer},
		{"MAC token type", func(r map[string]any) { r["token_type"] = "MAC" }, ReasonType},
		{"no token type", func(r map[string]any) { delete(r, "token_type") }, ReasonType},
		{"opaque inactive", func(r map[string]any) { r["access_token"] = "not-a-real-token" }, ReasonInactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.iss.SetHooks(devissuer.Hooks{TokenResponse: func(_ string, resp map[string]any) (int, []byte, bool) {
				tt.mod(resp)
				return 0, nil, false
			}})
			res := e.check(basic("bob", "builder"))
			wantDeny(t, res, http.StatusUnauthorized, tt.reason)
			if res.Method != MethodPassword {
				t.Errorf("method %q", res.Method)
			}
		})
	}
	// With the other issuer trusted too, its ID token is still refused:
	// it is an ID token, and not from the password issuer.
	both := e.newAuth(func(c *Config) {
		c.Issuers = append(c.Issuers, IssuerConfig{URL: e2.srv.URL, Audiences: []string{testAud, "gw"}, ClientID: "gw", ClientSecret: "s3cr3t"})
		c.PasswordGrant.Enabled = true
	})
	e.iss.SetHooks(devissuer.Hooks{TokenResponse: func(_ string, resp map[string]any) (int, []byte, bool) {
		resp["access_token"] = idt2
		return 0, nil, false
	}})
	wantDeny(t, checkWith(both, basic("bob", "builder")), http.StatusUnauthorized, ReasonType)
	e.iss.SetHooks(devissuer.Hooks{TokenResponse: func(_ string, resp map[string]any) (int, []byte, bool) {
		resp["access_token"] = e2.ccToken("svc", "svc-secret")
		return 0, nil, false
	}})
	wantDeny(t, checkWith(both, basic("bob", "builder")), http.StatusUnauthorized, ReasonIssuer)
}

// Failures are limited per username and per client address.
func TestPasswordRateLimits(t *testing.T) {
	e := pwEnv(t, nil)
	for range 5 {
		wantDeny(t, e.check(basic("alice", "wrong")), http.StatusUnauthorized, ReasonBadCredentials)
	}
	calls := e.grants()
	res := e.check(basic("Alice", "wonderland")) // case-folded: the same user
	wantDeny(t, res, http.StatusTooManyRequests, ReasonRateLimited)
	if res.RetryAfter <= 0 || res.RetryAfter > 5*time.Minute {
		t.Errorf("Retry-After %v", res.RetryAfter)
	}
	if e.grants() != calls {
		t.Error("the issuer was asked while limited")
	}
	wantOK(t, e.check(basic("bob", "builder")))
	// Per client: 20 failures from one address, whatever the usernames.
	for n := range 14 {
		wantDeny(t, e.check(basic("user"+string(rune('a'+n)), "x")), http.StatusUnauthorized, ReasonBadCredentials)
	}
	wantDeny(t, e.check(basic("bob", "builder-wrong")), http.StatusUnauthorized, ReasonBadCredentials)
	wantDeny(t, e.check(basic("bob", "other")), http.StatusTooManyRequests, ReasonRateLimited)
	r := httptest.NewRequest(http.MethodGet, "/legacy/x", nil)
	r.RemoteAddr = "198.51.100.9:5555"
	r.Header.Set("Authorization", basic("bob", "other"))
	wantDeny(t, e.a.Check(r), http.StatusUnauthorized, ReasonBadCredentials)
	e.clock.Advance(5 * time.Minute)
	wantOK(t, e.check(basic("alice", "wonderland")))
}

// Technical failures of the token endpoint are 503 and count nothing.
func TestPasswordGrantIssuerFailure(t *testing.T) {
	e := pwEnv(t, func(p *PasswordConfig) { p.FailuresPerUser = 1 })
	e.iss.SetHooks(devissuer.Hooks{TokenResponse: func(string, map[string]any) (int, []byte, bool) {
		return http.StatusInternalServerError, []byte(`{"error":"server_error"}`), true
	}})
	for range 3 {
		wantDeny(t, e.check(basic("alice", "wonderland")), http.StatusServiceUnavailable, ReasonIssuerUnavailable)
	}
	e.iss.SetHooks(devissuer.Hooks{})
	wantOK(t, e.check(basic("alice", "wonderland")))
	// gatehouse's own client credentials refused: not the user's fault.
	bad := e.newAuth(func(c *Config) { c.Issuers[0].ClientSecret = "wrong"; c.PasswordGrant.Enabled = true })
	wantDeny(t, checkWith(bad, basic("bob", "builder")), http.StatusServiceUnavailable, ReasonIssuerUnavailable)
}

// Successes are cached at most CacheTTL; concurrent identical credentials
// make one grant.
func TestPasswordCacheAndDedup(t *testing.T) {
	e := pwEnv(t, func(p *PasswordConfig) { p.CacheTTL = time.Minute })
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { wantOK(t, e.check(basic("bob", "builder"))) })
	}
	wg.Wait()
	if n := e.grants(); n < 1 || n > 2 {
		t.Errorf("%d grants for one credential", n) // one, or two if the first finished before others began
	}
	before := e.grants()
	e.clock.Advance(61 * time.Second)
	wantOK(t, e.check(basic("bob", "builder")))
	if e.grants() != before+1 {
		t.Error("cache outlived CacheTTL")
	}
}

func TestPasswordConfigValidation(t *testing.T) {
	e := newEnv(t, nil)
	for name, mutate := range map[string]func(*Config){
		"unknown issuer":   func(c *Config) { c.PasswordGrant.Issuer = "https://nope.test" },
		"no secret":        func(c *Config) { c.Issuers[0].ClientSecret = "" },
		"negative limit":   func(c *Config) { c.PasswordGrant.FailuresPerUser = -1 },
		"scope with space": func(c *Config) { c.PasswordGrant.Scopes = []string{"a b"} },
	} {
		cfg := Config{
			Issuers: []IssuerConfig{{URL: e.srv.URL, Audiences: []string{testAud}, ClientID: "gw", ClientSecret: "s3cr3t"}},
			Client:  e.srv.Client(), PasswordGrant: PasswordConfig{Enabled: true},
		}
		mutate(&cfg)
		if _, err := New(t.Context(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

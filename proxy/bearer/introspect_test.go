package bearer

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

// scripted makes the issuer answer every introspection with body.
func (e *testEnv) scripted(body string) {
	e.setIntrospection(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	})
}

func TestIntrospectionPositive(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.ccToken("opq", "opq-secret")
	res := wantOK(t, e.check("Bearer "+tok))
	if id := res.Identity; id.Subject != "opq" || id.ClientID != "opq" || !id.Machine || id.Issuer != e.srv.URL || res.Method != MethodIntrospection {
		t.Errorf("identity %+v method %q", id, res.Method)
	}
	wantOK(t, e.check("Bearer "+tok)) // cached
	var calls []devissuer.LoggedRequest
	for _, lr := range e.iss.Requests() {
		if lr.Path == "/introspect" {
			calls = append(calls, lr)
		}
	}
	// Case 122: call hygiene.
	if len(calls) != 1 {
		t.Fatalf("%d introspection calls, want 1", len(calls))
	}
	c := calls[0]
	if c.Method != http.MethodPost || c.Form.Get("token") != tok || c.Form.Get("token_type_hint") != "access_token" ||
		c.BasicUser != "gw" || c.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("introspection request %+v", c)
	}
}

// Case 122: the token travels in the body, never the URL.
func TestCase122TokenInBody(t *testing.T) {
	e := newEnv(t, nil)
	var query, user, pass string
	e.setIntrospection(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		user, pass, _ = r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"active":true,"sub":"svc"}`)
	})
	wantOK(t, e.check("Bearer opaque-1"))
	if query != "" || user != "gw" || pass != "s3cr3t" {
		t.Errorf("query %q, client %q:%q", query, user, pass)
	}
}

// Cases 116, 117, 119, 120: answers that must not authenticate.
func TestIntrospectionDenials(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct{ body, reason string }{
		{`{"active":false}`, ReasonInactive},                                             // 116
		{`{"active":false,"sub":"alice","scope":"admin"}`, ReasonInactive},               // 116
		{`{}`, ReasonMalformed},                                                          // 117
		{`{"active":"true","sub":"alice"}`, ReasonMalformed},                             // 117
		{`{"active":1,"sub":"alice"}`, ReasonMalformed},                                  // 117
		{`{"active":null,"sub":"alice"}`, ReasonMalformed},                               // 117
		{`{"active":true,"active":false,"sub":"alice"}`, ReasonMalformed},                // 117
		{`{"active":false,"active":true,"sub":"alice"}`, ReasonMalformed},                // 117
		{`{"active":true,"sub":"alice","aud":"https://other-api.test"}`, ReasonAudience}, // 119
		{`{"active":true,"sub":"alice","aud":[]}`, ReasonAudience},
		{`{"active":true,"sub":"alice","iss":"https://idp2.test"}`, ReasonIssuer},  // 119
		{`{"active":true,"sub":"alice","token_type":"refresh_token"}`, ReasonType}, // 120
		{`{"active":true,"sub":"alice","exp":1}`, ReasonExpired},
		{`{"active":true,"sub":"alice","scope":["admin"]}`, ReasonMalformed},
		{`{"active":true,"sub":"alice","exp":"9999999999"}`, ReasonMalformed},
		{`{"active":true}`, ReasonMalformed}, // no subject at all
		{`{"active":true,"sub":"a\u0000b"}`, ReasonMalformed},
	}
	for n, tt := range tests {
		e.scripted(tt.body)
		wantDeny(t, e.check(fmt.Sprintf("Bearer opaque-%d", n)), http.StatusUnauthorized, tt.reason)
	}
	// 119, third row: with a client allow-list.
	allow := e.newAuth(func(c *Config) { c.Issuers[0].AllowedClients = []string{"svc"} })
	e.scripted(`{"active":true,"sub":"alice","client_id":"unknown-client"}`)
	wantDeny(t, checkWith(allow, "Bearer opaque-client"), http.StatusUnauthorized, ReasonClient)
	e.scripted(`{"active":true,"sub":"alice"}`)
	wantDeny(t, checkWith(allow, "Bearer opaque-no-client"), http.StatusUnauthorized, ReasonClient)
	e.scripted(`{"active":true,"sub":"alice","client_id":"svc"}`)
	wantOK(t, checkWith(allow, "Bearer opaque-svc"))
	e.scripted(`{"active":true,"sub":"alice","aud":["x","` + testAud + `"],"iss":"` + e.srv.URL + `","token_type":"Bearer","scope":"read write","username":"alice"}`)
	id := wantOK(t, e.check("Bearer opaque-ok")).Identity
	if id.Subject != "alice" || id.PreferredUsername != "alice" || id.Machine || len(id.Scopes) != 2 {
		t.Errorf("identity %+v", id)
	}
}

// Case 120 with a real refresh token, which the issuer reports as such.
func TestCase120RealRefreshToken(t *testing.T) {
	e := newEnv(t, nil)
	rt := e.passwordTokens("alice", "wonderland", "offline_access").RefreshToken
	if rt == "" {
		t.Fatal("no refresh token")
	}
	wantDeny(t, e.check("Bearer "+rt), http.StatusUnauthorized, ReasonType)
}

// Case 121: every failure of the endpoint fails closed, quickly, without
// following redirects.
func TestCase121IntrospectionFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"active":true,"sub":"admin"}`)
	}))
	defer evil.Close()
	big := `{"active":true,"sub":"x","pad":"` + strings.Repeat("a", 20<<20) + `"}`
	handlers := map[string]http.HandlerFunc{
		"500": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) },
		"401": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		},
		"hang": func(w http.ResponseWriter, r *http.Request) {
			select { // the body is unread, so the server may not notice the client leave
			case <-r.Context().Done():
			case <-e.release:
			}
		},
		"html": func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `<html>{"active":true,"sub":"x"}</html>`) },
		"truncated": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"active":tr`)
		},
		"array": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `[{"active":true}]`)
		},
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, evil.URL+"/introspect", http.StatusFound)
		},
		"20MB": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, big)
		},
	}
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			e.setIntrospection(h)
			start := time.Now()
			res := e.check("Bearer opaque-" + name)
			wantDeny(t, res, http.StatusServiceUnavailable, ReasonIntrospectionError)
			if res.Err == nil || time.Since(start) > 2*time.Second {
				t.Errorf("err %v after %v", res.Err, time.Since(start))
			}
		})
	}
	if evilHits.Load() != 0 {
		t.Errorf("redirect followed: %d hits", evilHits.Load())
	}
	// Technical failures are not remembered as rejections.
	e.setIntrospection(nil)
	tok := e.ccToken("opq", "opq-secret")
	wantOK(t, e.check("Bearer "+tok))
}

// Case 124: a JWT-shaped token is never introspected, signed or not.
func TestCase124JWTNeverIntrospected(t *testing.T) {
	e := newEnv(t, nil)
	e.scripted(`{"active":true,"sub":"admin"}`)
	none := e.mint("none", func(h, _ map[string]any) { h["alg"] = "none" })
	wantDeny(t, e.check("Bearer "+none), http.StatusUnauthorized, ReasonMalformed)
	wantDeny(t, e.check("Bearer "+strings.TrimSuffix(none, ".")), http.StatusUnauthorized, ReasonMalformed)
	unknown := e.t0(func(_, c map[string]any) { c["iss"] = "https://idp2.test" })
	wantDeny(t, e.check("Bearer "+unknown), http.StatusUnauthorized, ReasonIssuer)
	if n := e.introHits.Load(); n != 0 {
		t.Errorf("%d introspection calls", n)
	}
}

// Case 125: token scanning is rate limited per client address.
func TestCase125TokenScanning(t *testing.T) {
	e := newEnv(t, nil)
	limited := 0
	for n := range 1000 {
		res := e.check(fmt.Sprintf("Bearer opaque-%d-%s", n, randomID()))
		switch {
		case res.Status == http.StatusTooManyRequests && res.Reason == ReasonRateLimited && res.RetryAfter > 0:
			limited++
		case res.Status != http.StatusUnauthorized || res.Reason != ReasonInactive:
			t.Fatalf("token %d: %d %q", n, res.Status, res.Reason)
		}
	}
	if calls := e.introHits.Load(); calls > 30 || limited != 1000-int(calls) {
		t.Errorf("%d introspection calls, %d limited", calls, limited)
	}
	// Another client is not affected.
	r := httptest.NewRequest(http.MethodGet, "/api/data", nil)
	r.RemoteAddr = "198.51.100.7:4000"
	r.Header.Set("Authorization", "Bearer "+e.ccToken("opq", "opq-secret"))
	wantOK(t, e.a.Check(r))
	e.clock.Advance(time.Minute)
	wantDeny(t, e.check("Bearer opaque-after-window"), http.StatusUnauthorized, ReasonInactive)
}

// Concurrent requests with one token share one introspection.
func TestIntrospectionDeduplicated(t *testing.T) {
	e := newEnv(t, nil)
	gate := make(chan struct{})
	var calls atomic.Int64
	e.setIntrospection(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-gate
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"active":true,"sub":"svc","client_id":"svc"}`)
	})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { wantOK(t, e.check("Bearer shared-opaque")) })
	}
	eventually(t, "the first call", func() bool { return calls.Load() == 1 })
	time.Sleep(20 * time.Millisecond)
	close(gate)
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("%d introspection calls for one token", calls.Load())
	}
}

// Active results live until exp, at most CacheTTL; inactive ones for the
// negative TTL.
func TestIntrospectionCaching(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Introspection.CacheTTL = time.Minute })
	exp := e.clock.Now().Add(time.Hour).Unix()
	e.scripted(fmt.Sprintf(`{"active":true,"sub":"svc","exp":%d}`, exp))
	wantOK(t, e.check("Bearer long-lived"))
	e.clock.Advance(59 * time.Second)
	wantOK(t, e.check("Bearer long-lived"))
	if n := e.introHits.Load(); n != 1 {
		t.Fatalf("%d calls within CacheTTL", n)
	}
	e.clock.Advance(2 * time.Second)
	wantOK(t, e.check("Bearer long-lived"))
	if n := e.introHits.Load(); n != 2 {
		t.Fatalf("%d calls after CacheTTL", n)
	}
	soon := e.clock.Now().Add(20 * time.Second).Unix()
	e.scripted(fmt.Sprintf(`{"active":true,"sub":"svc","exp":%d}`, soon))
	wantOK(t, e.check("Bearer short-lived"))
	e.clock.Advance(21 * time.Second)
	wantOK(t, e.check("Bearer short-lived")) // cache ended at exp: asked again
	if n := e.introHits.Load(); n != 4 {
		t.Fatalf("%d calls, want 4", n)
	}
	e.scripted(`{"active":false}`)
	wantDeny(t, e.check("Bearer revoked"), http.StatusUnauthorized, ReasonInactive)
	wantDeny(t, e.check("Bearer revoked"), http.StatusUnauthorized, ReasonInactive)
	if n := e.introHits.Load(); n != 5 {
		t.Fatalf("%d calls, want 5 (negative cache)", n)
	}
	e.clock.Advance(DefaultNegativeCacheTTL)
	wantDeny(t, e.check("Bearer revoked"), http.StatusUnauthorized, ReasonInactive)
	if n := e.introHits.Load(); n != 6 {
		t.Fatalf("%d calls, want 6", n)
	}
}

// Which issuer introspects: the first with credentials and an endpoint.
func TestIntrospectionIssuerChoice(t *testing.T) {
	e1, e2 := newEnv(t, nil), newEnv(t, nil)
	issuers := func(secret1 string) func(*Config) {
		return func(c *Config) {
			c.Issuers = []IssuerConfig{
				{URL: e1.srv.URL, Audiences: []string{testAud}, ClientID: "gw", ClientSecret: secret1},
				{URL: e2.srv.URL, Audiences: []string{testAud}, ClientID: "gw", ClientSecret: "s3cr3t"},
			}
		}
	}
	tok := e2.ccToken("opq", "opq-secret")
	second := e1.newAuth(issuers(""))
	if id := wantOK(t, checkWith(second, "Bearer "+tok)).Identity; id.Issuer != e2.srv.URL {
		t.Errorf("issuer %q", id.Issuer)
	}
	first := e1.newAuth(issuers("s3cr3t"))
	wantDeny(t, checkWith(first, "Bearer "+tok), http.StatusUnauthorized, ReasonInactive)
	// JWTs still go to the issuer they name.
	wantOK(t, checkWith(first, "Bearer "+e2.t0(nil)))
	wantOK(t, checkWith(first, "Bearer "+e1.t0(nil)))
	// No credentials anywhere: opaque tokens are not accepted, nobody is asked.
	none := e1.newAuth(func(c *Config) { c.Issuers[0].ClientID, c.Issuers[0].ClientSecret = "", "" })
	wantDeny(t, checkWith(none, "Bearer "+tok), http.StatusUnauthorized, ReasonUnsupported)
	if e1.introHits.Load() != 1 {
		t.Errorf("%d calls to the first issuer", e1.introHits.Load())
	}
}

// A Hydra-style token with one dot is opaque.
func TestOneDotOpaqueToken(t *testing.T) {
	e := newEnv(t, nil)
	e.scripted(`{"active":true,"sub":"svc"}`)
	wantOK(t, e.check("Bearer ory_at_abc.def"))
	wantDeny(t, e.check("Bearer a.b.c.d"), http.StatusUnauthorized, ReasonMalformed)
}

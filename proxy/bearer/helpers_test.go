package bearer

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// testAud is the audience gatehouse requires (ATTACKS fixture F0).
const testAud = "https://app.test"

// fakeClock is a settable clock shared by the issuer and the
// authenticator.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is a development issuer on httptest (127.0.0.1) with switches to
// break its endpoints, and an Authenticator trusting it.
type testEnv struct {
	t     testing.TB
	clock *fakeClock
	iss   *devissuer.Issuer
	srv   *httptest.Server
	a     *Authenticator

	down      atomic.Bool  // every endpoint answers 503
	hits      atomic.Int64 // every request
	keysDown  atomic.Int32 // 1: /keys answers 500; 2: /keys hangs
	keysHits  atomic.Int64 // /keys requests, including failed ones
	introHits atomic.Int64 // /introspect requests that reached the issuer or introHandler
	intro     atomic.Pointer[http.HandlerFunc]
	release   chan struct{} // closed at cleanup: frees hanging handlers
}

func newEnv(t testing.TB, mutate func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, clock: &fakeClock{t: time.Unix(1_800_000_000, 0)}, release: make(chan struct{})}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(func() { close(e.release); e.srv.Close() })
	var err error
	e.iss, err = devissuer.New(devissuer.Config{
		Issuer: e.srv.URL,
		Now:    e.clock.Now,
		Clients: []devissuer.Client{
			{ID: "gw", Secret: "s3cr3t", Audience: []string{testAud}},
			{ID: "svc", Secret: "svc-secret", Audience: []string{testAud}, Groups: []string{"robots"}},
			{ID: "alice", Secret: "alice-secret", Audience: []string{testAud}},
			{ID: "opq", Secret: "opq-secret", Audience: []string{testAud}, AccessTokenFormat: "opaque"},
		},
		Users: []devissuer.User{
			{Username: "alice", Password: "wonderland", Subject: "u-alice", Email: "alice@corp.test", EmailVerified: true, Groups: []string{"dev"}},
			{Username: "bob", Password: "builder", Groups: []string{"admins"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.a = e.newAuth(mutate)
	return e
}

// newAuth builds an Authenticator trusting e's issuer.
func (e *testEnv) newAuth(mutate func(*Config)) *Authenticator {
	e.t.Helper()
	client := *e.srv.Client()
	client.Timeout = 5 * time.Second
	cfg := Config{
		Issuers: []IssuerConfig{{URL: e.srv.URL, Audiences: []string{testAud}, ClientID: "gw", ClientSecret: "s3cr3t"}},
		Client:  &client,
		Now:     e.clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	a, err := New(ctx, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *testEnv) serve(w http.ResponseWriter, r *http.Request) {
	e.hits.Add(1)
	if e.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case "/keys":
		e.keysHits.Add(1)
		switch e.keysDown.Load() {
		case 1:
			http.Error(w, "down", http.StatusInternalServerError)
			return
		case 2:
			select {
			case <-r.Context().Done():
			case <-e.release:
			}
			return
		}
	case "/introspect":
		e.introHits.Add(1)
		if h := e.intro.Load(); h != nil {
			(*h)(w, r)
			return
		}
	}
	e.iss.ServeHTTP(w, r)
}

// setIntrospection replaces the issuer's /introspect endpoint (nil
// restores it).
func (e *testEnv) setIntrospection(h http.HandlerFunc) {
	if h == nil {
		e.intro.Store(nil)
		return
	}
	e.intro.Store(&h)
}

// requests counts the issuer's logged requests to path.
func (e *testEnv) requests(path string) int {
	n := 0
	for _, lr := range e.iss.Requests() {
		if lr.Path == path {
			n++
		}
	}
	return n
}

// ccToken gets a real client-credentials token from the issuer.
func (e *testEnv) ccToken(id, secret string) string {
	e.t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.srv.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
	tok, err := cc.Token(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok.AccessToken
}

// passwordTokens runs the password grant for client gw and returns the
// raw token response.
func (e *testEnv) passwordTokens(user, pass, scope string) *oauth2.Token {
	e.t.Helper()
	oc := oauth2.Config{ClientID: "gw", ClientSecret: "s3cr3t", Endpoint: oauth2.Endpoint{TokenURL: e.srv.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader}, Scopes: strings.Fields(scope)}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
	tok, err := oc.PasswordCredentialsToken(ctx, user, pass)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// t0Claims are the claims of ATTACKS' default bearer T0.
func (e *testEnv) t0Claims() map[string]any {
	now := e.clock.Now().Unix()
	return map[string]any{
		"iss": e.srv.URL, "aud": testAud, "sub": "svc-1", "client_id": "svc",
		"exp": now + 300, "iat": now, "nbf": now, "jti": randomID(),
	}
}

// t0 mints T0 (RS256, kid k1, typ at+jwt), changed by mod.
func (e *testEnv) t0(mod func(h, c map[string]any)) string {
	return e.mint("k1", mod)
}

func (e *testEnv) mint(key string, mod func(h, c map[string]any)) string {
	e.t.Helper()
	h, c := map[string]any{"typ": "at+jwt"}, e.t0Claims()
	if mod != nil {
		mod(h, c)
	}
	tok, err := e.iss.Mint(h, c, key)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// check runs Check on a GET with the given Authorization fields.
func (e *testEnv) check(authz ...string) Result {
	return checkWith(e.a, authz...)
}

func checkWith(a *Authenticator, authz ...string) Result {
	r := httptest.NewRequest(http.MethodGet, "/api/data", nil)
	for _, v := range authz {
		r.Header.Add("Authorization", v)
	}
	return a.Check(r)
}

// wantOK fails unless res authenticated someone.
func wantOK(t testing.TB, res Result) *Result {
	t.Helper()
	if res.Status != 0 || res.Identity == nil {
		t.Fatalf("want success, got status %d reason %q err %v", res.Status, res.Reason, res.Err)
	}
	return &res
}

// wantDeny fails unless res is a rejection with this status and reason.
func wantDeny(t testing.TB, res Result, status int, reason string) {
	t.Helper()
	if res.Status != status || res.Reason != reason || res.Identity != nil {
		t.Fatalf("want %d %q, got %d %q (err %v)", status, reason, res.Status, res.Reason, res.Err)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(res.Challenge, `Bearer realm="gatehouse"`) {
		t.Fatalf("challenge %q", res.Challenge)
	}
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// rawJWT assembles a token from literal header and payload JSON.
func rawJWT(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
}

// jsonOf marshals v or fails.
func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// eventually polls cond for up to 5s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

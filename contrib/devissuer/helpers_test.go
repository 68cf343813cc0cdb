package devissuer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	webCB  = "http://127.0.0.1:9/cb"
	webBye = "http://127.0.0.1:9/bye"
)

// fakeClock is a settable clock for Config.Now.
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

type env struct {
	t    *testing.T
	iss  *Issuer
	srv  *httptest.Server
	ctx  context.Context
	prov *oidc.Provider
}

func testConfig(issuer string) Config {
	return Config{
		Issuer: issuer,
		Clients: []Client{
			{ID: "web", Secret: "s3cret", RedirectURIs: []string{webCB}, PostLogoutRedirectURIs: []string{webBye}},
			{ID: "spa", RedirectURIs: []string{webCB}},
			{ID: "opq", Secret: "opq-secret", RedirectURIs: []string{webCB}, AccessTokenFormat: "opaque"},
			{ID: "svc", Secret: "svc-secret", Audience: []string{"api://backend"}, Groups: []string{"robots"}},
			{ID: "we ird:id", Secret: "p@ss:w rd%", RedirectURIs: []string{webCB}},
		},
		Users: []User{
			{Username: "alice", Password: "wonderland", Subject: "u-alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice A", Groups: []string{"admins", "dev"}},
			{Username: "bob", Password: "builder"},
		},
	}
}

func newEnv(t *testing.T, mutate func(*Config)) *env {
	t.Helper()
	var iss *Issuer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { iss.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	if mutate != nil {
		mutate(&cfg)
	}
	var err error
	if iss, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	ctx := oidc.ClientContext(context.Background(), srv.Client())
	prov, err := oidc.NewProvider(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, iss: iss, srv: srv, ctx: ctx, prov: prov}
}

func (e *env) oauth(clientID, secret string, scopes ...string) *oauth2.Config {
	ep := e.prov.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return &oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: ep, RedirectURL: webCB, Scopes: scopes}
}

func (e *env) verifier(clientID string) *oidc.IDTokenVerifier {
	return e.prov.Verifier(&oidc.Config{ClientID: clientID})
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var formIDRE = regexp.MustCompile(`name="request_id" value="([^"]+)"`)

// browserLogin fetches the login form at authURL over HTTP, posts it and
// returns the redirect location.
func (e *env) browserLogin(authURL, user, pass string) *url.URL {
	e.t.Helper()
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusFound {
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return loc
	}
	if resp.StatusCode != 200 || !strings.Contains(string(body), "development issuer — not for production") {
		e.t.Fatalf("authorize: %d %s", resp.StatusCode, body)
	}
	m := formIDRE.FindSubmatch(body)
	if m == nil {
		e.t.Fatalf("no request_id in form: %s", body)
	}
	resp, err = noRedirect.PostForm(e.srv.URL+"/authorize", url.Values{"request_id": {string(m[1])}, "username": {user}, "password": {pass}})
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return loc
}

// login runs the code flow for cfg and returns the token.
func (e *env) login(cfg *oauth2.Config, user, pass, nonce string) *oauth2.Token {
	e.t.Helper()
	v := oauth2.GenerateVerifier()
	loc := e.browserLogin(cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(v), oidc.Nonce(nonce)), user, pass)
	q := loc.Query()
	if q.Get("state") != "st-1" || q.Get("iss") != e.srv.URL || q.Get("code") == "" {
		e.t.Fatalf("bad callback %s", loc)
	}
	tok, err := cfg.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		e.t.Fatalf("exchange: %v", err)
	}
	return tok
}

// post sends a form and decodes a JSON answer.
func (e *env) post(path string, form url.Values, user, pass string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

func (e *env) introspect(token string) map[string]any {
	e.t.Helper()
	st, m, _ := e.post("/introspect", url.Values{"token": {token}}, "web", "s3cret")
	if st != 200 {
		e.t.Fatalf("introspect status %d %v", st, m)
	}
	return m
}

func errCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func refresh(ctx context.Context, cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
	return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
}

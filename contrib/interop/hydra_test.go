package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Ory Hydra v2.3.0, built from the Go module proxy as a tool of this module
// (see go.mod), runs as its own process on 127.0.0.1 with an in-memory
// SQLite database. Its login, consent and logout UI is hydraApp below: the
// project's own small login/consent app, which accepts test users through
// Hydra's admin API.

const (
	hydraVersion = "v2.3.0"
	hydraModule  = "github.com/ory/hydra/v2"
	// hydraTags are the build tags Hydra's own Makefile and Dockerfiles use
	// for SQLite support (needed for DSN=memory).
	hydraTags = "sqlite,sqlite_omit_load_extension"

	// hydraBuildTimeout bounds a cold build of Hydra (about 4 minutes on
	// two cores with the module cache filled).
	hydraBuildTimeout = 12 * time.Minute
	// hydraStartTimeout bounds the wait for Hydra's /health/ready.
	hydraStartTimeout = 60 * time.Second

	// hydraAccessTokenTTL is Hydra's access token lifetime (TTL_ACCESS_TOKEN):
	// short, so the refresh test sees several refreshes.
	hydraAccessTokenTTL = 8 * time.Second

	// apiAudience is the audience machine clients ask Hydra for, and the
	// one gatehouse accepts in bearer tokens.
	apiAudience = "https://api.interop.test"
)

// testUser is a person the login apps know.
type testUser struct {
	Login, Password string
	Subject         string
	Email           string
	Name            string
	Username        string // preferred_username
	Groups          []string
}

var hydraUsers = []testUser{
	{Login: "alice", Password: "alice-pw", Subject: "alice", Email: "alice@interop.test", Name: "Alice Example",
		Username: "alice", Groups: []string{"dev", "staff"}},
	{Login: "bob", Password: "bob-pw", Subject: "bob", Email: "bob@interop.test", Name: "Bob Example",
		Username: "bob", Groups: []string{"admins"}},
}

// --- building Hydra ---

var hydraBuild struct {
	once sync.Once
	path string
	err  error
}

// hydraBinary returns the path of the Hydra binary, building it on first
// use. The binary is kept in the user's cache directory (next to Go's build
// cache), keyed by Hydra's version and this module's go.sum, so a machine
// builds it once and a fresh machine still works (only slower).
func hydraBinary(t *testing.T) string {
	t.Helper()
	hydraBuild.once.Do(func() {
		hydraBuild.path, hydraBuild.err = buildHydra(t)
	})
	if hydraBuild.err != nil {
		t.Fatalf("Hydra %s could not be built: %v", hydraVersion, hydraBuild.err)
	}
	return hydraBuild.path
}

func buildHydra(t *testing.T) (string, error) {
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		return "", err
	}
	ldflags := "-X " + hydraModule + "/driver/config.Version=" + hydraVersion
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", hydraTags, ldflags, runtime.Version())
	h.Write(sum)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "gatehouse-interop")
	name := fmt.Sprintf("hydra-%s-%s-%s-", hydraVersion, runtime.GOOS, runtime.GOARCH)
	bin := filepath.Join(dir, name+key)
	if _, err := os.Stat(bin); err == nil {
		t.Logf("Hydra %s: cached binary %s", hydraVersion, bin)
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), hydraBuildTimeout)
	defer cancel()
	// Built from this module, so the versions in go.mod (the tool
	// directive) and its replace of gobuffalo/pop (copied from Hydra's
	// go.mod, where it does not apply to dependents) are used.
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", hydraTags, "-ldflags", ldflags, "-o", tmp, hydraModule)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	start := time.Now()
	t.Logf("Hydra %s: building %s (cold: several minutes)", hydraVersion, bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build -tags %s %s: %v\n%s", hydraTags, hydraModule, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	t.Logf("Hydra %s: built in %v", hydraVersion, time.Since(start).Round(time.Second))
	// Older builds (another go.sum) are dead weight: remove them.
	if old, _ := filepath.Glob(filepath.Join(dir, name+"*")); len(old) > 0 {
		for _, f := range old {
			if f != bin && !strings.Contains(filepath.Base(f), ".tmp") {
				os.Remove(f)
			}
		}
	}
	return bin, nil
}

// --- running Hydra ---

// hydra is a running Hydra.
type hydra struct {
	Issuer string // http://127.0.0.1:<public>/ (Hydra's issuer ends in a slash)
	Public string // the public API, without a trailing slash
	Admin  string // the admin API, without a trailing slash
	app    *hydraApp
	log    *syncBuffer
}

// startHydra runs Hydra with its login/consent app until t ends.
func startHydra(t *testing.T) *hydra {
	t.Helper()
	bin := hydraBinary(t)
	pub, adm := freePort(t), freePort(t)
	h := &hydra{
		Issuer: fmt.Sprintf("http://127.0.0.1:%d/", pub),
		Public: fmt.Sprintf("http://127.0.0.1:%d", pub),
		Admin:  fmt.Sprintf("http://127.0.0.1:%d", adm),
		log:    &syncBuffer{},
	}
	h.app = startHydraApp(t, h)
	cmd := exec.Command(bin, "serve", "all", "--dev")
	cmd.Env = append(os.Environ(),
		"DSN=memory",
		"URLS_SELF_ISSUER="+h.Issuer,
		"URLS_LOGIN="+h.app.URL+"/login",
		"URLS_CONSENT="+h.app.URL+"/consent",
		"URLS_LOGOUT="+h.app.URL+"/logout",
		"SECRETS_SYSTEM="+randomSecret(t),
		fmt.Sprintf("SERVE_PUBLIC_PORT=%d", pub),
		fmt.Sprintf("SERVE_ADMIN_PORT=%d", adm),
		"SERVE_PUBLIC_HOST=127.0.0.1",
		"SERVE_ADMIN_HOST=127.0.0.1",
		"STRATEGIES_ACCESS_TOKEN=opaque", // per-client override: access_token_strategy
		"OIDC_SUBJECT_IDENTIFIERS_SUPPORTED_TYPES=public",
		"TTL_ACCESS_TOKEN="+hydraAccessTokenTTL.String(),
		"LOG_LEVEL=info",
		"LOG_FORMAT=text",
		"SQA_OPT_OUT=true", // no telemetry
	)
	cmd.Stdout, cmd.Stderr = h.log, h.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Hydra: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(exitTimeout):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() || verboseLogs {
			t.Logf("Hydra log:\n%s", h.log.String())
			t.Logf("login/consent app log:\n%s", h.app.log.String())
		}
	})
	ready := waitFor(hydraStartTimeout, func() bool {
		select {
		case err := <-exited:
			t.Fatalf("Hydra exited at start: %v\n%s", err, h.log.String())
		default:
		}
		code, _ := get(t, h.Admin+"/health/ready", nil)
		return code == http.StatusOK
	})
	if !ready {
		t.Fatalf("Hydra not ready within %v", hydraStartTimeout)
	}
	return h
}

// adminJSON calls Hydra's admin API with a JSON body (nil: none) and
// decodes a JSON answer into out (nil: ignored). It fails t unless the
// status is want.
func (h *hydra) adminJSON(t *testing.T, method, path string, body, out any, want int) {
	t.Helper()
	if err := hydraCall(method, h.Admin+path, body, out, want); err != nil {
		t.Fatal(err)
	}
}

func hydraCall(method, u string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d, want %d: %s", method, u, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %v: %s", method, u, err, b)
		}
	}
	return nil
}

// hydraClient is an OAuth client as Hydra's admin API takes and returns it.
type hydraClient struct {
	ClientID                string   `json:"client_id,omitempty"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	RedirectURIs            []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI    string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSID    bool     `json:"backchannel_logout_session_required,omitempty"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	Audience                []string `json:"audience,omitempty"`
	AccessTokenStrategy     string   `json:"access_token_strategy,omitempty"`
}

// createClient registers c and returns it with the id and secret Hydra
// chose.
func (h *hydra) createClient(t *testing.T, c hydraClient) hydraClient {
	t.Helper()
	var out hydraClient
	h.adminJSON(t, http.MethodPost, "/admin/clients", c, &out, http.StatusCreated)
	if out.ClientID == "" || out.ClientSecret == "" {
		t.Fatalf("Hydra created a client without id or secret: %+v", out)
	}
	return out
}

// gatehouseClient registers gatehouse at public URL pub as a confidential
// browser client, with its callback, post-logout URI and back-channel
// logout URI.
func (h *hydra) gatehouseClient(t *testing.T, pub string) hydraClient {
	t.Helper()
	return h.createClient(t, hydraClient{
		ClientName:              "gatehouse " + t.Name(),
		RedirectURIs:            []string{pub + "/oauth2/callback"},
		PostLogoutRedirectURIs:  []string{pub + "/oauth2/sign_in"},
		BackchannelLogoutURI:    pub + "/oauth2/backchannel-logout",
		BackchannelLogoutSID:    true,
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "client_secret_basic",
		Scope:                   "openid offline_access email profile",
	})
}

// --- the login/consent app ---

// hydraApp is the project's login, consent and logout provider for Hydra:
// an HTML form for the password, and Hydra's admin API to accept.
type hydraApp struct {
	URL   string
	hydra *hydra
	log   *syncBuffer
	mu    sync.Mutex
	sids  map[string][]string // subject → Hydra login session ids, in order
}

var hydraLoginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Interop login</title></head>
<body><h1>Sign in to the interop issuer</h1>
{{if .Error}}<p id="error">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="challenge" value="{{.Challenge}}">
<label>User <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit" name="action" value="login">Sign in</button>
</form></body></html>`))

func startHydraApp(t *testing.T, h *hydra) *hydraApp {
	a := &hydraApp{hydra: h, log: &syncBuffer{}, sids: map[string][]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", a.loginPage)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /consent", a.consent)
	mux.HandleFunc("GET /logout", a.logout)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func (a *hydraApp) fail(w http.ResponseWriter, what string, err error) {
	fmt.Fprintf(a.log, "%s: %v\n", what, err)
	http.Error(w, what+": "+err.Error(), http.StatusBadGateway)
}

type hydraLoginRequest struct {
	Challenge string `json:"challenge"`
	Skip      bool   `json:"skip"`
	Subject   string `json:"subject"`
	SessionID string `json:"session_id"`
}

func (a *hydraApp) loginPage(w http.ResponseWriter, r *http.Request) {
	challenge := r.URL.Query().Get("login_challenge")
	var lr hydraLoginRequest
	if err := hydraCall(http.MethodGet, a.hydra.Admin+"/admin/oauth2/auth/requests/login?login_challenge="+url.QueryEscape(challenge), nil, &lr, http.StatusOK); err != nil {
		a.fail(w, "login request", err)
		return
	}
	if lr.Skip {
		// Hydra already knows the user (an SSO session): no form.
		fmt.Fprintf(a.log, "login skipped for %s (session %s)\n", lr.Subject, lr.SessionID)
		a.acceptLogin(w, r, challenge, lr.Subject)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	hydraLoginPage.Execute(w, map[string]string{"Challenge": challenge})
}

func (a *hydraApp) login(w http.ResponseWriter, r *http.Request) {
	challenge := r.PostFormValue("challenge")
	for _, u := range hydraUsers {
		if u.Login == r.PostFormValue("username") && u.Password == r.PostFormValue("password") {
			a.acceptLogin(w, r, challenge, u.Subject)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	hydraLoginPage.Execute(w, map[string]string{"Challenge": challenge, "Error": "wrong user or password"})
}

func (a *hydraApp) acceptLogin(w http.ResponseWriter, r *http.Request, challenge, subject string) {
	var lr hydraLoginRequest
	q := "?login_challenge=" + url.QueryEscape(challenge)
	if err := hydraCall(http.MethodGet, a.hydra.Admin+"/admin/oauth2/auth/requests/login"+q, nil, &lr, http.StatusOK); err != nil {
		a.fail(w, "login request", err)
		return
	}
	var redir struct {
		RedirectTo string `json:"redirect_to"`
	}
	accept := map[string]any{"subject": subject, "remember": true, "remember_for": 3600}
	if err := hydraCall(http.MethodPut, a.hydra.Admin+"/admin/oauth2/auth/requests/login/accept"+q, accept, &redir, http.StatusOK); err != nil {
		a.fail(w, "accepting login", err)
		return
	}
	a.mu.Lock()
	if s := a.sids[subject]; lr.SessionID != "" && (len(s) == 0 || s[len(s)-1] != lr.SessionID) {
		a.sids[subject] = append(s, lr.SessionID)
	}
	a.mu.Unlock()
	fmt.Fprintf(a.log, "login accepted: %s, session %s\n", subject, lr.SessionID)
	http.Redirect(w, r, redir.RedirectTo, http.StatusFound)
}

// sessions returns the Hydra login session ids of subject, oldest first.
func (a *hydraApp) sessions(subject string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.sids[subject]...)
}

func (a *hydraApp) consent(w http.ResponseWriter, r *http.Request) {
	q := "?consent_challenge=" + url.QueryEscape(r.URL.Query().Get("consent_challenge"))
	var cr struct {
		Subject   string   `json:"subject"`
		Scope     []string `json:"requested_scope"`
		Audiences []string `json:"requested_access_token_audience"`
	}
	if err := hydraCall(http.MethodGet, a.hydra.Admin+"/admin/oauth2/auth/requests/consent"+q, nil, &cr, http.StatusOK); err != nil {
		a.fail(w, "consent request", err)
		return
	}
	claims := map[string]any{}
	for _, u := range hydraUsers {
		if u.Subject != cr.Subject {
			continue
		}
		for _, s := range cr.Scope {
			switch s {
			case "email":
				claims["email"], claims["email_verified"] = u.Email, true
			case "profile":
				claims["name"], claims["preferred_username"] = u.Name, u.Username
			}
		}
		claims["groups"] = u.Groups
	}
	accept := map[string]any{
		"grant_scope":                 cr.Scope,
		"grant_access_token_audience": cr.Audiences,
		"remember":                    false,
		"session":                     map[string]any{"id_token": claims},
	}
	var redir struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := hydraCall(http.MethodPut, a.hydra.Admin+"/admin/oauth2/auth/requests/consent/accept"+q, accept, &redir, http.StatusOK); err != nil {
		a.fail(w, "accepting consent", err)
		return
	}
	fmt.Fprintf(a.log, "consent accepted: %s, scopes %v\n", cr.Subject, cr.Scope)
	http.Redirect(w, r, redir.RedirectTo, http.StatusFound)
}

func (a *hydraApp) logout(w http.ResponseWriter, r *http.Request) {
	q := "?logout_challenge=" + url.QueryEscape(r.URL.Query().Get("logout_challenge"))
	var redir struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := hydraCall(http.MethodPut, a.hydra.Admin+"/admin/oauth2/auth/requests/logout/accept"+q, nil, &redir, http.StatusOK); err != nil {
		a.fail(w, "accepting logout", err)
		return
	}
	fmt.Fprintf(a.log, "logout accepted\n")
	http.Redirect(w, r, redir.RedirectTo, http.StatusFound)
}

// --- machine tokens ---

// clientCredentials asks Hydra's token endpoint for a client-credentials
// token. audience "" asks for none. It returns the access token, or fails
// t unless the status is want (then "" on a non-200).
func (h *hydra) clientCredentials(t *testing.T, c hydraClient, scope, audience string, want int) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	if audience != "" {
		form.Set("audience", audience)
	}
	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.Public+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		t.Fatalf("client credentials (audience %q): HTTP %d, want %d: %s", audience, resp.StatusCode, want, b)
	}
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token response: %v: %s", err, b)
	}
	return tok.AccessToken
}

// introspection is the part of Hydra's introspection answer the tests
// look at.
type introspection struct {
	Active   bool     `json:"active"`
	Sub      string   `json:"sub"`
	ClientID string   `json:"client_id"`
	Aud      []string `json:"aud"`
	Scope    string   `json:"scope"`
}

// introspect asks Hydra's admin API (where Hydra serves RFC 7662
// introspection) about tok.
func (h *hydra) introspect(t *testing.T, tok string) introspection {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.Admin+"/admin/oauth2/introspect",
		strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("introspection: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var in introspection
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &in) != nil {
		t.Fatalf("introspection: HTTP %d: %s", resp.StatusCode, b)
	}
	return in
}

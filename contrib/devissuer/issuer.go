// Package devissuer is a small, real OpenID Connect issuer for DEVELOPMENT
// AND TESTS ONLY.
//
// DO NOT USE IT IN PRODUCTION. It keeps users with plain-text passwords in
// memory, has no rate limiting, no persistent storage, no consent screen and
// no real account management. Its keys are generated at start-up and vanish
// with the process. It exists so that `gatehouse demo` can run a complete
// login locally and so that gatehouse's tests can obtain real tokens through
// the real protocol — and mint deliberately wrong ones (see [Issuer.Mint],
// [Issuer.MintHMAC] and [Hooks]).
//
// The issuer speaks enough OpenID Connect (discovery, JWKS, authorization
// code flow with mandatory PKCE S256, refresh token rotation, client
// credentials, resource owner password, userinfo, RFC 7662 introspection,
// RFC 7009 revocation and RP-initiated logout) for
// github.com/coreos/go-oidc/v3 and golang.org/x/oauth2 to work against it
// unmodified.
//
// Endpoints, relative to the issuer URL's path:
//
//	GET      /.well-known/openid-configuration
//	GET      /keys
//	GET|POST /authorize     (login form fields: request_id, username, password)
//	POST     /token
//	GET|POST /userinfo
//	POST     /introspect
//	POST     /revoke
//	GET|POST /end_session
//
// The issuer has no browser session of its own: every authorization request
// shows the login form.
package devissuer

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Default lifetimes applied by [New] when the corresponding [Config] field is
// zero or negative.
const (
	DefaultAccessTokenTTL  = 5 * time.Minute
	DefaultIDTokenTTL      = 5 * time.Minute
	DefaultRefreshTokenTTL = 24 * time.Hour
)

const (
	maxBodyBytes   = 1 << 20
	pendingAuthTTL = 10 * time.Minute
	codeTTL        = 60 * time.Second
	maxLogEntries  = 10000
)

// Config configures a development issuer. Only Issuer is required.
type Config struct {
	// Issuer is the issuer URL, e.g. "http://127.0.0.1:5556". It is used
	// verbatim as the "iss" claim and discovery "issuer"; endpoint URLs are
	// derived from it without a trailing slash.
	Issuer string
	// Clients are the registered OAuth2 clients.
	Clients []Client
	// Users are the accounts accepted by the login form and password grant.
	Users []User
	// AccessTokenTTL is the access token lifetime (default 5m).
	AccessTokenTTL time.Duration
	// IDTokenTTL is the ID token lifetime (default 5m).
	IDTokenTTL time.Duration
	// RefreshTokenTTL is the lifetime of each refresh token (default 24h).
	RefreshTokenTTL time.Duration
	// RevokeOnRefreshReuse makes the presentation of a spent (rotated)
	// refresh token revoke its whole token family — every token descended
	// from the same login — before answering invalid_grant. When false a
	// spent refresh token is simply invalid_grant.
	RevokeOnRefreshReuse bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Client is a registered OAuth2 client.
type Client struct {
	// ID is the client_id.
	ID string
	// Secret is the client secret; "" makes a public client that
	// authenticates with token_endpoint_auth_method "none" (PKCE only).
	Secret string
	// RedirectURIs are the allowed redirect URIs (exact match).
	RedirectURIs []string
	// PostLogoutRedirectURIs are the allowed post_logout_redirect_uri values
	// at /end_session (exact match).
	PostLogoutRedirectURIs []string
	// AccessTokenFormat is "jwt" (default, RFC 9068 typ "at+jwt") or
	// "opaque" (random string remembered server-side).
	AccessTokenFormat string
	// Audience is the aud of access tokens issued to this client
	// (default: the client id).
	Audience []string
	// Groups is the groups claim of client_credentials access tokens.
	Groups []string
}

// User is an account of the development issuer.
type User struct {
	// Username is the login name (also preferred_username).
	Username string
	// Password is compared in constant time; it is stored in plain text.
	Password string
	// Subject is the sub claim (default Username).
	Subject string
	// Email is the email claim.
	Email string
	// EmailVerified is the email_verified claim.
	EmailVerified bool
	// Name is the name claim.
	Name string
	// Groups is the groups claim; change it at run time with
	// [Issuer.SetUserGroups].
	Groups []string
}

// Hooks let tests tamper with what the issuer produces. Hooks run without
// the issuer's lock held, so they may call the issuer's methods.
type Hooks struct {
	// IDTokenClaims mutates ID-token claims just before signing (wrong nonce,
	// aud, exp, …).
	IDTokenClaims func(claims map[string]any)
	// TokenResponse is called with every successful token response. It may
	// mutate resp in place and return override=false, or return
	// override=true to send status and body (as application/json) instead.
	TokenResponse func(grant string, resp map[string]any) (status int, body []byte, override bool)
	// Introspection may replace an introspection response; returning nil
	// keeps resp (which it may also have mutated).
	Introspection func(token string, resp map[string]any) map[string]any
}

// LoggedRequest records one request to /authorize, /token, /introspect,
// /keys, /end_session, /revoke or /userinfo.
type LoggedRequest struct {
	// Path is the endpoint path relative to the issuer, e.g. "/token".
	Path string
	// Method is the HTTP method.
	Method string
	// Form holds the query and (url-encoded) body parameters merged.
	Form url.Values
	// BasicUser is the url-decoded user name of HTTP Basic authentication,
	// "" when absent.
	BasicUser string
	// Header is a copy of the request headers.
	Header http.Header
	// Time is when the request arrived (per Config.Now).
	Time time.Time
}

// Issuer is an in-memory development OpenID Connect provider. It is an
// http.Handler; all methods are safe for concurrent use.
type Issuer struct {
	issuer   string // as configured, used as iss
	base     string // issuer without trailing slash
	basePath string // path of the issuer URL without trailing slash
	clients  map[string]*Client
	now      func() time.Time

	accessTTL, idTTL, refreshTTL time.Duration
	revokeOnReuse                bool

	mu       sync.Mutex
	users    map[string]*User
	keys     []*signingKey
	signKID  string
	nextKey  int
	evil     *signingKey
	hooks    Hooks
	log      []LoggedRequest
	pending  map[string]*pendingAuth
	codes    map[string]*authCode
	access   map[string]*accessRecord
	refresh  map[string]*refreshRecord
	families map[string]*family
}

// New validates cfg and returns a ready issuer with two keys: "k1" (RSA-2048,
// RS256, the signing key) and "k2" (EC P-256, ES256).
func New(cfg Config) (*Issuer, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("devissuer: issuer %q must be an absolute http(s) URL without query or fragment", cfg.Issuer)
	}
	i := &Issuer{
		issuer:        cfg.Issuer,
		base:          strings.TrimSuffix(cfg.Issuer, "/"),
		basePath:      strings.TrimSuffix(u.EscapedPath(), "/"),
		clients:       make(map[string]*Client),
		users:         make(map[string]*User),
		now:           cfg.Now,
		accessTTL:     cfg.AccessTokenTTL,
		idTTL:         cfg.IDTokenTTL,
		refreshTTL:    cfg.RefreshTokenTTL,
		revokeOnReuse: cfg.RevokeOnRefreshReuse,
		nextKey:       3,
		pending:       make(map[string]*pendingAuth),
		codes:         make(map[string]*authCode),
		access:        make(map[string]*accessRecord),
		refresh:       make(map[string]*refreshRecord),
		families:      make(map[string]*family),
	}
	if i.now == nil {
		i.now = time.Now
	}
	if i.accessTTL <= 0 {
		i.accessTTL = DefaultAccessTokenTTL
	}
	if i.idTTL <= 0 {
		i.idTTL = DefaultIDTokenTTL
	}
	if i.refreshTTL <= 0 {
		i.refreshTTL = DefaultRefreshTokenTTL
	}
	for _, c := range cfg.Clients {
		if err := validateClient(&c); err != nil {
			return nil, err
		}
		if _, dup := i.clients[c.ID]; dup {
			return nil, fmt.Errorf("devissuer: duplicate client id %q", c.ID)
		}
		c.RedirectURIs = slices.Clone(c.RedirectURIs)
		c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
		c.Audience = slices.Clone(c.Audience)
		if len(c.Audience) == 0 {
			c.Audience = []string{c.ID}
		}
		c.Groups = slices.Clone(c.Groups)
		i.clients[c.ID] = &c
	}
	subjects := make(map[string]bool)
	for _, usr := range cfg.Users {
		if usr.Username == "" {
			return nil, errors.New("devissuer: user with empty username")
		}
		if _, dup := i.users[usr.Username]; dup {
			return nil, fmt.Errorf("devissuer: duplicate username %q", usr.Username)
		}
		if usr.Subject == "" {
			usr.Subject = usr.Username
		}
		if subjects[usr.Subject] {
			return nil, fmt.Errorf("devissuer: duplicate subject %q", usr.Subject)
		}
		subjects[usr.Subject] = true
		usr.Groups = slices.Clone(usr.Groups)
		i.users[usr.Username] = &usr
	}
	k1, err := newRSAKey("k1")
	if err != nil {
		return nil, err
	}
	k2, err := newECKey("k2")
	if err != nil {
		return nil, err
	}
	evil, err := newRSAKey("evil")
	if err != nil {
		return nil, err
	}
	evil.published = false
	i.keys = []*signingKey{k1, k2}
	i.signKID = "k1"
	i.evil = evil
	return i, nil
}

func validateClient(c *Client) error {
	if c.ID == "" {
		return errors.New("devissuer: client with empty id")
	}
	switch c.AccessTokenFormat {
	case "", "jwt", "opaque":
	default:
		return fmt.Errorf("devissuer: client %q: access token format %q is not \"jwt\" or \"opaque\"", c.ID, c.AccessTokenFormat)
	}
	for _, list := range [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs} {
		for _, ru := range list {
			u, err := url.Parse(ru)
			if err != nil || !u.IsAbs() || u.Fragment != "" {
				return fmt.Errorf("devissuer: client %q: redirect URI %q must be absolute without fragment", c.ID, ru)
			}
		}
	}
	return nil
}

// IssuerURL returns the issuer identifier exactly as configured.
func (i *Issuer) IssuerURL() string { return i.issuer }

// ServeHTTP serves the issuer's endpoints. Request paths may carry the
// issuer URL's path as a prefix or already have it stripped.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if i.basePath != "" && strings.HasPrefix(p, i.basePath+"/") {
		p = strings.TrimPrefix(p, i.basePath)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	formErr := r.ParseForm()

	now := i.now()
	i.mu.Lock()
	i.purgeLocked(now)
	switch p {
	case "/authorize", "/token", "/introspect", "/keys", "/end_session", "/revoke", "/userinfo":
		i.logLocked(p, r, now)
	}
	i.mu.Unlock()

	if formErr != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(formErr, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		writeOAuthError(w, status, "invalid_request", "malformed or oversized request body")
		return
	}

	switch p {
	case "/.well-known/openid-configuration":
		i.handleDiscovery(w, r)
	case "/keys":
		i.handleKeys(w, r)
	case "/authorize":
		i.handleAuthorize(w, r)
	case "/token":
		i.handleToken(w, r)
	case "/userinfo":
		i.handleUserinfo(w, r)
	case "/introspect":
		i.handleIntrospect(w, r)
	case "/revoke":
		i.handleRevoke(w, r)
	case "/end_session":
		i.handleEndSession(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (i *Issuer) logLocked(p string, r *http.Request, now time.Time) {
	basic := ""
	if u, _, ok := r.BasicAuth(); ok {
		basic = u
		if d, err := url.QueryUnescape(u); err == nil {
			basic = d
		}
	}
	form := make(url.Values, len(r.Form))
	for k, v := range r.Form {
		form[k] = slices.Clone(v)
	}
	if len(i.log) >= maxLogEntries {
		i.log = slices.Delete(i.log, 0, 1)
	}
	i.log = append(i.log, LoggedRequest{
		Path: p, Method: r.Method, Form: form, BasicUser: basic,
		Header: r.Header.Clone(), Time: now,
	})
}

// Requests returns a copy of the request log, oldest first.
func (i *Issuer) Requests() []LoggedRequest {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make([]LoggedRequest, len(i.log))
	for n, lr := range i.log {
		lr.Form = cloneValues(lr.Form)
		lr.Header = lr.Header.Clone()
		out[n] = lr
	}
	return out
}

// ResetRequests clears the request log.
func (i *Issuer) ResetRequests() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.log = nil
}

// SetUserGroups replaces a user's groups. Tokens issued afterwards —
// including ID tokens from refresh — carry the new groups. Unknown
// usernames are ignored.
func (i *Issuer) SetUserGroups(username string, groups []string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if u := i.users[username]; u != nil {
		u.Groups = slices.Clone(groups)
	}
}

// SetHooks installs h, replacing any previous hooks. The zero Hooks removes
// them all.
func (i *Issuer) SetHooks(h Hooks) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.hooks = h
}

func (i *Issuer) getHooks() Hooks {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.hooks
}

// Close releases nothing and exists for symmetry; the issuer keeps working
// after Close.
func (i *Issuer) Close() {}

// user returns a copy of the named user, or nil.
func (i *Issuer) user(username string) *User {
	i.mu.Lock()
	defer i.mu.Unlock()
	u := i.users[username]
	if u == nil {
		return nil
	}
	c := *u
	c.Groups = slices.Clone(u.Groups)
	return &c
}

func (i *Issuer) purgeLocked(now time.Time) {
	for k, v := range i.pending {
		if !now.Before(v.expires) {
			delete(i.pending, k)
		}
	}
	for k, v := range i.codes {
		if !now.Before(v.expires) {
			delete(i.codes, k)
		}
	}
	for k, v := range i.access {
		if !now.Before(v.exp) {
			delete(i.access, k)
		}
	}
	for k, v := range i.refresh {
		if !now.Before(v.exp) {
			delete(i.refresh, k)
		}
	}
	for k, v := range i.families {
		if !now.Before(v.exp) {
			delete(i.families, k)
		}
	}
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func hasScope(scope, s string) bool {
	return slices.Contains(strings.Fields(scope), s)
}

// audClaim renders an audience list as a JSON string when it has one
// element and as an array otherwise.
func audClaim(aud []string) any {
	if len(aud) == 1 {
		return aud[0]
	}
	return slices.Clone(aud)
}

// Package login is gatehouse's browser flow: the authorization-code grant
// with PKCE (S256, always), the callback and its checks, refreshing a
// session's tokens, and signing out.
//
// It never logs tokens, codes or states. Handlers return errors; the
// caller maps them to responses (see Error and StatusOf).
package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// Config configures a Login. Fields marked required must be set.
type Config struct {
	// ClientID is gatehouse's OAuth client id. Required.
	ClientID string
	// ClientSecret is the client secret; "" makes gatehouse a public
	// client that authenticates with PKCE alone.
	ClientSecret string
	// Scopes requested at login; default openid, email, profile. "openid"
	// is added when missing.
	Scopes []string
	// CallbackURL is the redirect_uri, exactly as registered at the issuer.
	// Required.
	CallbackURL string
	// PostLogoutURL is sent as post_logout_redirect_uri on RP-initiated
	// logout; it must be registered at the issuer. Required.
	PostLogoutURL string
	// GroupsClaim is the ID-token claim that carries groups; default
	// "groups". A dotted path ("realm_access.roles") reaches into objects.
	GroupsClaim string
	// Discovery supplies the issuer's metadata and verifier. Required.
	Discovery *Discovery
	// Sessions stores signed-in sessions. Required.
	Sessions session.Store
	// SessionCookie is the session cookie's name; when a request carries
	// one that does not load, it is cleared. "" disables the clearing.
	SessionCookie string
	// Flows stores in-progress logins. Required.
	Flows *session.FlowCookies
	// Once makes each login state and each logout token single-use.
	// Required; with several replicas it must be shared (RedisOnce).
	Once session.Once
	// Locker serialises refreshes of one session across replicas; nil:
	// within this process only.
	Locker session.Locker
	// Redirects validates post-login and post-logout targets. Required.
	Redirects *Redirects
	// Client is the HTTP client for the token endpoint. Required; it must
	// not follow redirects.
	Client *http.Client
	// Logger is required.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// RefreshSkew refreshes tokens this long before they expire; default 30s.
	RefreshSkew time.Duration
	// FlowLifetime bounds how long a login may take; default 10m. It must
	// match the flow cookies' lifetime.
	FlowLifetime time.Duration
	// KeepAccessToken stores the issuer's access token in the session
	// (needed to pass it upstream). Off by default: the session then holds
	// only what it needs (identity, refresh token, expiry, ID token for
	// logout), which keeps cookies small and token material out of them.
	KeepAccessToken bool
	// Observe, when set, is told of refreshes ("refresh": ok, rejected,
	// error) and back-channel logouts ("backchannel_logout": ok, invalid),
	// for metrics.
	Observe func(event, result string)
}

// Login implements the browser flow.
type Login struct {
	cfg       Config
	refresher refresher
	revoked   revocations
	// tokenClient is cfg.Client without its Timeout, which tokenContext
	// applies as a context deadline instead (see there).
	tokenClient *http.Client
	// bound holds what is derived from the discovered Issuer.
	bound atomic.Pointer[bound]
}

// bound is what a Login derives from one discovered Issuer. It is built on
// first use, not per request, and kept while Discovery returns that Issuer.
type bound struct {
	iss    *Issuer
	oauth2 *oauth2.Config
	// logout verifies logout tokens: like iss.Verifier, but they need not
	// carry exp (verifyLogoutToken checks it when present).
	logout *oidc.IDTokenVerifier
}

// New validates cfg and returns a Login.
func New(cfg Config) (*Login, error) {
	switch {
	case cfg.ClientID == "":
		return nil, errors.New("login: ClientID is required")
	case cfg.CallbackURL == "":
		return nil, errors.New("login: CallbackURL is required")
	case cfg.Discovery == nil || cfg.Sessions == nil || cfg.Flows == nil || cfg.Once == nil || cfg.Redirects == nil:
		return nil, errors.New("login: Discovery, Sessions, Flows, Once and Redirects are required")
	case cfg.Client == nil || cfg.Logger == nil:
		return nil, errors.New("login: Client and Logger are required")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if !contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RefreshSkew <= 0 {
		cfg.RefreshSkew = 30 * time.Second
	}
	if cfg.FlowLifetime <= 0 {
		cfg.FlowLifetime = 10 * time.Minute
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string, string) {}
	}
	tc := *cfg.Client
	tc.Timeout = 0
	l := &Login{cfg: cfg, tokenClient: &tc}
	l.refresher.init(cfg.Now)
	l.revoked.init()
	return l, nil
}

// bind returns what l derives from iss.
func (l *Login) bind(iss *Issuer) *bound {
	if b := l.bound.Load(); b != nil && b.iss == iss {
		return b
	}
	b := &bound{
		iss: iss,
		oauth2: &oauth2.Config{
			ClientID:     l.cfg.ClientID,
			ClientSecret: l.cfg.ClientSecret,
			Endpoint:     iss.Endpoint,
			RedirectURL:  l.cfg.CallbackURL,
			Scopes:       l.cfg.Scopes,
		},
		logout: oidc.NewVerifier(iss.URL, iss.keySet(), &oidc.Config{
			ClientID: l.cfg.ClientID, SupportedSigningAlgs: iss.algorithms, SkipExpiryCheck: true, Now: l.cfg.Now,
		}),
	}
	l.bound.Store(b) // racing builders build the same thing; either may win
	return b
}

// oauth2Config is the OAuth client configuration for iss. It is shared:
// x/oauth2 only reads it.
func (l *Login) oauth2Config(iss *Issuer) *oauth2.Config { return l.bind(iss).oauth2 }

// ctx is the context for go-oidc's calls to the issuer on behalf of r
// (UserInfo, waiting for a key refresh): they use cfg.Client.
func (l *Login) ctx(r *http.Request) context.Context {
	return oidc.ClientContext(r.Context(), l.cfg.Client)
}

// tokenContext is the context for one request to the token endpoint. It
// bounds the request by cfg.Client.Timeout as a deadline and hands
// x/oauth2 the client without its Timeout. Over a RoundTripper that
// net/http does not know (cmd/gatehouse wraps its Transport to bound
// response sizes), Client.Timeout costs a goroutine, a timer and two
// channels per request (net/http's setRequestCancel), and scheduler
// wake-ups on every login. The deadline covers the same span: connecting,
// sending, and reading the whole response, which x/oauth2 does before it
// returns.
func (l *Login) tokenContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx := oidc.ClientContext(parent, l.tokenClient)
	if t := l.cfg.Client.Timeout; t > 0 {
		return context.WithTimeout(ctx, t)
	}
	return ctx, func() {}
}

// Start begins a login that returns to redirectTo, which the caller must
// already have validated with Redirects. It sets a flow cookie and
// redirects the browser to the issuer.
func (l *Login) Start(w http.ResponseWriter, r *http.Request, redirectTo string) error {
	iss, err := l.cfg.Discovery.Get()
	if err != nil {
		return fail(http.StatusServiceUnavailable, "the identity provider is not reachable right now", err)
	}
	fl := &session.Flow{
		State:      session.NewRandom(),
		Nonce:      session.NewRandom(),
		Verifier:   oauth2.GenerateVerifier(),
		RedirectTo: redirectTo,
		CreatedAt:  l.cfg.Now(),
	}
	if err := l.cfg.Flows.Save(w, r, fl); err != nil {
		return fail(http.StatusInternalServerError, "could not start the login", err)
	}
	u := l.oauth2Config(iss).AuthCodeURL(fl.State, oidc.Nonce(fl.Nonce), oauth2.S256ChallengeOption(fl.Verifier))
	// u is absolute and already escaped: what http.Redirect adds (parsing
	// u again, an HTML body) is work for every anonymous page view that no
	// browser reads.
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Location", u)
	w.WriteHeader(http.StatusFound)
	return nil
}

// Callback completes a login: it checks the authorization response,
// exchanges the code with the PKCE verifier, verifies the ID token and its
// nonce, stores a new session, and redirects to the flow's target.
func (l *Login) Callback(w http.ResponseWriter, r *http.Request) error {
	iss, err := l.cfg.Discovery.Get()
	if err != nil {
		return fail(http.StatusServiceUnavailable, "the identity provider is not reachable right now", err)
	}
	q := r.URL.Query()
	for _, p := range []string{"state", "code", "iss", "error"} {
		if len(q[p]) > 1 {
			return fail(http.StatusForbidden, "the sign-in response is malformed", fmt.Errorf("parameter %s repeated", p))
		}
	}
	state := q.Get("state")
	if state == "" {
		return fail(http.StatusBadRequest, "the sign-in response has no state", nil)
	}
	fl, err := l.cfg.Flows.Take(w, r, state)
	if err != nil {
		return fail(http.StatusForbidden, "this sign-in was not started in this browser or has expired; please try again", err)
	}
	if err := l.checkResponse(iss, q); err != nil {
		return err
	}
	first, err := l.cfg.Once.First(r.Context(), "state:"+state, l.cfg.FlowLifetime)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "the session store is not reachable", err)
	}
	if !first {
		return fail(http.StatusForbidden, "this sign-in response was already used", nil)
	}
	s, err := l.exchange(r, iss, q.Get("code"), fl)
	if err != nil {
		return err
	}
	if err := l.cfg.Sessions.Save(w, r, s); err != nil {
		if errors.Is(err, session.ErrNoSession) {
			return fail(http.StatusForbidden, "the identity provider ended this session", err)
		}
		if errors.Is(err, session.ErrStoreUnavailable) {
			return fail(http.StatusServiceUnavailable, "the session store is not reachable", err)
		}
		return fail(http.StatusInternalServerError, "could not store the session", err)
	}
	l.cfg.Logger.Info("login", "sub", s.Identity.Subject, "session", shortID(s.ID))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, fl.RedirectTo, http.StatusFound)
	return nil
}

// checkResponse checks the issuer's error, RFC 9207's iss and the code.
func (l *Login) checkResponse(iss *Issuer, q url.Values) error {
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return fail(http.StatusForbidden, "the identity provider denied the sign-in", fmt.Errorf("issuer error %q", trunc(e)))
		}
		// 4xx: anyone can send a browser here with an error parameter, so
		// it must not look like gatehouse failing.
		return fail(http.StatusBadRequest, "the identity provider returned an error; please try signing in again", fmt.Errorf("issuer error %q", trunc(e)))
	}
	got, present := q["iss"]
	if iss.IssParameter && !present {
		return fail(http.StatusForbidden, "the sign-in response did not name its issuer", nil)
	}
	if present && subtle.ConstantTimeCompare([]byte(got[0]), []byte(iss.URL)) != 1 {
		return fail(http.StatusForbidden, "the sign-in response came from a different issuer", fmt.Errorf("iss %q", trunc(got[0])))
	}
	if q.Get("code") == "" {
		return fail(http.StatusBadRequest, "the sign-in response has no authorization code", nil)
	}
	if len(q.Get("code")) > 4096 {
		return fail(http.StatusBadRequest, "the sign-in response is malformed", errors.New("code too long"))
	}
	return nil
}

func (l *Login) exchange(r *http.Request, iss *Issuer, code string, fl *session.Flow) (*session.Session, error) {
	tctx, cancel := l.tokenContext(r.Context())
	tok, err := l.oauth2Config(iss).Exchange(tctx, code, oauth2.VerifierOption(fl.Verifier))
	cancel()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return nil, fail(http.StatusForbidden, "the identity provider refused the sign-in", tokenError(err))
		}
		return nil, fail(http.StatusBadGateway, "could not reach the identity provider's token endpoint", tokenError(err))
	}
	if tt := tok.Type(); !strings.EqualFold(tt, "Bearer") {
		return nil, fail(http.StatusBadGateway, "the identity provider returned an unsupported token type", fmt.Errorf("token_type %q", trunc(tt)))
	}
	idt, id, err := l.verifyIDToken(l.ctx(r), iss, tok)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(fl.Nonce)) != 1 {
		return nil, fail(http.StatusForbidden, "the sign-in could not be verified", errors.New("nonce mismatch"))
	}
	now := l.cfg.Now()
	return &session.Session{
		ID:           session.NewRandom(),
		Identity:     *id,
		IDToken:      tok.Extra("id_token").(string),
		AccessToken:  l.keepAccess(tok.AccessToken),
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
		CreatedAt:    now,
		RefreshedAt:  now,
	}, nil
}

// verifyIDToken checks the ID token in tok (signature, iss, aud, azp, exp,
// at_hash) and turns its claims into an Identity.
func (l *Login) verifyIDToken(ctx context.Context, iss *Issuer, tok *oauth2.Token) (*oidc.IDToken, *session.Identity, error) {
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, nil, fail(http.StatusBadGateway, "the identity provider returned no ID token", nil)
	}
	idt, err := iss.Verifier.Verify(ctx, raw)
	if err != nil {
		return nil, nil, fail(http.StatusForbidden, "the sign-in could not be verified", err)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, nil, fail(http.StatusForbidden, "the sign-in could not be verified", err)
		}
	}
	id, claims, err := l.identity(idt)
	if err != nil {
		return nil, nil, fail(http.StatusForbidden, "the sign-in could not be verified", err)
	}
	if ui := iss.Provider.UserInfoEndpoint(); ui != "" && l.needsUserInfo(claims) {
		info, err := iss.Provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, nil, fail(http.StatusBadGateway, "could not read the user's details from the identity provider", err)
		}
		var u map[string]any
		if err := info.Claims(&u); err != nil {
			return nil, nil, fail(http.StatusBadGateway, "the identity provider's user details are malformed", err)
		}
		if err := l.mergeUserInfo(id, claims, u); err != nil {
			return nil, nil, fail(http.StatusForbidden, "the sign-in could not be verified", err)
		}
	}
	return idt, id, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (l *Login) keepAccess(at string) string {
	if l.cfg.KeepAccessToken {
		return at
	}
	return ""
}

// tokenError describes a token-endpoint failure for the log without the
// response body, which x/oauth2's RetrieveError would include.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	return fmt.Errorf("token endpoint answered %d, error %q", status, trunc(re.ErrorCode))
}

// trunc keeps issuer-supplied strings short in logs.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// shortID is a log-safe prefix of a session id.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

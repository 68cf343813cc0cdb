package bearer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// passwordGrant exchanges HTTP Basic credentials for an access token at
// one issuer (RFC 6749 §4.3) and authenticates the caller by that token.
type passwordGrant struct {
	a      *Authenticator
	iss    *issuer
	cfg    PasswordConfig
	key    []byte // HMAC key for cache keys, random per process
	cache  *ttlCache[entry]
	limits *limiter
	flight *flight[[32]byte, grantResult]
}

// grantResult is the outcome of one token request.
type grantResult struct {
	token string
	bad   bool // the issuer refused the username and password
	rej   *rejection
}

func newPasswordGrant(a *Authenticator, cfg PasswordConfig) (*passwordGrant, error) {
	iss := a.issuers[0]
	if cfg.Issuer != "" {
		if iss = a.byURL[cfg.Issuer]; iss == nil {
			return nil, fmt.Errorf("bearer: password grant issuer %q is not a configured issuer", cfg.Issuer)
		}
	}
	if iss.cfg.ClientID == "" || iss.cfg.ClientSecret == "" {
		return nil, fmt.Errorf("bearer: password grant: issuer %q needs ClientID and ClientSecret", iss.cfg.URL)
	}
	if cfg.FailuresPerUser < 0 || cfg.FailuresPerClient < 0 || cfg.Window < 0 {
		return nil, errors.New("bearer: password grant limits must not be negative")
	}
	for _, s := range cfg.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") || !headerSafe(s) {
			return nil, fmt.Errorf("bearer: password grant scope %q is not a scope token", s)
		}
	}
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	if cfg.FailuresPerUser == 0 {
		cfg.FailuresPerUser = 5
	}
	if cfg.FailuresPerClient == 0 {
		cfg.FailuresPerClient = 20
	}
	if cfg.Window == 0 {
		cfg.Window = 5 * time.Minute
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 5 * time.Minute
	}
	return &passwordGrant{
		a: a, iss: iss, cfg: cfg, key: newHMACKey(),
		cache:  newTTLCache[entry](a.cfg.CacheSize),
		limits: newLimiter(maxLimiterKeys),
		flight: newFlight[[32]byte, grantResult](maxInflight),
	}, nil
}

// check authenticates Basic credentials. Successes are cached under an
// HMAC of the whole credential (never the password, never the username
// alone). Refused credentials count against the username and the client
// address; beyond the limits the answer is 429 without asking the issuer.
// Nothing here creates a session.
func (pw *passwordGrant) check(r *http.Request, cred string) Result {
	a := pw.a
	user, pass, rej := parseBasic(cred)
	if rej != nil {
		return pw.fail(rej)
	}
	now := a.cfg.Now()
	k := pw.cacheKey(user, pass)
	if e, ok := pw.cache.get(k, now); ok && e.valid(now) {
		return okResult(&e)
	}
	userKey := "u:" + strings.ToLower(user)
	clientKey := "c:" + a.cfg.ClientIP(r).String()
	d1, b1, err1 := pw.blocked(r.Context(), userKey, pw.cfg.FailuresPerUser, now)
	d2, b2, err2 := pw.blocked(r.Context(), clientKey, pw.cfg.FailuresPerClient, now)
	if err := errors.Join(err1, err2); err != nil {
		return pw.fail(unavailable(ReasonIssuerUnavailable, err))
	}
	if b1 || b2 {
		return pw.fail(&rejection{status: http.StatusTooManyRequests, reason: ReasonRateLimited,
			desc: "too many failed attempts", retry: max(d1, d2)})
	}
	ep, rej := pw.iss.endpoints(r.Context())
	if rej != nil {
		return pw.fail(rej)
	}
	res, err := pw.flight.do(r.Context(), k, func() grantResult { return pw.exchange(ep.token, user, pass) })
	switch {
	case err != nil:
		return pw.fail(unavailable(ReasonIssuerUnavailable, err))
	case res.bad:
		now := a.cfg.Now()
		if err := errors.Join(pw.failed(r.Context(), userKey, now), pw.failed(r.Context(), clientKey, now)); err != nil {
			a.cfg.Logger.Warn("bearer: counting a failed password grant", "error", err)
		}
		return pw.fail(rejectf(ReasonBadCredentials, "invalid username or password", nil))
	case res.rej != nil:
		return pw.fail(res.rej)
	}
	// The access token must pass exactly what a bearer token must pass.
	e, rej := a.checkToken(r, res.token)
	if rej != nil {
		return pw.fail(rej)
	}
	if e.id.Issuer != pw.iss.cfg.URL {
		return pw.fail(rejectf(ReasonIssuer, "untrusted issuer", nil))
	}
	e.method = MethodPassword
	until := now.Add(pw.cfg.CacheTTL)
	if e.until.Before(until) {
		until = e.until
	}
	pw.cache.put(k, e, until, now)
	return okResult(&e)
}

// fail renders a rejection of the password method. rej may be shared (a
// cached rejection of the token), so it is copied, not changed.
func (pw *passwordGrant) fail(rej *rejection) Result {
	c := *rej
	c.method = MethodPassword
	return pw.a.result(&c)
}

func (pw *passwordGrant) cacheKey(user, pass string) [32]byte {
	m := hmac.New(sha256.New, pw.key)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(pass))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

// exchange asks the token endpoint with x/oauth2. The client
// authenticates in the header only: x/oauth2's auto-detection would retry
// with the other style and send every password twice. An id_token in the
// response is ignored; only the access token counts.
func (pw *passwordGrant) exchange(tokenURL, user, pass string) grantResult {
	a := pw.a
	if err := checkURL(tokenURL); err != nil {
		return grantResult{rej: unavailable(ReasonIssuerUnavailable, fmt.Errorf("bearer: token endpoint %q: %w", tokenURL, err))}
	}
	ctx, cancel := context.WithTimeout(a.ctx, a.cfg.Timeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, a.client)
	oc := oauth2.Config{
		ClientID:     pw.iss.cfg.ClientID,
		ClientSecret: pw.iss.cfg.ClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:       pw.cfg.Scopes,
	}
	tok, err := oc.PasswordCredentialsToken(ctx, user, pass)
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode == "invalid_grant":
		return grantResult{bad: true}
	case errors.As(err, &re):
		// Not the caller's fault (our client refused, endpoint broken): do
		// not wrap re, whose message quotes the response body.
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return grantResult{rej: unavailable(ReasonIssuerUnavailable,
			fmt.Errorf("bearer: password grant: token endpoint answered %d %q", status, re.ErrorCode))}
	case err != nil:
		return grantResult{rej: unavailable(ReasonIssuerUnavailable, fmt.Errorf("bearer: password grant: %w", err))}
	case !strings.EqualFold(tok.TokenType, "bearer"):
		return grantResult{rej: rejectf(ReasonType, "token type not accepted", nil)}
	case len(tok.AccessToken) > a.cfg.MaxTokenBytes:
		return grantResult{rej: rejectf(ReasonMalformed, "token too large", nil)}
	}
	return grantResult{token: tok.AccessToken}
}

// blocked reports whether key has used up its failures in the current
// window, from the shared Counter when there is one.
func (pw *passwordGrant) blocked(ctx context.Context, key string, limit int, now time.Time) (time.Duration, bool, error) {
	if pw.cfg.Counter == nil {
		d, b := pw.limits.blocked(key, limit, pw.cfg.Window, now)
		return d, b, nil
	}
	if limit < 0 {
		return 0, false, nil
	}
	n, left, err := pw.cfg.Counter.Count(ctx, "password:"+key)
	if err != nil || n < limit {
		return 0, false, err
	}
	return left, true, nil
}

// failed counts one failure for key.
func (pw *passwordGrant) failed(ctx context.Context, key string, now time.Time) error {
	if pw.cfg.Counter == nil {
		pw.limits.fail(key, pw.cfg.Window, now)
		return nil
	}
	return pw.cfg.Counter.Add(ctx, "password:"+key, pw.cfg.Window)
}

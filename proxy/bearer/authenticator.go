package bearer

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// Reasons reported in [Result.Reason]. The set is closed, so the values can
// be metric labels.
const (
	ReasonMissing            = "missing"             // no Authorization header (401, no error code)
	ReasonDuplicate          = "duplicate"           // several Authorization fields (400)
	ReasonScheme             = "scheme"              // not Bearer, or Basic without the password grant
	ReasonMalformed          = "malformed"           // syntax, encoding, claim types, sizes
	ReasonAlgorithm          = "algorithm"           // alg not in the issuer's allow-list
	ReasonIssuer             = "issuer"              // iss not a configured issuer
	ReasonAudience           = "audience"            // aud missing, empty or foreign
	ReasonClient             = "client"              // client_id not in the issuer's AllowedClients
	ReasonExpired            = "expired"             // exp passed (beyond leeway)
	ReasonNotYetValid        = "not_yet_valid"       // nbf or iat in the future (beyond leeway)
	ReasonType               = "type"                // ID token, logout token, refresh token, wrong typ
	ReasonUnknownKey         = "unknown_key"         // no published key for the kid (after at most one refetch)
	ReasonSignature          = "signature"           // signature does not verify
	ReasonUnsupported        = "unsupported"         // JWE, or an opaque token with no introspection
	ReasonInactive           = "inactive"            // introspection said active=false
	ReasonRateLimited        = "rate_limited"        // too many failures (429)
	ReasonBadCredentials     = "bad_credentials"     // the password grant was refused
	ReasonIssuerUnavailable  = "issuer_unavailable"  // discovery, JWKS or token endpoint failed (503)
	ReasonIntrospectionError = "introspection_error" // introspection failed (503)
)

// Methods reported in [Result.Method].
const (
	MethodJWT           = "jwt"
	MethodIntrospection = "introspection"
	MethodPassword      = "password"
)

const realm = "gatehouse"

// Result is the outcome of [Authenticator.Check]: everything the caller
// needs to answer the request and to count it.
type Result struct {
	// Identity is the authenticated caller when Status is 0. It is a fresh
	// copy, but its slices may be shared with other results: do not
	// modify their elements.
	Identity *session.Identity
	// Status is 0 when the credentials are good, otherwise the HTTP status
	// to answer with: 400 (several Authorization fields), 401, 429 or 503
	// (an issuer could not be asked; fail closed).
	Status int
	// Challenge is the WWW-Authenticate value for 400 and 401 answers, e.g.
	// `Bearer realm="gatehouse", error="invalid_token",
	// error_description="token expired"`. Its text is fixed by gatehouse,
	// never copied from the request.
	Challenge string
	// RetryAfter is set for 429 (and some 503) answers.
	RetryAfter time.Duration
	// Reason is one of the Reason constants; "" on success.
	Reason string
	// Method is one of the Method constants, when known.
	Method string
	// Err is the technical cause of a 503, or detail on some rejections,
	// for the caller's log. It never contains credentials.
	Err error
}

// Authenticator checks machine credentials: bearer JWTs, opaque bearer
// tokens (by introspection) and, if enabled, HTTP Basic credentials (by the
// password grant). It is safe for concurrent use.
type Authenticator struct {
	cfg     Config          // with defaults applied
	ctx     context.Context // bounds background fetches
	client  *http.Client    // cfg.Client, never following redirects
	issuers []*issuer
	byURL   map[string]*issuer
	algs    []string // union of the issuers' allow-lists
	cache   *ttlCache[entry]
	neg     *ttlCache[*rejection]
	intro   *flight[[32]byte, introResult]
	opaque  *limiter
	pw      *passwordGrant
	bufs    sync.Pool // *[]byte scratch for hashing tokens without allocating
}

// entry is a verified credential as cached.
type entry struct {
	id     session.Identity // slices clipped: appending copies
	method string
	until  time.Time // the token's exp, or earlier
	keys   *keySet   // for JWTs, the key set that verified it …
	set    *jwks     // … and the keys it held; the entry dies when they change
}

// valid reports whether the keys that verified e are still the current
// ones (a refetch that removed or changed keys ends all JWT entries). A
// hit on stale keys starts their refresh, so hot cached tokens cannot keep
// a removed key alive.
func (e *entry) valid(now time.Time) bool {
	if e.keys == nil {
		return true
	}
	e.keys.refreshIfStale(now)
	return e.keys.cur.Load() == e.set
}

// rejection is why credentials were refused.
type rejection struct {
	status int
	reason string
	desc   string // error_description: fixed text
	err    error
	retry  time.Duration
	method string
}

func rejectf(reason, desc string, err error) *rejection {
	return &rejection{status: http.StatusUnauthorized, reason: reason, desc: desc, err: err}
}

func unavailable(reason string, err error) *rejection {
	return &rejection{status: http.StatusServiceUnavailable, reason: reason, desc: "issuer unavailable", err: err}
}

// Check authenticates r by its Authorization header alone: query
// parameters, bodies and cookies are never read. A request without an
// Authorization header gets Status 401 and Reason ReasonMissing (the
// caller may then try a session cookie).
func (a *Authenticator) Check(r *http.Request) Result {
	vals := r.Header["Authorization"]
	switch {
	case len(vals) == 0:
		return a.result(&rejection{status: http.StatusUnauthorized, reason: ReasonMissing})
	case len(vals) > 1:
		return a.result(&rejection{status: http.StatusBadRequest, reason: ReasonDuplicate, desc: "more than one Authorization header"})
	}
	scheme, cred, rej := parseAuthorization(vals[0], a.cfg.MaxTokenBytes)
	switch {
	case rej != nil:
		return a.result(rej)
	case scheme == schemeBasic && a.pw == nil:
		return a.result(rejectf(ReasonScheme, "basic credentials are not accepted", nil))
	case scheme == schemeBasic:
		return a.pw.check(r, cred)
	}
	e, rej := a.checkToken(r, cred)
	if rej != nil {
		return a.result(rej)
	}
	return okResult(&e)
}

// Ready reports whether every issuer's discovery has succeeded. Asking
// starts discovery (in the background) for issuers that have not been
// discovered, so a readiness probe alone brings the authenticator up.
func (a *Authenticator) Ready() bool {
	ready := true
	for _, iss := range a.issuers {
		if iss.ep.Load() == nil {
			iss.startDiscovery()
			ready = false
		}
	}
	return ready
}

// checkToken authenticates a bearer token, from the caches if it can.
func (a *Authenticator) checkToken(r *http.Request, tok string) (entry, *rejection) {
	now := a.cfg.Now()
	h := a.hash(tok)
	if e, ok := a.cache.get(h, now); ok {
		if e.valid(now) {
			a.cfg.Observe("token_cache", "hit")
			return e, nil
		}
		a.cache.remove(h)
	}
	a.cfg.Observe("token_cache", "miss")
	if rej, ok := a.neg.get(h, now); ok {
		return entry{}, rej
	}
	e, rej := a.verifyToken(r, tok, h, now)
	switch {
	case rej == nil:
		a.cache.put(h, e, e.until, now)
	case rej.status == http.StatusUnauthorized && rej.reason != ReasonUnknownKey:
		// An unknown kid may become known at the next refetch; everything
		// else that is refused now is refused for the next seconds too.
		a.neg.put(h, rej, now.Add(a.cfg.NegativeCacheTTL), now)
	}
	return e, rej
}

// hash is sha256.Sum256([]byte(tok)) without the copy's allocation.
func (a *Authenticator) hash(tok string) [32]byte {
	bp, _ := a.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = append((*bp)[:0], tok...)
	h := sha256.Sum256(*bp)
	a.bufs.Put(bp)
	return h
}

// verifyToken sends a token down the JWT or the introspection path by its
// shape alone: three segments are a JWT (never introspected), no dot or
// one dot (as in Ory Hydra's tokens) an opaque token — unless it starts
// like a JOSE header, then it is a JWT without its signature. Five
// segments are a JWE: gatehouse never decrypts one, but issuers mint
// encrypted tokens that only they can read (the zitadel OP does), so
// like any opaque token it is introspected where introspection is set up
// and refused otherwise. Anything else is malformed.
func (a *Authenticator) verifyToken(r *http.Request, tok string, h [32]byte, now time.Time) (entry, *rejection) {
	switch strings.Count(tok, ".") {
	case 2:
		return a.verifyJWT(r.Context(), tok, now)
	case 0:
		return a.introspect(r, tok, h, now)
	case 1:
		if strings.HasPrefix(tok, "eyJ") { // base64url of `{"`
			return entry{}, rejectf(ReasonMalformed, "malformed token", nil)
		}
		return a.introspect(r, tok, h, now)
	case 4:
		return a.introspect(r, tok, h, now)
	}
	return entry{}, rejectf(ReasonMalformed, "malformed token", nil)
}

func okResult(e *entry) Result {
	id := e.id
	return Result{Identity: &id, Method: e.method}
}

func (a *Authenticator) result(rej *rejection) Result {
	res := Result{Status: rej.status, Reason: rej.reason, Method: rej.method, RetryAfter: rej.retry, Err: rej.err}
	switch {
	case rej.status == http.StatusBadRequest:
		res.Challenge = challenge("invalid_request", rej.desc)
	case rej.reason == ReasonMissing:
		res.Challenge = `Bearer realm="` + realm + `"`
	case rej.status == http.StatusUnauthorized:
		res.Challenge = challenge("invalid_token", rej.desc)
	}
	if res.Err == nil && rej.status == http.StatusServiceUnavailable {
		res.Err = errors.New("bearer: issuer unavailable")
	}
	return res
}

// challenge builds an RFC 6750 §3 WWW-Authenticate value. desc is always a
// constant of this package, so it needs no escaping.
func challenge(code, desc string) string {
	return `Bearer realm="` + realm + `", error="` + code + `", error_description="` + desc + `"`
}

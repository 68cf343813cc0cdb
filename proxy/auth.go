package proxy

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/proxy/authz"
	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/upstream"
)

// verdict is what authentication and authorization decided about one
// request, before anyone writes a response.
type verdict struct {
	kind      verdictKind
	id        *session.Identity
	sess      *session.Session // the browser session, when there is one
	status    int              // for kindRefused: the HTTP status
	challenge string           // WWW-Authenticate for 401/403
	reason    string           // safe to show
	err       error            // for kindFailed
	// retryAfter, when set, becomes Retry-After (rate limits, outages).
	retryAfter time.Duration
}

type verdictKind int

const (
	kindFailed   verdictKind = iota // technical failure: fail closed
	kindAllow                       // authenticated and allowed
	kindPublic                      // public route: no authentication
	kindNeedAuth                    // no credentials: sign in / 401
	kindDeny                        // authenticated, not allowed: 403
	kindRefused                     // credentials present but bad: status + challenge
)

const challengeBasic = `Bearer realm="gatehouse"`

// decide authenticates r and authorizes it for the original request
// (method, host, path): the request itself in proxy mode, the ingress's
// request in forward-auth mode.
func (g *Gateway) decide(w http.ResponseWriter, r *http.Request, method, host, path string) verdict {
	if g.cfg.Policy != nil && g.cfg.Policy.Public(method, host, path) {
		return verdict{kind: kindPublic}
	}
	var v verdict
	if r.Header.Get("Authorization") != "" {
		// A request that brings its own credentials is judged by them
		// alone, never by a cookie.
		v = g.authenticateMachine(r, path)
	} else {
		v = g.authenticateSession(w, r)
	}
	if v.kind != kindAllow {
		if v.kind == kindNeedAuth && g.cfg.Policy != nil {
			// An anonymous caller on a route closed to everyone is told
			// so, rather than sent to sign in for nothing.
			if res := g.cfg.Policy.Decide(nil, method, host, path); res.Decision == authz.Deny {
				return verdict{kind: kindDeny, reason: res.Reason}
			}
		}
		return v
	}
	if g.cfg.Policy == nil {
		return v
	}
	res := g.cfg.Policy.Decide(v.id, method, host, path)
	switch res.Decision {
	case authz.Allow, authz.Public:
		return v
	case authz.NeedAuth:
		return verdict{kind: kindNeedAuth}
	}
	v.kind, v.reason = kindDeny, res.Reason
	if res.InsufficientScope {
		v.challenge = `Bearer realm="gatehouse", error="insufficient_scope"`
	}
	return v
}

func (g *Gateway) authenticateSession(w http.ResponseWriter, r *http.Request) verdict {
	s, ok, err := g.cfg.Login.Authenticate(w, r)
	if err != nil {
		g.metrics.auth.WithLabelValues("session", "error", "store").Inc()
		return verdict{kind: kindFailed, err: err}
	}
	if !ok {
		return verdict{kind: kindNeedAuth}
	}
	g.metrics.auth.WithLabelValues("session", "ok", "").Inc()
	return verdict{kind: kindAllow, id: &s.Identity, sess: s}
}

// authenticateMachine judges an Authorization header: a bearer token, or
// Basic credentials for the password grant. Without machine credentials
// configured, every one is refused rather than forwarded.
func (g *Gateway) authenticateMachine(r *http.Request, path string) verdict {
	if g.cfg.Bearer == nil {
		g.metrics.auth.WithLabelValues("jwt", "rejected", "disabled").Inc()
		return verdict{kind: kindRefused, status: http.StatusUnauthorized,
			challenge: `Bearer realm="gatehouse", error="invalid_token", error_description="token not accepted"`}
	}
	if len(g.cfg.PasswordGrantPaths) > 0 && hasScheme(r.Header.Get("Authorization"), "Basic") && !g.passwordGrantPath(path) {
		g.metrics.auth.WithLabelValues("password", "rejected", "path").Inc()
		return verdict{kind: kindRefused, status: http.StatusUnauthorized, challenge: challengeBasic, reason: "password grant not enabled here"}
	}
	res := g.cfg.Bearer.Check(r)
	method := res.Method
	if method == "" {
		method = "jwt"
	}
	switch res.Status {
	case 0:
		g.metrics.auth.WithLabelValues(method, "ok", "").Inc()
		return verdict{kind: kindAllow, id: res.Identity}
	case http.StatusServiceUnavailable:
		g.metrics.auth.WithLabelValues(method, "error", res.Reason).Inc()
		return verdict{kind: kindFailed, err: fmt.Errorf("%w: machine credentials: %s: %w", errUnavailable, res.Reason, res.Err), retryAfter: res.RetryAfter}
	}
	g.metrics.auth.WithLabelValues(method, "rejected", res.Reason).Inc()
	return verdict{kind: kindRefused, status: res.Status, challenge: res.Challenge, reason: res.Reason, retryAfter: res.RetryAfter}
}

// authenticateAndForward is proxy mode: decide, then forward or answer.
func (g *Gateway) authenticateAndForward(w http.ResponseWriter, r *http.Request, st *reqState, rt *route) {
	v := g.decide(w, r, r.Method, hostOnly(r.Host), st.path)
	switch v.kind {
	case kindPublic:
		st.outcome = "public"
		g.forward(w, r, st, rt, g.upstreamHeaders(st, nil))
	case kindAllow:
		st.outcome, st.user = "proxied", v.id.Subject
		h := g.upstreamHeaders(st, v.id)
		g.legacyHeaders(h, rt, v, r.Header.Get("Authorization"))
		if g.assert != nil {
			tok, err := g.assert.sign(v.id, rt.audience)
			if err != nil {
				g.fail(w, r, st, err)
				return
			}
			h[AssertionHeader] = []string{tok}
		}
		g.forward(w, r, st, rt, h)
	case kindNeedAuth:
		g.unauthenticated(w, r, st)
	case kindDeny:
		g.forbidden(w, r, st, v)
	case kindRefused:
		g.refused(w, r, st, v)
	default:
		setRetryAfter(w, v.retryAfter)
		g.fail(w, r, st, v.err)
	}
}

// refused answers credentials that were presented and not accepted.
func (g *Gateway) refused(w http.ResponseWriter, r *http.Request, st *reqState, v verdict) {
	st.outcome = "unauthenticated"
	if v.challenge != "" {
		w.Header().Set("WWW-Authenticate", v.challenge)
	}
	setRetryAfter(w, v.retryAfter)
	msg := "the credentials were not accepted"
	if v.status == http.StatusTooManyRequests {
		msg = "too many failed attempts; retry later"
	}
	g.cfg.Logger.Info("credentials refused", "id", st.id, "status", v.status, "reason", v.reason)
	writeError(w, r, st.id, v.status, msg)
}

func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
}

// forward hands the request to the route's upstream with headers h.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, st *reqState, rt *route, h http.Header) {
	start := time.Now()
	rt.proxy.ServeHTTP(w, r.WithContext(upstream.WithHeaders(withState(r.Context(), st), h)))
	st.upstream = time.Since(start)
}

// upstreamHeaders are the headers a forwarded request gets: the request
// ID and forwarding headers every one gets, and id's identity headers when
// id is not nil. Client-sent copies have been stripped by then, whatever
// their spelling.
func (g *Gateway) upstreamHeaders(st *reqState, id *session.Identity) http.Header {
	h := make(http.Header, 8)
	v := make(values, 0, 10)
	h["X-Request-Id"] = v.add(st.id)
	if c := st.client; c.trusted {
		h["X-Forwarded-For"] = v.add(c.xff)
		h["X-Forwarded-Proto"] = v.add(c.proto)
		h["X-Forwarded-Host"] = v.add(c.host)
	}
	if id == nil {
		return h
	}
	h["X-Forwarded-User"] = v.add(userHeader(id))
	if id.Email != "" {
		h["X-Forwarded-Email"] = v.add(id.Email)
	}
	if id.PreferredUsername != "" {
		h["X-Forwarded-Preferred-Username"] = v.add(id.PreferredUsername)
	}
	if len(id.Groups) > 0 {
		h["X-Forwarded-Groups"] = v.add(strings.Join(id.Groups, ","))
	}
	if id.ClientID != "" && id.Machine {
		h["X-Forwarded-Client-Id"] = v.add(id.ClientID)
	}
	if id.Machine {
		h["X-Forwarded-Caller"] = v.add("machine")
	} else {
		h["X-Forwarded-Caller"] = v.add("user")
	}
	return h
}

// values hands out one-element header values from one backing array, so a
// request's headers cost one allocation instead of one each.
type values []string

// add returns a slice holding only s, capped so that appending to it
// cannot reach the next value. It takes from v's spare capacity, or
// allocates when there is none.
func (v *values) add(s string) []string {
	if len(*v) == cap(*v) {
		return []string{s}
	}
	*v = append(*v, s)
	n := len(*v)
	return (*v)[n-1 : n : n]
}

// userHeader is the X-Forwarded-User value: the subject, and for machines
// "client:" and the subject, so a service whose client id is "alice" is
// never mistaken for the person alice.
func userHeader(id *session.Identity) string {
	if id.Machine {
		return "client:" + id.Subject
	}
	return id.Subject
}

// unauthenticated answers a request without valid credentials: browsers
// navigating to a page go to the issuer to sign in; everything else gets
// 401, so scripts and XHR never follow a login redirect.
func (g *Gateway) unauthenticated(w http.ResponseWriter, r *http.Request, st *reqState) {
	if !isNavigation(r) {
		g.unauthorized(w, r, st, challengeBasic)
		return
	}
	st.outcome = "login"
	g.metrics.LoginEvent("start", "ok")
	if err := g.cfg.Login.Start(w, r, g.returnTo(r, st)); err != nil {
		g.fail(w, r, st, err)
	}
}

func (g *Gateway) unauthorized(w http.ResponseWriter, r *http.Request, st *reqState, challenge string) {
	st.outcome = "unauthenticated"
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, r, st.id, http.StatusUnauthorized, "authentication required")
}

// forbidden answers an authenticated caller that the policy refuses: a
// page naming who they are signed in as for browsers, JSON otherwise.
func (g *Gateway) forbidden(w http.ResponseWriter, r *http.Request, st *reqState, v verdict) {
	st.outcome = "forbidden"
	if v.challenge != "" {
		w.Header().Set("WWW-Authenticate", v.challenge)
	}
	if v.id == nil || !wantsHTML(r) {
		writeError(w, r, st.id, http.StatusForbidden, "not allowed: "+v.reason)
		return
	}
	st.user = v.id.Subject
	who := v.id.Email
	if who == "" {
		who = v.id.PreferredUsername
	}
	if who == "" {
		who = v.id.Subject
	}
	writePage(w, http.StatusForbidden, page{
		Title:     "Not allowed",
		Message:   "You are signed in as " + who + ", but this account may not open this page (" + v.reason + ").",
		Form:      g.cfg.EndpointPrefix + "/sign_out",
		Button:    "Sign in as someone else",
		RequestID: st.id,
	})
}

// returnTo is where the browser goes after signing in: the page it asked
// for. On gatehouse's own host that is the relative request URI; on other
// hosts it is an absolute URL, used only if its origin is allowed (a forged
// Host header falls back to the relative form on the public host).
func (g *Gateway) returnTo(r *http.Request, st *reqState) string {
	rel := r.URL.RequestURI()
	if strings.EqualFold(st.client.host, g.cfg.PublicURL.Host) {
		return rel
	}
	abs := st.client.proto + "://" + st.client.host + rel
	if v, err := g.cfg.Redirects.Check(abs); err == nil {
		return v
	}
	return rel
}

type stateKey struct{}

func withState(ctx context.Context, st *reqState) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// passwordGrantPath reports whether the canonical path is under a
// --password-grant-path.
func (g *Gateway) passwordGrantPath(path string) bool {
	for _, p := range g.cfg.PasswordGrantPaths {
		if prefixMatch(p, path) {
			return true
		}
	}
	return false
}

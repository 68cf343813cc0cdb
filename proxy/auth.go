package proxy

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/upstream"
)

// authenticateAndForward is the protected path: authenticate the caller,
// then forward with its identity.
func (g *Gateway) authenticateAndForward(w http.ResponseWriter, r *http.Request, st *reqState, rt *route) {
	if r.Header.Get("Authorization") != "" {
		// A request that brings its own credentials is judged by them alone,
		// never by a cookie. Machine credentials are not enabled, so any of
		// them is refused rather than forwarded.
		g.unauthorized(w, r, st, `Bearer realm="gatehouse", error="invalid_token", error_description="token not accepted"`)
		return
	}
	s, ok, err := g.cfg.Login.Authenticate(w, r)
	if err != nil {
		g.metrics.auth.WithLabelValues("session", "error", "store").Inc()
		g.fail(w, r, st, err)
		return
	}
	if !ok {
		g.unauthenticated(w, r, st)
		return
	}
	g.metrics.auth.WithLabelValues("session", "ok", "").Inc()
	st.outcome, st.user = "proxied", s.Identity.Subject
	h := identityHeaders(&s.Identity, st)
	if g.assert != nil {
		tok, err := g.assert.sign(&s.Identity, rt.audience)
		if err != nil {
			g.fail(w, r, st, err)
			return
		}
		h[AssertionHeader] = []string{tok}
	}
	g.forward(w, r, st, rt, h)
}

// forward hands the request to the route's upstream with headers h.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, st *reqState, rt *route, h http.Header) {
	start := time.Now()
	rt.proxy.ServeHTTP(w, r.WithContext(upstream.WithHeaders(withState(r.Context(), st), h)))
	st.upstream = time.Since(start)
}

// identityHeaders are set on the upstream request after every client-sent
// copy of them has been stripped.
func identityHeaders(id *session.Identity, st *reqState) http.Header {
	h := make(http.Header, 8)
	h["X-Forwarded-User"] = []string{id.Subject}
	if id.Email != "" {
		h["X-Forwarded-Email"] = []string{id.Email}
	}
	if id.PreferredUsername != "" {
		h["X-Forwarded-Preferred-Username"] = []string{id.PreferredUsername}
	}
	if len(id.Groups) > 0 {
		h["X-Forwarded-Groups"] = []string{strings.Join(id.Groups, ",")}
	}
	h["X-Request-Id"] = []string{st.id}
	if c := st.client; c.trusted {
		h["X-Forwarded-For"] = []string{c.xff}
		h["X-Forwarded-Proto"] = []string{c.proto}
		h["X-Forwarded-Host"] = []string{c.host}
	}
	return h
}

// unauthenticated answers a request without valid credentials: browsers
// navigating to a page go to the issuer to sign in; everything else gets
// 401, so scripts and XHR never follow a login redirect.
func (g *Gateway) unauthenticated(w http.ResponseWriter, r *http.Request, st *reqState) {
	if !isNavigation(r) {
		g.unauthorized(w, r, st, `Bearer realm="gatehouse"`)
		return
	}
	st.outcome = "login"
	if err := g.cfg.Login.Start(w, r, g.returnTo(r, st)); err != nil {
		g.fail(w, r, st, err)
	}
}

func (g *Gateway) unauthorized(w http.ResponseWriter, r *http.Request, st *reqState, challenge string) {
	st.outcome = "unauthenticated"
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, r, st.id, http.StatusUnauthorized, "authentication required")
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

package proxy

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// forwardAuthHeaders are the identity headers of a forward-auth answer.
// Every one is always present (empty when unknown), so an ingress that
// copies them onto the upstream request always overwrites client values.
var forwardAuthHeaders = []string{
	"X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups",
	"X-Auth-Request-Preferred-Username", "X-Auth-Request-Client-Id",
}

// original is the request an ingress asks gatehouse about.
type original struct {
	method, host, path string
	scheme             string
	requestURI         string // path and query as the client sent them
}

var errForwardedRequest = errors.New("proxy: malformed original request headers")

// originalRequest reads the ingress's description of the original request:
// X-Forwarded-Method/-Host/-Uri/-Proto (Traefik, Caddy, ingress-nginx) or
// X-Original-URL / X-Original-Method (nginx). They are believed only from
// trusted proxies; from anyone else the auth request itself is the original.
// Anything present but malformed is an error, never a guess.
func (g *Gateway) originalRequest(r *http.Request, st *reqState) (original, error) {
	o := original{method: r.Method, host: hostOnly(r.Host), path: st.path, scheme: st.client.proto, requestURI: r.URL.RequestURI()}
	if !st.client.trusted {
		return o, nil
	}
	h := r.Header
	if m, ok := single(h, "X-Forwarded-Method", "X-Original-Method"); ok {
		if !validMethod(m) {
			return o, errForwardedRequest
		}
		o.method = m
	} else if present(h, "X-Forwarded-Method", "X-Original-Method") {
		return o, errForwardedRequest
	}
	o.host, o.scheme = hostOnly(st.client.host), st.client.proto
	uri, ok := single(h, "X-Forwarded-Uri")
	if !ok && present(h, "X-Forwarded-Uri") {
		return o, errForwardedRequest
	}
	if full, fok := single(h, "X-Original-Url"); fok && !ok {
		u, err := url.Parse(full)
		if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || !validHost(u.Host) || u.User != nil {
			return o, errForwardedRequest
		}
		o.host, o.scheme = hostOnly(u.Host), u.Scheme
		// Keep the path exactly as the client sent it: the text after the
		// authority. A URL that does not start with its own scheme and host
		// verbatim is refused.
		uri, ok = strings.CutPrefix(full, u.Scheme+"://"+u.Host)
		if !ok || !strings.HasPrefix(uri, "/") {
			return o, errForwardedRequest
		}
	} else if present(h, "X-Original-Url") && !ok {
		return o, errForwardedRequest
	}
	if !ok {
		return o, nil
	}
	rawPath, _, _ := strings.Cut(uri, "?")
	rawPath, _, _ = strings.Cut(rawPath, "#")
	p, err := canonicalize(rawPath, g.cfg.AllowPathParams)
	if err != nil || strings.Contains(uri, "#") {
		return o, errForwardedRequest
	}
	if g.cfg.AllowPathParams {
		p = stripParams(p)
	}
	o.path, o.requestURI = p, uri
	return o, nil
}

// single returns the one non-empty value of the first of names present.
func single(h http.Header, names ...string) (string, bool) {
	for _, n := range names {
		if vs := h.Values(n); len(vs) > 0 {
			if len(vs) != 1 || vs[0] == "" {
				return "", false
			}
			return vs[0], true
		}
	}
	return "", false
}

func present(h http.Header, names ...string) bool {
	for _, n := range names {
		if _, ok := h[http.CanonicalHeaderKey(n)]; ok {
			return true
		}
	}
	return false
}

// forwardAuth answers an ingress's sub-request (nginx auth_request,
// Traefik forwardAuth, Caddy forward_auth): 2xx with identity headers, or
// 401/403 with an empty body. Every error is a non-2xx, because ingresses
// treat any 2xx as "allow".
func (g *Gateway) forwardAuth(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r.Context())
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	o, err := g.originalRequest(r, st)
	if err != nil {
		st.outcome = "rejected"
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	st.path = o.path
	v := g.decide(w, r, o.method, o.host, o.path)
	switch v.kind {
	case kindPublic, kindAllow:
		for _, name := range forwardAuthHeaders {
			h[name] = []string{""}
		}
		st.outcome = "auth_ok"
		if v.id != nil {
			st.user = v.id.Subject
			h["X-Auth-Request-User"] = []string{userHeader(v.id)}
			h["X-Auth-Request-Email"] = []string{v.id.Email}
			h["X-Auth-Request-Groups"] = []string{strings.Join(v.id.Groups, ",")}
			h["X-Auth-Request-Preferred-Username"] = []string{v.id.PreferredUsername}
			h["X-Auth-Request-Client-Id"] = []string{v.id.ClientID}
			if g.assert != nil {
				tok, err := g.assert.sign(v.id, o.scheme+"://"+o.host)
				if err != nil {
					st.outcome = "error"
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				h["X-Auth-Request-Assertion"] = []string{tok}
			}
		}
		w.WriteHeader(http.StatusOK)
	case kindNeedAuth:
		st.outcome = "unauthenticated"
		h.Set("WWW-Authenticate", challengeBasic)
		w.WriteHeader(http.StatusUnauthorized)
	case kindDeny:
		st.outcome = "forbidden"
		if v.challenge != "" {
			h.Set("WWW-Authenticate", v.challenge)
		}
		w.WriteHeader(http.StatusForbidden)
	case kindRefused:
		st.outcome = "unauthenticated"
		if v.challenge != "" {
			h.Set("WWW-Authenticate", v.challenge)
		}
		setRetryAfter(w, v.retryAfter)
		w.WriteHeader(v.status)
	default:
		st.outcome = "error"
		g.cfg.Logger.Warn("forward-auth failed", "id", st.id, "err", v.err)
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

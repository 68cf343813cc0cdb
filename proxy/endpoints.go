package proxy

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/gatehouse-proxy/gatehouse/proxy/login"
)

// maxEndpointBody bounds what gatehouse reads from a request to its own
// endpoints.
const maxEndpointBody = 64 << 10

func (g *Gateway) endpoints() *http.ServeMux {
	p := g.cfg.EndpointPrefix
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+"/start", g.start)
	mux.HandleFunc("GET "+p+"/callback", g.callback)
	mux.HandleFunc("GET "+p+"/sign_in", g.signIn)
	mux.HandleFunc("GET "+p+"/sign_out", g.signOutPage)
	mux.HandleFunc("POST "+p+"/sign_out", g.signOut)
	mux.HandleFunc("GET "+p+"/userinfo", g.userinfo)
	mux.HandleFunc("GET "+p+"/jwks", g.jwks)
	mux.HandleFunc("POST "+p+"/backchannel-logout", g.backchannelLogout)
	// Any method: nginx sends the sub-request with the original method.
	// The body is never read.
	mux.HandleFunc(p+"/auth", g.forwardAuth)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		g.reject(w, r, stateOf(r.Context()), http.StatusNotFound, "no such gatehouse endpoint")
	})
	return mux
}

// redirectParam returns the validated rd parameter, or def when there is
// none. ok is false when rd is present but not allowed.
func (g *Gateway) redirectParam(r *http.Request, def string) (string, bool) {
	q := r.URL.Query()
	if len(q["rd"]) > 1 {
		return "", false
	}
	rd := q.Get("rd")
	if rd == "" {
		return def, true
	}
	v, err := g.cfg.Redirects.Check(rd)
	if err != nil {
		g.metrics.redirect.Inc()
		return "", false
	}
	return v, true
}

func (g *Gateway) start(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r.Context())
	rd, ok := g.redirectParam(r, "/")
	if !ok {
		g.reject(w, r, st, http.StatusBadRequest, "the requested return address is not allowed")
		return
	}
	st.outcome = "login"
	g.metrics.LoginEvent("start", "ok")
	if err := g.cfg.Login.Start(w, r, rd); err != nil {
		g.fail(w, r, st, err)
	}
}

func (g *Gateway) callback(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r.Context())
	if err := g.cfg.Login.Callback(w, r); err != nil {
		if login.StatusOf(err) < 500 {
			g.metrics.LoginEvent("callback", "denied")
		} else {
			g.metrics.LoginEvent("callback", "error")
		}
		g.fail(w, r, st, err)
		return
	}
	g.metrics.LoginEvent("callback", "ok")
	st.outcome = "callback"
}

// signIn shows a page with one button that starts the login. It is also
// where the issuer sends the browser back after signing out.
func (g *Gateway) signIn(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r.Context())
	rd, ok := g.redirectParam(r, "/")
	if !ok {
		rd = "/"
	}
	writePage(w, http.StatusOK, page{
		Title:     "Sign in",
		Message:   "This site is protected by gatehouse. Sign in with your organisation's account to continue.",
		Link:      g.cfg.EndpointPrefix + "/start?rd=" + url.QueryEscape(rd),
		Button:    "Sign in",
		RequestID: st.id,
	})
}

func (g *Gateway) signOutPage(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r.Context())
	action := g.cfg.EndpointPrefix + "/sign_out"
	if rd, ok := g.redirectParam(r, ""); ok && rd != "" {
		action += "?rd=" + url.QueryEscape(rd)
	}
	writePage(w, http.StatusOK, page{Title: "Sign out", Message: "Do you want to sign out?", Form: action, Button: "Sign out", RequestID: st.id})
}

// signOut ends the session. It accepts only same-origin POSTs (checked with
// Sec-Fetch-Site and Origin), so another site cannot sign a user out.
func (g *Gateway) signOut(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r.Context())
	if err := g.cop.Check(r); err != nil {
		g.reject(w, r, st, http.StatusForbidden, "cross-origin sign-out refused")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxEndpointBody)
	// An off-list return address does not stop the sign-out the user asked
	// for: the session ends and the browser goes to the default target.
	rd, ok := g.redirectParam(r, g.cfg.EndpointPrefix+"/sign_in")
	if !ok {
		rd = g.cfg.EndpointPrefix + "/sign_in"
	}
	st.outcome = "sign_out"
	g.metrics.LoginEvent("sign_out", "ok")
	if err := g.cfg.Login.SignOut(w, r, rd); err != nil {
		g.fail(w, r, st, err)
	}
}

// userinfo returns the caller's identity, never its tokens.
func (g *Gateway) userinfo(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r.Context())
	s, ok, err := g.cfg.Login.Authenticate(w, r)
	if err != nil {
		g.fail(w, r, st, err)
		return
	}
	if !ok {
		g.unauthorized(w, r, st, `Bearer realm="gatehouse"`)
		return
	}
	st.user = s.Identity.Subject
	id := s.Identity
	groups := id.Groups
	if groups == nil {
		groups = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"user":               id.Subject,
		"email":              id.Email,
		"preferred_username": id.PreferredUsername,
		"name":               id.Name,
		"groups":             groups,
		"issuer":             id.Issuer,
	})
}

// jwks publishes the public keys of the identity assertion.
func (g *Gateway) jwks(w http.ResponseWriter, r *http.Request) {
	if g.assert == nil {
		g.reject(w, r, stateOf(r.Context()), http.StatusNotFound, "identity assertions are not enabled")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	_ = json.NewEncoder(w).Encode(g.assert.jwks)
}

// backchannelLogout receives the issuer's logout tokens (server to server:
// no cookies, no cross-origin check).
func (g *Gateway) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r.Context())
	st.outcome = "backchannel_logout"
	if err := g.cfg.Login.BackchannelLogout(w, r); err != nil {
		g.fail(w, r, st, err)
	}
}

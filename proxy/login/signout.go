package login

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// SignOut ends the request's session and sends the browser on: to the
// issuer's end_session_endpoint when it has one (RP-initiated logout, with
// id_token_hint and the registered post_logout_redirect_uri), otherwise to
// redirectTo, which the caller must have validated.
//
// The caller must only route POST requests here, after its cross-origin
// check; SignOut itself changes state unconditionally.
func (l *Login) SignOut(w http.ResponseWriter, r *http.Request, redirectTo string) error {
	s, err := l.cfg.Sessions.Load(r)
	if err != nil && !errors.Is(err, session.ErrNoSession) {
		return fail(http.StatusServiceUnavailable, "the session store is not reachable", err)
	}
	if s != nil {
		// With the cookie store the browser may still hold (or an attacker
		// may have copied) the cookie; this replica refuses it from now on.
		l.revoked.addSession(s.ID, l.cfg.Now())
	}
	if err := l.cfg.Sessions.Clear(w, r); err != nil {
		return fail(http.StatusServiceUnavailable, "the session store is not reachable", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	target := redirectTo
	if iss, _ := l.cfg.Discovery.Get(); s != nil && iss != nil && iss.EndSessionURL != "" {
		if u, err := url.Parse(iss.EndSessionURL); err == nil {
			q := u.Query()
			if s.IDToken != "" {
				q.Set("id_token_hint", s.IDToken)
			}
			q.Set("client_id", l.cfg.ClientID)
			q.Set("post_logout_redirect_uri", l.cfg.PostLogoutURL)
			u.RawQuery = q.Encode()
			target = u.String()
		}
	}
	if s != nil {
		l.cfg.Logger.Info("sign-out", "sub", s.Identity.Subject, "session", shortID(s.ID))
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

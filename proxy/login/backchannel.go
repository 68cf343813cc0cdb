package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-proxy/gatehouse/session"
)

const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutClaims are the claims of an OIDC Back-Channel Logout token.
type logoutClaims struct {
	Subject  string                     `json:"sub"`
	SID      string                     `json:"sid"`
	JTI      string                     `json:"jti"`
	IssuedAt *float64                   `json:"iat"`
	Expiry   *float64                   `json:"exp"`
	Events   map[string]json.RawMessage `json:"events"`
	Nonce    *json.RawMessage           `json:"nonce"`
}

// BackchannelLogout implements OpenID Connect Back-Channel Logout 1.0: the
// issuer POSTs a logout_token and every session it names ends, on every
// replica when the store is shared. Invalid tokens get 400
// {"error":"invalid_request"}; valid ones 200, also when they name no live
// session (logout is idempotent).
func (l *Login) BackchannelLogout(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return l.badLogout(w, err)
	}
	tokens := r.PostForm["logout_token"]
	if len(tokens) != 1 || tokens[0] == "" {
		return l.badLogout(w, errors.New("want exactly one logout_token"))
	}
	c, err := l.verifyLogoutToken(r.Context(), tokens[0])
	if err != nil {
		return l.badLogout(w, err)
	}
	first, err := l.cfg.Once.First(r.Context(), "logout-jti:"+c.JTI, 10*time.Minute)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "the session store is not reachable", err)
	}
	if !first {
		return l.badLogout(w, errors.New("logout token replayed"))
	}
	if err := l.revoke(r.Context(), c.SID, c.Subject); err != nil {
		return fail(http.StatusServiceUnavailable, "the session store is not reachable", err)
	}
	l.cfg.Observe("backchannel_logout", "ok")
	l.cfg.Logger.Info("back-channel logout", "sub", c.Subject, "sid_given", c.SID != "")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (l *Login) badLogout(w http.ResponseWriter, err error) error {
	l.cfg.Observe("backchannel_logout", "invalid")
	l.cfg.Logger.Warn("back-channel logout refused", "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"error":"invalid_request"}` + "\n"))
	return nil
}

// verifyLogoutToken checks signature, iss and aud with go-oidc, then the
// rules of §2.6: iat, the logout event, no nonce, sid or sub, jti.
func (l *Login) verifyLogoutToken(ctx context.Context, raw string) (*logoutClaims, error) {
	iss, err := l.cfg.Discovery.Get()
	if err != nil {
		return nil, err
	}
	// Logout tokens need not carry exp, so go-oidc's expiry check is off
	// in this verifier and done below when exp is present.
	tok, err := l.bind(iss).logout.Verify(oidc.ClientContext(ctx, l.cfg.Client), raw)
	if err != nil {
		return nil, fmt.Errorf("login: logout token: %w", err)
	}
	var c logoutClaims
	if err := tok.Claims(&c); err != nil {
		return nil, err
	}
	now := float64(l.cfg.Now().Unix())
	switch {
	case c.IssuedAt == nil || *c.IssuedAt > now+60 || *c.IssuedAt < now-600:
		return nil, errors.New("login: logout token iat missing or out of range")
	case c.Expiry != nil && *c.Expiry < now-30:
		return nil, errors.New("login: logout token expired")
	case c.Nonce != nil:
		return nil, errors.New("login: logout token carries a nonce")
	case c.SID == "" && c.Subject == "":
		return nil, errors.New("login: logout token names neither sid nor sub")
	case c.JTI == "":
		return nil, errors.New("login: logout token has no jti")
	}
	ev, ok := c.Events[backchannelEvent]
	if !ok || !strings.HasPrefix(strings.TrimSpace(string(ev)), "{") {
		return nil, errors.New("login: logout token lacks the back-channel logout event")
	}
	if len(tok.Audience) > 1 && !contains(tok.Audience, l.cfg.ClientID) {
		return nil, errors.New("login: logout token audience")
	}
	return &c, nil
}

// revoke ends the sessions named by sid (preferred: it is the one login)
// or by sub (all of the user's sessions).
func (l *Login) revoke(ctx context.Context, sid, sub string) error {
	l.revoked.add(sid, sub, l.cfg.Now())
	rv, ok := l.cfg.Sessions.(session.Revoker)
	if !ok {
		return nil
	}
	if sid != "" {
		return rv.RevokeSID(ctx, sid)
	}
	return rv.RevokeSubject(ctx, sub)
}

// RevokeSubject ends every session of sub: on every replica with a shared
// store, and on this one with the cookie store.
func (l *Login) RevokeSubject(ctx context.Context, sub string) error {
	return l.revoke(ctx, "", sub)
}

// revocations remembers recent revocations in this process, so that the
// cookie store (which keeps sessions in browsers) can refuse sessions that
// were logged out before their cookies expire. It is bounded and per
// replica; the Redis store revokes for all replicas itself.
type revocations struct {
	mu   sync.Mutex
	sids map[string]time.Time
	subs map[string]time.Time
	ids  map[string]time.Time // signed-out sessions, by Session.ID
}

const maxRevocations = 100000

func (v *revocations) init() {
	v.sids = make(map[string]time.Time)
	v.subs = make(map[string]time.Time)
	v.ids = make(map[string]time.Time)
}

// addSession remembers that the session with this id was signed out.
func (v *revocations) addSession(id string, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.ids) >= maxRevocations {
		clear(v.ids)
	}
	v.ids[id] = at
}

func (v *revocations) add(sid, sub string, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.sids)+len(v.subs) >= maxRevocations {
		clear(v.sids)
		clear(v.subs)
	}
	if sid != "" {
		v.sids[sid] = at
	} else if sub != "" {
		v.subs[sub] = at
	}
}

// ended reports whether s was revoked after it was created.
func (v *revocations) ended(s *session.Session) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.sids) == 0 && len(v.subs) == 0 && len(v.ids) == 0 {
		return false
	}
	if _, ok := v.ids[s.ID]; ok {
		return true
	}
	if at, ok := v.sids[s.Identity.SID]; ok && s.Identity.SID != "" && !s.CreatedAt.After(at) {
		return true
	}
	at, ok := v.subs[s.Identity.Subject]
	return ok && !s.CreatedAt.After(at)
}

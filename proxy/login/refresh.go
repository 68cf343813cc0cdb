package login

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// errRefreshRejected means the issuer refused the refresh token: the
// session is over and the browser must log in again.
var errRefreshRejected = errors.New("login: refresh token rejected")

// Authenticate loads the request's session and refreshes its tokens when
// they have expired. ok is false when there is no usable session (the
// caller asks the user to log in); err is a technical failure (the store
// or the issuer is unreachable) and must fail closed.
func (l *Login) Authenticate(w http.ResponseWriter, r *http.Request) (s *session.Session, ok bool, err error) {
	s, err = l.cfg.Sessions.Load(r)
	if errors.Is(err, session.ErrNoSession) {
		if l.hasSessionCookie(r) {
			// A cookie that does not decode (tampered, from another
			// deployment, expired) is deleted so the browser stops
			// sending it.
			if err := l.cfg.Sessions.Clear(w, r); err != nil {
				return nil, false, err
			}
		}
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if l.revoked.ended(s) {
		if err := l.cfg.Sessions.Clear(w, r); err != nil {
			return nil, false, err
		}
		return nil, false, nil
	}
	if !s.NeedsRefresh(l.cfg.Now(), l.cfg.RefreshSkew) {
		return s, true, nil
	}
	ns, err := l.refresher.do(s, func() (*session.Session, error) {
		ns, err := l.refreshLocked(r, s)
		switch {
		case err == nil:
			l.cfg.Observe("refresh", "ok")
		case errors.Is(err, errRefreshRejected):
			l.cfg.Observe("refresh", "rejected")
		default:
			l.cfg.Observe("refresh", "error")
		}
		return ns, err
	})
	if errors.Is(err, errRefreshRejected) {
		l.cfg.Logger.Info("refresh rejected; session ended", "sub", s.Identity.Subject, "session", shortID(s.ID), "err", err)
		if cerr := l.cfg.Sessions.Clear(w, r); cerr != nil {
			return nil, false, cerr
		}
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := l.cfg.Sessions.Save(w, r, ns); err != nil {
		if errors.Is(err, session.ErrNoSession) {
			return nil, false, nil // ended (revoked, cleared) while refreshing
		}
		return nil, false, err
	}
	return ns, true, nil
}

// refreshLocked refreshes s under the cross-replica lock, when there is
// one. A replica that waited for the lock re-reads the session first: if
// another replica refreshed it meanwhile, that result is used and the
// spent refresh token is not presented again.
func (l *Login) refreshLocked(r *http.Request, s *session.Session) (*session.Session, error) {
	if l.cfg.Locker == nil {
		return l.refresh(r, s)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	unlock, err := l.cfg.Locker.Lock(ctx, "refresh:"+s.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur, err := l.cfg.Sessions.Load(r)
	if errors.Is(err, session.ErrNoSession) {
		return nil, errRefreshRejected
	}
	if err != nil {
		return nil, err
	}
	if cur.ID == s.ID && !cur.NeedsRefresh(l.cfg.Now(), l.cfg.RefreshSkew) {
		return cur, nil
	}
	return l.refresh(r, cur)
}

// refresh redeems s's refresh token. It runs detached from the request
// that triggered it, because other requests may be waiting for its result.
func (l *Login) refresh(r *http.Request, s *session.Session) (*session.Session, error) {
	iss, err := l.cfg.Discovery.Get()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx(r)), 20*time.Second)
	defer cancel()
	tok, err := l.oauth2Config(iss).TokenSource(ctx, &oauth2.Token{RefreshToken: s.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return nil, errors.Join(errRefreshRejected, tokenError(err))
		}
		return nil, tokenError(err)
	}
	ns := *s
	ns.AccessToken, ns.Expiry, ns.RefreshedAt = tok.AccessToken, tok.Expiry, l.cfg.Now()
	if tok.RefreshToken != "" {
		ns.RefreshToken = tok.RefreshToken
	}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		_, id, err := l.verifyIDToken(ctx, iss, tok)
		if err != nil {
			return nil, errors.Join(errRefreshRejected, err)
		}
		if id.Subject != s.Identity.Subject || id.Issuer != s.Identity.Issuer {
			return nil, errors.Join(errRefreshRejected, errors.New("login: refreshed ID token names another subject"))
		}
		if id.SID == "" {
			id.SID = s.Identity.SID
		}
		ns.Identity, ns.IDToken = *id, raw
	}
	return &ns, nil
}

// refresher lets one refresh per session run at a time: concurrent
// requests wait for it and share its result. Requests that arrive shortly
// afterwards still carrying the old refresh token (their cookies predate
// the refresh) get the same result instead of spending that token again.
type refresher struct {
	now    func() time.Time
	mu     sync.Mutex
	active map[string]*refreshCall
	recent map[[32]byte]recentRefresh
}

type refreshCall struct {
	done chan struct{}
	s    *session.Session
	err  error
}

type recentRefresh struct {
	s       *session.Session
	expires time.Time
}

const (
	recentRefreshTTL = time.Minute
	maxRecent        = 10000
)

func (f *refresher) init(now func() time.Time) {
	f.now = now
	f.active = make(map[string]*refreshCall)
	f.recent = make(map[[32]byte]recentRefresh)
}

func (f *refresher) do(s *session.Session, fn func() (*session.Session, error)) (*session.Session, error) {
	key := sha256.Sum256([]byte(s.RefreshToken))
	f.mu.Lock()
	if rr, ok := f.recent[key]; ok && f.now().Before(rr.expires) {
		f.mu.Unlock()
		return rr.s, nil
	}
	if c, ok := f.active[s.ID]; ok {
		f.mu.Unlock()
		<-c.done
		return c.s, c.err
	}
	c := &refreshCall{done: make(chan struct{})}
	f.active[s.ID] = c
	f.mu.Unlock()

	c.s, c.err = fn()

	f.mu.Lock()
	delete(f.active, s.ID)
	if c.err == nil {
		f.remember(key, c.s)
	}
	f.mu.Unlock()
	close(c.done)
	return c.s, c.err
}

// remember must be called with f.mu held.
func (f *refresher) remember(key [32]byte, s *session.Session) {
	now := f.now()
	if len(f.recent) >= maxRecent {
		for k, v := range f.recent {
			if now.After(v.expires) {
				delete(f.recent, k)
			}
		}
		if len(f.recent) >= maxRecent {
			clear(f.recent)
		}
	}
	f.recent[key] = recentRefresh{s: s, expires: now.Add(recentRefreshTTL)}
}

func (l *Login) hasSessionCookie(r *http.Request) bool {
	if l.cfg.SessionCookie == "" {
		return false
	}
	for _, c := range r.Cookies() {
		if c.Name == l.cfg.SessionCookie || strings.HasPrefix(c.Name, l.cfg.SessionCookie+"_") && !strings.HasPrefix(c.Name, l.cfg.SessionCookie+"_flow") {
			return true
		}
	}
	return false
}

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
	ns, leader, err := l.refresher.do(s, func() (*session.Session, error) {
		ns, err := l.refreshLocked(w, r, s)
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
	if leader || l.cfg.Locker != nil {
		// The refresh that ran saved the session itself; with a shared
		// store that is the only save, so a late request cannot write an
		// older session over a newer one.
		return ns, true, nil
	}
	// Without a shared store each browser response carries the session:
	// requests that shared another's refresh set the new cookie too.
	if err := l.cfg.Sessions.Save(w, r, ns); err != nil {
		if errors.Is(err, session.ErrNoSession) {
			return nil, false, nil // ended (revoked, cleared) while refreshing
		}
		return nil, false, err
	}
	return ns, true, nil
}

// refreshLocked refreshes s and saves the result, under the cross-replica
// lock when there is one. The save happens before the lock is released, so
// a replica that waited for the lock and re-reads the session always sees
// the refreshed one and never presents the spent refresh token again.
func (l *Login) refreshLocked(w http.ResponseWriter, r *http.Request, s *session.Session) (*session.Session, error) {
	if l.cfg.Locker == nil {
		ns, err := l.refresh(r, s)
		if err != nil {
			return nil, err
		}
		return ns, l.saveRefreshed(w, r, ns)
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
	ns, err := l.refresh(r, cur)
	if err != nil {
		return nil, err
	}
	return ns, l.saveRefreshed(w, r, ns)
}

// saveRefreshed stores a refreshed session. A session that ended meanwhile
// (revoked, signed out) stays ended.
func (l *Login) saveRefreshed(w http.ResponseWriter, r *http.Request, ns *session.Session) error {
	err := l.cfg.Sessions.Save(w, r, ns)
	if errors.Is(err, session.ErrNoSession) {
		return errors.Join(errRefreshRejected, err)
	}
	return err
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
	tctx, tcancel := l.tokenContext(ctx)
	tok, err := l.oauth2Config(iss).TokenSource(tctx, &oauth2.Token{RefreshToken: s.RefreshToken}).Token()
	tcancel()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return nil, errors.Join(errRefreshRejected, tokenError(err))
		}
		return nil, tokenError(err)
	}
	ns := *s
	ns.AccessToken, ns.Expiry, ns.RefreshedAt = l.keepAccess(tok.AccessToken), tok.Expiry, l.cfg.Now()
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

// do runs fn, or waits for the run already going for s's session, or
// reuses a recent result for s's refresh token. leader is true for the
// caller whose fn ran.
func (f *refresher) do(s *session.Session, fn func() (*session.Session, error)) (ns *session.Session, leader bool, err error) {
	key := sha256.Sum256([]byte(s.RefreshToken))
	f.mu.Lock()
	if rr, ok := f.recent[key]; ok && f.now().Before(rr.expires) {
		f.mu.Unlock()
		return rr.s, false, nil
	}
	if c, ok := f.active[s.ID]; ok {
		f.mu.Unlock()
		<-c.done
		return c.s, false, c.err
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
	return c.s, true, c.err
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

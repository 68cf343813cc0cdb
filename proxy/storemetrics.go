package proxy

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// InstrumentStore wraps s so that every operation is timed and technical
// failures are counted. "No session" is not a failure.
func InstrumentStore(s session.Store, m *Metrics) session.Store {
	return &instrumentedStore{s: s, m: m}
}

type instrumentedStore struct {
	s session.Store
	m *Metrics
}

var (
	_ session.Store   = (*instrumentedStore)(nil)
	_ session.Revoker = (*instrumentedStore)(nil)
)

func (i *instrumentedStore) observe(op string, start time.Time, err error) {
	i.m.store.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, session.ErrNoSession) {
		i.m.storeErr.WithLabelValues(op).Inc()
	}
}

func (i *instrumentedStore) Load(r *http.Request) (*session.Session, error) {
	start := time.Now()
	s, err := i.s.Load(r)
	i.observe("load", start, err)
	return s, err
}

func (i *instrumentedStore) Save(w http.ResponseWriter, r *http.Request, s *session.Session) error {
	start := time.Now()
	err := i.s.Save(w, r, s)
	i.observe("save", start, err)
	return err
}

func (i *instrumentedStore) Clear(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	err := i.s.Clear(w, r)
	i.observe("clear", start, err)
	return err
}

// RevokeSID revokes through the wrapped store when it can; a store that
// keeps sessions in browsers cannot, and the call is a no-op.
func (i *instrumentedStore) RevokeSID(ctx context.Context, sid string) error {
	rv, ok := i.s.(session.Revoker)
	if !ok {
		return nil
	}
	start := time.Now()
	err := rv.RevokeSID(ctx, sid)
	i.observe("revoke", start, err)
	return err
}

// RevokeSubject is RevokeSID for every session of a subject.
func (i *instrumentedStore) RevokeSubject(ctx context.Context, sub string) error {
	rv, ok := i.s.(session.Revoker)
	if !ok {
		return nil
	}
	start := time.Now()
	err := rv.RevokeSubject(ctx, sub)
	i.observe("revoke", start, err)
	return err
}

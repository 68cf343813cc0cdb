package bearer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// maxDiscoveryBackoff caps the wait between failed discovery attempts.
const maxDiscoveryBackoff = 30 * time.Second

// issuer is one trusted issuer: its configuration, what discovery
// learned, and its signing keys.
type issuer struct {
	a    *Authenticator
	cfg  IssuerConfig
	ep   atomic.Pointer[endpoints] // nil until discovery succeeds
	disc retry
	keys *keySet
}

// endpoints are the issuer's URLs, from discovery and configuration.
type endpoints struct {
	jwks          string
	token         string
	introspection string // "" when this issuer does not introspect
}

func newIssuer(a *Authenticator, cfg IssuerConfig) *issuer {
	iss := &issuer{a: a, cfg: cfg}
	iss.keys = &keySet{iss: iss}
	return iss
}

// startDiscovery starts a discovery attempt in the background unless one
// is running or the backoff after failures has not passed; it returns the
// running attempt or nil.
func (iss *issuer) startDiscovery() *attempt {
	gap := func(fails int) time.Duration { return backoff(fails, maxDiscoveryBackoff) }
	return iss.disc.begin(iss.a.cfg.Now(), gap, iss.discover)
}

// endpoints returns what discovery learned, waiting (as long as ctx
// allows) for an attempt if there is none yet. Failure is technical: the
// caller answers 503.
func (iss *issuer) endpoints(ctx context.Context) (*endpoints, *rejection) {
	if ep := iss.ep.Load(); ep != nil {
		return ep, nil
	}
	at := iss.startDiscovery()
	if at == nil {
		return nil, unavailable(ReasonIssuerUnavailable, iss.disc.lastErr())
	}
	if err := at.wait(ctx); err != nil {
		return nil, unavailable(ReasonIssuerUnavailable, err)
	}
	return iss.ep.Load(), nil
}

// discover reads the discovery document with go-oidc, which also checks
// that it names this issuer exactly.
func (iss *issuer) discover() error {
	a := iss.a
	ctx, cancel := context.WithTimeout(a.ctx, a.cfg.Timeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, a.client), iss.cfg.URL)
	var meta struct {
		JWKS          string `json:"jwks_uri"`
		Introspection string `json:"introspection_endpoint"`
	}
	if err == nil {
		err = p.Claims(&meta)
	}
	if err == nil {
		if err = checkURL(meta.JWKS); err != nil {
			err = fmt.Errorf("jwks_uri %q: %w", meta.JWKS, err)
		}
	}
	if err != nil {
		err = fmt.Errorf("bearer: issuer %q: discovery: %w", iss.cfg.URL, shortError{err})
		a.cfg.Logger.Warn("bearer: issuer discovery failed", "issuer", iss.cfg.URL, "error", err)
		return err
	}
	ep := &endpoints{jwks: meta.JWKS, token: p.Endpoint().TokenURL, introspection: iss.cfg.IntrospectionURL}
	if ep.introspection == "" && checkURL(meta.Introspection) == nil {
		ep.introspection = meta.Introspection
	}
	if iss.cfg.ClientSecret == "" {
		ep.introspection = "" // RFC 7662 §2.1: the endpoint requires client authentication
	}
	iss.ep.Store(ep)
	iss.keys.start(ep.jwks) // prefetch, so the first token does not wait
	return nil
}

// attempt is one background fetch; done is closed when it ends, after err
// is set.
type attempt struct {
	done chan struct{}
	err  error
}

// wait returns the attempt's error, or ctx's if ctx ends first.
func (at *attempt) wait(ctx context.Context) error {
	select {
	case <-at.done:
		return at.err
	case <-ctx.Done():
		return fmt.Errorf("bearer: waiting for the issuer: %w", ctx.Err())
	}
}

// retry runs one background fetch at a time and spaces fetches out: a new
// one starts only when gap(consecutive failures) has passed since the last
// one started.
type retry struct {
	mu      sync.Mutex
	running *attempt
	last    time.Time
	fails   int
	err     error
}

// begin returns the running attempt, or starts fn as a new one, or
// returns nil when it is too early to try again.
func (r *retry) begin(now time.Time, gap func(fails int) time.Duration, fn func() error) *attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running != nil {
		return r.running
	}
	if !r.last.IsZero() && now.Before(r.last.Add(gap(r.fails))) {
		return nil
	}
	at := &attempt{done: make(chan struct{})}
	r.running, r.last = at, now
	go func() {
		err := fn()
		r.mu.Lock()
		r.running, r.err = nil, err
		if err != nil {
			r.fails++
		} else {
			r.fails = 0
		}
		r.mu.Unlock()
		at.err = err
		close(at.done)
	}()
	return at
}

// lastErr is the error of the latest finished attempt.
func (r *retry) lastErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		return errors.New("bearer: issuer not reached yet")
	}
	return r.err
}

// backoff is 1s, 2s, 4s, … after consecutive failures, at most max.
func backoff(fails int, max time.Duration) time.Duration {
	if fails <= 0 {
		return 0
	}
	return min(time.Second<<min(fails-1, 16), max)
}

// readLimited reads r to the end, failing beyond max bytes.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("response larger than %d bytes", max)
	}
	return b, nil
}

// shortError truncates the message of an error that may quote an
// issuer's response body, and still unwraps to it.
type shortError struct{ err error }

func (e shortError) Error() string {
	s := e.err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func (e shortError) Unwrap() error { return e.err }

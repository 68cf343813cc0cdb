package session

import (
	"context"
	"errors"
	"net/http"
)

// ErrNoSession is returned by Store.Load when the request carries no
// session, or one that cannot be decoded, verified, or has expired. Callers
// treat it as "not signed in", never as a failure.
var ErrNoSession = errors.New("session: no valid session")

// Store keeps browser sessions. Implementations must be safe for
// concurrent use.
//
// Load returns ErrNoSession for a missing or invalid session and any other
// error only for technical failures (a store that cannot be reached), so
// callers can fail closed with 503 rather than ask the user to log in
// again.
type Store interface {
	// Load returns the request's session.
	Load(r *http.Request) (*Session, error)
	// Save writes s and sets whatever cookies the browser needs on w. It must
	// be called before the response header is written.
	Save(w http.ResponseWriter, r *http.Request, s *Session) error
	// Clear ends the request's session: it deletes the server-side copy
	// where there is one and expires the cookies. Clearing a request with
	// no session is not an error.
	Clear(w http.ResponseWriter, r *http.Request) error
}

// Revoker is implemented by stores that can end sessions they are not
// holding a request for (server-side stores).
type Revoker interface {
	// RevokeSID ends every session whose Identity.SID is sid.
	RevokeSID(ctx context.Context, sid string) error
	// RevokeSubject ends every session whose Identity.Subject is sub.
	RevokeSubject(ctx context.Context, sub string) error
}

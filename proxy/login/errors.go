package login

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// Error is a failure with an HTTP status and a message that is safe to show
// the user. Cause holds the detail for the log and is never shown.
type Error struct {
	Status int    // HTTP status for the response
	Public string // short, user-facing explanation
	Cause  error  // detail for the log; may be nil
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return "login: " + e.Public
	}
	return fmt.Sprintf("login: %s: %v", e.Public, e.Cause)
}

func (e *Error) Unwrap() error { return e.Cause }

func fail(status int, public string, cause error) error {
	return &Error{Status: status, Public: public, Cause: cause}
}

// ErrIssuerUnavailable is returned (wrapped) while the issuer's discovery
// document has not been loaded; callers answer 503.
var ErrIssuerUnavailable = errors.New("login: issuer not available yet")

// StatusOf returns the HTTP status an error from this package maps to.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	if errors.Is(err, ErrIssuerUnavailable) || errors.Is(err, session.ErrStoreUnavailable) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

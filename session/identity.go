// Package session defines who a caller is (Identity), what gatehouse keeps
// about a signed-in browser (Session), and where it keeps it (Store).
//
// The package knows nothing of HTTP routing or OAuth flows: it encodes,
// encrypts, stores and loads. Callers decide what a session means.
package session

import (
	"time"
)

// Identity is an authenticated caller, as the rest of gatehouse sees it.
// It is built from verified token claims only; nothing in it comes from a
// client-sent header.
type Identity struct {
	// Issuer is the iss of the token the identity came from.
	Issuer string `json:"iss"`
	// Subject is the sub claim: stable and unique per issuer.
	Subject string `json:"sub"`
	// Email is set only when the issuer marked it verified.
	Email string `json:"email,omitempty"`
	// PreferredUsername is the preferred_username claim, if any.
	PreferredUsername string `json:"preferred_username,omitempty"`
	// Name is the display name claim, if any.
	Name string `json:"name,omitempty"`
	// Groups are the values of the configured groups claim.
	Groups []string `json:"groups,omitempty"`
	// ClientID is the OAuth client the token was issued to (client_id or
	// azp). For browser sessions it is gatehouse's own client id.
	ClientID string `json:"client_id,omitempty"`
	// Scopes are the access token's scopes, for machine callers.
	Scopes []string `json:"scopes,omitempty"`
	// Machine is true for callers authenticated by a bearer token obtained
	// without a user (client credentials); apps use it to tell services
	// from people.
	Machine bool `json:"machine,omitempty"`
	// SID is the issuer's session id (the sid claim), used by back-channel
	// logout.
	SID string `json:"sid,omitempty"`
}

// Session is what gatehouse keeps about a signed-in browser.
type Session struct {
	// ID is a random identifier for this session, 128 bits or more,
	// created at login and never derived from the request.
	ID string `json:"id"`
	// Identity is the user the session belongs to.
	Identity Identity `json:"identity"`
	// IDToken is the raw ID token, kept for id_token_hint at sign-out. It is
	// the first thing dropped when a session has to be slimmed.
	IDToken string `json:"id_token,omitempty"`
	// AccessToken is the issuer's access token.
	AccessToken string `json:"access_token,omitempty"`
	// RefreshToken is the issuer's refresh token, if one was granted.
	RefreshToken string `json:"refresh_token,omitempty"`
	// Expiry is when AccessToken expires; zero means unknown.
	Expiry time.Time `json:"expiry,omitzero"`
	// CreatedAt is when the user logged in; the absolute lifetime counts
	// from here and survives refreshes.
	CreatedAt time.Time `json:"created_at"`
	// RefreshedAt is when the tokens were last obtained from the issuer.
	RefreshedAt time.Time `json:"refreshed_at,omitzero"`
}

// NeedsRefresh reports whether the session's access token expires within
// skew of now and a refresh token is there to renew it. The skew is capped
// at a quarter of the token's lifetime (Expiry − RefreshedAt), so that
// short-lived tokens are not refreshed on every request.
func (s *Session) NeedsRefresh(now time.Time, skew time.Duration) bool {
	if s.RefreshToken == "" || s.Expiry.IsZero() {
		return false
	}
	if life := s.Expiry.Sub(s.RefreshedAt); !s.RefreshedAt.IsZero() && life > 0 && skew > life/4 {
		skew = life / 4
	}
	return !now.Before(s.Expiry.Add(-skew))
}

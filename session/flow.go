package session

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// ErrNoFlow is returned, possibly wrapped, by FlowCookies.Take when the
// request carries no valid, unexpired login flow for the state. Callers
// treat it as "this login was not started in this browser, or took too
// long".
var ErrNoFlow = errors.New("session: no valid login flow")

const (
	// maxFlowLifetime bounds FlowConfig.Lifetime.
	maxFlowLifetime = 15 * time.Minute
	// flowInfix separates the base name from a flow's id.
	flowInfix = "_flow_"
	// flowIDLength is the length of a flow id: 64 bits of SHA-256(state)
	// in hex.
	flowIDLength = 16
	// maxFlowCandidates bounds how many flow cookies on a request Save
	// looks at, so a request stuffed with cookies costs bounded work.
	maxFlowCandidates = 32
	// minStateLength is 128 bits in unpadded base64.
	minStateLength = 22
)

// Flow is what gatehouse remembers about a login between sending the
// browser to the issuer and the issuer sending it back.
type Flow struct {
	// State is the OAuth state parameter: at least 128 random bits,
	// base64url (NewRandom). It also names the flow's cookie.
	State string `json:"state"`
	// Nonce is the OIDC nonce, random like State.
	Nonce string `json:"nonce"`
	// Verifier is the PKCE code verifier (oauth2.GenerateVerifier).
	Verifier string `json:"verifier"`
	// RedirectTo is the validated target to return to after login.
	RedirectTo string `json:"redirect_to,omitempty"`
	// CreatedAt is when the login started; Save fills in the current
	// time in what it stores when it is zero.
	CreatedAt time.Time `json:"created_at"`
}

// FlowConfig configures FlowCookies.
type FlowConfig struct {
	// Name is the base cookie name, and should be the same as
	// CookieConfig.Name so that flow cookies share the session cookies'
	// prefix. Default "gatehouse". With Secure, "__Host-" is added. Each
	// flow's cookie is named <base>_flow_<id>, where id is the first 16
	// hex digits of SHA-256(state), so that several tabs can log in at
	// once.
	Name string
	// Secure sets the Secure attribute and the "__Host-" name prefix.
	// Default false.
	Secure bool
	// Lifetime is how long a login may take. Default 10m; at most 15m.
	Lifetime time.Duration
	// MaxFlows is how many logins may be in progress in one browser; Save
	// evicts the oldest flow cookies beyond it. Default 5.
	MaxFlows int
}

// FlowCookies keeps login flows in short-lived cookies, one per flow,
// signed and encrypted with keys derived for this purpose only (a flow
// cookie never decodes as a session, nor a session as a flow). The
// cookies are SameSite=Lax, as the issuer's redirect back is a top-level
// cross-site GET.
//
// FlowCookies is safe for concurrent use.
type FlowCookies struct {
	prefix   string // <base>_flow_
	secure   bool
	lifetime time.Duration
	maxFlows int
	encoder  securecookie.Codec
	codecs   []securecookie.Codec
	now      func() time.Time
}

// NewFlowCookies returns FlowCookies for cfg that sign and encrypt with
// keys. now is the clock for lifetimes; nil means time.Now. It only
// validates cfg.
func NewFlowCookies(cfg FlowConfig, keys Keys, now func() time.Time) (*FlowCookies, error) {
	base, err := cookieBaseName(cfg.Name, cfg.Secure)
	if err != nil {
		return nil, err
	}
	lifetime := cfg.Lifetime
	switch {
	case lifetime == 0:
		lifetime = 10 * time.Minute
	case lifetime < time.Second || lifetime > maxFlowLifetime:
		return nil, fmt.Errorf("session: flow lifetime %v is not between 1s and %v", cfg.Lifetime, maxFlowLifetime)
	}
	maxFlows := cfg.MaxFlows
	switch {
	case maxFlows == 0:
		maxFlows = 5
	case maxFlows < 0 || maxFlows > maxFlowCandidates:
		return nil, fmt.Errorf("session: MaxFlows %d is not between 1 and %d", maxFlows, maxFlowCandidates)
	}
	if keys.Len() == 0 {
		return nil, errNoKeys
	}
	codecs, err := keys.codecs(purposeFlow, lifetime, chunkSize)
	if err != nil {
		return nil, err
	}
	encoders, err := keys.codecs(purposeFlow, lifetime, 0) // Save checks the length
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &FlowCookies{
		prefix:   base + flowInfix,
		secure:   cfg.Secure,
		lifetime: lifetime,
		maxFlows: maxFlows,
		encoder:  encoders[0],
		codecs:   codecs,
		now:      now,
	}, nil
}

// NewRandom returns 32 bytes from crypto/rand in unpadded base64url, for
// states, nonces and session ids.
func NewRandom() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails; crashes the program if it would
	return base64.RawURLEncoding.EncodeToString(b)
}

// cookieName returns the name of the cookie for state.
func (f *FlowCookies) cookieName(state string) string {
	sum := sha256.Sum256([]byte(state))
	return f.prefix + hex.EncodeToString(sum[:flowIDLength/2])
}

// isFlowName reports whether name has the form of a flow cookie name.
func (f *FlowCookies) isFlowName(name string) bool {
	id, ok := strings.CutPrefix(name, f.prefix)
	if !ok || len(id) != flowIDLength {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Save sets a cookie holding fl, named after fl.State, whose Max-Age is
// what is left of the lifetime since fl.CreatedAt, and evicts the oldest
// other flow cookies on r so that at most MaxFlows remain (undecodable
// ones go first). fl.State must have at least 128 bits (NewRandom). A
// flow that does not fit in one cookie yields an error wrapping
// ErrTooLarge.
func (f *FlowCookies) Save(w http.ResponseWriter, r *http.Request, fl *Flow) error {
	if fl == nil {
		return errors.New("session: cannot save a nil flow")
	}
	if len(fl.State) < minStateLength {
		return errors.New("session: flow state must have at least 128 random bits (use NewRandom)")
	}
	c := *fl
	if c.CreatedAt.IsZero() {
		c.CreatedAt = f.now()
	}
	name := f.cookieName(c.State)
	value, err := f.encoder.Encode(name, &c)
	if err != nil {
		return fmt.Errorf("session: encoding login flow: %w", err)
	}
	if len(value) > chunkSize {
		return fmt.Errorf("%w: the login flow encodes to %d bytes, over the %d of one cookie (is RedirectTo very long?)", ErrTooLarge, len(value), chunkSize)
	}
	remaining := min(c.CreatedAt.Add(f.lifetime).Sub(f.now()), f.lifetime)
	if remaining < time.Second {
		return fmt.Errorf("session: login flow created at %s has already expired", c.CreatedAt.Format(time.RFC3339))
	}
	for _, old := range f.evictions(r, name) {
		http.SetCookie(w, f.cookie(old, "", -1))
	}
	http.SetCookie(w, f.cookie(name, value, int(remaining/time.Second)))
	return nil
}

// evictions returns the names of the flow cookies on r to expire so that,
// with the new flow named keep, at most MaxFlows remain.
func (f *FlowCookies) evictions(r *http.Request, keep string) []string {
	if r == nil {
		return nil
	}
	type candidate struct {
		name    string
		value   string
		bad     bool // undecodable or duplicated
		created time.Time
	}
	var cands []candidate
	seen := make(map[string]int)
	for _, c := range r.Cookies() {
		if c.Name == keep || !f.isFlowName(c.Name) {
			continue
		}
		if i, dup := seen[c.Name]; dup {
			cands[i].bad = true
			continue
		}
		if len(cands) == maxFlowCandidates {
			break
		}
		seen[c.Name] = len(cands)
		cands = append(cands, candidate{name: c.Name, value: c.Value})
	}
	excess := len(cands) - (f.maxFlows - 1)
	if excess <= 0 {
		return nil
	}
	for i := range cands {
		if cands[i].bad {
			continue
		}
		var fl Flow
		if err := decodeCookie(cands[i].name, cands[i].value, &fl, f.codecs...); err != nil {
			cands[i].bad = true
			continue
		}
		cands[i].created = fl.CreatedAt
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if a.bad != b.bad {
			if a.bad {
				return -1
			}
			return 1
		}
		return a.created.Compare(b.created)
	})
	names := make([]string, excess)
	for i := range names {
		names[i] = cands[i].name
	}
	return names
}

// Take returns the flow for state from r's cookies and expires its
// cookie, so that the browser cannot present it again. It checks that the
// cookie decodes, that its state equals state (in constant time) and that
// the flow is younger than the lifetime. Any problem yields an error
// wrapping ErrNoFlow.
func (f *FlowCookies) Take(w http.ResponseWriter, r *http.Request, state string) (*Flow, error) {
	if r == nil || state == "" {
		return nil, fmt.Errorf("%w: no state", ErrNoFlow)
	}
	name := f.cookieName(state)
	cookies := r.CookiesNamed(name)
	if len(cookies) == 0 {
		return nil, fmt.Errorf("%w: no flow cookie for this state", ErrNoFlow)
	}
	http.SetCookie(w, f.cookie(name, "", -1))
	if len(cookies) > 1 {
		return nil, fmt.Errorf("%w: more than one flow cookie for this state", ErrNoFlow)
	}
	var fl Flow
	if err := decodeCookie(name, cookies[0].Value, &fl, f.codecs...); err != nil {
		return nil, fmt.Errorf("%w: flow cookie does not decode", ErrNoFlow)
	}
	if subtle.ConstantTimeCompare([]byte(fl.State), []byte(state)) != 1 {
		return nil, fmt.Errorf("%w: state does not match", ErrNoFlow)
	}
	if age := f.now().Sub(fl.CreatedAt); fl.CreatedAt.IsZero() || age > f.lifetime {
		return nil, fmt.Errorf("%w: login took longer than %v", ErrNoFlow, f.lifetime)
	}
	return &fl, nil
}

// cookie returns a flow cookie; maxAge < 0 deletes it.
func (f *FlowCookies) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   f.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

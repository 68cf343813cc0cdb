package devissuer

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// accessRecord remembers an issued access token (JWT or opaque).
type accessRecord struct {
	claims   map[string]any // the token's claims (for introspection)
	clientID string
	username string // "" for client_credentials
	scope    string
	sid      string // token family; "" for client_credentials
	exp      time.Time
	revoked  bool
}

// refreshRecord remembers an issued refresh token.
type refreshRecord struct {
	clientID, username, scope, sid string
	authTime, iat, exp             time.Time
	spent                          bool
}

// family is the set of tokens descended from one login (keyed by sid).
type family struct {
	revoked bool
	exp     time.Time // when the last token of the family expires
}

// oauthError is an RFC 6749 §5.2 error.
type oauthError struct {
	status      int
	code, descr string
}

func errInvalidRequest(d string) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_request", d}
}
func errInvalidGrant(d string) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_grant", d}
}
func errInvalidClient(d string) *oauthError {
	return &oauthError{http.StatusUnauthorized, "invalid_client", d}
}

func writeOAuthError(w http.ResponseWriter, status int, code, descr string) {
	if code == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="devissuer"`)
	}
	writeJSON(w, status, map[string]any{"error": code, "error_description": descr})
}

func (e *oauthError) write(w http.ResponseWriter) {
	writeOAuthError(w, e.status, e.code, e.descr)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	writeRawJSON(w, status, b)
}

func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func hashString(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// authenticateClient applies client_secret_basic, client_secret_post or
// none (public clients) to a POST request with a parsed form.
func (i *Issuer) authenticateClient(r *http.Request) (*Client, *oauthError) {
	f := r.PostForm
	var id, secret string
	if bu, bp, ok := r.BasicAuth(); ok {
		if f.Has("client_secret") {
			return nil, errInvalidRequest("more than one client authentication method used")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(bu)
		secret, err2 = url.QueryUnescape(bp)
		if err1 != nil || err2 != nil {
			return nil, errInvalidClient("malformed basic credentials")
		}
		if fid := f.Get("client_id"); fid != "" && fid != id {
			return nil, errInvalidClient("client_id does not match basic credentials")
		}
	} else if r.Header.Get("Authorization") != "" {
		return nil, errInvalidClient("unsupported Authorization scheme")
	} else {
		if len(f["client_id"]) > 1 || len(f["client_secret"]) > 1 {
			return nil, errInvalidRequest("client credentials repeated")
		}
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	if id == "" {
		return nil, errInvalidClient("client authentication required")
	}
	c := i.clients[id]
	if c == nil {
		// Compare anyway so timing does not reveal unknown clients.
		secretEqual("unknown-client", secret)
		return nil, errInvalidClient("client authentication failed")
	}
	if c.Secret == "" {
		if secret != "" {
			return nil, errInvalidClient("public client must not send a secret")
		}
		return c, nil
	}
	if !secretEqual(c.Secret, secret) {
		return nil, errInvalidClient("client authentication failed")
	}
	return c, nil
}

// grant describes what a token response is issued for.
type grant struct {
	client       *Client
	user         *User // nil for client_credentials
	scope        string
	refreshScope string // scope of the new refresh token; refresh issued when it has offline_access
	sid          string
	authTime     time.Time
	nonce        string
}

// issue creates the access token, ID token and refresh token of g and
// returns the token response.
func (i *Issuer) issue(g grant) (map[string]any, *oauthError) {
	now := i.now()
	exp := now.Add(i.accessTTL)
	jti := randomString(16)
	c := map[string]any{
		"iss": i.issuer, "aud": audClaim(g.client.Audience),
		"exp": exp.Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"jti": jti, "client_id": g.client.ID, "scope": g.scope,
	}
	rec := &accessRecord{clientID: g.client.ID, scope: g.scope, sid: g.sid, exp: exp}
	if g.user == nil {
		c["sub"] = g.client.ID
		c["groups"] = nonNil(g.client.Groups)
	} else {
		rec.username = g.user.Username
		c["sub"] = g.user.Subject
		c["groups"] = nonNil(g.user.Groups)
		c["sid"] = g.sid
		c["auth_time"] = g.authTime.Unix()
		c["preferred_username"] = g.user.Username
		if g.user.Email != "" {
			c["email"] = g.user.Email
			c["email_verified"] = g.user.EmailVerified
		}
		if g.user.Name != "" {
			c["name"] = g.user.Name
		}
	}
	rec.claims = c
	var at string
	if g.client.AccessTokenFormat == "opaque" {
		at = randomString(32)
	} else {
		var err error
		if at, err = i.signJWT("at+jwt", c); err != nil {
			return nil, &oauthError{http.StatusInternalServerError, "server_error", err.Error()}
		}
	}
	resp := map[string]any{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   int64(i.accessTTL / time.Second),
	}
	if g.scope != "" {
		resp["scope"] = g.scope
	}
	if g.user != nil && hasScope(g.scope, "openid") {
		idt, err := i.idToken(g, at, now)
		if err != nil {
			return nil, &oauthError{http.StatusInternalServerError, "server_error", err.Error()}
		}
		resp["id_token"] = idt
	}
	var rt string
	var rrec *refreshRecord
	if g.user != nil && hasScope(g.refreshScope, "offline_access") {
		rt = randomString(32)
		rrec = &refreshRecord{
			clientID: g.client.ID, username: g.user.Username, scope: g.refreshScope,
			sid: g.sid, authTime: g.authTime, iat: now, exp: now.Add(i.refreshTTL),
		}
		resp["refresh_token"] = rt
	}
	i.mu.Lock()
	i.access[at] = rec
	if g.sid != "" {
		i.touchFamilyLocked(g.sid, exp)
	}
	if rrec != nil {
		i.refresh[rt] = rrec
		i.touchFamilyLocked(g.sid, rrec.exp)
	}
	i.mu.Unlock()
	return resp, nil
}

func (i *Issuer) idToken(g grant, accessToken string, now time.Time) (string, error) {
	c := map[string]any{
		"iss": i.issuer, "sub": g.user.Subject, "aud": g.client.ID, "azp": g.client.ID,
		"exp": now.Add(i.idTTL).Unix(), "iat": now.Unix(), "auth_time": g.authTime.Unix(),
		"sid": g.sid, "groups": nonNil(g.user.Groups), "at_hash": atHash(accessToken),
	}
	if g.nonce != "" {
		c["nonce"] = g.nonce
	}
	if hasScope(g.scope, "email") && g.user.Email != "" {
		c["email"] = g.user.Email
		c["email_verified"] = g.user.EmailVerified
	}
	if hasScope(g.scope, "profile") {
		c["preferred_username"] = g.user.Username
		if g.user.Name != "" {
			c["name"] = g.user.Name
		}
	}
	if h := i.getHooks().IDTokenClaims; h != nil {
		h(c)
	}
	return i.signJWT("JWT", c)
}

// touchFamilyLocked creates the family sid or extends its lifetime to exp.
func (i *Issuer) touchFamilyLocked(sid string, exp time.Time) {
	f := i.families[sid]
	if f == nil {
		f = &family{}
		i.families[sid] = f
	}
	if exp.After(f.exp) {
		f.exp = exp
	}
}

// revokeFamilyLocked revokes every token issued for login sid.
func (i *Issuer) revokeFamilyLocked(sid string) {
	if sid == "" {
		return
	}
	f := i.families[sid]
	if f == nil {
		f = &family{exp: i.now().Add(i.refreshTTL)}
		i.families[sid] = f
	}
	f.revoked = true
}

func (i *Issuer) familyRevokedLocked(sid string) bool {
	f := i.families[sid]
	return sid != "" && f != nil && f.revoked
}

// liveAccessLocked returns the record of a live (unexpired, unrevoked)
// access token, or nil.
func (i *Issuer) liveAccessLocked(token string, now time.Time) *accessRecord {
	rec := i.access[token]
	if rec == nil || rec.revoked || !now.Before(rec.exp) || i.familyRevokedLocked(rec.sid) {
		return nil
	}
	return rec
}

// liveRefreshLocked returns the record of a live refresh token, or nil.
func (i *Issuer) liveRefreshLocked(token string, now time.Time) *refreshRecord {
	rec := i.refresh[token]
	if rec == nil || rec.spent || !now.Before(rec.exp) || i.familyRevokedLocked(rec.sid) {
		return nil
	}
	return rec
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

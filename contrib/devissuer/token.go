package devissuer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

var verifierRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

func (i *Issuer) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint requires POST")
		return
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameter "+k+" repeated")
			return
		}
	}
	client, oerr := i.authenticateClient(r)
	if oerr != nil {
		oerr.write(w)
		return
	}
	f := r.PostForm
	gt := f.Get("grant_type")
	var resp map[string]any
	switch gt {
	case "authorization_code":
		resp, oerr = i.grantCode(client, f.Get("code"), f.Get("redirect_uri"), f.Get("code_verifier"))
	case "refresh_token":
		resp, oerr = i.grantRefresh(client, f.Get("refresh_token"), f.Get("scope"), f.Has("scope"))
	case "client_credentials":
		resp, oerr = i.grantClientCredentials(client, f.Get("scope"))
	case "password":
		resp, oerr = i.grantPassword(client, f.Get("username"), f.Get("password"), f.Get("scope"))
	case "":
		oerr = errInvalidRequest("grant_type is required")
	default:
		oerr = &oauthError{http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type " + gt}
	}
	if oerr != nil {
		oerr.write(w)
		return
	}
	if h := i.getHooks().TokenResponse; h != nil {
		if status, body, override := h(gt, resp); override {
			writeRawJSON(w, status, body)
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (i *Issuer) grantCode(client *Client, code, redirectURI, verifier string) (map[string]any, *oauthError) {
	if code == "" {
		return nil, errInvalidRequest("code is required")
	}
	now := i.now()
	i.mu.Lock()
	ac := i.codes[code]
	if ac == nil || !now.Before(ac.expires) {
		i.mu.Unlock()
		return nil, errInvalidGrant("unknown or expired authorization code")
	}
	if ac.used {
		// RFC 6749 §4.1.2: revoke what was issued from a replayed code.
		i.revokeFamilyLocked(ac.sid)
		i.mu.Unlock()
		return nil, errInvalidGrant("authorization code already used")
	}
	ac.used = true
	c := *ac
	i.mu.Unlock()

	if c.clientID != client.ID {
		return nil, errInvalidGrant("authorization code was issued to another client")
	}
	if redirectURI != c.redirectURI {
		return nil, errInvalidGrant("redirect_uri does not match the authorization request")
	}
	if !verifierRE.MatchString(verifier) {
		return nil, errInvalidGrant("code_verifier missing or malformed")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1 {
		return nil, errInvalidGrant("code_verifier does not match code_challenge")
	}
	u := i.user(c.username)
	if u == nil {
		return nil, errInvalidGrant("user no longer exists")
	}
	return i.issue(grant{
		client: client, user: u, scope: c.scope, refreshScope: c.scope,
		sid: c.sid, authTime: c.authTime, nonce: c.nonce,
	})
}

func (i *Issuer) grantRefresh(client *Client, token, scope string, scopeGiven bool) (map[string]any, *oauthError) {
	if token == "" {
		return nil, errInvalidRequest("refresh_token is required")
	}
	now := i.now()
	i.mu.Lock()
	rt := i.refresh[token]
	switch {
	case rt == nil || !now.Before(rt.exp):
		i.mu.Unlock()
		return nil, errInvalidGrant("unknown or expired refresh token")
	case rt.clientID != client.ID:
		i.mu.Unlock()
		return nil, errInvalidGrant("refresh token was issued to another client")
	case i.familyRevokedLocked(rt.sid):
		i.mu.Unlock()
		return nil, errInvalidGrant("refresh token revoked")
	case rt.spent:
		if i.revokeOnReuse {
			i.revokeFamilyLocked(rt.sid)
		}
		i.mu.Unlock()
		return nil, errInvalidGrant("refresh token already used")
	}
	rt.spent = true
	r := *rt
	i.mu.Unlock()

	accessScope := r.scope
	if scopeGiven {
		req := strings.Fields(scope)
		granted := strings.Fields(r.scope)
		for _, s := range req {
			if !slices.Contains(granted, s) {
				return nil, &oauthError{http.StatusBadRequest, "invalid_scope", "scope " + s + " was not granted"}
			}
		}
		accessScope = strings.Join(req, " ")
	}
	u := i.user(r.username)
	if u == nil {
		return nil, errInvalidGrant("user no longer exists")
	}
	return i.issue(grant{
		client: client, user: u, scope: accessScope, refreshScope: r.scope,
		sid: r.sid, authTime: r.authTime,
	})
}

func (i *Issuer) grantClientCredentials(client *Client, scope string) (map[string]any, *oauthError) {
	if client.Secret == "" {
		return nil, &oauthError{http.StatusBadRequest, "unauthorized_client", "client_credentials requires a confidential client"}
	}
	return i.issue(grant{client: client, scope: strings.Join(strings.Fields(scope), " ")})
}

func (i *Issuer) grantPassword(client *Client, username, password, scope string) (map[string]any, *oauthError) {
	if username == "" {
		return nil, errInvalidRequest("username is required")
	}
	u := i.user(username)
	if u == nil || !secretEqual(u.Password, password) {
		return nil, errInvalidGrant("invalid username or password")
	}
	scope = strings.Join(strings.Fields(scope), " ")
	return i.issue(grant{
		client: client, user: u, scope: scope, refreshScope: scope,
		sid: randomString(16), authTime: i.now(),
	})
}

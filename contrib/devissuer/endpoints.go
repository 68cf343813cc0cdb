package devissuer

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

func (i *Issuer) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
		return
	}
	b := i.base
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         i.issuer,
		"authorization_endpoint":                         b + "/authorize",
		"token_endpoint":                                 b + "/token",
		"jwks_uri":                                       b + "/keys",
		"userinfo_endpoint":                              b + "/userinfo",
		"introspection_endpoint":                         b + "/introspect",
		"revocation_endpoint":                            b + "/revoke",
		"end_session_endpoint":                           b + "/end_session",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials", "password"},
		"code_challenge_methods_supported":               []string{"S256"},
		"id_token_signing_alg_values_supported":          []string{"RS256", "ES256"},
		"subject_types_supported":                        []string{"public"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"authorization_response_iss_parameter_supported": true,
		"scopes_supported":                               []string{"openid", "email", "profile", "groups", "offline_access"},
		"claims_supported": []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid", "at_hash",
			"email", "email_verified", "name", "preferred_username", "groups",
		},
		"backchannel_logout_supported":  false,
		"frontchannel_logout_supported": false,
	})
}

func (i *Issuer) handleKeys(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
		return
	}
	writeJSON(w, http.StatusOK, i.jwks())
}

func (i *Issuer) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
		return
	}
	token := ""
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, rest, ok := strings.Cut(a, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			token = strings.TrimSpace(rest)
		}
	} else if r.Method == http.MethodPost {
		token = r.PostForm.Get("access_token")
	}
	now := i.now()
	i.mu.Lock()
	var rec *accessRecord
	if token != "" {
		rec = i.liveAccessLocked(token, now)
	}
	var username, scope string
	if rec != nil {
		username, scope = rec.username, rec.scope
	}
	i.mu.Unlock()
	var u *User
	if username != "" {
		u = i.user(username)
	}
	if u == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_token", "error_description": "missing, invalid or expired user access token"})
		return
	}
	claims := map[string]any{"sub": u.Subject, "groups": nonNil(u.Groups)}
	if hasScope(scope, "email") && u.Email != "" {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	if hasScope(scope, "profile") {
		claims["preferred_username"] = u.Username
		if u.Name != "" {
			claims["name"] = u.Name
		}
	}
	writeJSON(w, http.StatusOK, claims)
}

func (i *Issuer) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "introspection requires POST")
		return
	}
	c, oerr := i.authenticateClient(r)
	if oerr != nil {
		oerr.write(w)
		return
	}
	if c.Secret == "" {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "introspection requires a confidential client")
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	now := i.now()
	resp := map[string]any{"active": false}
	i.mu.Lock()
	if rec := i.liveAccessLocked(token, now); rec != nil {
		resp = map[string]any{"active": true, "token_type": "access_token"}
		for _, k := range []string{"scope", "client_id", "exp", "iat", "nbf", "sub", "aud", "iss", "groups", "jti", "sid"} {
			if v, ok := rec.claims[k]; ok {
				resp[k] = v
			}
		}
		if rec.username != "" {
			resp["username"] = rec.username
		}
	} else if rt := i.liveRefreshLocked(token, now); rt != nil {
		resp = map[string]any{
			"active": true, "token_type": "refresh_token", "client_id": rt.clientID,
			"username": rt.username, "scope": rt.scope, "iss": i.issuer,
			"exp": rt.exp.Unix(), "iat": rt.iat.Unix(), "sid": rt.sid,
		}
		if u := i.users[rt.username]; u != nil {
			resp["sub"] = u.Subject
		}
	}
	i.mu.Unlock()
	if h := i.getHooks().Introspection; h != nil {
		if repl := h(token, resp); repl != nil {
			resp = repl
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (i *Issuer) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "revocation requires POST")
		return
	}
	c, oerr := i.authenticateClient(r)
	if oerr != nil {
		oerr.write(w)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	i.mu.Lock()
	if rec := i.access[token]; rec != nil && rec.clientID == c.ID {
		rec.revoked = true
	}
	if rt := i.refresh[token]; rt != nil && rt.clientID == c.ID {
		rt.spent = true
		i.revokeFamilyLocked(rt.sid)
	}
	i.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (i *Issuer) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		errorPage(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	f := r.Form
	clientID := f.Get("client_id")
	var sid string
	if hint := f.Get("id_token_hint"); hint != "" {
		claims, err := i.verifyJWT(hint)
		if err != nil || claims["iss"] != i.issuer {
			errorPage(w, http.StatusBadRequest, "invalid id_token_hint")
			return
		}
		aud := claimStrings(claims["aud"])
		if clientID != "" && !slices.Contains(aud, clientID) {
			errorPage(w, http.StatusBadRequest, "client_id does not match id_token_hint")
			return
		}
		if clientID == "" {
			if azp, _ := claims["azp"].(string); azp != "" && slices.Contains(aud, azp) {
				clientID = azp
			} else if len(aud) > 0 {
				clientID = aud[0]
			}
		}
		sid, _ = claims["sid"].(string)
	}
	if sid != "" {
		i.mu.Lock()
		i.revokeFamilyLocked(sid)
		i.mu.Unlock()
	}
	plr := f.Get("post_logout_redirect_uri")
	if c := i.clients[clientID]; c != nil && plr != "" && slices.Contains(c.PostLogoutRedirectURIs, plr) {
		v := url.Values{}
		if s := f.Get("state"); s != "" {
			v.Set("state", s)
		}
		redirect(w, plr, v)
		return
	}
	writePage(w, http.StatusOK, pageData{Title: "Signed out", Message: "You have been signed out of the development issuer."})
}

// claimStrings reads a string-or-array claim.
func claimStrings(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

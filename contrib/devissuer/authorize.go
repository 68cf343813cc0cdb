package devissuer

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// pendingAuth is a validated authorization request waiting for the login
// form to be submitted.
type pendingAuth struct {
	clientID, redirectURI, state, nonce, scope, challenge string
	expires                                               time.Time
}

// authCode is an issued authorization code.
type authCode struct {
	clientID, redirectURI, challenge, nonce, scope, username, sid string
	authTime, expires                                             time.Time
	used                                                          bool
}

const banner = "development issuer — not for production"

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:30em;margin:2em auto}
.banner{background:#b00;color:#fff;padding:.5em;font-weight:bold;text-align:center}
.error{color:#b00}label{display:block;margin:.5em 0}</style></head>
<body><div class="banner">{{.Banner}}</div>
<h1>{{.Title}}</h1>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .RequestID}}<p>Client <b>{{.ClientID}}</b> requests scope <b>{{.Scope}}</b>.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="request_id" value="{{.RequestID}}">
<label>Username <input name="username" value="{{.Username}}" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>{{end}}
</body></html>
`))

type pageData struct {
	Banner, Title, Error, Message                string
	RequestID, ClientID, Scope, Action, Username string
}

func writePage(w http.ResponseWriter, status int, d pageData) {
	d.Banner = banner
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, d); err != nil {
		http.Error(w, "devissuer: template error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func errorPage(w http.ResponseWriter, status int, msg string) {
	writePage(w, status, pageData{Title: "Authorization error", Error: msg})
}

var challengeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func (i *Issuer) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		i.startAuthorize(w, r.Form)
	case http.MethodPost:
		if r.PostForm.Has("request_id") {
			i.finishLogin(w, r.PostForm)
		} else {
			i.startAuthorize(w, r.Form)
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		errorPage(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func (i *Issuer) startAuthorize(w http.ResponseWriter, q url.Values) {
	for _, p := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt"} {
		if len(q[p]) > 1 {
			errorPage(w, http.StatusBadRequest, "parameter "+p+" repeated")
			return
		}
	}
	client := i.clients[q.Get("client_id")]
	if client == nil {
		errorPage(w, http.StatusBadRequest, "unknown client_id")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !slices.Contains(client.RedirectURIs, redirectURI) {
		errorPage(w, http.StatusBadRequest, "redirect_uri is not registered for this client")
		return
	}
	if q.Get("response_type") != "code" {
		errorPage(w, http.StatusBadRequest, "unsupported response_type: only \"code\" is supported")
		return
	}
	state := q.Get("state")
	if q.Get("code_challenge_method") != "S256" || !challengeRE.MatchString(q.Get("code_challenge")) {
		i.redirectError(w, redirectURI, state, "invalid_request", "PKCE with code_challenge_method S256 is required")
		return
	}
	if slices.Contains(strings.Fields(q.Get("prompt")), "none") {
		i.redirectError(w, redirectURI, state, "login_required", "the development issuer has no session; interactive login required")
		return
	}
	p := &pendingAuth{
		clientID:    client.ID,
		redirectURI: redirectURI,
		state:       state,
		nonce:       q.Get("nonce"),
		scope:       strings.Join(strings.Fields(q.Get("scope")), " "),
		challenge:   q.Get("code_challenge"),
		expires:     i.now().Add(pendingAuthTTL),
	}
	id := randomString(24)
	i.mu.Lock()
	i.pending[id] = p
	i.mu.Unlock()
	i.loginForm(w, http.StatusOK, id, p, "", "")
}

func (i *Issuer) loginForm(w http.ResponseWriter, status int, id string, p *pendingAuth, username, errMsg string) {
	writePage(w, status, pageData{
		Title: "Sign in", Error: errMsg, RequestID: id, ClientID: p.clientID,
		Scope: p.scope, Action: i.basePath + "/authorize", Username: username,
	})
}

func (i *Issuer) finishLogin(w http.ResponseWriter, f url.Values) {
	id := f.Get("request_id")
	now := i.now()
	i.mu.Lock()
	p := i.pending[id]
	if p != nil && !now.Before(p.expires) {
		delete(i.pending, id)
		p = nil
	}
	i.mu.Unlock()
	if p == nil {
		errorPage(w, http.StatusBadRequest, "unknown or expired authorization request; start again")
		return
	}
	if f.Get("action") == "deny" {
		i.mu.Lock()
		delete(i.pending, id)
		i.mu.Unlock()
		i.redirectError(w, p.redirectURI, p.state, "access_denied", "the user denied the request")
		return
	}
	username := f.Get("username")
	u := i.user(username)
	if u == nil || !secretEqual(u.Password, f.Get("password")) {
		i.loginForm(w, http.StatusUnauthorized, id, p, username, "Invalid username or password.")
		return
	}
	i.mu.Lock()
	if i.pending[id] != p { // consumed concurrently
		i.mu.Unlock()
		errorPage(w, http.StatusBadRequest, "authorization request already used")
		return
	}
	delete(i.pending, id)
	code := randomString(32)
	c := &authCode{
		clientID: p.clientID, redirectURI: p.redirectURI, challenge: p.challenge,
		nonce: p.nonce, scope: p.scope, username: u.Username, sid: randomString(16),
		authTime: now, expires: now.Add(codeTTL),
	}
	i.codes[code] = c
	i.touchFamilyLocked(c.sid, c.expires)
	i.mu.Unlock()
	v := url.Values{"code": {code}, "iss": {i.issuer}}
	if p.state != "" {
		v.Set("state", p.state)
	}
	redirect(w, p.redirectURI, v)
}

func (i *Issuer) redirectError(w http.ResponseWriter, redirectURI, state, code, desc string) {
	v := url.Values{"error": {code}, "error_description": {desc}, "iss": {i.issuer}}
	if state != "" {
		v.Set("state", state)
	}
	redirect(w, redirectURI, v)
}

// redirect sends a 302 to base with params added to its query. base is a
// registered URI, validated by New.
func redirect(w http.ResponseWriter, base string, params url.Values) {
	u, err := url.Parse(base)
	if err != nil {
		errorPage(w, http.StatusInternalServerError, "bad redirect URI")
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Location", u.String())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

// secretEqual compares secrets in constant time (independent of length).
func secretEqual(want, got string) bool {
	a, b := hashString(want), hashString(got)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

var requestIDRE = regexp.MustCompile(`name="request_id" value="([A-Za-z0-9_-]+)"`)

// Authorize runs the browser part of the authorization code flow
// in-process, through ServeHTTP (so requests are logged): it GETs
// authorizeURL (a full URL as built by oauth2.Config.AuthCodeURL), submits
// the login form with username and password, and returns the redirect
// location (carrying code or error). A rejected login is an error.
func (i *Issuer) Authorize(authorizeURL, username, password string) (*url.URL, error) {
	req, err := http.NewRequest(http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, fmt.Errorf("devissuer: %w", err)
	}
	rec := newRecorder()
	i.ServeHTTP(rec, req)
	if rec.status == http.StatusFound {
		return url.Parse(rec.header.Get("Location"))
	}
	m := requestIDRE.FindSubmatch(rec.body.Bytes())
	if rec.status != http.StatusOK || m == nil {
		return nil, fmt.Errorf("devissuer: authorize answered %d", rec.status)
	}
	form := url.Values{"request_id": {string(m[1])}, "username": {username}, "password": {password}}
	req, err = http.NewRequest(http.MethodPost, req.URL.Scheme+"://"+req.URL.Host+req.URL.Path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("devissuer: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = newRecorder()
	i.ServeHTTP(rec, req)
	if rec.status != http.StatusFound {
		return nil, fmt.Errorf("devissuer: login answered %d", rec.status)
	}
	return url.Parse(rec.header.Get("Location"))
}

// recorder is a minimal in-memory http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

package proxy

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// HeaderRule adds a header built from the caller's identity to the
// requests of some routes, for applications that read identity their own
// way (Remote-User, X-Remote-Email …). Client-sent copies of the header are
// stripped on every route, whatever their spelling.
type HeaderRule struct {
	// Route is "" for every route, or a route as --upstream names it
	// ("/legacy/", "intranet.example.com/").
	Route string
	// Name is the header name.
	Name string
	// Claim is one of sub, email, preferred_username, name, groups,
	// client_id, or user (preferred_username, else email, else sub).
	Claim string
}

var headerClaims = map[string]func(*session.Identity) string{
	"sub":                func(id *session.Identity) string { return id.Subject },
	"email":              func(id *session.Identity) string { return id.Email },
	"preferred_username": func(id *session.Identity) string { return id.PreferredUsername },
	"name":               func(id *session.Identity) string { return id.Name },
	"groups":             func(id *session.Identity) string { return strings.Join(id.Groups, ",") },
	"client_id":          func(id *session.Identity) string { return id.ClientID },
	"user":               userName,
}

func userName(id *session.Identity) string {
	switch {
	case id.PreferredUsername != "":
		return id.PreferredUsername
	case id.Email != "":
		return id.Email
	}
	return id.Subject
}

// ParseHeaderRule parses "[route:]Name=claim", e.g.
// "Remote-User=preferred_username" or "/legacy/:X-Remote-Email=email".
func ParseHeaderRule(spec string) (HeaderRule, error) {
	var hr HeaderRule
	rest := spec
	if i := strings.Index(spec, ":"); i >= 0 && strings.Contains(spec[:i], "/") {
		hr.Route, rest = spec[:i], spec[i+1:]
	}
	name, claim, ok := strings.Cut(rest, "=")
	if !ok || name == "" {
		return hr, fmt.Errorf("%q: want [route:]Header-Name=claim, e.g. Remote-User=preferred_username", spec)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return hr, fmt.Errorf("%q: header name %q may hold letters, digits and '-' only", spec, name)
		}
	}
	if _, ok := headerClaims[claim]; !ok {
		return hr, fmt.Errorf("%q: claim %q is not one of sub, email, preferred_username, name, groups, client_id, user", spec, claim)
	}
	switch strings.ToLower(name) {
	case "host", "cookie", "authorization", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer":
		return hr, fmt.Errorf("%q: %s cannot carry identity", spec, name)
	}
	hr.Name, hr.Claim = textproto.CanonicalMIMEHeaderKey(name), claim
	return hr, nil
}

// Authorization modes for the upstream request.
const (
	// PassAuthorizationNone sends no Authorization of gatehouse's own:
	// bearer-token callers' own header passes, Basic credentials never.
	PassAuthorizationNone = ""
	// PassAuthorizationBasic sends "Basic base64(user:)" for every
	// authenticated caller, as apps built for HTTP Basic expect.
	PassAuthorizationBasic = "basic"
	// PassAuthorizationBearer sends the session's access token to the
	// upstream ("Bearer …"); bearer-token callers' own header passes.
	PassAuthorizationBearer = "bearer"
)

// legacyHeaders adds the configured identity headers and the upstream's
// Authorization for an allowed request.
func (g *Gateway) legacyHeaders(h http.Header, rt *route, v verdict, clientAuth string) {
	for _, hr := range rt.headers {
		if val := headerClaims[hr.Claim](v.id); val != "" {
			h[hr.Name] = []string{val}
		}
	}
	switch {
	case g.cfg.PassAuthorization == PassAuthorizationBasic:
		h["Authorization"] = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(userName(v.id)+":"))}
	case g.cfg.PassAuthorization == PassAuthorizationBearer && v.sess != nil && v.sess.AccessToken != "":
		h["Authorization"] = []string{"Bearer " + v.sess.AccessToken}
	case v.sess == nil && hasScheme(clientAuth, "Bearer"):
		// A machine's own token passes to the API it called.
	default:
		h["Authorization"] = nil // removes the client's header (Basic credentials never pass)
	}
}

// hasScheme reports whether an Authorization value uses scheme.
func hasScheme(auth, scheme string) bool {
	return len(auth) > len(scheme) && strings.EqualFold(auth[:len(scheme)], scheme) && auth[len(scheme)] == ' '
}

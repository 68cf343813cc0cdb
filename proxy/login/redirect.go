package login

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrBadRedirect is wrapped by every error Redirects.Check returns.
var ErrBadRedirect = errors.New("login: redirect target not allowed")

// Redirects validates post-login and post-logout targets.
//
// A target is either a relative path ("/app?x=1") or an absolute URL whose
// origin (scheme, host and port) is on the allow-list. Validation is
// deliberately strict and works on the string as given: the value that
// passes is the value that is used, never a re-encoded or re-parsed copy.
// Anything a browser might read differently from Go's URL parser (a
// backslash, whitespace or control bytes, userinfo, non-ASCII, "//" or dot
// segments) is refused rather than repaired.
type Redirects struct {
	origins   map[string]bool // "https://app.example.com" or "https://app.example.com:8443"
	wildcards []wildcard      // "https://*.example.com"
}

type wildcard struct {
	scheme string
	suffix string // ".example.com" or ".example.com:8443"
}

// NewRedirects builds a validator that allows relative paths and the given
// origins. An origin is scheme://host[:port] with scheme http or https and no
// path; the host may start with "*." to allow any subdomain (but not the
// domain itself).
func NewRedirects(origins ...string) (*Redirects, error) {
	v := &Redirects{origins: make(map[string]bool)}
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("login: allowed redirect %q must be an origin like https://app.example.com", o)
		}
		host := strings.ToLower(u.Host)
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			if rest == "" || strings.Contains(rest, "*") {
				return nil, fmt.Errorf("login: allowed redirect %q has a bad wildcard", o)
			}
			v.wildcards = append(v.wildcards, wildcard{scheme: u.Scheme, suffix: "." + rest})
			continue
		}
		if strings.Contains(host, "*") {
			return nil, fmt.Errorf("login: allowed redirect %q: a wildcard may only be a leading \"*.\"", o)
		}
		v.origins[u.Scheme+"://"+host] = true
	}
	return v, nil
}

// Check returns target unchanged if it is an allowed redirect, and an error
// wrapping ErrBadRedirect otherwise.
func (v *Redirects) Check(target string) (string, error) {
	if target == "" {
		return "", fmt.Errorf("%w: empty", ErrBadRedirect)
	}
	if len(target) > 2048 {
		return "", fmt.Errorf("%w: too long", ErrBadRedirect)
	}
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c <= 0x20 || c >= 0x7f || c == '\\' {
			return "", fmt.Errorf("%w: contains a control, space, backslash or non-ASCII byte", ErrBadRedirect)
		}
	}
	if target[0] == '/' {
		return v.checkRelative(target)
	}
	return v.checkAbsolute(target)
}

// checkRelative accepts "/path?query#fragment" with a path free of empty
// and dot segments, so that no browser can read it as a network path.
func (v *Redirects) checkRelative(target string) (string, error) {
	path, _, _ := strings.Cut(target, "?")
	path, _, _ = strings.Cut(path, "#")
	if err := checkPath(path); err != nil {
		return "", err
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "", fmt.Errorf("%w: not a plain relative path", ErrBadRedirect)
	}
	if err := checkChain(u); err != nil {
		return "", err
	}
	return target, nil
}

func (v *Redirects) checkAbsolute(target string) (string, error) {
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || (scheme != "https" && scheme != "http") {
		return "", fmt.Errorf("%w: only relative paths and http(s) URLs are allowed", ErrBadRedirect)
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	if authority == "" || strings.ContainsAny(authority, "@%") {
		return "", fmt.Errorf("%w: userinfo or escapes in the host", ErrBadRedirect)
	}
	u, err := url.Parse(target)
	if err != nil || u.User != nil || u.Host != authority {
		return "", fmt.Errorf("%w: unparsable URL", ErrBadRedirect)
	}
	if err := checkPath(u.EscapedPath()); err != nil && u.EscapedPath() != "" {
		return "", err
	}
	if !v.allowedOrigin(scheme, strings.ToLower(authority)) {
		return "", fmt.Errorf("%w: origin %s://%s is not on the allow-list", ErrBadRedirect, scheme, authority)
	}
	if err := checkChain(u); err != nil {
		return "", err
	}
	return target, nil
}

func (v *Redirects) allowedOrigin(scheme, host string) bool {
	if v.origins[scheme+"://"+host] {
		return true
	}
	for _, w := range v.wildcards {
		if w.scheme != scheme {
			continue
		}
		// The wildcard covers subdomains only: "*.example.com" allows
		// "a.example.com" but neither "example.com" nor "evilexample.com".
		label, ok := strings.CutSuffix(host, w.suffix)
		if ok && label != "" && !strings.Contains(label, ":") {
			return true
		}
	}
	return false
}

// checkPath refuses paths with empty ("//") or dot ("/./", "/../")
// segments anywhere, which browsers and servers resolve differently from
// their text.
func checkPath(path string) error {
	if path == "" || path[0] != '/' {
		return fmt.Errorf("%w: path must start with /", ErrBadRedirect)
	}
	for _, seg := range strings.Split(path[1:], "/") {
		switch strings.ToLower(seg) {
		case ".", "..", "%2e", "%2e%2e", ".%2e", "%2e.":
			return fmt.Errorf("%w: dot segment in path", ErrBadRedirect)
		}
	}
	if strings.Contains(path, "//") {
		return fmt.Errorf("%w: empty path segment", ErrBadRedirect)
	}
	lower := strings.ToLower(path)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return fmt.Errorf("%w: encoded slash in path", ErrBadRedirect)
	}
	return nil
}

// checkChain refuses targets whose query carries another URL, so a chain
// through an allowed page that redirects onward cannot leave the list.
func checkChain(u *url.URL) error {
	for _, values := range u.Query() {
		for _, val := range values {
			lv := strings.ToLower(strings.TrimSpace(val))
			for _, p := range []string{"http:", "https:", "//", "/\\", "\\", "javascript:", "data:", "vbscript:"} {
				if strings.HasPrefix(lv, p) {
					return fmt.Errorf("%w: query carries a URL", ErrBadRedirect)
				}
			}
		}
	}
	return nil
}

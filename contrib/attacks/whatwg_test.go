package attacks

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/idna"
)

// This file is SAFE(L) of ATTACKS.md §0.3: a Location is resolved the way a
// browser resolves it (the WHATWG URL Standard's basic URL parser, for the
// parts that decide where a browser goes), not with net/url.

// browserURL is the part of a resolved URL that decides where a browser
// goes.
type browserURL struct {
	scheme, userinfo, host, port, rest string
}

func (u browserURL) origin() string {
	o := u.scheme + "://" + u.host
	if u.port != "" {
		o += ":" + u.port
	}
	return o
}

var special = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21", "file": ""}

var hostProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false), idna.BidiRule())

// resolveLikeBrowser resolves ref against base (an http(s) URL) following
// the WHATWG basic URL parser's states for special schemes: leading and
// trailing C0 controls and spaces are stripped, tab/CR/LF removed anywhere,
// "\" is a "/" for special schemes, any number of slashes after a scheme
// start the authority, the last "@" ends the userinfo, and the host is
// percent-decoded and mapped with UTS #46 (so U+3002 is a dot).
func resolveLikeBrowser(base *url.URL, ref string) (browserURL, error) {
	s := strings.TrimFunc(ref, func(r rune) bool { return r <= 0x20 })
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	baseURL := browserURL{scheme: base.Scheme, host: strings.ToLower(base.Hostname()), port: base.Port()}
	if baseURL.port == special[baseURL.scheme] {
		baseURL.port = ""
	}
	scheme, rest, hasScheme := splitScheme(s)
	if !hasScheme {
		return relative(baseURL, s)
	}
	if _, ok := special[scheme]; !ok {
		return browserURL{scheme: scheme, rest: rest}, nil // javascript:, data:, vbscript:, …
	}
	if scheme == "file" {
		return browserURL{scheme: scheme, rest: rest}, nil
	}
	if scheme == baseURL.scheme && !strings.HasPrefix(rest, "//") {
		// "special relative or authority state" → relative state.
		return relative(baseURL, rest)
	}
	// "special authority slashes state": any run of / and \ is skipped.
	return authority(scheme, strings.TrimLeft(rest, `/\`))
}

func splitScheme(s string) (scheme, rest string, ok bool) {
	if s == "" || !isAlpha(s[0]) {
		return "", s, false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlpha(c) || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.':
		case c == ':':
			return strings.ToLower(s[:i]), s[i+1:], true
		default:
			return "", s, false
		}
	}
	return "", s, false
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// relative is the "relative state" for a special base.
func relative(base browserURL, s string) (browserURL, error) {
	if len(s) > 0 && (s[0] == '/' || s[0] == '\\') {
		if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
			// "relative slash state" → "special authority ignore slashes state".
			return authority(base.scheme, strings.TrimLeft(s, `/\`))
		}
		base.rest = strings.ReplaceAll(s, `\`, "/")
		return base, nil
	}
	base.rest = s
	return base, nil
}

// authority parses the authority at the start of s for a special scheme.
func authority(scheme, s string) (browserURL, error) {
	end := strings.IndexAny(s, `/\?#`)
	if end < 0 {
		end = len(s)
	}
	auth, rest := s[:end], s[end:]
	u := browserURL{scheme: scheme, rest: rest}
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		u.userinfo, auth = auth[:at], auth[at+1:]
	}
	host, port := auth, ""
	if i := strings.LastIndexByte(auth, ':'); i >= 0 && !strings.Contains(auth[i:], "]") {
		host, port = auth[:i], auth[i+1:]
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return u, fmt.Errorf("port %q is not a number", port)
		}
	}
	port = strings.TrimLeft(port, "0")
	if port == special[scheme] {
		port = ""
	}
	if host == "" {
		return u, errors.New("empty host")
	}
	if strings.HasPrefix(host, "[") {
		u.host, u.port = strings.ToLower(host), port
		return u, nil
	}
	decoded, err := url.PathUnescape(host)
	if err != nil {
		return u, fmt.Errorf("host %q: %w", host, err)
	}
	ascii, err := hostProfile.ToASCII(decoded)
	if err != nil {
		return u, fmt.Errorf("host %q: %w", decoded, err)
	}
	if strings.ContainsAny(ascii, " #%/:<>?@[\\]^|") {
		return u, fmt.Errorf("host %q has forbidden code points", ascii)
	}
	u.host, u.port = strings.ToLower(ascii), port
	return u, nil
}

// safe is SAFE(L): L resolved like a browser must stay on gatehouse's own
// scheme (https in the catalogue; the public URL's scheme here) and land on
// an allowed origin — the public URL's, or a subdomain of apps.test (the
// fixtures' --allowed-redirect) — without userinfo.
func (f *fixture) safe(requestURL, location string) error {
	base, err := url.Parse(requestURL)
	if err != nil {
		return err
	}
	u, err := resolveLikeBrowser(base, location)
	if err != nil {
		return fmt.Errorf("Location %q does not parse like a URL a browser would follow: %v", location, err)
	}
	if u.scheme != f.scheme {
		return fmt.Errorf("Location %q resolves to scheme %q", location, u.scheme)
	}
	if u.userinfo != "" {
		return fmt.Errorf("Location %q carries userinfo %q", location, u.userinfo)
	}
	if u.origin() == f.scheme+"://"+f.host {
		return nil
	}
	if label, ok := strings.CutSuffix(u.host, ".apps.test"); ok && label != "" && u.port == "" {
		return nil
	}
	return fmt.Errorf("Location %q resolves to origin %s, not on the allow-list", location, u.origin())
}

func TestWhatwgResolver(t *testing.T) {
	base, _ := url.Parse("https://app.test/oauth2/callback")
	for ref, want := range map[string]string{
		"/x":                              "https://app.test",
		"//evil.test/":                    "https://evil.test",
		`/\evil.test`:                     "https://evil.test",
		`\\evil.test`:                     "https://evil.test",
		"/\t/evil.test":                   "https://evil.test",
		"http:evil.test":                  "http://evil.test",
		"https:evil.test":                 "https://app.test",
		`https:\\evil.test`:               "https://evil.test",
		"https://app.test@evil.test/":     "https://evil.test",
		`https://evil.test\@app.test/`:    "https://evil.test",
		"https://app.test\u3002evil.test": "https://app.test.evil.test",
		"//evil%2Etest":                   "https://evil.test",
		" \x01//evil.test":                "https://evil.test",
		"https://APP.test:443/":           "https://app.test",
	} {
		u, err := resolveLikeBrowser(base, ref)
		if err != nil || u.origin() != want {
			t.Errorf("%q: %v %v, want %s", ref, u.origin(), err, want)
		}
	}
	for _, ref := range []string{"javascript:alert(1)", "java\nscript:alert(1)", "data:text/html,x", "JaVaScRiPt:x"} {
		if u, _ := resolveLikeBrowser(base, ref); u.scheme == "https" {
			t.Errorf("%q resolved to https", ref)
		}
	}
}

package proxy

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// errAmbiguousPath is the reason for every 400 canonicalPath causes.
var errAmbiguousPath = errors.New("proxy: ambiguous request path")

// canonicalPath checks a request path as it came on the wire (escaped, no
// query) and returns its decoded form: the one view of the path that
// routing, rules, redirects and forwarding all use.
//
// Paths whose meaning differs between parsers are refused rather than
// repaired: encoded slashes and backslashes, dot segments in any encoding
// (including "..;"), empty segments ("//"), "#" or "%23", control bytes,
// double encoding ("%25xx"), malformed escapes and invalid UTF-8 (overlong
// forms such as %c0%ae). Because no encoded "/" survives, the decoded path
// and the escaped path forwarded upstream name the same resource.
func canonicalPath(escaped string) (string, error) {
	return canonicalize(escaped, false)
}

// canonicalize is canonicalPath with a choice about ";" path parameters.
// Refused by default: servers such as Tomcat strip "/admin;x/" to
// "/admin/", so a rule on /admin/ would not see what the upstream serves.
// When allowed, rules see the path with its parameters removed (see
// stripParams) while the upstream gets the path as sent.
func canonicalize(escaped string, allowParams bool) (string, error) {
	if !allowParams && strings.IndexByte(escaped, ';') >= 0 {
		return "", errAmbiguousPath
	}
	if escaped == "" || escaped[0] != '/' {
		return "", errAmbiguousPath
	}
	plain := true
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c == '%':
			plain = false
		case c <= 0x20 || c >= 0x7f || c == '\\' || c == '#':
			return "", errAmbiguousPath
		}
	}
	decoded := escaped
	if !plain {
		var err error
		if decoded, err = unescapePath(escaped); err != nil {
			return "", err
		}
	}
	if err := checkSegments(decoded); err != nil {
		return "", err
	}
	return decoded, nil
}

// unescapePath decodes %XX escapes, refusing those that would change the
// path's structure or smuggle a second round of decoding.
func unescapePath(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", errAmbiguousPath
		}
		d := unhex(s[i+1])<<4 | unhex(s[i+2])
		switch {
		case d == '/' || d == '\\' || d == '#' || d < 0x20 || d == 0x7f:
			return "", errAmbiguousPath
		}
		b.WriteByte(d)
		i += 2
	}
	out := b.String()
	if !utf8.ValidString(out) {
		return "", errAmbiguousPath
	}
	// Whatever decodes to a new escape ("%2523" → "%23", "%25%61" → "%a")
	// means something else to a server that decodes twice.
	for i := 0; i+2 < len(out); i++ {
		if out[i] == '%' && isHex(out[i+1]) && isHex(out[i+2]) {
			return "", errAmbiguousPath
		}
	}
	return out, nil
}

// checkSegments refuses dot segments (also with ";" parameters, which some
// servers strip: "/..;/") and empty segments other than a trailing slash.
func checkSegments(p string) error {
	rest := p[1:]
	for rest != "" {
		seg, tail, more := strings.Cut(rest, "/")
		name, _, _ := strings.Cut(seg, ";")
		if name == "." || name == ".." || (seg == "" && more) {
			return errAmbiguousPath
		}
		rest = tail
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// validMethod reports whether m is an upper-case token. Methods are case
// sensitive (RFC 9110 §9.1); "get" is not GET, and treating it as either
// invites rule bypasses, so it is refused.
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			if c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// stripParams removes ";params" from every segment: the path as servers
// that honour path parameters resolve it.
func stripParams(p string) string {
	if strings.IndexByte(p, ';') < 0 {
		return p
	}
	var b strings.Builder
	for i, seg := range strings.Split(p, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		name, _, _ := strings.Cut(seg, ";")
		b.WriteString(name)
	}
	return b.String()
}

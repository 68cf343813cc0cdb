package upstream

import (
	"net/http"
	"net/textproto"
	"strings"
)

// NormalizeHeaderName returns the form of a header name that gatehouse uses
// to compare names: ASCII letters are lower-cased and every '_' becomes '-'.
// Other bytes, including non-ASCII ones, are left as they are, so the result
// has the same length as name and NormalizeHeaderName is idempotent.
//
// Many backends (CGI, WSGI, PHP, some frameworks and proxies) treat '_' and
// '-' in header names as the same character, so "X_Forwarded_User" has to be
// treated like "X-Forwarded-User".
func NormalizeHeaderName(name string) string {
	i := 0
	for i < len(name) && normByte(name[i]) == name[i] {
		i++
	}
	if i == len(name) {
		return name
	}
	b := []byte(name)
	for ; i < len(b); i++ {
		b[i] = normByte(b[i])
	}
	return string(b)
}

// IsReservedHeader reports whether the normalised form of name (see
// [NormalizeHeaderName]) is on the built-in list of headers a client may
// never send upstream: anything starting with "x-forwarded-",
// "x-auth-request-" or "x-gatehouse-", and a fixed set of identity,
// client-address, URL-override and credential headers such as "forwarded",
// "remote-user", "x-real-ip", "x-original-url" and "x-access-token".
// [Config.StripHeaders] adds to the list per proxy; it is not consulted here.
func IsReservedHeader(name string) bool {
	var buf [64]byte
	return isReservedNormalized(appendNormalized(buf[:0], name))
}

// normByte maps one byte of a header name to its normalised form.
func normByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_':
		return '-'
	}
	return c
}

// appendNormalized appends the normalised form of name to dst. With a stack
// buffer as dst it does not allocate for ordinary header names.
func appendNormalized(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		dst = append(dst, normByte(name[i]))
	}
	return dst
}

// sameHeaderName reports whether a and b are equal once normalised.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if normByte(a[i]) != normByte(b[i]) {
			return false
		}
	}
	return true
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// isReservedNormalized reports whether the already normalised name n is on
// the built-in strip list. Keep the list in IsReservedHeader's doc comment
// and in the tests in step with this function.
func isReservedNormalized(n []byte) bool {
	if hasPrefix(n, "x-forwarded-") || hasPrefix(n, "x-auth-request-") || hasPrefix(n, "x-gatehouse-") {
		return true
	}
	switch string(n) {
	case "forwarded",
		// identity
		"remote-user", "x-remote-user", "remote-groups", "remote-email", "remote-name",
		"x-user", "x-email", "x-groups", "x-user-id",
		// client address
		"x-real-ip", "cf-connecting-ip", "true-client-ip", "x-envoy-external-address",
		"x-client-ip", "x-cluster-client-ip",
		// URL and method overrides
		"x-original-url", "x-original-uri", "x-original-method", "x-rewrite-url",
		"x-http-method-override", "x-http-method", "x-method-override",
		// credentials
		"proxy-authorization", "x-access-token", "x-id-token":
		return true
	}
	return false
}

// stripHeaders deletes from h every header whose normalised name is reserved
// or listed in extra (which holds normalised names). It iterates over the
// map because http.Header.Del only finds the canonical spelling: Go stores
// "x_forwarded_user" as "X_forwarded_user", which Del("X-Forwarded-User")
// does not touch.
func stripHeaders(h http.Header, extra map[string]bool) {
	var buf [64]byte
	for k := range h {
		n := appendNormalized(buf[:0], k)
		if isReservedNormalized(n) || extra[string(n)] {
			delete(h, k)
		}
	}
}

// setHeaders sets every header of set on h, replacing the values of any
// header in h whose name is the same once normalised, so that a client's
// "X_App_Role" cannot sit next to the gateway's "X-App-Role". A name in set
// with no values removes the header. The value slices are shared with set
// but capped, so appending to them through h cannot write into set.
func setHeaders(h, set http.Header) {
	if len(set) == 0 {
		return
	}
	var buf [16]string
	names := buf[:0]
	for name := range set {
		names = append(names, name)
	}
	for k := range h {
		for _, name := range names {
			if sameHeaderName(k, name) {
				delete(h, k)
				break
			}
		}
	}
	for name, vv := range set {
		if len(vv) == 0 {
			continue
		}
		h[textproto.CanonicalMIMEHeaderKey(name)] = vv[:len(vv):len(vv)]
	}
}

// The cookie name prefixes browsers give a meaning to (RFC 6265bis 4.1.3).
const (
	hostCookiePrefix   = "__Host-"
	secureCookiePrefix = "__Secure-"
)

// trimCookiePrefix removes a leading __Host- or __Secure- from name, in
// any case, as browsers match them.
func trimCookiePrefix(name string) string {
	if len(name) < 2 || name[0] != '_' || name[1] != '_' {
		return name
	}
	for _, p := range []string{hostCookiePrefix, secureCookiePrefix} {
		if len(name) >= len(p) && asciiEqualFold(name[:len(p)], p) {
			return name[len(p):]
		}
	}
	return name
}

// ownCookie reports whether a cookie named name is one of the gateway's:
// whether it starts with prefix (which has no browser prefix) once any
// browser prefix is removed.
func ownCookie(name, prefix string) bool {
	return strings.HasPrefix(trimCookiePrefix(name), prefix)
}

// cookieName returns the name of a cookie-pair ("name=value") or of a
// Set-Cookie line ("name=value; Path=/"), trimmed of blanks.
func cookieName(s string) string {
	s, _, _ = strings.Cut(s, ";")
	s, _, _ = strings.Cut(s, "=")
	return textproto.TrimString(s)
}

// stripCookies removes from the Cookie header lines of h every cookie whose
// name starts with prefix. Lines are left untouched when there is nothing to
// remove; otherwise the kept cookies are joined into a single Cookie line, in
// their original order and with their original bytes, and the header is
// deleted when no cookie is left. Cookies are split by hand rather than with
// http.ParseCookie so that pairs Go would reject still reach the backend
// unchanged.
//
// The slice of Cookie values in h may be changed in place (rewrite passes
// the outbound request's own copy).
func stripCookies(h http.Header, prefix string) {
	lines := h["Cookie"]
	if prefix == "" || len(lines) == 0 || !anyCookieHasPrefix(lines, prefix) {
		return
	}
	if len(lines) == 1 {
		if kept, ok := keptSpan(lines[0], prefix); ok {
			if kept == "" {
				delete(h, "Cookie")
			} else {
				lines[0] = kept
			}
			return
		}
	}
	var kept []string
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			part = textproto.TrimString(part)
			if part == "" || ownCookie(cookieName(part), prefix) {
				continue
			}
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(kept, "; ")}
}

// keptSpan is stripCookies' result for a single line when that result is
// a piece of the line: when the pairs that stay sit together, trimmed and
// separated by exactly "; ", as browsers send them. ok is false when the
// result has to be built.
func keptSpan(line, prefix string) (kept string, ok bool) {
	start, end := -1, -1 // the kept pairs' span in line
	for pos := 0; ; {
		raw, _, more := strings.Cut(line[pos:], ";")
		part := textproto.TrimString(raw)
		if part != "" && !ownCookie(cookieName(part), prefix) {
			at := pos + strings.Index(raw, part)
			switch {
			case start < 0:
				start = at
			case line[end:at] != "; ":
				return "", false
			}
			end = at + len(part)
		}
		if !more {
			break
		}
		pos += len(raw) + 1
	}
	if start < 0 {
		return "", true
	}
	return line[start:end], true
}

func anyCookieHasPrefix(lines []string, prefix string) bool {
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			if ownCookie(cookieName(part), prefix) {
				return true
			}
		}
	}
	return false
}

// stripSetCookies removes from h the Set-Cookie lines for cookies whose name
// starts with prefix, so a backend cannot overwrite the gateway's cookies.
func stripSetCookies(h http.Header, prefix string) {
	lines := h["Set-Cookie"]
	n := 0
	for _, l := range lines {
		if !ownCookie(cookieName(l), prefix) {
			lines[n] = l
			n++
		}
	}
	if n == len(lines) {
		return
	}
	clear(lines[n:])
	if n == 0 {
		delete(h, "Set-Cookie")
		return
	}
	h["Set-Cookie"] = lines[:n]
}

// upgradeType returns the protocol a request asks to switch to, computed the
// way httputil.ReverseProxy does: the first Upgrade value, if the Connection
// header carries the "upgrade" token.
func upgradeType(h http.Header) string {
	if !hasToken(h["Connection"], "upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// hasToken reports whether any of the comma-separated lists in values holds
// token, compared ASCII case-insensitively.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if asciiEqualFold(textproto.TrimString(t), token) {
				return true
			}
		}
	}
	return false
}

// asciiEqualFold is strings.EqualFold restricted to ASCII, so that Unicode
// folding (such as 'ſ' matching 's') cannot make two names equal.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// withoutUpgrade returns a shallow copy of r whose headers no longer ask for
// a protocol switch: the Upgrade header is gone and the "upgrade" token is
// removed from Connection. r itself is not modified.
func withoutUpgrade(r *http.Request) *http.Request {
	r2 := r.WithContext(r.Context())
	h := r.Header.Clone()
	delete(h, "Upgrade")
	var conn []string
	for _, v := range h["Connection"] {
		var toks []string
		for t := range strings.SplitSeq(v, ",") {
			if t = textproto.TrimString(t); t != "" && !asciiEqualFold(t, "upgrade") {
				toks = append(toks, t)
			}
		}
		if len(toks) > 0 {
			conn = append(conn, strings.Join(toks, ", "))
		}
	}
	if len(conn) == 0 {
		delete(h, "Connection")
	} else {
		h["Connection"] = conn
	}
	r2.Header = h
	return r2
}

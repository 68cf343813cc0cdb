package bearer

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// Bounds of HTTP Basic credentials for the password grant.
const (
	maxUsernameBytes = 256
	maxPasswordBytes = 1024
)

// Authorization schemes gatehouse understands.
const (
	schemeBearer = "bearer"
	schemeBasic  = "basic"
)

// parseAuthorization splits one Authorization field value into its scheme
// (schemeBearer or schemeBasic) and credentials, following RFC 6750 §2.1
// and RFC 9110 §11.4: a case-insensitive scheme, one or more spaces (never
// a tab), then a single b64token no longer than maxToken bytes. Anything
// else is refused; the credentials are never trimmed or repaired.
func parseAuthorization(v string, maxToken int) (scheme, cred string, rej *rejection) {
	if len(v) > maxToken+64 {
		return "", "", rejectf(ReasonMalformed, "authorization header too large", nil)
	}
	i := strings.IndexByte(v, ' ')
	if i <= 0 || !isToken(v[:i]) {
		return "", "", rejectf(ReasonMalformed, "malformed authorization header", nil)
	}
	switch s := v[:i]; {
	case strings.EqualFold(s, "Bearer"):
		scheme = schemeBearer
	case strings.EqualFold(s, "Basic"):
		scheme = schemeBasic
	default:
		return "", "", rejectf(ReasonScheme, "unsupported authorization scheme", nil)
	}
	cred = strings.TrimLeft(v[i:], " ")
	if len(cred) > maxToken {
		return "", "", rejectf(ReasonMalformed, "token too large", nil)
	}
	if !isB64Token(cred) {
		return "", "", rejectf(ReasonMalformed, "malformed authorization header", nil)
	}
	return scheme, cred, nil
}

// parseBasic decodes RFC 7617 credentials strictly: padded standard base64,
// split at the first colon, a non-empty username, no control characters,
// bounded sizes and a UTF-8 username.
func parseBasic(cred string) (user, pass string, rej *rejection) {
	b, err := base64.StdEncoding.Strict().DecodeString(cred)
	if err != nil || !isB64Token(cred) { // the decoder skips CR and LF
		return "", "", rejectf(ReasonMalformed, "malformed basic credentials", nil)
	}
	user, pass, ok := strings.Cut(string(b), ":")
	switch {
	case !ok || user == "":
		return "", "", rejectf(ReasonMalformed, "malformed basic credentials", nil)
	case len(user) > maxUsernameBytes || len(pass) > maxPasswordBytes:
		return "", "", rejectf(ReasonMalformed, "basic credentials too large", nil)
	case hasControl(user) || hasControl(pass) || !utf8.ValidString(user):
		return "", "", rejectf(ReasonMalformed, "malformed basic credentials", nil)
	}
	return user, pass, nil
}

// Character classes of the grammars below, as lookup tables.
var (
	tchars      = charClass("!#$%&'*+-.^_`|~")
	b64tokChars = charClass("-._~+/")
	b64urlChars = charClass("-_")
)

// charClass is the ASCII letters and digits plus extra.
func charClass(extra string) (c [256]bool) {
	for b := range 256 {
		c[b] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
	}
	for i := range len(extra) {
		c[extra[i]] = true
	}
	return c
}

// all reports whether s is non-empty and every byte is in class.
func all(s string, class *[256]bool) bool {
	for i := 0; i < len(s); i++ {
		if !class[s[i]] {
			return false
		}
	}
	return s != ""
}

// isToken reports whether s is an RFC 9110 token (the auth-scheme syntax).
func isToken(s string) bool { return all(s, &tchars) }

// isB64Token reports whether s matches RFC 6750's b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	t := strings.TrimRight(s, "=")
	return all(t, &b64tokChars)
}

// isB64URL reports whether s is non-empty unpadded base64url text.
func isB64URL(s string) bool { return all(s, &b64urlChars) }

// hasControl reports whether s has an ASCII control character or DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// headerSafe reports whether s can go into an HTTP header field of the
// upstream request unchanged: valid UTF-8, at most maxValueBytes, and no
// control characters (C0, DEL or C1).
func headerSafe(s string) bool {
	if len(s) > maxValueBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return false
		}
	}
	return true
}

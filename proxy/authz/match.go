package authz

import (
	"slices"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// The functions here run on every request: they compare strings in place
// and never allocate.

// matches reports whether r applies to the request.
func (r *rule) matches(method, host, path string) bool {
	if r.methods != nil && !slices.Contains(r.methods, method) {
		return false // case-sensitive: "get" is not GET
	}
	return hostMatches(r.host, host) && prefixMatches(r.trimmed, path)
}

// hostMatches compares host with a rule's host pattern. The gateway passes
// hosts lower-cased; comparing ASCII case-insensitively keeps a host-specific
// rule in force even if one arrives otherwise.
func hostMatches(pattern, host string) bool {
	if pattern == "" {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		// "*.example.com" -> ".example.com": at least one label before
		// the dot, so neither "example.com" nor "evilexample.com".
		return len(host) > len(suffix) && hasSuffixFold(host, suffix)
	}
	return equalFold(host, pattern)
}

// prefixMatches matches whole segments: trimmed "/admin" matches "/admin"
// and "/admin/x", never "/administrator"; "" (the prefix "/") matches every
// path that starts with "/".
func prefixMatches(trimmed, path string) bool {
	n := len(trimmed)
	if len(path) < n || path[:n] != trimmed {
		return false
	}
	return len(path) == n && n > 0 || len(path) > n && path[n] == '/'
}

// check returns why id fails r's requirements, or "" when it meets them.
// scope is true when scopes= is the only requirement it fails.
func (r *rule) check(id *session.Identity) (reason string, scope bool) {
	switch {
	case r.who == machines && !id.Machine:
		return "requires a machine client", false
	case r.who == humans && id.Machine:
		return "requires a user, not a machine client", false
	}
	for i := range r.reqs {
		q := &r.reqs[i]
		if !q.satisfied(id) {
			return q.reason, q.kind == kScopes
		}
	}
	return "", false
}

// satisfied reports whether id meets q.
func (q *requirement) satisfied(id *session.Identity) bool {
	switch q.kind {
	case kSubjects:
		return !id.Machine && slices.Contains(q.values, id.Subject)
	case kEmails:
		if _, _, ok := splitAddress(id.Email); !ok || id.Machine {
			return false
		}
		for _, v := range q.values {
			if equalFold(id.Email, v) {
				return true
			}
		}
		return false
	case kDomains:
		_, domain, ok := splitAddress(id.Email)
		if !ok || id.Machine {
			return false
		}
		for _, v := range q.values {
			if suffix, wild := strings.CutPrefix(v, "*"); wild {
				if len(domain) > len(suffix) && hasSuffixFold(domain, suffix) {
					return true
				}
			} else if equalFold(domain, v) {
				return true
			}
		}
		return false
	case kClients:
		return slices.Contains(q.values, id.ClientID)
	case kGroups:
		for _, g := range id.Groups {
			if slices.Contains(q.values, g) {
				return true
			}
		}
		return false
	case kScopes:
		for _, v := range q.values {
			if !slices.Contains(id.Scopes, v) {
				return false // exact tokens: "readadmin" is not "admin"
			}
		}
		return true
	}
	return false
}

// splitAddress splits a bare addr-spec with exactly one "@": an ASCII
// dot-atom local part and a host-name domain. It accepts a subset of what
// net/mail.ParseAddress accepts, and of that only addresses it returns
// unchanged; quoted local parts, display names, comments, domain literals
// and non-ASCII fail, so an odd address never matches a rule.
func splitAddress(s string) (local, domain string, ok bool) {
	at := strings.IndexByte(s, '@')
	if at < 0 || len(s) > 254 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return "", "", false
	}
	local, domain = s[:at], s[at+1:]
	if !isDotAtom(local) || len(local) > 64 || !isHostName(domain) {
		return "", "", false
	}
	return local, domain, true
}

// isDotAtom reports whether s is an RFC 5322 dot-atom of ASCII atext.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' && s[i-1] != '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// equalFold compares ASCII case-insensitively; unlike strings.EqualFold it
// never folds non-ASCII runes such as the Kelvin sign onto ASCII letters.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && equalFold(s[len(s)-len(suffix):], suffix)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

package authz

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

type action int

const (
	actRequire       action = iota // requirements in who and reqs
	actPublic                      // "public"
	actAuthenticated               // "authenticated"
	actDeny                        // "deny"
)

var actionWords = [...]string{actPublic: "public", actAuthenticated: "authenticated", actDeny: "deny"}

type who int

const (
	anyone   who = iota
	machines     // "machines"
	humans       // "humans"
)

var whoWords = [...]string{machines: "machines", humans: "humans"}

// kind is a requirement key. Their order is the canonical order of String
// and of checking: people-only keys first, scopes last, so that a scope
// failure is reported only when nothing else failed.
type kind int

const (
	kSubjects kind = iota
	kEmails
	kDomains
	kClients
	kGroups
	kScopes
	numKinds
)

var kindWords = [numKinds]string{"subjects", "emails", "domains", "clients", "groups", "scopes"}

// hints name the key meant by a near miss, for the error message.
var hints = map[string]string{
	"subject": "subjects", "users": "subjects", "user": "subjects", "sub": "subjects",
	"email": "emails", "domain": "domains", "client": "clients", "client_id": "clients",
	"group": "groups", "scope": "scopes",
}

// rule is one parsed --rule value.
type rule struct {
	text    string   // canonical form, see String
	index   int      // position among the flags
	methods []string // nil: every method
	host    string   // "" (any), "app.example.com" or "*.example.com"
	prefix  string   // as written, starting with "/"
	trimmed string   // prefix without its trailing "/"; "" for "/"
	action  action
	who     who
	reqs    []requirement // sorted by kind; only for actRequire
}

type requirement struct {
	kind   kind
	values []string // emails and domains lower-cased
	reason string   // why a caller failing it is denied
}

// parseRule parses one rule. Errors name the rule and the problem.
func parseRule(text string) (*rule, error) {
	r, problem := parse(text)
	if problem != "" {
		return nil, fmt.Errorf("authz: rule %q: %s", text, problem)
	}
	r.text = r.String()
	return r, nil
}

func parse(text string) (*rule, string) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return nil, "empty rule; want [METHODS ][HOST]/PATH ACTION..."
	}
	r := &rule{}
	if !strings.Contains(fields[0], "/") {
		if p := r.parseMethods(fields[0]); p != "" {
			return nil, p
		}
		fields = fields[1:]
	}
	if len(fields) == 0 {
		return nil, "missing [HOST]/PATH"
	}
	if p := r.parseTarget(fields[0]); p != "" {
		return nil, p
	}
	if len(fields) == 1 {
		return nil, "missing action (public, authenticated, deny or requirements such as groups=admins)"
	}
	for _, f := range fields[1:] {
		if p := r.parseAction(f); p != "" {
			return nil, p
		}
	}
	if r.action != actRequire && (r.who != anyone || len(r.reqs) > 0) {
		return nil, standAlone(r.action)
	}
	if r.who == machines && slices.ContainsFunc(r.reqs, func(q requirement) bool { return q.kind <= kDomains }) {
		return nil, "machines never satisfy subjects=, emails= or domains=, which name people"
	}
	slices.SortFunc(r.reqs, func(a, b requirement) int { return int(a.kind - b.kind) })
	return r, ""
}

// standAlone is the problem with a rule that combines a with other actions.
func standAlone(a action) string {
	if a == actAuthenticated {
		return "\"authenticated\" must stand alone; requirements already imply a signed-in caller"
	}
	return fmt.Sprintf("%q must stand alone", actionWords[a])
}

func (r *rule) parseMethods(f string) string {
	if strings.Contains(f, "=") || slices.Contains(actionWords[:], f) || slices.Contains(whoWords[:], f) {
		return fmt.Sprintf("%q is an action; write [METHODS ][HOST]/PATH first", f)
	}
	for m := range strings.SplitSeq(f, ",") {
		switch {
		case m == "":
			return fmt.Sprintf("empty method in %q", f)
		case !isMethod(m) && isMethod(strings.ToUpper(m)):
			return fmt.Sprintf("method %q must be upper case (methods are case-sensitive)", m)
		case !isMethod(m):
			return fmt.Sprintf("%q is neither a method list nor [HOST]/PATH (a path starts with \"/\")", f)
		case slices.Contains(r.methods, m):
			return fmt.Sprintf("method %q is listed twice", m)
		}
		r.methods = append(r.methods, m)
	}
	return ""
}

// isMethod reports whether m is an upper-case method token.
func isMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func (r *rule) parseTarget(f string) string {
	slash := strings.IndexByte(f, '/')
	if slash < 0 {
		return fmt.Sprintf("%q is not [HOST]/PATH (a path starts with \"/\")", f)
	}
	host, prefix := strings.ToLower(f[:slash]), f[slash:]
	if host != "" && !isHostPattern(host) {
		return fmt.Sprintf("host %q must be a plain host name without port, optionally starting with \"*.\"", f[:slash])
	}
	if p := checkPrefix(prefix); p != "" {
		return fmt.Sprintf("path prefix %q %s", prefix, p)
	}
	r.host, r.prefix, r.trimmed = host, prefix, strings.TrimSuffix(prefix, "/")
	return ""
}

// checkPrefix allows the characters of RFC 3986 path segments that carry
// no second meaning, plus UTF-8 (the gateway matches decoded paths), in
// segments that are neither empty nor dot segments.
func checkPrefix(p string) string {
	if !utf8.ValidString(p) {
		return "is not valid UTF-8"
	}
	for _, c := range p {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.ContainsRune("/-._~!&'+,=:@", c):
		case c >= 0x80 && unicode.IsPrint(c):
		case c == '?':
			return "contains \"?\": rules match the path only, never the query"
		default:
			return fmt.Sprintf("contains %q: write a plain, decoded prefix (no escapes, wildcards or regular expressions)", c)
		}
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		switch {
		case s == "." || s == "..":
			return "contains a dot segment"
		case s == "" && i < len(segs)-1:
			return "contains an empty segment (\"//\")"
		}
	}
	return ""
}

// isHostPattern reports whether h is a host name, or one preceded by "*.".
func isHostPattern(h string) bool {
	return isHostName(strings.TrimPrefix(h, "*."))
}

// isHostName reports whether h is a DNS name or IPv4 address: dot-separated
// labels of ASCII letters, digits, '-' and '_'. Rule hosts and domains are
// lower-cased before they are checked.
func isHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for l := range strings.SplitSeq(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := lower(l[i]); (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

func (r *rule) parseAction(f string) string {
	key, list, isReq := strings.Cut(f, "=")
	if !isReq {
		for a, w := range actionWords {
			if w == f && w != "" {
				if r.action != actRequire {
					return standAlone(r.action)
				}
				r.action = action(a)
				return ""
			}
		}
		for w, word := range whoWords {
			if word == f && word != "" {
				if r.who != anyone {
					return "give at most one of \"machines\" and \"humans\""
				}
				r.who = who(w)
				return ""
			}
		}
		return fmt.Sprintf("unknown action %q (want public, authenticated, deny, machines, humans or KEY=VALUES)", f)
	}
	k := slices.Index(kindWords[:], key)
	if k < 0 {
		h, ok := hints[strings.ToLower(key)]
		if slices.Contains(kindWords[:], strings.ToLower(key)) {
			h, ok = strings.ToLower(key), true
		}
		if ok {
			return fmt.Sprintf("unknown requirement %q (did you mean %q?)", key, h)
		}
		return fmt.Sprintf("unknown requirement %q", key)
	}
	for _, q := range r.reqs {
		if q.kind == kind(k) {
			return fmt.Sprintf("requirement %q is given twice; list all values in one", key)
		}
	}
	if list == "" {
		return fmt.Sprintf("requirement %q has no values", key)
	}
	q := requirement{kind: kind(k)}
	for v := range strings.SplitSeq(list, ",") {
		v, p := checkValue(q.kind, v)
		switch {
		case p != "":
			return fmt.Sprintf("%s: %s", key, p)
		case slices.Contains(q.values, v):
			return fmt.Sprintf("%s: %q is listed twice", key, v)
		}
		q.values = append(q.values, v)
	}
	q.reason = reasonFor(q)
	r.reqs = append(r.reqs, q)
	return ""
}

// checkValue validates one value and returns it in the form it is compared
// in.
func checkValue(k kind, v string) (string, string) {
	if v == "" {
		return "", "empty value"
	}
	switch k {
	case kEmails:
		a, err := mail.ParseAddress(v)
		if err != nil || a.Name != "" || a.Address != v {
			return "", fmt.Sprintf("%q is not a bare email address", v)
		}
		if _, _, ok := splitAddress(v); !ok {
			return "", fmt.Sprintf("%q is not a plain ASCII address with one \"@\" and a host-name domain", v)
		}
		return strings.ToLower(v), ""
	case kDomains:
		d := strings.ToLower(v)
		if !isHostPattern(d) {
			return "", fmt.Sprintf("%q is not a domain name (write *.%s for its subdomains)", v, strings.TrimPrefix(d, "*."))
		}
		return d, ""
	}
	for i := 0; i < len(v); i++ {
		// Values are printable ASCII without space; scope tokens are
		// (RFC 6749 §3.3) minus '"' and '\'.
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return "", fmt.Sprintf("%q must be printable ASCII without quotes or backslashes", v)
		}
	}
	return v, ""
}

// reasonFor says why a caller failing q is denied. Allowed subjects, emails
// and clients identify people or services, so they are not named.
func reasonFor(q requirement) string {
	list, one := strings.Join(q.values, ", "), len(q.values) == 1
	switch q.kind {
	case kSubjects:
		return "requires an allowed user"
	case kEmails:
		return "requires an allowed email address"
	case kDomains:
		return "requires a verified email address in " + list
	case kClients:
		return "requires an allowed client"
	case kGroups:
		if one {
			return "requires group " + list
		}
		return "requires one of the groups " + list
	}
	if one {
		return "requires scope " + list
	}
	return "requires scopes " + list
}

// String returns the rule in canonical form, which parses back to the same
// rule.
func (r *rule) String() string {
	var b strings.Builder
	if r.methods != nil {
		b.WriteString(strings.Join(r.methods, ","))
		b.WriteByte(' ')
	}
	b.WriteString(r.host)
	b.WriteString(r.prefix)
	if r.action != actRequire {
		b.WriteString(" " + actionWords[r.action])
	}
	if r.who != anyone {
		b.WriteString(" " + whoWords[r.who])
	}
	for _, q := range r.reqs {
		b.WriteString(" " + kindWords[q.kind] + "=" + strings.Join(q.values, ","))
	}
	return b.String()
}

// overlap reports whether a and b match the same requests for some method,
// which would leave the decision to flag order. The string names the
// shared method.
func overlap(a, b *rule) (string, bool) {
	if a.host != b.host || a.trimmed != b.trimmed {
		return "", false
	}
	if a.methods == nil || b.methods == nil {
		if (a.methods == nil) == (b.methods == nil) {
			return "", true
		}
		return "", false // the rule with methods is more specific
	}
	for _, m := range a.methods {
		if slices.Contains(b.methods, m) {
			return fmt.Sprintf(" for %s", m), true
		}
	}
	return "", false
}

// sortRules orders rules most specific first.
func sortRules(rs []*rule) {
	slices.SortStableFunc(rs, func(a, b *rule) int {
		if d := len(b.trimmed) - len(a.trimmed); d != 0 {
			return d
		}
		if d := hostRank(b.host) - hostRank(a.host); d != 0 {
			return d
		}
		if d := btoi(b.methods != nil) - btoi(a.methods != nil); d != 0 {
			return d
		}
		return a.index - b.index
	})
}

// hostRank orders hosts by specificity: an exact host above any wildcard,
// a longer wildcard above a shorter one, and any host above none.
func hostRank(h string) int {
	switch {
	case h == "":
		return 0
	case strings.HasPrefix(h, "*."):
		return 1 + len(h)
	}
	return 1 << 20
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

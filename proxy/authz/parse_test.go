package authz

import (
	"net/mail"
	"strings"
	"testing"
)

func TestParseRuleCanonicalForm(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/public/ public", "/public/ public"},
		{"GET,HEAD /public/ public", "GET,HEAD /public/ public"},
		{"  GET \t /x   deny ", "GET /x deny"},
		{"/ authenticated", "/ authenticated"},
		{"API.Example.COM/v1/ scopes=read,write", "api.example.com/v1/ scopes=read,write"},
		{"*.apps.test/ authenticated", "*.apps.test/ authenticated"},
		{"/admin/ groups=admins humans", "/admin/ humans groups=admins"},
		{"/r/ scopes=a groups=G clients=c domains=Corp.Test,*.corp.test emails=Al.ice@Corp.Test subjects=s humans",
			"/r/ humans subjects=s emails=al.ice@corp.test domains=corp.test,*.corp.test clients=c groups=G scopes=a"},
		{"/m/ machines clients=svc scopes=urn:x:read,api://y", "/m/ machines clients=svc scopes=urn:x:read,api://y"},
		{"/café/ public", "/café/ public"},
		{"/a..b/v1.2/~u/@me/ public", "/a..b/v1.2/~u/@me/ public"},
		{"PROPFIND,MKCOL /dav/ groups=dav", "PROPFIND,MKCOL /dav/ groups=dav"},
		{"OPTIONS /cors/ public", "OPTIONS /cors/ public"},
		{"127.0.0.1/ deny", "127.0.0.1/ deny"},
		{"my_svc.internal/ machines", "my_svc.internal/ machines"},
		{"/x/ emails=o'brien+tag@corp.test", "/x/ emails=o'brien+tag@corp.test"},
	}
	for _, tt := range tests {
		r, err := parseRule(tt.in)
		if err != nil {
			t.Errorf("parseRule(%q): %v", tt.in, err)
			continue
		}
		if r.text != tt.want || r.String() != tt.want {
			t.Errorf("parseRule(%q) = %q, want %q", tt.in, r.text, tt.want)
		}
	}
}

func TestParseRuleRefuses(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty rule"},
		{" \t ", "empty rule"},
		{"GET /x/ grups=a", `rule "GET /x/ grups=a": unknown requirement "grups"`},
		{"/x/ group=a", `unknown requirement "group" (did you mean "groups"?)`},
		{"/x/ users=alice", `did you mean "subjects"`},
		{"/x/ Groups=a", `unknown requirement "Groups" (did you mean "groups"?)`},
		{"/x/ allow", `unknown action "allow"`},
		{"get /x/ public", `method "get" must be upper case`},
		{"GET,Head /x/ public", `method "Head" must be upper case`},
		{"GET,,HEAD /x/ public", "empty method"},
		{"GET,GET /x/ public", `method "GET" is listed twice`},
		{"G3T /x/ public", "neither a method list nor [HOST]/PATH"},
		{"api.example.com public", "neither a method list nor [HOST]/PATH"},
		{"public /x/", `"public" is an action`},
		{"GET", "missing [HOST]/PATH"},
		{"GET example.com public", `"example.com" is not [HOST]/PATH`},
		{"/x/", "missing action"},
		{"GET /x/", "missing action"},
		// Case 44: rules match the path, never the query.
		{"/api/status?x=1 public", "never the query"},
		{"/public/? public", "never the query"},
		// Cases 45–50: only canonical, plain prefixes.
		{"/foo/secret%23/ public", `contains '%'`},
		{"/foo/secret#/ public", `contains '#'`},
		{"/public/../admin public", "dot segment"},
		{"/public/.. public", "dot segment"},
		{"/./x public", "dot segment"},
		{"//admin public", "empty segment"},
		{"/a//b/ public", "empty segment"},
		{`/public\admin public`, `contains '\\'`},
		{"/x/* public", `contains '*'`},
		{"/api/.*/status public", `contains '*'`},
		{"/healthz$ public", `contains '$'`},
		{"/(a|b)/ public", `contains '('`},
		{"/a;b/ public", `contains ';'`},
		{"/a/\u202e/ public", `contains '\u202e'`},
		{"/a/\x7f public", `contains '\x7f'`},
		{"/a/\xff public", "not valid UTF-8"},
		{"^/public/ public", `host "^"`},
		{"example.com:8443/ public", `host "example.com:8443"`},
		{"*/ public", `host "*"`},
		{"*./ public", `host "*."`},
		{"*.*.a.test/ public", `host "*.*.a.test"`},
		{"a.*.test/ public", `host "a.*.test"`},
		{"a..test/ public", `host "a..test"`},
		{"-a.test/ public", `host "-a.test"`},
		{"[::1]/ public", `host "[::1]"`},
		{"user@a.test/ public", `host "user@a.test"`},
		{"/x/ groups=", `requirement "groups" has no values`},
		{"/x/ groups=a,,b", "groups: empty value"},
		{"/x/ groups=a,", "groups: empty value"},
		{"/x/ groups=a,a", `groups: "a" is listed twice`},
		{"/x/ groups=a groups=b", `requirement "groups" is given twice`},
		{"/x/ scopes=a\"b", "printable ASCII"},
		{"/x/ subjects=ålice", "printable ASCII"},
		{"/x/ public deny", `"public" must stand alone`},
		{"/x/ public groups=a", `"public" must stand alone`},
		{"/x/ groups=a deny", `"deny" must stand alone`},
		{"/x/ authenticated humans", `"authenticated" must stand alone`},
		{"/x/ machines humans", "at most one"},
		{"/x/ humans humans", "at most one"},
		{"/x/ machines emails=a@corp.test", "machines never satisfy"},
		{"/x/ subjects=a machines", "machines never satisfy"},
		// Case 39: only bare, single-"@" addresses and plain domains.
		{"/x/ emails=<a@corp.test>", "not a bare email address"},
		{"/x/ emails=a@evil.test@corp.test", "not a bare email address"},
		{`/x/ emails="a@b"@corp.test`, "emails: "},
		{`/x/ emails="ab"@corp.test`, "emails: "},
		{"/x/ emails=ä@corp.test", "not a plain ASCII address"},
		{"/x/ emails=a@[10.0.0.1]", "not a plain ASCII address"},
		{"/x/ emails=corp.test", "not a bare email address"},
		{"/x/ domains=@corp.test", "not a domain name"},
		{"/x/ domains=a@corp.test", "not a domain name"},
		{"/x/ domains=*corp.test", "not a domain name"},
		{"/x/ domains=*.", "not a domain name"},
		{"/x/ domains=corp.test.", "not a domain name"},
	}
	for _, tt := range tests {
		_, err := parseRule(tt.in)
		if err == nil {
			t.Errorf("parseRule(%q) succeeded, want error containing %q", tt.in, tt.want)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "authz: rule ") || !strings.Contains(msg, tt.want) {
			t.Errorf("parseRule(%q) error %q, want it to contain %q", tt.in, msg, tt.want)
		}
	}
}

func TestNewRefusesOverlapsAndReportsEveryBadRule(t *testing.T) {
	tests := []struct {
		cfg  Config
		want []string
	}{
		{Config{Rules: []string{"/admin public", "/admin/ deny"}}, []string{`rule "/admin/ deny": matches the same requests as rule "/admin public"`}},
		{Config{Rules: []string{"GET /x/ public", "POST,GET /x/ deny"}}, []string{"for GET"}},
		{Config{Rules: []string{"A.test/x/ public", "a.test/x deny"}}, []string{"matches the same requests"}},
		{Config{Rules: []string{"/a/ grups=x", "get /b/ public", "/c/ public"}}, []string{`"/a/ grups=x"`, `"get /b/ public"`}},
		{Config{DefaultDeny: true}, []string{"authz: default-deny without rules"}},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if err == nil {
			t.Errorf("New(%+v) succeeded", tt.cfg)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("New(%+v) error %q, want it to contain %q", tt.cfg, err, w)
			}
		}
		for line := range strings.SplitSeq(err.Error(), "\n") {
			if !strings.HasPrefix(line, "authz: ") {
				t.Errorf("error line %q lacks the authz: prefix", line)
			}
		}
	}
	// Rules that differ in host, methods or prefix are not overlaps.
	if _, err := New(Config{Rules: []string{"/x/ deny", "GET /x/ public", "POST /x/ public", "a.test/x/ public", "*.a.test/x/ public", "/x/y public", "/ authenticated"}}); err != nil {
		t.Errorf("New: %v", err)
	}
	if _, err := New(Config{}); err != nil {
		t.Errorf("New(zero Config): %v", err)
	}
}

// TestSplitAddressAgreesWithNetMail holds splitAddress to a subset of
// net/mail: every address it accepts, net/mail parses to itself.
func TestSplitAddressAgreesWithNetMail(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"a@corp.test", true},
		{"A.B+c@Corp.Test", true},
		{"o'brien@corp.test", true},
		{"x@localhost", true},
		{"attacker@evil.test@corp.test", false},
		{`"a@b"@corp.test`, false},
		{`"a"@corp.test`, false},
		{"Alice <a@corp.test>", false},
		{"<a@corp.test>", false},
		{"a@corp.test (comment)", false},
		{"a@[10.0.0.1]", false},
		{"a.@corp.test", false},
		{".a@corp.test", false},
		{"a..b@corp.test", false},
		{"a@corp..test", false},
		{"a@-corp.test", false},
		{"a@corp.test.", false},
		{"ä@corp.test", false},
		{"a@corp.tëst", false},
		{"a@", false},
		{"@corp.test", false},
		{"", false},
		{" a@corp.test", false},
		{strings.Repeat("a", 65) + "@corp.test", false},
	}
	for _, tt := range tests {
		_, _, ok := splitAddress(tt.in)
		if ok != tt.ok {
			t.Errorf("splitAddress(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
		if ok {
			a, err := mail.ParseAddress(tt.in)
			if err != nil || a.Name != "" || a.Address != tt.in {
				t.Errorf("splitAddress accepts %q but net/mail gives %+v, %v", tt.in, a, err)
			}
		}
	}
}

// FuzzParseRule checks that parsing never panics, that every rule it
// accepts round-trips through its canonical form, and that errors are
// prefixed.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		"GET,HEAD /public/ public", "/admin/ groups=admins", "*.apps.test/v1/ machines scopes=read,write",
		"/r/ humans emails=a@corp.test domains=*.corp.test subjects=s clients=c", "/ authenticated",
		"get /x/ deny", "/x?y public", "/café/ public", "a.test/ grups=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRule(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "authz: rule ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
			return
		}
		again, err := parseRule(r.String())
		if err != nil {
			t.Fatalf("%q parsed, but its canonical form %q does not: %v", s, r.String(), err)
		}
		if again.String() != r.String() || again.trimmed != r.trimmed || again.host != r.host {
			t.Fatalf("%q: canonical form %q parses to %q", s, r.String(), again.String())
		}
		if strings.ContainsAny(r.prefix, "?#%\\*") || r.prefix[0] != '/' {
			t.Fatalf("%q: prefix %q is not plain", s, r.prefix)
		}
	})
}

package authz

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// fixtureRules is the reference configuration of the attack catalogue
// (fixture F0), written as gatehouse rules, plus a rule per requirement.
var fixtureRules = []string{
	"GET,HEAD /public/ public",
	"/api/status public",
	"/admin/ groups=admins",
	"GET /admin/status public",
	"/internal/ deny",
	"api.apps.test/v1/ machines scopes=read,write",
	"/api/admin/ scopes=admin",
	"/people/ subjects=alice",
	"/mail/ emails=Alice@Corp.Test",
	"/corp/ domains=corp.test",
	"/sub/ domains=*.corp.test",
	"*.apps.test/ groups=staff",
	"admin.apps.test/ groups=admins",
	"OPTIONS /cors/ public",
	"/cors/ authenticated",
	"/svc/ clients=svc",
	"/humans/ humans",
	"/machines/ machines",
}

// Identities used across the tables. machineAlice is a client-credentials
// token whose sub and client_id are both "alice" (case 112).
var (
	alice        = &session.Identity{Subject: "alice", Email: "alice@corp.test", Groups: []string{"staff"}, ClientID: "gw"}
	bob          = &session.Identity{Subject: "bob", Email: "bob@corp.test", ClientID: "gw"}
	root         = &session.Identity{Subject: "root", Groups: []string{"staff", "admins"}, ClientID: "gw"}
	svc          = &session.Identity{Subject: "svc-1", ClientID: "svc", Scopes: []string{"read", "write"}, Machine: true}
	machineAlice = &session.Identity{Subject: "alice", ClientID: "alice", Email: "alice@corp.test", Groups: []string{"staff"}, Machine: true}
)

func email(e string) *session.Identity { return &session.Identity{Subject: "u", Email: e} }
func scopes(s ...string) *session.Identity {
	return &session.Identity{Subject: "svc", Scopes: s, Machine: true}
}

type decideCase struct {
	name               string
	id                 *session.Identity
	method, host, path string
	want               Decision
	rule               string // prefix of the deciding rule; "-" for the default
	reason             string // fragment of Reason, if set
	scope              bool
}

func TestDecide(t *testing.T) {
	const h = "app.test"
	tests := []decideCase{
		{"public GET", nil, "GET", h, "/public/x", Public, "GET,HEAD /public/", "public", false},
		{"public HEAD", nil, "HEAD", h, "/public/", Public, "GET,HEAD /public/", "", false},
		{"public prefix itself", nil, "GET", h, "/public", Public, "GET,HEAD /public/", "", false},
		{"public rule applies when signed in", alice, "GET", h, "/public/x", Public, "GET,HEAD /public/", "", false},
		{"segment boundary", nil, "GET", h, "/publicity", NeedAuth, "-", "authentication required", false},
		{"default needs any caller", alice, "GET", h, "/elsewhere", Allow, "-", "", false},
		{"default machine", svc, "POST", h, "/elsewhere", Allow, "-", "", false},
		// Case 56: a GET-only public rule does not cover other methods.
		{"56 DELETE", nil, "DELETE", h, "/public/x", NeedAuth, "-", "", false},
		{"56 PUT", nil, "PUT", h, "/public/x", NeedAuth, "-", "", false},
		{"56 POST", nil, "POST", h, "/public/x", NeedAuth, "-", "", false},
		// Case 51: methods are case-sensitive.
		{"51 get", nil, "get", h, "/public/x", NeedAuth, "-", "", false},
		{"51 GeT", nil, "GeT", h, "/public/x", NeedAuth, "-", "", false},
		{"51 get admin", nil, "get", h, "/admin/status", NeedAuth, "/admin/ groups=admins", "", false},
		// Case 52: OPTIONS is public only where listed.
		{"52 OPTIONS admin", nil, "OPTIONS", h, "/admin", NeedAuth, "/admin/ groups=admins", "", false},
		{"52 OPTIONS public path", nil, "OPTIONS", h, "/public/x", NeedAuth, "-", "", false},
		{"52 OPTIONS listed", nil, "OPTIONS", h, "/cors/x", Public, "OPTIONS /cors/", "", false},
		{"52 GET beside OPTIONS", nil, "GET", h, "/cors/x", NeedAuth, "/cors/ authenticated", "", false},
		{"52 GET beside OPTIONS signed in", bob, "GET", h, "/cors/x", Allow, "/cors/ authenticated", "", false},
		// Case 44: the path has no query; a regex-like rule never exists.
		{"44 private", nil, "GET", h, "/api/private/sensitive", NeedAuth, "-", "", false},
		{"44 status", nil, "GET", h, "/api/status", Public, "/api/status public", "", false},
		// /admin versus /administrator.
		{"admin anonymous", nil, "GET", h, "/admin", NeedAuth, "/admin/ groups=admins", "", false},
		{"admin member", root, "GET", h, "/admin/users", Allow, "/admin/ groups=admins", "allowed", false},
		{"admin non-member", alice, "GET", h, "/admin/users", Deny, "/admin/ groups=admins", "requires group admins", false},
		{"administrator", alice, "GET", h, "/administrator", Allow, "-", "", false},
		{"admin group case", &session.Identity{Subject: "x", Groups: []string{"Admins"}}, "GET", h, "/admin", Deny, "/admin/", "", false},
		{"longer public prefix", nil, "GET", h, "/admin/status", Public, "GET /admin/status", "", false},
		{"longer prefix other method", nil, "POST", h, "/admin/status", NeedAuth, "/admin/ groups=admins", "", false},
		{"deny anonymous", nil, "GET", h, "/internal/x", Deny, "/internal/ deny", "route is closed", false},
		{"deny admin", root, "GET", h, "/internal", Deny, "/internal/ deny", "", false},
		// Case 54 and wildcard hosts: the host is used as given.
		{"54 admin host", nil, "GET", "admin.apps.test", "/secret", NeedAuth, "admin.apps.test/", "", false},
		{"54 admin host staff", alice, "GET", "admin.apps.test", "/secret", Deny, "admin.apps.test/", "requires group admins", false},
		{"54 public host staff", alice, "GET", "public.apps.test", "/secret", Allow, "*.apps.test/", "", false},
		{"host upper case", alice, "GET", "ADMIN.Apps.Test", "/secret", Deny, "admin.apps.test/", "", false},
		{"wildcard depth", alice, "GET", "a.b.apps.test", "/", Allow, "*.apps.test/", "", false},
		{"wildcard non-member", bob, "GET", "x.apps.test", "/", Deny, "*.apps.test/", "requires group staff", false},
		{"wildcard not bare domain", bob, "GET", "apps.test", "/", Allow, "-", "", false},
		{"wildcard dot boundary", bob, "GET", "evilapps.test", "/", Allow, "-", "", false},
		{"wildcard empty label", bob, "GET", ".apps.test", "/", Allow, "-", "", false},
		{"wildcard loses to prefix", nil, "GET", "x.apps.test", "/public/x", Public, "GET,HEAD /public/", "", false},
		// Case 39: verified email, exactly one "@", whole domain.
		{"39 domain", email("a@corp.test"), "GET", h, "/corp/", Allow, "/corp/", "", false},
		{"39 domain case", email("A@CORP.TEST"), "GET", h, "/corp/", Allow, "/corp/", "", false},
		{"39 two @", email("attacker@evil.test@corp.test"), "GET", h, "/corp/", Deny, "/corp/", "requires a verified email address in corp.test", false},
		{"39 quoted @", email(`"a@evil.test"@corp.test`), "GET", h, "/corp/", Deny, "/corp/", "", false},
		{"39 display name", email("A <a@corp.test>"), "GET", h, "/corp/", Deny, "/corp/", "", false},
		{"39 suffix", email("a@corp.test.evil.test"), "GET", h, "/corp/", Deny, "/corp/", "", false},
		{"39 lookalike", email("a@evilcorp.test"), "GET", h, "/corp/", Deny, "/corp/", "", false},
		{"39 subdomain not implied", email("a@sub.corp.test"), "GET", h, "/corp/", Deny, "/corp/", "", false},
		{"39 no email", email(""), "GET", h, "/corp/", Deny, "/corp/", "", false},
		{"39 trailing space", email("a@corp.test "), "GET", h, "/corp/", Deny, "/corp/", "", false},
		{"39 wildcard subdomain", email("a@sub.corp.test"), "GET", h, "/sub/", Allow, "/sub/", "", false},
		{"39 wildcard depth", email("a@x.y.Corp.test"), "GET", h, "/sub/", Allow, "/sub/", "", false},
		{"39 wildcard not bare", email("a@corp.test"), "GET", h, "/sub/", Deny, "/sub/", "", false},
		{"39 wildcard boundary", email("a@evilcorp.test"), "GET", h, "/sub/", Deny, "/sub/", "", false},
		{"emails exact", alice, "GET", h, "/mail/", Allow, "/mail/", "", false},
		{"emails case", email("ALICE@corp.test"), "GET", h, "/mail/", Allow, "/mail/", "", false},
		{"emails other", bob, "GET", h, "/mail/", Deny, "/mail/", "requires an allowed email address", false},
		{"emails two @", email("alice@corp.test@corp.test"), "GET", h, "/mail/", Deny, "/mail/", "", false},
		{"emails longer", email("alice@corp.test.evil"), "GET", h, "/mail/", Deny, "/mail/", "", false},
		// Case 112: machine identities never pass rules that name people.
		{"112 user subject", alice, "GET", h, "/people/", Allow, "/people/", "", false},
		{"112 machine subject", machineAlice, "GET", h, "/people/", Deny, "/people/", "requires an allowed user", false},
		{"112 machine email", machineAlice, "GET", h, "/mail/", Deny, "/mail/", "", false},
		{"112 machine domain", machineAlice, "GET", h, "/corp/", Deny, "/corp/", "", false},
		{"112 machine groups", machineAlice, "GET", "x.apps.test", "/", Allow, "*.apps.test/", "", false},
		{"112 humans rule", svc, "GET", h, "/humans/", Deny, "/humans/", "requires a user", false},
		{"112 humans rule user", bob, "GET", h, "/humans/", Allow, "/humans/", "", false},
		{"112 machines rule", alice, "GET", h, "/machines/", Deny, "/machines/", "requires a machine client", false},
		{"112 machines rule machine", svc, "GET", h, "/machines/", Allow, "/machines/", "", false},
		{"clients", svc, "GET", h, "/svc/", Allow, "/svc/", "", false},
		{"clients other", machineAlice, "GET", h, "/svc/", Deny, "/svc/", "requires an allowed client", false},
		{"clients user", alice, "GET", h, "/svc/", Deny, "/svc/", "", false},
		// Case 115: scope tokens match exactly, and all are needed.
		{"115 read", scopes("read"), "GET", h, "/api/admin/x", Deny, "/api/admin/", "requires scope admin", true},
		{"115 readadmin", scopes("readadmin"), "GET", h, "/api/admin/x", Deny, "/api/admin/", "", true},
		{"115 admin-lite", scopes("read", "admin-lite"), "GET", h, "/api/admin/x", Deny, "/api/admin/", "", true},
		{"115 unsplit", scopes("read admin"), "GET", h, "/api/admin/x", Deny, "/api/admin/", "", true},
		{"115 case", scopes("Admin"), "GET", h, "/api/admin/x", Deny, "/api/admin/", "", true},
		{"115 control", scopes("read", "admin"), "GET", h, "/api/admin/x", Allow, "/api/admin/", "", false},
		{"115 anonymous", nil, "GET", h, "/api/admin/x", NeedAuth, "/api/admin/", "", false},
		{"scopes all", svc, "GET", "api.apps.test", "/v1/x", Allow, "api.apps.test/v1/", "", false},
		{"scopes one missing", scopes("read"), "GET", "api.apps.test", "/v1/x", Deny, "api.apps.test/v1/", "requires scopes read, write", true},
		{"scopes but human", &session.Identity{Subject: "u", Scopes: []string{"read", "write"}}, "GET", "api.apps.test", "/v1/x", Deny, "api.apps.test/v1/", "requires a machine client", false},
	}
	runDecide(t, Config{Rules: fixtureRules}, tests)
}

func TestDecideDefaultDeny(t *testing.T) {
	const h = "app.test"
	tests := []decideCase{
		{"listed", nil, "GET", h, "/public/x", Public, "GET /public/", "", false},
		{"unlisted anonymous", nil, "GET", h, "/x", Deny, "-", "no rule allows this route", false},
		{"unlisted signed in", alice, "GET", h, "/x", Deny, "-", "no rule allows this route", false},
		{"51 get", nil, "get", h, "/public/x", Deny, "-", "", false},
		{"56 POST", nil, "POST", h, "/public/x", Deny, "-", "", false},
		{"52 OPTIONS", nil, "OPTIONS", h, "/public/x", Deny, "-", "", false},
		{"rule anonymous", nil, "GET", h, "/app/", NeedAuth, "/app/ authenticated", "", false},
		{"rule signed in", bob, "GET", h, "/app/x", Allow, "/app/ authenticated", "", false},
		{"rule boundary", bob, "GET", h, "/apple", Deny, "-", "", false},
	}
	runDecide(t, Config{Rules: []string{"GET /public/ public", "/app/ authenticated"}, DefaultDeny: true}, tests)
}

func runDecide(t *testing.T, cfg Config, tests []decideCase) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		got := p.Decide(tt.id, tt.method, tt.host, tt.path)
		if got.Decision != tt.want || got.InsufficientScope != tt.scope ||
			!strings.Contains(got.Reason, tt.reason) || got.Reason == "" {
			t.Errorf("%s: Decide(%s %s%s) = %+v, want %v (reason %q, insufficient scope %v)",
				tt.name, tt.method, tt.host, tt.path, got, tt.want, tt.reason, tt.scope)
		}
		if (tt.rule == "-") != (got.Rule == "") || !strings.HasPrefix(got.Rule, strings.TrimPrefix(tt.rule, "-")) {
			t.Errorf("%s: decided by rule %q, want %q", tt.name, got.Rule, tt.rule)
		}
		if pub := p.Public(tt.method, tt.host, tt.path); pub != (got.Decision == Public) {
			t.Errorf("%s: Public = %v, but Decide says %v", tt.name, pub, got.Decision)
		}
	}
}

// TestMostSpecificRuleWins checks each tie-break, with the rules in both
// orders: flag order never changes the decision.
func TestMostSpecificRuleWins(t *testing.T) {
	tests := []struct {
		name               string
		rules              []string
		method, host, path string
		want               string
	}{
		{"longest prefix", []string{"/a/ deny", "/a/b/ public"}, "GET", "h.test", "/a/b/c", "/a/b/ public"},
		{"longest prefix outside", []string{"/a/ deny", "/a/b/ public"}, "GET", "h.test", "/a/bc", "/a/ deny"},
		{"prefix before host", []string{"h.test/ deny", "/x/ public"}, "GET", "h.test", "/x/y", "/x/ public"},
		{"host beats none", []string{"/x/ deny", "h.test/x/ public"}, "GET", "h.test", "/x/y", "h.test/x/ public"},
		{"host other", []string{"/x/ deny", "h.test/x/ public"}, "GET", "g.test", "/x/y", "/x/ deny"},
		{"exact beats wildcard", []string{"*.h.test/x/ deny", "a.h.test/x/ public"}, "GET", "a.h.test", "/x", "a.h.test/x/ public"},
		{"longer wildcard", []string{"*.h.test/ deny", "*.a.h.test/ public"}, "GET", "b.a.h.test", "/", "*.a.h.test/ public"},
		{"shorter wildcard", []string{"*.h.test/ deny", "*.a.h.test/ public"}, "GET", "a.h.test", "/", "*.h.test/ deny"},
		{"host beats methods", []string{"GET /x/ deny", "h.test/x/ public"}, "GET", "h.test", "/x", "h.test/x/ public"},
		{"methods beat none", []string{"/x/ deny", "GET /x/ public"}, "GET", "h.test", "/x", "GET /x/ public"},
		{"methods other", []string{"/x/ deny", "GET /x/ public"}, "POST", "h.test", "/x", "/x/ deny"},
		{"disjoint methods", []string{"POST /x/ deny", "GET /x/ public"}, "GET", "h.test", "/x", "GET /x/ public"},
		{"root", []string{"/ deny", "/x public"}, "GET", "h.test", "/xy", "/ deny"},
	}
	for _, tt := range tests {
		reversed := slices.Clone(tt.rules)
		slices.Reverse(reversed)
		for _, rules := range [][]string{tt.rules, reversed} {
			p, err := New(Config{Rules: rules})
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got := p.Decide(alice, tt.method, tt.host, tt.path).Rule; got != tt.want {
				t.Errorf("%s (rules %q): decided by %q, want %q", tt.name, rules, got, tt.want)
			}
		}
	}
}

// TestDecideDoesNotAllocate keeps the per-request path free of garbage.
func TestDecideDoesNotAllocate(t *testing.T) {
	p, err := New(Config{Rules: fixtureRules})
	if err != nil {
		t.Fatal(err)
	}
	sub, read := email("a@sub.corp.test"), scopes("read")
	n := testing.AllocsPerRun(100, func() {
		p.Decide(nil, "GET", "app.test", "/public/x")
		p.Decide(alice, "GET", "x.apps.test", "/admin/users")
		p.Decide(sub, "GET", "app.test", "/sub/x")
		p.Decide(alice, "GET", "app.test", "/mail/")
		p.Decide(read, "GET", "api.apps.test", "/v1/x")
		p.Decide(alice, "GET", "app.test", "/nowhere")
		p.Public("DELETE", "app.test", "/public/x")
	})
	if n != 0 {
		t.Errorf("Decide allocates %v times per run", n)
	}
}

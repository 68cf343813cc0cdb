package authz

import (
	"net/mail"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// FuzzDecide adds a fuzzed rule to the fixture and decides fuzzed requests,
// checking properties that must hold for any input:
//   - an anonymous caller is never Allowed, and Public agrees with Decide;
//   - a machine never passes a rule naming subjects, emails or domains;
//   - InsufficientScope only comes with Deny by a rule with scopes=;
//   - the path's segment structure is respected (no "/administrator" for
//     "/admin");
//   - an email the matcher accepts, net/mail parses to itself.
func FuzzDecide(f *testing.F) {
	f.Add("/admin/ groups=admins", "GET", "app.test", "/admin", "alice", "a@corp.test", "admins", "admin", false)
	f.Add("GET /public/ public", "get", "x.apps.test", "/public/x", "svc", "", "", "read", true)
	f.Add("*.apps.test/v1/ scopes=admin", "POST", "a.apps.test", "/v1/x", "s", "", "", "readadmin", true)
	f.Add("/corp/ domains=corp.test", "GET", "app.test", "/corp/x", "u", "a@evil.test@corp.test", "", "", false)
	f.Add("/p/ subjects=alice", "GET", "app.test", "/p/", "alice", "alice@corp.test", "", "", true)
	f.Fuzz(func(t *testing.T, extra, method, host, path, sub, email, group, scope string, machine bool) {
		rules := append([]string{extra}, fixtureRules...)
		p, err := New(Config{Rules: rules})
		if err != nil {
			p, err = New(Config{Rules: fixtureRules})
			if err != nil {
				t.Fatal(err)
			}
		}
		id := &session.Identity{Subject: sub, Email: email, ClientID: sub, Machine: machine,
			Groups: []string{group}, Scopes: strings.Fields(scope)}

		anon := p.Decide(nil, method, host, path)
		if anon.Decision == Allow || anon.InsufficientScope {
			t.Fatalf("anonymous %s %s%s: %+v", method, host, path, anon)
		}
		if p.Public(method, host, path) != (anon.Decision == Public) {
			t.Fatalf("Public disagrees with Decide %+v", anon)
		}
		got := p.Decide(id, method, host, path)
		if got.Rule != anon.Rule {
			t.Fatalf("identity changed the deciding rule: %q vs %q", got.Rule, anon.Rule)
		}
		r := p.match(method, host, path)
		if r != nil && !r.matchesPath(path) {
			t.Fatalf("rule %q matched path %q across a segment", r.text, path)
		}
		if got.InsufficientScope && (got.Decision != Deny || !strings.Contains(got.Rule, "scopes=")) {
			t.Fatalf("insufficient scope without a scope rule: %+v", got)
		}
		if got.Decision == Allow && machine && r != nil {
			for _, q := range r.reqs {
				if q.kind <= kDomains {
					t.Fatalf("machine passed %q", r.text)
				}
			}
		}
		if _, _, ok := splitAddress(email); ok {
			if a, err := mail.ParseAddress(email); err != nil || a.Name != "" || a.Address != email {
				t.Fatalf("splitAddress accepts %q, net/mail gives %v, %v", email, a, err)
			}
		}
	})
}

// matchesPath is prefixMatches written the slow, obvious way.
func (r *rule) matchesPath(path string) bool {
	if r.trimmed == "" {
		return strings.HasPrefix(path, "/")
	}
	return path == r.trimmed || strings.HasPrefix(path, r.trimmed+"/")
}

// BenchmarkDecide decides requests against 20 rules; it must not allocate.
func BenchmarkDecide(b *testing.B) {
	rules := append([]string{"/static/ public", "/assets/ public"}, fixtureRules...)
	if len(rules) != 20 {
		b.Fatalf("%d rules, want 20", len(rules))
	}
	p, err := New(Config{Rules: rules})
	if err != nil {
		b.Fatal(err)
	}
	sub := &session.Identity{Subject: "u", Email: "u@sub.corp.test", Groups: []string{"staff"}}
	reqs := []struct {
		name               string
		id                 *session.Identity
		method, host, path string
	}{
		{"public", nil, "GET", "app.test", "/public/css/site.css"},
		{"group-denied", alice, "GET", "x.apps.test", "/admin/users/42"},
		{"email-domain", sub, "POST", "app.test", "/sub/reports/2026"},
		{"host-scopes", svc, "GET", "api.apps.test", "/v1/orders"},
		{"machine-subject", machineAlice, "GET", "app.test", "/people/alice"},
		{"default", alice, "DELETE", "app.test", "/some/unlisted/path"},
	}
	for _, rq := range reqs {
		b.Run(rq.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(rq.id, rq.method, rq.host, rq.path)
			}
		})
	}
}

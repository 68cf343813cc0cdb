// Package authz decides whether a caller may make a request, from rules
// parsed once at startup.
//
// A rule is one --rule flag value:
//
//	[METHODS ][HOST]/PATH ACTION [ACTION…]
//
// METHODS is an optional comma-separated list of upper-case method tokens
// ("GET,HEAD"). Methods are case-sensitive (RFC 9110 §9.1): "get" is refused
// in a rule, and a request with method "get" never matches a GET rule. GET
// does not imply HEAD, and OPTIONS is matched only where it is listed (or
// where no methods are given).
//
// HOST is optional. It is compared, lower-cased and without a port, with the
// host the gateway routes on. "*.example.com" matches every subdomain of
// example.com at any depth ("a.example.com", "a.b.example.com") but never
// example.com itself, nor "evilexample.com".
//
// PATH is a plain prefix matched on whole segments against the decoded,
// canonical request path (never the query): "/admin" and "/admin/" both
// match "/admin" and "/admin/x", never "/administrator". A prefix is
// written the way the gateway sees paths, so "%", "?", "#", "\", ";",
// dot segments, empty segments ("//") and regular-expression syntax
// ("*", "^", "$", "(", "[", "{", "|") are refused rather than interpreted.
//
// The actions are one of
//
//	public         no authentication at all; the gateway skips it
//	authenticated  any signed-in caller, user or machine client
//	deny           closed to everyone, signed in or not
//
// or one or more requirements, every one of which must hold (an AND of
// ORs):
//
//	machines        the caller is a machine client (client credentials)
//	humans          the caller is a user
//	subjects=a,b    the subject is one of these             (users only)
//	emails=a,b      the verified email is one of these      (users only)
//	domains=d,*.d   the verified email's domain is one of   (users only)
//	groups=a,b      the caller is in at least one group
//	clients=a,b     the token was issued to one of these clients
//	scopes=a,b      the token carries every one of these scopes
//
// subjects=, emails= and domains= name people, so a machine identity never
// satisfies them, even when its subject equals a user's (RFC 9068 §2.2 makes
// sub the client id for client credentials). groups=, clients= and scopes=
// come from the verified token and hold for users and machines alike; add
// "humans" or "machines" to restrict a rule further. Values are compared
// exactly: groups, subjects, clients and scopes case-sensitively, emails
// and domains case-insensitively. A domain matches only the email's whole
// domain ("corp.test" matches "a@corp.test", not "a@sub.corp.test"); write
// "*.corp.test" for subdomains. An email with a display name, a quoted or
// non-ASCII local part, or more than one "@" never matches.
//
// Exactly one rule decides a request: the most specific that matches. That
// is the one with the longest prefix; among equal prefixes, one naming an
// exact host beats a wildcard host (the longer wildcard first), which beats
// none; then one listing methods beats one that does not. Rules whose
// matches would tie (same host, same prefix, a method in common) are
// refused by New, so the order of flags never changes a decision.
//
// A request no rule matches needs any signed-in caller. With
// Config.DefaultDeny it is refused (Deny, 403) for everyone, anonymous
// callers included: signing in could not open it, so gatehouse does not
// ask them to.
package authz

import (
	"errors"
	"fmt"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// Grammar describes the rule syntax, for the command's --help.
const Grammar = `Authorization rules: --rule '[METHODS ][HOST]/PATH ACTION...' (repeatable)

  METHODS  comma-separated, upper case ("GET,HEAD"); omitted: every method.
           Methods are case-sensitive; GET does not imply HEAD.
  HOST     exact host, no port ("api.example.com"), or "*.example.com" for
           its subdomains (not example.com itself); omitted: every host.
  /PATH    plain path prefix on whole segments: /admin and /admin/ match
           /admin and /admin/x, never /administrator. Matched against the
           decoded path without the query; no %, ?, #, \, ;, *, //, dot
           segments or regex syntax.
  ACTION   public         no authentication
           authenticated  any signed-in user or machine client
           deny           closed to everyone
           or requirements, ALL of which must hold:
           machines | humans  only machine clients | only users
           subjects=a,b   subject is one of these (users only)
           emails=a,b     verified email is one of these (users only)
           domains=d,*.d  verified email's domain is one of these (users only)
           groups=a,b     member of ANY of these groups
           clients=a,b    token issued to ANY of these clients
           scopes=a,b     token has ALL of these scopes

  The most specific matching rule alone decides: longest prefix, then exact
  host, wildcard host, no host, then a rule with methods. Requests no rule
  matches need any signed-in caller, or with default-deny are refused (403).

Examples:
  --rule 'GET,HEAD /public/ public'
  --rule '/admin/ groups=admins'
  --rule '/reports/ humans domains=corp.test,*.corp.test'
  --rule 'api.example.com/v1/ machines scopes=read,write'
  --rule 'POST /internal/ deny'
  --rule '/ authenticated'`

// Config is the authorization configuration.
type Config struct {
	// Rules are the --rule values, in flag order. None: every request
	// falls to the default.
	Rules []string
	// DefaultDeny refuses requests that no rule matches. False (the
	// default): such requests need any signed-in caller. New refuses
	// DefaultDeny without rules, which would close every route.
	DefaultDeny bool
}

// Decision is the outcome of authorization. The zero Decision is Deny, so a
// Result nobody filled in refuses.
type Decision int

const (
	// Deny refuses the request: 403. The caller is signed in but not
	// allowed, or the route is closed to everyone.
	Deny Decision = iota
	// Allow lets the signed-in caller through.
	Allow
	// Public lets anyone through without authentication. The gateway
	// skips authentication entirely but still strips identity headers.
	Public
	// NeedAuth asks an anonymous caller to authenticate: 401 or a
	// redirect to sign in.
	NeedAuth
)

// String returns "deny", "allow", "public" or "need-auth".
func (d Decision) String() string {
	switch d {
	case Deny:
		return "deny"
	case Allow:
		return "allow"
	case Public:
		return "public"
	case NeedAuth:
		return "need-auth"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// Result is a decision and why it was made.
type Result struct {
	// Decision is what to do with the request.
	Decision Decision
	// Rule is the rule that decided, in canonical form ("" for the
	// default): single spaces, lower-case host, requirements in a fixed
	// order.
	Rule string
	// Reason is short and safe to show the caller, e.g. "requires group
	// admins". It never lists allowed subjects, emails or clients.
	Reason string
	// InsufficientScope is set when the caller met every requirement but
	// scopes=, for WWW-Authenticate: Bearer error="insufficient_scope".
	InsufficientScope bool
}

// Policy is a parsed, immutable rule set. It is safe for concurrent use.
type Policy struct {
	rules       []*rule // most specific first
	defaultDeny bool
}

const (
	reasonPublic      = "public route"
	reasonAllowed     = "allowed"
	reasonNeedAuth    = "authentication required"
	reasonClosed      = "route is closed"
	reasonDefaultDeny = "no rule allows this route"
)

// New parses cfg.Rules. Every rule that cannot be parsed is reported,
// each error naming the rule and the problem.
func New(cfg Config) (*Policy, error) {
	p := &Policy{defaultDeny: cfg.DefaultDeny}
	var errs []error
	for i, text := range cfg.Rules {
		r, err := parseRule(text)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.index = i
		for _, o := range p.rules {
			if m, ok := overlap(o, r); ok {
				errs = append(errs, fmt.Errorf("authz: rule %q: matches the same requests as rule %q%s; merge them or narrow one", text, o.text, m))
			}
		}
		p.rules = append(p.rules, r)
	}
	if cfg.DefaultDeny && len(cfg.Rules) == 0 {
		errs = append(errs, errors.New("authz: default-deny without rules would refuse every request"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sortRules(p.rules)
	return p, nil
}

// Public reports whether the rule matching the request is public, so that
// the gateway can skip authentication. It is called before authentication
// and agrees with Decide: Public is true exactly when Decide returns Public.
func (p *Policy) Public(method, host, path string) bool {
	r := p.match(method, host, path)
	return r != nil && r.action == actPublic
}

// Decide decides the request for id (nil for an anonymous caller). method
// is the request method as sent, host is lower-case without a port, and
// path is the canonical decoded path without the query.
func (p *Policy) Decide(id *session.Identity, method, host, path string) Result {
	r := p.match(method, host, path)
	if r == nil {
		switch {
		case p.defaultDeny:
			return Result{Decision: Deny, Reason: reasonDefaultDeny}
		case id == nil:
			return Result{Decision: NeedAuth, Reason: reasonNeedAuth}
		}
		return Result{Decision: Allow, Reason: reasonAllowed}
	}
	switch r.action {
	case actPublic:
		return Result{Decision: Public, Rule: r.text, Reason: reasonPublic}
	case actDeny:
		return Result{Decision: Deny, Rule: r.text, Reason: reasonClosed}
	}
	if id == nil {
		return Result{Decision: NeedAuth, Rule: r.text, Reason: reasonNeedAuth}
	}
	if reason, scope := r.check(id); reason != "" {
		return Result{Decision: Deny, Rule: r.text, Reason: reason, InsufficientScope: scope}
	}
	return Result{Decision: Allow, Rule: r.text, Reason: reasonAllowed}
}

// match returns the most specific rule matching the request, or nil.
func (p *Policy) match(method, host, path string) *rule {
	for _, r := range p.rules {
		if r.matches(method, host, path) {
			return r
		}
	}
	return nil
}

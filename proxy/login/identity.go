package login

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// maxGroups bounds how many groups one identity may carry.
const maxGroups = 256

// identity turns a verified ID token into an Identity. It refuses values
// that could not travel safely in an HTTP header, and it checks azp as
// OpenID Connect Core §3.1.3.7 asks.
func (l *Login) identity(idt *oidc.IDToken) (*session.Identity, map[string]any, error) {
	var c map[string]any
	if err := idt.Claims(&c); err != nil {
		return nil, nil, err
	}
	id, err := l.identityFrom(idt, c)
	return id, c, err
}

func (l *Login) identityFrom(idt *oidc.IDToken, c map[string]any) (*session.Identity, error) {
	azp, _ := c["azp"].(string)
	if azp != "" && azp != l.cfg.ClientID {
		return nil, fmt.Errorf("login: azp %q is not this client", trunc(azp))
	}
	if len(idt.Audience) > 1 && azp == "" {
		return nil, errors.New("login: several audiences and no azp")
	}
	id := &session.Identity{
		Issuer:   idt.Issuer,
		Subject:  idt.Subject,
		ClientID: l.cfg.ClientID,
	}
	if !safeValue(id.Subject) || id.Subject == "" {
		return nil, errors.New("login: sub is empty or has characters not allowed in a header")
	}
	if verified, _ := c["email_verified"].(bool); verified {
		email, _ := c["email"].(string)
		if !safeValue(email) {
			return nil, errors.New("login: email has characters not allowed in a header")
		}
		if validEmail(email) {
			id.Email = email
		}
	}
	for _, f := range []struct {
		claim string
		dst   *string
	}{{"preferred_username", &id.PreferredUsername}, {"name", &id.Name}, {"sid", &id.SID}} {
		v, _ := c[f.claim].(string)
		if !safeValue(v) {
			return nil, fmt.Errorf("login: %s has characters not allowed in a header", f.claim)
		}
		*f.dst = v
	}
	id.Groups = Groups(c, l.cfg.GroupsClaim)
	return id, nil
}

// Groups reads the groups at a dotted claim path ("groups",
// "realm_access.roles"). A string is one group; an array of strings is many.
// Values that could be misread in a comma-separated header (commas,
// control characters) are dropped, not repaired.
func Groups(claims map[string]any, path string) []string {
	var v any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	var raw []any
	switch t := v.(type) {
	case string:
		raw = []any{t}
	case []any:
		raw = t
	default:
		return nil
	}
	var out []string
	for _, g := range raw {
		s, ok := g.(string)
		if !ok || s == "" || strings.Contains(s, ",") || !safeValue(s) {
			continue
		}
		if len(out) == maxGroups {
			break
		}
		out = append(out, s)
	}
	return out
}

// validEmail accepts a bare address with exactly one "@" that net/mail
// parses back to itself. Anything else ("a@evil.test@corp.test", display
// names, comments) is not forwarded as an email at all.
func validEmail(s string) bool {
	if strings.Count(s, "@") != 1 {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// safeValue reports whether s can be sent as an HTTP header value without
// changing meaning: no control characters (RFC 9110 §5.5), bounded length.
func safeValue(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// needsUserInfo reports whether the ID token leaves out claims gatehouse
// forwards. With the code flow, issuers may put them only in the UserInfo
// response (OpenID Connect Core §5.4).
func (l *Login) needsUserInfo(c map[string]any) bool {
	for _, k := range []string{"email", "preferred_username"} {
		if _, ok := c[k]; !ok {
			return true
		}
	}
	return Groups(c, l.cfg.GroupsClaim) == nil && !hasPath(c, l.cfg.GroupsClaim)
}

func hasPath(c map[string]any, path string) bool {
	var v any = c
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// mergeUserInfo fills id from the UserInfo claims u, for what the ID token
// left out. The UserInfo sub must be the ID token's (Core §5.3.2);
// otherwise nothing is taken from it. Emails still count only when
// verified.
func (l *Login) mergeUserInfo(id *session.Identity, idClaims, u map[string]any) error {
	if sub, _ := u["sub"].(string); sub != id.Subject {
		return errors.New("login: userinfo sub differs from the ID token's")
	}
	merged := make(map[string]any, len(idClaims)+len(u))
	for k, v := range u {
		merged[k] = v
	}
	for k, v := range idClaims {
		merged[k] = v // the signed ID token wins where both have a claim
	}
	if _, ok := idClaims["email"]; !ok {
		// email and email_verified travel together: take both from UserInfo.
		merged["email"], merged["email_verified"] = u["email"], u["email_verified"]
	}
	if verified, _ := merged["email_verified"].(bool); verified && id.Email == "" {
		if email, _ := merged["email"].(string); safeValue(email) && validEmail(email) {
			id.Email = email
		}
	}
	for _, f := range []struct {
		claim string
		dst   *string
	}{{"preferred_username", &id.PreferredUsername}, {"name", &id.Name}} {
		if *f.dst == "" {
			if v, _ := merged[f.claim].(string); safeValue(v) {
				*f.dst = v
			}
		}
	}
	if len(id.Groups) == 0 {
		id.Groups = Groups(merged, l.cfg.GroupsClaim)
	}
	return nil
}

package login

import (
	"testing"

	"github.com/gatehouse-proxy/gatehouse/session"
)

func TestValidEmail(t *testing.T) {
	for in, want := range map[string]bool{
		"alice@corp.test": true, "a.b+c@sub.corp.test": true,
		"attacker@evil.test@corp.test": false, "Alice <alice@corp.test>": false, "alice": false, "": false,
		"alice@corp.test (comment)": false, "\"a@b\"@corp.test": false,
	} {
		if validEmail(in) != want {
			t.Errorf("validEmail(%q) = %v", in, !want)
		}
	}
}

func TestGroupsClaim(t *testing.T) {
	claims := map[string]any{
		"groups":       []any{"dev", "a,admins", "ops\r\nX: y", "", 7, "staff"},
		"realm_access": map[string]any{"roles": []any{"admin"}},
		"single":       "one",
	}
	cases := map[string][]string{"groups": {"dev", "staff"}, "realm_access.roles": {"admin"}, "single": {"one"}, "missing": nil, "realm_access.none": nil}
	for path, want := range cases {
		got := Groups(claims, path)
		if len(got) != len(want) {
			t.Errorf("Groups(%q) = %q, want %q", path, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("Groups(%q) = %q, want %q", path, got, want)
			}
		}
	}
}

func TestMergeUserInfo(t *testing.T) {
	l := &Login{cfg: Config{GroupsClaim: "groups"}}
	base := func() *session.Identity { return &session.Identity{Subject: "u1"} }
	id := base()
	idClaims := map[string]any{"sub": "u1", "name": "From ID token"}
	u := map[string]any{"sub": "u1", "email": "u1@corp.test", "email_verified": true, "preferred_username": "u1name", "name": "From userinfo", "groups": []any{"dev"}}
	if err := l.mergeUserInfo(id, idClaims, u); err != nil {
		t.Fatal(err)
	}
	if id.Email != "u1@corp.test" || id.PreferredUsername != "u1name" || len(id.Groups) != 1 || id.Groups[0] != "dev" {
		t.Errorf("merged %+v", id)
	}
	id = base()
	id.Name = "From ID token"
	l.mergeUserInfo(id, idClaims, u)
	if id.Name != "From ID token" {
		t.Errorf("userinfo replaced an ID-token claim: %q", id.Name)
	}
	id = base()
	if err := l.mergeUserInfo(id, idClaims, map[string]any{"sub": "someone-else", "email": "x@corp.test", "email_verified": true}); err == nil || id.Email != "" {
		t.Errorf("userinfo for another subject accepted: %v %+v", err, id)
	}
	id = base()
	l.mergeUserInfo(id, idClaims, map[string]any{"sub": "u1", "email": "x@corp.test", "email_verified": false})
	if id.Email != "" {
		t.Error("an unverified userinfo email was taken")
	}
	id = base()
	l.mergeUserInfo(id, map[string]any{"sub": "u1", "email": "a@corp.test", "email_verified": false}, map[string]any{"sub": "u1", "email": "b@corp.test", "email_verified": true})
	if id.Email != "" {
		t.Error("the ID token's unverified email was replaced by userinfo's verified one for another address")
	}
}

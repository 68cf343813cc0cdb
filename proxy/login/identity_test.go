package login

import "testing"

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

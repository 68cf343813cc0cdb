package bearer

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	const tok = "eyJhbGciOi.eyJzdWIiOi.c2ln"
	tests := []struct {
		in, scheme, cred, reason string
	}{
		{"Bearer " + tok, schemeBearer, tok, ""},
		{"bearer " + tok, schemeBearer, tok, ""},  // case 110: scheme is case-insensitive
		{"BEARER  " + tok, schemeBearer, tok, ""}, // 1*SP
		{"Bearer abc+/~-._==", schemeBearer, "abc+/~-._==", ""},
		{"Basic YWxpY2U6cHc=", schemeBasic, "YWxpY2U6cHc=", ""},
		{"Bearer\t" + tok, "", "", ReasonMalformed},  // tab is not SP
		{"Bearer \t" + tok, "", "", ReasonMalformed}, // tab after SP
		{tok, "", "", ReasonMalformed},               // no scheme
		{"Bearer", "", "", ReasonMalformed},          // no credentials
		{"Bearer ", "", "", ReasonMalformed},
		{"Bearer " + tok + ",Bearer x", "", "", ReasonMalformed}, // several credentials
		{"Bearer " + tok + " x", "", "", ReasonMalformed},
		{"Bearer a=b", "", "", ReasonMalformed},  // padding only at the end
		{"Bearer =abc", "", "", ReasonMalformed}, // padding alone
		{"Bearer ab\x00c", "", "", ReasonMalformed},
		{"Bearer ab\"c", "", "", ReasonMalformed},
		{"Bearer é", "", "", ReasonMalformed},
		{"Digest username=x", "", "", ReasonScheme},
		{"Token " + tok, "", "", ReasonScheme},
		{"Bearer: " + tok, "", "", ReasonMalformed},
		{"Bearer " + strings.Repeat("a", 9000), "", "", ReasonMalformed},
	}
	for _, tt := range tests {
		scheme, cred, rej := parseAuthorization(tt.in, DefaultMaxTokenBytes)
		reason := ""
		if rej != nil {
			reason = rej.reason
		}
		if scheme != tt.scheme || cred != tt.cred || reason != tt.reason {
			t.Errorf("parseAuthorization(%q) = %q, %q, %q; want %q, %q, %q", tt.in, scheme, cred, reason, tt.scheme, tt.cred, tt.reason)
		}
	}
}

func TestParseBasic(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		cred, user, pass string
		ok               bool
	}{
		{b64("alice:pw"), "alice", "pw", true},
		{b64("alice:p:w"), "alice", "p:w", true}, // split at the first colon
		{b64("alice:"), "alice", "", true},
		{"Og==", "", "", false},              // ":" — empty user (case 129)
		{"Ojpw", "", "", false},              // "::p"
		{"YWxpY2U=", "", "", false},          // no colon
		{"YWxpY2U6cHc", "", "", false},       // unpadded
		{"YWxpY2U6cHc=\n", "", "", false},    // trailing junk
		{b64("al\x00ice:pw"), "", "", false}, // NUL
		{b64("alice:p\nw"), "", "", false},   // control character
		{b64(strings.Repeat("u", 300) + ":pw"), "", "", false},
		{b64("alice:" + strings.Repeat("p", 2000)), "", "", false},
		{b64("\xff\xfe:pw"), "", "", false}, // not UTF-8
		{"YW-jZQ==", "", "", false},         // base64url alphabet
	}
	for _, tt := range tests {
		user, pass, rej := parseBasic(tt.cred)
		if (rej == nil) != tt.ok || user != tt.user || pass != tt.pass {
			t.Errorf("parseBasic(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.cred, user, pass, rej, tt.user, tt.pass, tt.ok)
		}
	}
}

// Case 110: Authorization scheme parsing, against a real token.
func TestCase110AuthorizationScheme(t *testing.T) {
	e := newEnv(t, nil)
	t0 := e.t0(nil)
	wantOK(t, e.check("Bearer "+t0))
	wantOK(t, e.check("bearer "+t0))
	wantOK(t, e.check("Bearer  "+t0))
	for _, v := range []string{
		"Bearer\t" + t0,
		t0,
		"Bearer " + t0 + ",Bearer x",
		"Bearer " + t0 + ", Bearer x",
	} {
		wantDeny(t, e.check(v), http.StatusUnauthorized, ReasonMalformed)
	}
	// A Basic credential is never parsed as a JWT: without the password
	// grant it is refused whatever it holds.
	for _, v := range []string{
		"Basic " + t0,
		"Basic " + base64.StdEncoding.EncodeToString([]byte(t0+":x-oauth-basic")),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+t0)),
	} {
		wantDeny(t, e.check(v), http.StatusUnauthorized, ReasonScheme)
	}
	res := e.check("Bearer "+t0, "Bearer forged")
	wantDeny(t, res, http.StatusBadRequest, ReasonDuplicate)
	if !strings.Contains(res.Challenge, `error="invalid_request"`) {
		t.Errorf("challenge %q", res.Challenge)
	}
	if got := e.requests("/token"); got != 0 {
		t.Errorf("%d token requests", got)
	}
}

// Case 111: a token outside the Authorization header is not a credential.
func TestCase111TokenOutsideHeader(t *testing.T) {
	e := newEnv(t, nil)
	t0 := e.t0(nil)
	reqs := []*http.Request{
		httptest.NewRequest(http.MethodGet, "/api/data?access_token="+t0, nil),
		httptest.NewRequest(http.MethodGet, "/api/data?X-Vouch-Token="+t0, nil),
		httptest.NewRequest(http.MethodPost, "/api/data", strings.NewReader(url.Values{"access_token": {t0}}.Encode())),
		httptest.NewRequest(http.MethodGet, "/api/data", nil),
	}
	reqs[2].Header.Set("Content-Type", "application/x-www-form-urlencoded")
	reqs[3].AddCookie(&http.Cookie{Name: "access_token", Value: t0})
	for _, r := range reqs {
		res := e.a.Check(r)
		wantDeny(t, res, http.StatusUnauthorized, ReasonMissing)
		if res.Challenge != `Bearer realm="gatehouse"` {
			t.Errorf("challenge %q, want no error code (RFC 6750 §3.1)", res.Challenge)
		}
	}
}

func TestEmptyAuthorizationIsMalformed(t *testing.T) {
	e := newEnv(t, nil)
	wantDeny(t, e.check(""), http.StatusUnauthorized, ReasonMalformed)
}

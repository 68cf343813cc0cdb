package login

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func testRedirects(t *testing.T) *Redirects {
	t.Helper()
	v, err := NewRedirects("https://app.test", "https://*.apps.test")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRedirectsRefuse covers group A of the attack catalogue: every value
// here must be refused. Values are given as they arrive after the one
// query decoding.
func TestRedirectsRefuse(t *testing.T) {
	v := testRedirects(t)
	for _, rd := range []string{
		// 1 protocol-relative
		"//evil.test/", "///evil.test", "////evil.test",
		// 2 backslash
		`/\evil.test`, `\\evil.test`, `/\/evil.test`,
		// 4 whitespace and dot segments
		"/\t/\t\\evil.test", `/./\evil.test`, `/./../../\evil.test`, "/ok/\t\t\\evil.test", "/./evil", "/a/../b", "/%2e%2e/x", "/.%2E/x",
		// 5 domain-label boundary
		"https://evilapp.test/", "https://app.test.evil.test/", "https://evilapps.test/", "https://x.apps.test.evil.test/", "https://apps.test/",
		// 6 userinfo
		"https://app.test@evil.test/", "https://app.test:443@evil.test/", "//app.test@evil.test", "/\t/app.test@evil.test",
		// 7 backslash in the authority
		`https://evil.test\@app.test/`, `https://app.test\@evil.test/`, `//evil.test\@app.test`,
		// 9 dangerous schemes
		"javascript:alert(document.domain)", "JaVaScRiPt:alert(1)", "java\r\nscript:alert(0)", "\x01javascript:alert(1)",
		"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "vbscript:msgbox(1)",
		// 10 scheme downgrade
		"http://app.test/x", "http:evil.test", "http:/evil.test",
		// 11 unicode
		"https://app.test\u3002evil.test/", "//evil\u3002test", "\u3031evil.test", "https://evil.test\uff0f@app.test/",
		// 12 double encoding: the once-decoded value still carries escapes
		"/%2F%2Fevil.test", "%2F%2Fevil.test", "/%5Cevil.test",
		// 15 chaining through an allowed host
		"https://app.test/oauth2/start?rd=https://evil.test", "https://app.test/oauth2/sign_out?rd=//evil.test", "//app.test/redirect?url=https://evil.test",
		// misc
		"", "evil.test", "https://", "https://app.test:99999/", "https://APP.test%2eevil.test/", "ftp://app.test/",
	} {
		if got, err := v.Check(rd); err == nil {
			t.Errorf("Check(%q) = %q, want refusal", rd, got)
		} else if !errors.Is(err, ErrBadRedirect) {
			t.Errorf("Check(%q) error %v does not wrap ErrBadRedirect", rd, err)
		}
	}
}

func TestRedirectsAllow(t *testing.T) {
	v := testRedirects(t)
	for _, rd := range []string{
		"/", "/app", "/app/x?y=1&z=2", "/app#frag", "/a/b.c/d",
		"https://app.test", "https://app.test/", "https://APP.test/x?q=1",
		"https://x.apps.test/deep/path?q", "https://a.b.apps.test/",
		"/search?q=plain%20text",
	} {
		got, err := v.Check(rd)
		if err != nil {
			t.Errorf("Check(%q) refused: %v", rd, err)
			continue
		}
		if got != rd {
			t.Errorf("Check(%q) = %q; the value validated must be the value used", rd, got)
		}
	}
}

// TestRedirectsGoParserAgrees checks that every allowed absolute target
// resolves, with Go's parser too, to an allowed origin.
func TestRedirectsGoParserAgrees(t *testing.T) {
	v := testRedirects(t)
	base, _ := url.Parse("https://app.test/oauth2/callback")
	for _, rd := range []string{"/x", "https://x.apps.test/", "https://app.test/y"} {
		got, err := v.Check(rd)
		if err != nil {
			t.Fatal(err)
		}
		u, err := base.Parse(got)
		if err != nil {
			t.Fatal(err)
		}
		if u.Scheme != "https" || (u.Host != "app.test" && u.Host != "x.apps.test") {
			t.Errorf("%q resolves to %v", rd, u)
		}
	}
}

func TestNewRedirectsRejectsBadOrigins(t *testing.T) {
	for _, o := range []string{"app.test", "https://app.test/path", "https://*.*.test", "https://a*.test", "ftp://x.test", "https://u@x.test"} {
		if _, err := NewRedirects(o); err == nil {
			t.Errorf("NewRedirects(%q) accepted", o)
		}
	}
}

func FuzzRedirectsCheck(f *testing.F) {
	for _, s := range []string{"/", "//evil.test", `/\evil`, "https://app.test/x", "https://x.apps.test/", "javascript:alert(1)", "/a?b=https://c"} {
		f.Add(s)
	}
	v, err := NewRedirects("https://app.test", "https://*.apps.test")
	if err != nil {
		f.Fatal(err)
	}
	base, _ := url.Parse("https://app.test/oauth2/callback")
	f.Fuzz(func(t *testing.T, rd string) {
		got, err := v.Check(rd)
		if err != nil {
			return
		}
		if got != rd {
			t.Fatalf("Check changed %q to %q", rd, got)
		}
		u, err := base.Parse(got)
		if err != nil {
			t.Fatalf("accepted %q that Go cannot parse: %v", rd, err)
		}
		if u.Scheme != "https" || u.User != nil {
			t.Fatalf("accepted %q resolving to %v", rd, u)
		}
		// Hosts are case-insensitive; browsers lower-case them.
		if h := strings.ToLower(u.Hostname()); h != "app.test" && !(len(h) > len(".apps.test") && h[len(h)-len(".apps.test"):] == ".apps.test") {
			t.Fatalf("accepted %q resolving to host %q", rd, h)
		}
	})
}

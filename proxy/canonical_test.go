package proxy

import (
	"strings"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	ok := map[string]string{
		"/":                "/",
		"/app":             "/app",
		"/app/":            "/app/",
		"/a/b.c/d..e/.f":   "/a/b.c/d..e/.f",
		"/caf%C3%A9":       "/café",
		"/a%20b":           "/a b",
		"/%41%42":          "/AB",
		"/report%2520name": "", // refused below
	}
	delete(ok, "/report%2520name")
	for in, want := range ok {
		got, err := canonicalPath(in)
		if err != nil || got != want {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "app", "*",
		// dot segments, raw and encoded, with ; parameters (cases 46, 49)
		"/public/../admin", "/public/%2e%2e/admin", "/public/%2E%2E%2Fadmin", "/public/.%2e/admin", "/./x", "/x/.", "/x/..", "/x/..;/admin", "/x/.;a/y",
		// encoded slash and backslash (47, 50)
		"/public%2F..%2Fadmin", "/public%2fsecret", "/%2e%2e/admin", "/public\\..\\admin", "/public/%5c..%5cadmin", "/a%5Cb",
		// empty segments (49)
		"//admin", "/public//../admin", "///public/../admin", "/a//b",
		// fragments (45)
		"/foo/secret%23/bar", "/foo/secret#/bar",
		// control bytes, NUL, overlong UTF-8, bad escapes (50)
		"/public/%00/../admin", "/a%0d%0aX-Injected:1", "/a%7f", "/public/%c0%ae%c0%ae/admin", "/public/%zz", "/a%", "/a%4", "/a\x00b", "/a b", "/a\tb", "/caf\xc3\xa9",
		// double encoding
		"/report%2520name", "/x%252F..", "/%25%610", "/%2541",
	} {
		if got, err := canonicalPath(in); err == nil {
			t.Errorf("canonicalPath(%q) = %q; want refusal", in, got)
		}
	}
}

func TestPathParameters(t *testing.T) {
	for _, in := range []string{"/x;v=1/y", "/admin;x/secret", "/a;jsessionid=1"} {
		if _, err := canonicalPath(in); err == nil {
			t.Errorf("canonicalPath(%q) accepted a path parameter by default", in)
		}
		got, err := canonicalize(in, true)
		if err != nil {
			t.Errorf("canonicalize(%q, true): %v", in, err)
		}
		if strings.Contains(stripParams(got), ";") {
			t.Errorf("stripParams(%q) = %q", got, stripParams(got))
		}
	}
	if got := stripParams("/admin;x/secret;y=2/z"); got != "/admin/secret/z" {
		t.Errorf("stripParams = %q", got)
	}
	for _, in := range []string{"/x/..;/admin", "/x/.;a/y"} {
		if _, err := canonicalize(in, true); err == nil {
			t.Errorf("canonicalize(%q, true) accepted a dot segment", in)
		}
	}
}

func TestValidMethod(t *testing.T) {
	for m, want := range map[string]bool{"GET": true, "POST": true, "PROPFIND": true, "M-SEARCH": true, "get": false, "GeT": false, "": false, "G E": false, "G\x00": false} {
		if validMethod(m) != want {
			t.Errorf("validMethod(%q) = %v", m, !want)
		}
	}
}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/%2e%2e/b", "/%2F", "/a;b/..;/c", "/%c0%ae", "/%25", "//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := canonicalPath(in)
		if err != nil {
			return
		}
		// Whatever passes is stable, has no dot or empty segments and
		// no characters that parsers disagree on.
		if again, err := canonicalPath(pathEscape(out)); err != nil || again != out {
			t.Fatalf("canonical %q of %q does not survive re-encoding: %q, %v", out, in, again, err)
		}
		if err := checkSegments(out); err != nil {
			t.Fatalf("canonical %q of %q has a dot or empty segment", out, in)
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x20 || c == 0x7f || c == '\\' || c == '#' {
				t.Fatalf("canonical %q of %q holds byte %#x", out, in, c)
			}
		}
	})
}

// pathEscape percent-encodes everything but unreserved characters and '/'.
func pathEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '-' || c == '.' || c == '_' || c == '~' {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

// BenchmarkCanonicalize measures the one canonical view of a request path
// that routing, rules and forwarding share: a plain path, one with escapes
// to decode, and one refused.
func BenchmarkCanonicalize(b *testing.B) {
	for _, c := range []struct{ name, path string }{
		{"plain", "/app/reports/2026/q3/summary.html"},
		{"escaped", "/app/caf%C3%A9/a%20b/%41%42"},
		{"refused", "/public/%2e%2e/admin"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = canonicalize(c.path, false)
			}
		})
	}
}

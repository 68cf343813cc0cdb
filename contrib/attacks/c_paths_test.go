package attacks

import (
	"strings"
	"testing"
)

// Group C: path-based rules. Requests are unauthenticated and from ATT
// unless stated; ambiguous paths go on a raw socket so that no client
// normalises them. gatehouse refuses ambiguous paths with 400 (README,
// "What gatehouse refuses").

func rawGet(method, target, host string, extra ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for i := 0; i+1 < len(extra); i += 2 {
		b.WriteString(extra[i] + ": " + extra[i+1] + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	return b.String()
}

// rawRefused sends each target with and without a session and expects one
// of the statuses, and U not called.
func rawRefused(t *testing.T, f *fixture, method string, targets []string, cookie string, want ...int) {
	t.Helper()
	n := f.up.count()
	for _, target := range targets {
		for _, c := range []string{"", cookie} {
			extra := []string{"Accept", "text/html"}
			if c != "" {
				extra = append(extra, "Cookie", c)
			}
			out := f.raw(t, "", rawGet(method, target, f.host, extra...))
			st := firstStatus(out)
			ok := false
			for _, w := range want {
				ok = ok || st == w
			}
			if !ok {
				t.Errorf("%s %s (session %v): %q, want %v", method, target, c != "", firstLine(out), want)
			}
		}
	}
	if got := f.up.count(); got != n {
		for _, r := range f.up.since(n) {
			t.Errorf("U received %s %s", r.Method, r.URI)
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

func TestC044_QueryInRouteMatch(t *testing.T) {
	attackCase(t, 44)
	t.Parallel()
	f := use(t, "F0")
	n := f.up.count()
	for _, target := range []string{"/api/private/sensitive?path=/status", "/api/private/sensitive?path=/public/x", "/admin?x=/public/"} {
		f.deny(t, target, f.send(t, f.att(), "GET", target, hdr("Accept", "application/json"), nil), n)
	}
	r := f.send(t, f.prx(), "GET", "/oauth2/auth", hdr(fwd("/api/private/sensitive?path=/public/x")...), nil)
	if r.Status != 401 {
		t.Errorf("forward-auth with the public path in the query: %d", r.Status)
	}
}

func TestC045_EncodedFragment(t *testing.T) {
	attackCase(t, 45)
	t.Parallel()
	f := use(t, "F0")
	rawRefused(t, f, "GET", []string{"/foo/secret%23/bar", "/foo/secret%23/../bar", "/public/x%23/../../admin", "/public/x#/admin"}, "", 400)
	for _, uri := range []string{"/foo/secret%23/bar", "/public/x%23/bar", "/public/x#/../admin"} {
		r := f.send(t, f.prx(), "GET", "/oauth2/auth", hdr(fwd(uri)...), nil)
		if r.Status < 400 {
			t.Errorf("forward-auth X-Forwarded-Uri %s: %d", uri, r.Status)
		}
	}
}

func TestC046_DotSegments(t *testing.T) {
	attackCase(t, 46)
	t.Parallel()
	f := use(t, "F0")
	rawRefused(t, f, "GET", []string{"/public/../admin", "/public/%2e%2e/admin", "/public/%2E%2E%2Fadmin", "/public/.%2e/admin",
		"/public/./../admin", "/public/..;/admin"}, f.userCookie(t, "alice"), 400)
}

func TestC047_EncodedSlash(t *testing.T) {
	attackCase(t, 47)
	t.Parallel()
	f := use(t, "F0")
	rawRefused(t, f, "GET", []string{"/public%2F..%2Fadmin", "/public%2fsecret", "/%2e%2e/admin", "/public%252fsecret"}, f.userCookie(t, "alice"), 400)
}

func TestC049_DoubledSlashes(t *testing.T) {
	attackCase(t, 49)
	t.Parallel()
	f := use(t, "F0")
	rawRefused(t, f, "GET", []string{"//admin", "/public//../admin", "///public/../admin", "/public//x"}, f.userCookie(t, "alice"), 400)
}

func TestC050_BackslashAndControlCharacters(t *testing.T) {
	attackCase(t, 50)
	t.Parallel()
	f := use(t, "F0")
	rawRefused(t, f, "GET", []string{`/public\..\admin`, "/public/%5c..%5cadmin", "/public/%00/../admin", "/public/%c0%ae%c0%ae/admin",
		"/public/%zz", "/public/%00", "/public/%0d%0aX-Forwarded-User:%20admin"}, f.userCookie(t, "alice"), 400)
}

func TestC051_MethodCase(t *testing.T) {
	attackCase(t, 51)
	t.Parallel()
	f := use(t, "F0")
	alice := f.userCookie(t, "alice")
	rawRefused(t, f, "get", []string{"/admin", "/public/x"}, alice, 400, 405)
	rawRefused(t, f, "GeT", []string{"/admin"}, alice, 400, 405)
	rawRefused(t, f, "Post", []string{"/public/x"}, alice, 400, 405)
	// POST on a GET-only public rule needs a login.
	n := f.up.count()
	out := f.raw(t, "", "POST /public/x HTTP/1.1\r\nHost: "+f.host+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	if st := firstStatus(out); st != 401 && st != 403 {
		t.Errorf("POST /public/x: %q", firstLine(out))
	}
	if f.up.count() != n {
		t.Errorf("U was called")
	}
}

// Case 52: gatehouse has no "skip auth for OPTIONS preflight" option.
// The test proves OPTIONS in every form is authenticated like any method.
func TestC052_PreflightSkip(t *testing.T) {
	attackCase(t, 52)
	t.Parallel()
	f := use(t, "F0")
	n := f.up.count()
	for name, kv := range map[string][]string{
		"bare OPTIONS":      nil,
		"method override":   {"X-HTTP-Method-Override", "GET"},
		"genuine preflight": {"Origin", "https://evil.test", "Access-Control-Request-Method", "GET"},
	} {
		f.deny(t, name, f.send(t, f.att(), "OPTIONS", "/admin", hdr(kv...), nil), n)
	}
	f.deny(t, "?_method=GET", f.send(t, f.att(), "OPTIONS", "/admin?_method=GET", nil, nil), n)
}

func TestC054_AbsoluteFormVsHost(t *testing.T) {
	attackCase(t, 54)
	t.Parallel()
	f := use(t, "F0")
	alice := f.userCookie(t, "alice")
	n := f.up.count()
	for _, target := range []string{"https://admin.apps.test/secret", "http://" + f.host + "/admin/x", "http://public.apps.test/public/x"} {
		for _, c := range []string{"", alice} {
			req := "GET " + target + " HTTP/1.1\r\nHost: public.apps.test\r\n"
			if c != "" {
				req += "Cookie: " + c + "\r\n"
			}
			out := f.raw(t, "", req+"Connection: close\r\n\r\n")
			if firstStatus(out) != 400 {
				t.Errorf("absolute-form %s (session %v): %q, want 400", target, c != "", firstLine(out))
			}
		}
	}
	if f.up.count() != n {
		t.Errorf("U was called")
	}
}

func TestC055_AbsoluteFormAndConnect(t *testing.T) {
	attackCase(t, 55)
	t.Parallel()
	f := use(t, "F0")
	n := f.up.count()
	for _, req := range []string{
		"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n",
		"CONNECT internal-db:5432 HTTP/1.1\r\nHost: internal-db:5432\r\n\r\n",
		"CONNECT " + f.host + " HTTP/1.1\r\nHost: " + f.host + "\r\n\r\n",
	} {
		out := f.raw(t, "", req)
		if st := firstStatus(out); st != 400 && st != 404 && st != 405 {
			t.Errorf("%q: %q", firstLine(req), firstLine(out))
		}
		if strings.Contains(out, "200 Connection established") || strings.Contains(out, "HTTP/1.1 200") {
			t.Errorf("%q was tunnelled: %q", firstLine(req), firstLine(out))
		}
	}
	if f.up.count() != n {
		t.Errorf("U was called")
	}
}

func TestC056_PublicRouteOtherMethods(t *testing.T) {
	attackCase(t, 56)
	t.Parallel()
	f := use(t, "F0")
	n := f.up.count()
	for _, m := range []string{"DELETE", "PUT", "POST", "PATCH"} {
		f.deny(t, m+" /public/x", f.send(t, f.att(), m, "/public/x", hdr("Accept", "application/json"), strings.NewReader("x")), n)
	}
	if r := f.send(t, f.att(), "GET", "/public/x", nil, nil); r.Status != 200 {
		t.Errorf("control GET /public/x: %d", r.Status)
	}
}

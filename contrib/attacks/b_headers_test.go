package attacks

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

// Group B: header trust. "U sees" checks every header name U recorded,
// compared after lower-casing and folding "_" to "-" (how CGI, WSGI and PHP
// backends read them).

func normName(n string) string { return strings.ReplaceAll(strings.ToLower(n), "_", "-") }

// normalized merges U's headers by normalised name.
func normalized(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		out[normName(k)] = append(out[normName(k)], v...)
	}
	return out
}

// identityNames are the identity and assertion headers gatehouse emits and
// their common aliases.
var identityNames = []string{
	"x-forwarded-user", "x-forwarded-email", "x-forwarded-groups", "x-forwarded-preferred-username",
	"x-forwarded-access-token", "x-forwarded-assertion", "x-auth-request-user", "x-auth-request-email",
	"x-auth-request-groups", "remote-user", "x-remote-user", "x-forwarded-client-id", "x-forwarded-caller",
}

var spoofed = []string{
	"X-Forwarded-User", "admin", "X-Forwarded-Email", "admin@corp.test", "X-Forwarded-Groups", "admins",
	"X-Forwarded-Preferred-Username", "admin", "X-Forwarded-Access-Token", "x", "X-Forwarded-Assertion", "eyJhbGciOiJub25lIn0.e30.",
	"X-Auth-Request-User", "admin", "Remote-User", "admin", "X-Remote-User", "admin",
}

var underscored = []string{
	"X_Forwarded_User", "admin", "X-Forwarded_User", "admin", "x_forwarded_groups", "admins",
	"X_Forwarded_Email", "bob@corp.test", "X-Auth_Request_User", "admin",
}

// noIdentity fails if U's request carries any identity header.
func noIdentity(t *testing.T, what string, up upReq) {
	t.Helper()
	n := normalized(up.Header)
	for _, name := range identityNames {
		if v, ok := n[name]; ok {
			t.Errorf("%s: U saw %s = %q", what, name, v)
		}
	}
}

// exactIdentity checks that U saw exactly one value, want, for each name
// (normalised), and no spoofed value anywhere.
func exactIdentity(t *testing.T, what string, up upReq, want map[string]string) {
	t.Helper()
	n := normalized(up.Header)
	for name, v := range want {
		if got := n[name]; len(got) != 1 || got[0] != v {
			t.Errorf("%s: U saw %s = %q, want exactly [%q]", what, name, got, v)
		}
	}
	for _, name := range identityNames {
		for _, v := range n[name] {
			if v == "admin" || v == "admins" || v == "bob@corp.test" || v == "admin@corp.test" {
				t.Errorf("%s: U saw spoofed %s = %q", what, name, v)
			}
		}
	}
}

var aliceIdentity = map[string]string{
	"x-forwarded-user": "alice", "x-forwarded-email": "alice@corp.test", "x-forwarded-groups": "dev",
}

func TestB025_SpoofedIdentityPublicRoute(t *testing.T) {
	attackCase(t, 25)
	t.Parallel()
	f := use(t, "F0")
	n := f.up.count()
	r := f.send(t, f.att(), "GET", "/public/x", hdr(spoofed...), nil)
	if r.Status != 200 || f.up.count() != n+1 {
		t.Fatalf("public route: %d, U calls %d", r.Status, f.up.count()-n)
	}
	noIdentity(t, "public route", f.up.last(t))
}

func TestB026_SpoofedIdentityAuthenticatedRoute(t *testing.T) {
	attackCase(t, 26)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	b.signIn(t, "alice")
	r := f.send(t, b.c, "GET", "/app", hdr("X-Forwarded-User", "admin", "X-Forwarded-Groups", "admins", "X-Forwarded-Email", "bob@corp.test"), nil)
	if r.Status != 200 {
		t.Fatalf("ALICE /app: %d", r.Status)
	}
	exactIdentity(t, "ALICE", f.up.last(t), aliceIdentity)
}

func TestB027_UnderscoreVariants(t *testing.T) {
	attackCase(t, 27)
	t.Parallel()
	f := use(t, "F0")
	n := f.up.count()
	r := f.send(t, f.att(), "GET", "/public/x", hdr(append(append([]string{}, spoofed...), underscored...)...), nil)
	switch {
	case r.Status == 400 && f.up.count() == n:
	case r.Status == 200:
		noIdentity(t, "public route", f.up.last(t))
	default:
		t.Errorf("public route with underscore variants: %d", r.Status)
	}
	b := f.browser("")
	b.signIn(t, "alice")
	n = f.up.count()
	r = f.send(t, b.c, "GET", "/app", hdr(underscored...), nil)
	switch {
	case r.Status == 400 && f.up.count() == n:
	case r.Status == 200:
		exactIdentity(t, "ALICE", f.up.last(t), aliceIdentity)
	default:
		t.Errorf("ALICE with underscore variants: %d", r.Status)
	}
}

func TestB029_HopByHopOwnHeaders(t *testing.T) {
	attackCase(t, 29)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	b.signIn(t, "alice")
	r := f.send(t, b.c, "GET", "/app", hdr("Connection",
		"close, X-Forwarded-User, X-Forwarded-Groups, X-Forwarded-Email, X-Forwarded-Assertion, X-Forwarded-For"), nil)
	if r.Status != 200 {
		t.Fatalf("ALICE /app: %d", r.Status)
	}
	up := f.up.last(t)
	exactIdentity(t, "Connection-listed", up, aliceIdentity)
	if a := up.Header.Values("X-Forwarded-Assertion"); len(a) != 1 || strings.Count(a[0], ".") != 2 {
		t.Errorf("assertion %q", a)
	}
	if v := up.Header.Values("X-Forwarded-For"); len(v) != 1 || v[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", v)
	}
}

func TestB030_HopByHopPublicRoute(t *testing.T) {
	attackCase(t, 30)
	t.Parallel()
	f := use(t, "F0")
	r := f.send(t, f.att(), "GET", "/public/x", hdr("Connection", "X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host"), nil)
	if r.Status != 200 {
		t.Fatalf("public: %d", r.Status)
	}
	up := f.up.last(t)
	for name, want := range map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": f.scheme, "X-Forwarded-Host": f.host} {
		if v := up.Header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("U %s = %q, want %q", name, v, want)
		}
	}
}

var logLine = regexp.MustCompile(`(?m)^.*msg=request .*$`)

func TestB031_ClientIPSpoofing(t *testing.T) {
	attackCase(t, 31)
	t.Parallel()
	f := use(t, "F0")
	spoof := hdr("X-Forwarded-For", "10.0.0.1", "X-Real-IP", "10.0.0.1", "CF-Connecting-IP", "10.0.0.1",
		"True-Client-IP", "10.0.0.1", "X-Envoy-External-Address", "10.0.0.1", "Accept", "application/json")
	// gatehouse has no IP allow-list rules at all; the spoofed address
	// must neither authorise nor reach U, logs or rate limits.
	n := f.up.count()
	f.deny(t, "/private with spoofed client IP", f.send(t, f.att(), "GET", "/private", spoof, nil), n)
	r := f.send(t, f.att(), "GET", "/public/x", spoof, nil)
	if r.Status != 200 {
		t.Fatalf("public: %d", r.Status)
	}
	up := f.up.last(t)
	if v := up.Header.Values("X-Forwarded-For"); len(v) != 1 || v[0] != "127.0.0.1" {
		t.Errorf("U X-Forwarded-For %q, want the socket peer 127.0.0.1 only", v)
	}
	for name, v := range normalized(up.Header) {
		for _, s := range v {
			if strings.Contains(s, "10.0.0.1") {
				t.Errorf("U saw %s = %q", name, s)
			}
		}
	}
	id := up.Header.Get("X-Request-Id")
	found := false
	// The access log line is written after the response.
	for i := 0; i < 50 && !strings.Contains(f.logs.String(), "id="+id+" "); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	for _, l := range logLine.FindAllString(f.logs.String(), -1) {
		if strings.Contains(l, "id="+id+" ") {
			found = true
			if !strings.Contains(l, "client=127.0.0.1") {
				t.Errorf("access log keys the request on another address: %s", l)
			}
		}
	}
	if !found {
		t.Errorf("no access log line for request %s", id)
	}
}

func TestB032_PathOverrideHeaders(t *testing.T) {
	attackCase(t, 32)
	t.Parallel()
	f := use(t, "F0")
	overrides := []string{"X-Forwarded-Uri", "X-Original-URI", "X-Original-URL", "X-Rewrite-URL"}
	for _, h := range overrides {
		n := f.up.count()
		f.deny(t, "GET /admin + "+h, f.send(t, f.att(), "GET", "/admin", hdr(h, "/public/x", "Accept", "application/json"), nil), n)
	}
	r := f.send(t, f.att(), "GET", "/public/x", hdr("X-Forwarded-Uri", "/admin", "X-Original-URI", "/admin",
		"X-Original-URL", "/admin", "X-Rewrite-URL", "/admin"), nil)
	if r.Status != 200 {
		t.Fatalf("public: %d", r.Status)
	}
	n := normalized(f.up.last(t).Header)
	for _, h := range overrides {
		if v, ok := n[normName(h)]; ok {
			t.Errorf("U saw %s = %q", h, v)
		}
	}
}

// Case 34: gatehouse has no health-check User-Agent skip at all; health is
// /healthz on the admin listener only. The test proves a health-check
// User-Agent opens nothing.
func TestB034_HealthCheckUserAgent(t *testing.T) {
	attackCase(t, 34)
	t.Parallel()
	f := use(t, "F0")
	ua := "GoogleHC/1.0"
	n := f.up.count()
	f.deny(t, "GET /admin with health UA", f.send(t, f.att(), "GET", "/admin", hdr("User-Agent", ua), nil), n)
	r := f.send(t, f.prx(), "GET", "/oauth2/auth", hdr("User-Agent", ua, "X-Forwarded-Uri", "/admin", "X-Forwarded-Method", "GET",
		"X-Forwarded-Host", "app.test", "X-Forwarded-Proto", "https"), nil)
	if r.Status != 401 {
		t.Errorf("forward-auth with health UA: %d, want 401", r.Status)
	}
	for _, p := range []string{"/ping", "/healthz"} {
		r := f.send(t, f.att(), "GET", p, hdr("User-Agent", ua), nil)
		if r.Status < 300 {
			t.Errorf("GET %s with health UA on the app listener: %d", p, r.Status)
		}
	}
	if f.up.count() != n {
		t.Errorf("U was called")
	}
	resp, err := http.Get(f.admin + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("admin /healthz: %v %v", err, resp)
	}
	if resp != nil {
		resp.Body.Close()
	}
}

func TestB035_RoutingOverrideHeaders(t *testing.T) {
	attackCase(t, 35)
	t.Parallel()
	f := use(t, "F0")
	names := []string{"X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Prefix", "X-HTTP-Method-Override"}
	r := f.send(t, f.att(), "GET", "/public/x", hdr(names[0], "/admin", names[1], "/admin", names[2], "/admin", names[3], "DELETE",
		"X_Original_URL", "/admin", "x-http-method-override", "DELETE"), nil)
	if r.Status != 200 {
		t.Fatalf("public: %d", r.Status)
	}
	n := normalized(f.up.last(t).Header)
	for _, h := range names {
		if v, ok := n[normName(h)]; ok {
			t.Errorf("U saw %s = %q", h, v)
		}
	}
}

// Case 36. With --pass-authorization=bearer (fixture F5) U gets exactly one
// Authorization: gatehouse's. A request that brings its own Authorization
// is judged by that credential alone (README), so ALICE + a forged bearer
// is refused before U: the client's value can never sit next to
// gatehouse's. With the option off (F0), the client's Authorization is
// likewise never duplicated, and Proxy-Authorization never passes.
func TestB036_ClientAuthorizationVsInjected(t *testing.T) {
	attackCase(t, 36)
	t.Parallel()
	fs := useAll(t, "F5", "F0")
	f := fs[0]
	b := f.browser("")
	b.signIn(t, "alice")
	n := f.up.count()
	r := f.send(t, b.c, "GET", "/app", hdr("Authorization", "Bearer forged", "Proxy-Authorization", "Basic Zm9vOmJhcg==",
		"Accept", "application/json"), nil)
	if r.Status == 200 {
		up := f.up.last(t)
		if a := up.Header.Values("Authorization"); len(a) != 1 || a[0] == "Bearer forged" {
			t.Errorf("U Authorization %q", a)
		}
	} else {
		f.deny(t, "ALICE + forged bearer", r, n)
	}
	r = f.send(t, b.c, "GET", "/app", hdr("Proxy-Authorization", "Basic Zm9vOmJhcg=="), nil)
	if r.Status != 200 {
		t.Fatalf("ALICE /app: %d", r.Status)
	}
	up := f.up.last(t)
	if a := up.Header.Values("Authorization"); len(a) != 1 || !strings.HasPrefix(a[0], "Bearer ey") {
		t.Errorf("U Authorization %q, want exactly gatehouse's bearer", a)
	}
	if v, ok := normalized(up.Header)["proxy-authorization"]; ok {
		t.Errorf("U saw Proxy-Authorization %q", v)
	}

	f0 := fs[1]
	b0 := f0.browser("")
	b0.signIn(t, "alice")
	if r := f0.send(t, b0.c, "GET", "/app", hdr("Proxy-Authorization", "Basic Zm9vOmJhcg=="), nil); r.Status != 200 {
		t.Fatalf("F0 ALICE /app: %d", r.Status)
	}
	up = f0.up.last(t)
	nh := normalized(up.Header)
	if v, ok := nh["proxy-authorization"]; ok {
		t.Errorf("F0: U saw Proxy-Authorization %q", v)
	}
	if v := nh["authorization"]; len(v) > 1 {
		t.Errorf("F0: U saw Authorization %q", v)
	}
}

func TestB037_InjectionThroughClaims(t *testing.T) {
	attackCase(t, 37)
	t.Parallel()
	f := use(t, "F0")
	for name, hook := range map[string]func(map[string]any){
		"CRLF in a group":  func(c map[string]any) { c["groups"] = []string{"dev", "admins\r\nX-Forwarded-User: admin"} },
		"comma in a group": func(c map[string]any) { c["groups"] = []string{"a,admins"} },
		"LF in preferred_username": func(c map[string]any) {
			c["preferred_username"] = "m\nX-Forwarded-User: admin"
		},
		"NUL in email": func(c map[string]any) { c["email"] = "m@corp.test\u0000"; c["email_verified"] = true },
	} {
		f.iss.SetHooks(devissuer.Hooks{IDTokenClaims: hook})
		b := f.browser("")
		_, cb := b.login(t, "mallory", "")
		f.iss.SetHooks(devissuer.Hooks{})
		if cb.Status != 302 {
			if cb.Status != 403 && cb.Status != 502 {
				t.Errorf("%s: callback %d", name, cb.Status)
			}
			if f.setsSession(cb) {
				t.Errorf("%s: refused login set a session", name)
			}
			continue
		}
		n := f.up.count()
		r := f.send(t, b.c, "GET", "/app", nil, nil)
		if r.Status == 502 && f.up.count() == n {
			continue
		}
		if r.Status != 200 {
			t.Errorf("%s: /app %d", name, r.Status)
			continue
		}
		nh := normalized(f.up.last(t).Header)
		if u := nh["x-forwarded-user"]; len(u) != 1 || u[0] != "mallory" {
			t.Errorf("%s: U X-Forwarded-User %q", name, u)
		}
		for _, g := range nh["x-forwarded-groups"] {
			for _, part := range strings.Split(g, ",") {
				if strings.TrimSpace(part) == "admins" {
					t.Errorf("%s: U X-Forwarded-Groups %q parses as containing admins", name, g)
				}
			}
		}
		for k, vs := range nh {
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Errorf("%s: U header %s has a control character: %q", name, k, v)
				}
			}
		}
	}
}

// Case 39. gatehouse decides domains per route, not at the callback: a
// login whose email has several "@" succeeds, but the email is never
// treated as verified (it is not forwarded) and no domains= rule matches
// it, so every route that requires corp.test refuses with 403. The intent
// (no access as a corp.test user) holds; the 403 comes at the route.
func TestB039_EmailWithSeveralAt(t *testing.T) {
	attackCase(t, 39)
	t.Parallel()
	f := use(t, "F0")
	f.iss.SetHooks(devissuer.Hooks{IDTokenClaims: func(c map[string]any) {
		c["email"] = "attacker@evil.test@corp.test"
		c["email_verified"] = true
	}})
	b := f.browser("")
	_, cb := b.login(t, "mallory", "")
	f.iss.SetHooks(devissuer.Hooks{})
	if cb.Status != 302 {
		if cb.Status != 403 || f.setsSession(cb) {
			t.Fatalf("callback %d", cb.Status)
		}
		return
	}
	n := f.up.count()
	r := f.send(t, b.c, "GET", "/corp/x", hdr("Accept", "application/json"), nil)
	if r.Status != 403 || f.up.count() != n {
		t.Errorf("/corp/ (domains=corp.test) with a multi-@ email: %d", r.Status)
	}
	if r := f.send(t, b.c, "GET", "/app", nil, nil); r.Status != 200 {
		t.Fatalf("/app: %d", r.Status)
	}
	if v, ok := normalized(f.up.last(t).Header)["x-forwarded-email"]; ok {
		t.Errorf("U got X-Forwarded-Email %q", v)
	}
	// Control: a real corp.test address passes the same rule.
	alice := f.browser("")
	alice.signIn(t, "alice")
	if r := f.send(t, alice.c, "GET", "/corp/x", nil, nil); r.Status != 200 {
		t.Errorf("alice on /corp/: %d", r.Status)
	}
}

func fwd(uri string, extra ...string) []string {
	return append([]string{"X-Forwarded-Uri", uri, "X-Forwarded-Method", "GET", "X-Forwarded-Host", "app.test", "X-Forwarded-Proto", "https"}, extra...)
}

// withValue returns kv with name's value replaced (added when absent).
func withValue(kv []string, name, value string) []string {
	out := append([]string(nil), kv...)
	for i := 0; i+1 < len(out); i += 2 {
		if out[i] == name {
			out[i+1] = value
			return out
		}
	}
	return append(out, name, value)
}

func TestB040_ForwardAuthFailsClosed(t *testing.T) {
	attackCase(t, 40)
	t.Parallel()
	f := use(t, "F0")
	alice := f.userCookie(t, "alice")
	n := f.up.count()
	for name, kv := range map[string][]string{
		"X-Forwarded-Uri /%zz":          fwd("/%zz"),
		"X-Original-URL http://[::1":    {"X-Original-URL", "http://[::1"},
		"X-Forwarded-Host empty":        withValue(fwd("/public/x"), "X-Forwarded-Host", ""),
		"X-Forwarded-Proto ftp":         withValue(fwd("/public/x"), "X-Forwarded-Proto", "ftp"),
		"X-Forwarded-Method empty":      withValue(fwd("/public/x"), "X-Forwarded-Method", ""),
		"X-Forwarded-Method lower-case": withValue(fwd("/public/x"), "X-Forwarded-Method", "get"),
	} {
		for _, cookie := range []string{"", alice} {
			h := hdr(kv...)
			if cookie != "" {
				h["Cookie"] = []string{cookie}
			}
			r := f.send(t, f.prx(), "GET", "/oauth2/auth", h, nil)
			if r.Status != 400 && r.Status != 401 && r.Status != 403 {
				t.Errorf("%s (cookie %v): status %d", name, cookie != "", r.Status)
			}
			if r.Body != "" {
				t.Errorf("%s (cookie %v): status %d with a body %q, want an empty body", name, cookie != "", r.Status, r.Body)
			}
		}
	}
	if f.up.count() != n {
		t.Errorf("forward-auth called U")
	}
}

func TestB041_ForwardAuthUntrustedSource(t *testing.T) {
	attackCase(t, 41)
	t.Parallel()
	f := use(t, "F0")
	r := f.send(t, f.att(), "GET", "/oauth2/auth", hdr("X-Forwarded-Uri", "/public/x", "X-Forwarded-Method", "GET",
		"X-Forwarded-Host", "app.test"), nil)
	if r.Status != 401 {
		t.Errorf("forward-auth from ATT for /public/x: %d, want 401", r.Status)
	}
	// Control: from PRX the same headers are believed.
	if r := f.send(t, f.prx(), "GET", "/oauth2/auth", hdr(fwd("/public/x")...), nil); r.Status != 200 {
		t.Errorf("control from PRX: %d", r.Status)
	}
}

func TestB042_ForwardAuthCompleteResponse(t *testing.T) {
	attackCase(t, 42)
	t.Parallel()
	f := use(t, "F0")
	cookie := f.userCookie(t, "nogroups")
	r := f.send(t, f.prx(), "GET", "/oauth2/auth", hdr(append(fwd("/app/x"), "Cookie", cookie,
		"X-Auth-Request-User", "admin", "X-Auth-Request-Groups", "admins", "X-Auth-Request-Email", "admin@corp.test")...), nil)
	if r.Status < 200 || r.Status > 299 {
		t.Fatalf("forward-auth for a signed-in user: %d", r.Status)
	}
	want := map[string]string{"X-Auth-Request-User": "nogroups", "X-Auth-Request-Email": "", "X-Auth-Request-Groups": "",
		"X-Auth-Request-Preferred-Username": "nogroups", "X-Auth-Request-Client-Id": "gw"}
	for name, v := range want {
		if got, ok := r.Header[name]; !ok || len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q (present %v), want exactly [%q]", name, got, ok, v)
		}
	}
	for name, vs := range r.Header {
		for _, v := range vs {
			if v == "admin" || v == "admins" || v == "admin@corp.test" {
				t.Errorf("request value copied into the answer: %s = %q", name, v)
			}
		}
	}
}

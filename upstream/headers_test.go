package upstream

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeHeaderName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"x-forwarded-user", "x-forwarded-user"},
		{"X-Forwarded-User", "x-forwarded-user"},
		{"X_Forwarded_User", "x-forwarded-user"},
		{"x_forwarded_user", "x-forwarded-user"},
		{"X_forwarded_user", "x-forwarded-user"},
		{"x-forwarded_user", "x-forwarded-user"},
		{"X-FORWARDED-USER", "x-forwarded-user"},
		{"X-AUTH_REQUEST-USER", "x-auth-request-user"},
		{"Remote_User", "remote-user"},
		{"REMOTE_USER", "remote-user"},
		{"__", "--"},
		{"X.Forwarded.User", "x.forwarded.user"},
		{"Ünïcode-K\u212a", "Ünïcode-k\u212a"}, // only ASCII is folded
		{"\xff_A", "\xff-a"},
	}
	for _, tt := range tests {
		if got := NormalizeHeaderName(tt.in); got != tt.want {
			t.Errorf("NormalizeHeaderName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// reservedExact is the built-in list of exact names, as documented.
var reservedExact = []string{
	"forwarded", "remote-user", "x-remote-user", "remote-groups", "remote-email",
	"remote-name", "x-real-ip", "cf-connecting-ip", "true-client-ip",
	"x-envoy-external-address", "x-client-ip", "x-cluster-client-ip",
	"x-original-url", "x-original-uri", "x-original-method", "x-rewrite-url",
	"x-http-method-override", "x-http-method", "x-method-override",
	"proxy-authorization", "x-access-token", "x-id-token", "x-user", "x-email",
	"x-groups", "x-user-id",
}

// spellings returns name as lower case, upper case, canonical, with
// underscores, and mixed.
func spellings(name string) []string {
	under := strings.ReplaceAll(name, "-", "_")
	mixed := []byte(name)
	for i := range mixed {
		if i%2 == 0 {
			mixed[i] = strings.ToUpper(string(mixed[i]))[0]
		}
		if mixed[i] == '-' && i%3 == 0 {
			mixed[i] = '_'
		}
	}
	return []string{name, strings.ToUpper(name), http.CanonicalHeaderKey(name),
		under, strings.ToUpper(under), http.CanonicalHeaderKey(under), string(mixed)}
}

func TestIsReservedHeader(t *testing.T) {
	reserved := slices.Clone(reservedExact)
	for _, prefix := range []string{"x-forwarded-", "x-auth-request-", "x-gatehouse-"} {
		reserved = append(reserved, prefix, prefix+"user", prefix+"email", prefix+"groups",
			prefix+"preferred-username", prefix+"access-token", prefix+"for", prefix+"anything-at-all")
	}
	for _, name := range reserved {
		for _, s := range spellings(name) {
			if !IsReservedHeader(s) {
				t.Errorf("IsReservedHeader(%q) = false", s)
			}
		}
	}
	for _, s := range []string{"X_Forwarded_User", "x-forwarded_user", "X-AUTH_REQUEST-USER", "Remote_User",
		"X_forwarded_for", "FORWARDED", "X-Real_Ip", "Proxy_Authorization", strings.Repeat("x-gatehouse-", 20)} {
		if !IsReservedHeader(s) {
			t.Errorf("IsReservedHeader(%q) = false", s)
		}
	}
	for _, s := range []string{"", "Authorization", "Cookie", "Host", "User-Agent", "X-Request-Id",
		"X-Forwarded", "XForwarded-User", "X-Forwardedfor", "Forwarded-For", "X-Users", "X-User-Ids",
		"Remote-Addr", "X-Auth-Request", "X-Gatehouse", "x-forwarded\u2010user", "X-Real-IP2",
		"X.Forwarded.User", strings.Repeat("a", 100)} {
		if IsReservedHeader(s) {
			t.Errorf("IsReservedHeader(%q) = true", s)
		}
	}
}

func TestStripHeadersDoesNotAllocate(t *testing.T) {
	h := http.Header{}
	for _, k := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Cookie", "User-Agent",
		"Authorization", "Content-Type", "Sec-Fetch-Mode", "X-Request-Id", "Traceparent"} {
		h.Set(k, "v")
	}
	extra := map[string]bool{"x-secret": true}
	if n := testing.AllocsPerRun(100, func() { stripHeaders(h, extra) }); n != 0 {
		t.Errorf("stripHeaders allocates %v times", n)
	}
	if len(h) != 10 {
		t.Errorf("stripHeaders removed innocent headers: %v", h)
	}
}

func TestSetHeaders(t *testing.T) {
	h := http.Header{
		"X_app_role":       {"admin"},
		"X-App-Role":       {"admin"},
		"X-Forwarded-User": {"x"},
		"X-Remove_Me":      {"x"},
		"Accept":           {"*/*"},
	}
	multi := make([]string, 2, 4)
	multi[0], multi[1] = "a", "b"
	set := http.Header{
		"x-app-role":       {"viewer"},
		"X-Forwarded-User": {"alice"},
		"X-Remove-Me":      nil,
		"X-Multi":          multi,
	}
	setHeaders(h, set)
	want := http.Header{
		"X-App-Role":       {"viewer"},
		"X-Forwarded-User": {"alice"},
		"X-Multi":          {"a", "b"},
		"Accept":           {"*/*"},
	}
	if len(h) != len(want) {
		t.Errorf("got %q, want %q", h, want)
	}
	for k, vv := range want {
		if !slices.Equal(h[k], vv) {
			t.Errorf("%s = %q, want %q", k, h[k], vv)
		}
	}
	h.Add("X-Multi", "c") // must not write into set's backing array
	if multi[:3][2] != "" {
		t.Errorf("appending through the outbound header wrote into the caller's slice: %q", multi[:3])
	}
}

func TestStripCookies(t *testing.T) {
	tests := []struct {
		prefix string
		in     []string
		want   []string
	}{
		{"_gh", nil, nil},
		{"", []string{"_gh=1"}, []string{"_gh=1"}},
		{"_gh", []string{"a=1; b=2"}, []string{"a=1; b=2"}},
		{"_gh", []string{"_gh=1"}, nil},
		{"_gh", []string{" _gh_s=1 ;  a=1 ;b", "_gh_c=2"}, []string{"a=1; b"}},
		{"_gh", []string{"a=1", "_gh_c=2", "b=\"q;x\""}, []string{"a=1; b=\"q; x\""}},
		{"_gh", []string{";;_gh=;;"}, nil},
		{"_gh", []string{"_g=1; _gh"}, []string{"_g=1"}},
		// Browser prefixes do not hide a gateway cookie.
		{"_gh", []string{"__Host-_gh=1; a=1; __Secure-_gh_hint=2; __host-_gh_1=3; __SECURE-_gh=4"}, []string{"a=1"}},
		{"_gh", []string{"__Host-other=1; __Secure-x_gh=2; __Hostile-_gh=3"}, []string{"__Host-other=1; __Secure-x_gh=2; __Hostile-_gh=3"}},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.in != nil {
			h["Cookie"] = slices.Clone(tt.in)
		}
		stripCookies(h, tt.prefix)
		if !slices.Equal(h["Cookie"], tt.want) {
			t.Errorf("stripCookies(%q, %q) = %q, want %q", tt.in, tt.prefix, h["Cookie"], tt.want)
		}
		if _, ok := h["Cookie"]; ok != (tt.want != nil) {
			t.Errorf("stripCookies(%q): Cookie key present = %v", tt.in, ok)
		}
	}
}

func TestStripSetCookies(t *testing.T) {
	h := http.Header{"Set-Cookie": {"_gh_s=1; Path=/", "a=1", "_gh=; Max-Age=0", "b=_gh"}}
	stripSetCookies(h, "_gh")
	if want := []string{"a=1", "b=_gh"}; !slices.Equal(h["Set-Cookie"], want) {
		t.Errorf("got %q, want %q", h["Set-Cookie"], want)
	}
	h = http.Header{"Set-Cookie": {"__Secure-_gh_hint=x; Path=/oauth2/sign_out; Secure", "__Host-_gh=x; Path=/; Secure", "__Secure-app=1"}}
	stripSetCookies(h, "_gh")
	if want := []string{"__Secure-app=1"}; !slices.Equal(h["Set-Cookie"], want) {
		t.Errorf("got %q, want %q", h["Set-Cookie"], want)
	}
	h = http.Header{"Set-Cookie": {"_gh_s=1"}}
	stripSetCookies(h, "_gh")
	if _, ok := h["Set-Cookie"]; ok {
		t.Errorf("Set-Cookie kept: %q", h)
	}
}

func TestWithoutUpgrade(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://x/", nil)
	r.Header["Connection"] = []string{"keep-alive, Upgrade", "UPGRADE"}
	r.Header.Set("Upgrade", "h2c")
	r2 := withoutUpgrade(r)
	if r2.Header["Upgrade"] != nil || !slices.Equal(r2.Header["Connection"], []string{"keep-alive"}) {
		t.Errorf("clone headers %q", r2.Header)
	}
	if r.Header.Get("Upgrade") != "h2c" || len(r.Header["Connection"]) != 2 {
		t.Errorf("original modified: %q", r.Header)
	}
	if upgradeType(r.Header) != "h2c" || upgradeType(r2.Header) != "" {
		t.Error("upgradeType")
	}
	if asciiEqualFold("webſocket", "websocket") || !asciiEqualFold("WebSocket", "websocket") {
		t.Error("asciiEqualFold")
	}
}

func FuzzNormalizeHeaderName(f *testing.F) {
	for _, s := range []string{"", "X-Forwarded-User", "x_forwarded_user", "X-AUTH_REQUEST-USER",
		"Remote_User", "\xff\x00_Z", "K\u212a_ſ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n := NormalizeHeaderName(name)
		if NormalizeHeaderName(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", name, n, NormalizeHeaderName(n))
		}
		if len(n) != len(name) || strings.ContainsAny(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") {
			t.Fatalf("NormalizeHeaderName(%q) = %q", name, n)
		}
		if IsReservedHeader(name) != IsReservedHeader(n) {
			t.Fatalf("IsReservedHeader differs for %q and %q", name, n)
		}
		if !sameHeaderName(name, n) {
			t.Fatalf("sameHeaderName(%q, %q) = false", name, n)
		}
	})
}

// FuzzStripCookies checks that the single-line fast path of stripCookies
// gives exactly what joining the kept pairs gives.
func FuzzStripCookies(f *testing.F) {
	for _, s := range []string{
		"a=1; b=2", "_gh=1", " _gh_s=1 ;  a=1 ;b", "a=1; _gh=2; b=3", "a=1; b=2; _gh=3", "_gh=1; a=1; b=2",
		"a=1;b=2; _gh=3", "a=1; ; b=2; _gh=1", ";;_gh=;;", "_g=1; _gh", "a=1;  b=2; _gh=1", "a=1; _gh=1; _gh_1=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		h := http.Header{"Cookie": {line}}
		stripCookies(h, "_gh")
		var kept []string
		for part := range strings.SplitSeq(line, ";") {
			if part = textproto.TrimString(part); part != "" && !strings.HasPrefix(cookieName(part), "_gh") {
				kept = append(kept, part)
			}
		}
		var want []string
		switch {
		case !anyCookieHasPrefix([]string{line}, "_gh"):
			want = []string{line}
		case len(kept) > 0:
			want = []string{strings.Join(kept, "; ")}
		}
		if !slices.Equal(h["Cookie"], want) {
			t.Fatalf("stripCookies(%q) = %q, want %q", line, h["Cookie"], want)
		}
	})
}

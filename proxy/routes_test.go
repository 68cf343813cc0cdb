package proxy

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestParseRoute(t *testing.T) {
	good := map[string]Route{
		"/=http://127.0.0.1:8080":                     {Prefix: "/"},
		"api.example.com/v1/=http://10.0.0.5:9000":    {Host: "api.example.com", Prefix: "/v1/"},
		"API.Example.com/=https://backend.internal/x": {Host: "api.example.com", Prefix: "/"},
	}
	for spec, want := range good {
		r, err := ParseRoute(spec)
		if err != nil || r.Host != want.Host || r.Prefix != want.Prefix {
			t.Errorf("ParseRoute(%q) = %+v, %v", spec, r, err)
		}
	}
	for _, spec := range []string{"", "/", "=http://x", "/=", "/=ftp://x", "/=http://", "x=http://a", "/a/../b/=http://a", "/%2F/=http://a", "h:80/=http://a", "/=http://u:p@a", "/=http://a/?q"} {
		if _, err := ParseRoute(spec); err == nil {
			t.Errorf("ParseRoute(%q) accepted", spec)
		}
	}
}

func TestRouteTable(t *testing.T) {
	var rt routeTable[string]
	for _, e := range [][3]string{{"", "/", "root"}, {"", "/app/", "app"}, {"api.test", "/", "api"}, {"api.test", "/v1/", "api-v1"}, {"", "/app/admin", "admin"}} {
		if err := rt.add(e[0], e[1], e[2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.add("", "/app/", "dup"); err == nil {
		t.Error("duplicate route accepted")
	}
	for _, c := range []struct{ host, path, want string }{
		{"x.test", "/", "root"}, {"x.test", "/apple", "root"}, {"x.test", "/app", "app"}, {"x.test", "/app/x", "app"},
		{"x.test", "/app/admin", "admin"}, {"x.test", "/app/admin/y", "admin"}, {"x.test", "/app/adminx", "app"},
		{"api.test", "/", "api"}, {"api.test", "/v1/x", "api-v1"}, {"api.test", "/app/x", "app"},
	} {
		if got, _ := rt.lookup(c.host, c.path); got != c.want {
			t.Errorf("lookup(%q, %q) = %q, want %q", c.host, c.path, got, c.want)
		}
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{"A.test": "a.test", "a.test:8443": "a.test", "[::1]:80": "[::1]", "[::1]": "[::1]"} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClientOf(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	r.Host = "app.test"
	r.Header.Set("X-Forwarded-For", "10.0.0.1")
	r.Header.Set("X-Forwarded-Proto", "javascript")
	r.Header.Set("X-Forwarded-Host", "evil.test")
	c, err := clientOf(r, trusted)
	if err != nil || c.trusted || c.ip.String() != "127.0.0.1" || c.proto != "http" || c.host != "app.test" {
		t.Fatalf("untrusted peer: %+v, %v", c, err)
	}

	r.RemoteAddr = "127.0.0.2:5555"
	if _, err := clientOf(r, trusted); err == nil {
		t.Fatal("trusted peer with X-Forwarded-Proto: javascript accepted")
	}
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "app.test:8443")
	c, err = clientOf(r, trusted)
	if err != nil || !c.trusted || c.ip.String() != "10.0.0.1" || c.proto != "https" || c.host != "app.test:8443" || c.xff != "10.0.0.1, 127.0.0.2" {
		t.Fatalf("trusted peer: %+v, %v", c, err)
	}
	for _, h := range []string{"app.test:1@evil.test", "evil.test/x", "", "a b", "[::1", "x:99999"} {
		r.Header.Set("X-Forwarded-Host", h)
		if _, err := clientOf(r, trusted); err == nil {
			t.Errorf("X-Forwarded-Host %q accepted", h)
		}
	}
}

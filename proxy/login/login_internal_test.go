package login

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// TestBindOncePerIssuer checks that the OAuth configuration and the logout
// verifier are built once per discovered issuer, not per request, and
// rebuilt for another issuer.
func TestBindOncePerIssuer(t *testing.T) {
	a, b := &Issuer{URL: "https://a.test"}, &Issuer{URL: "https://b.test"}
	l, err := New(Config{
		ClientID: "gw", CallbackURL: "https://app.test/oauth2/callback", Discovery: NewStaticDiscovery(a),
		Sessions: nopStore{}, Flows: &session.FlowCookies{}, Once: session.NewMemoryOnce(10, nil),
		Redirects: &Redirects{}, Client: &http.Client{Timeout: time.Second}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	first := l.bind(a)
	if l.bind(a) != first || l.oauth2Config(a) != first.oauth2 {
		t.Error("bind built a second time for the same issuer")
	}
	if l.bind(b) == first || l.bind(b).oauth2.Endpoint != b.Endpoint {
		t.Error("bind kept the first issuer's configuration for another issuer")
	}
	if l.tokenClient.Timeout != 0 || l.cfg.Client.Timeout != time.Second {
		t.Errorf("token client timeout %v, configured client %v", l.tokenClient.Timeout, l.cfg.Client.Timeout)
	}
}

// Start writes the authorization endpoint into Location as it is, so
// discovery refuses one that is not a clean absolute URL.
func TestCheckAuthURL(t *testing.T) {
	for _, ok := range []string{"https://iss.test/authorize", "http://127.0.0.1:5556/auth?tenant=a"} {
		if err := checkAuthURL(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"/authorize", "iss.test/authorize", "javascript:alert(1)", "https://iss.test/auth#x",
		"https://iss.test/autoris\u00e9", "https://iss.test/a b", "https://iss.test/a\r\nSet-Cookie: x=y", "https:///authorize"} {
		if err := checkAuthURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

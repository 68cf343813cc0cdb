package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The zitadel/oidc v3 example OpenID Provider (example/server of
// github.com/zitadel/oidc/v3, from the module proxy) runs in this test
// process on 127.0.0.1, set up exactly as the example's main.go does it:
// exampleop.SetupServer with the example's in-memory storage and users.
// Its issuer URL ends in a slash, its access tokens are opaque, its login
// page is the example's own form, and it puts profile and email claims
// into the UserInfo response only (not the ID token) when it issues an
// access token, as OpenID Connect Core §5.4 describes.

const (
	// zitadelAccessTokenTTL is the expires_in the example issuer reports
	// for gatehouse's access tokens (its storage hard-codes 5 minutes;
	// zitadelStorage shortens it so the refresh test need not wait).
	zitadelAccessTokenTTL = 6 * time.Second
)

// zitadelUser is the example storage's first user (storage.NewUserStore):
// its username embeds the issuer's host name.
var zitadelUser = testUser{
	Login: "test-user@127.0.0.1", Password: "verysecure", Subject: "id1",
	Email: "test-user@zitadel.ch", Name: "Test User", Username: "test-user@127.0.0.1",
}

// zitadelStorage is the example's storage with two settings the example
// cannot make itself: post-logout redirect URIs for a client (the example
// client returns none, so RP-initiated logout with a
// post_logout_redirect_uri would be refused) and a shorter access-token
// lifetime. Everything else is the example's own code.
type zitadelStorage struct {
	*storage.Storage
	postLogout map[string][]string
	accessTTL  time.Duration
}

func (s *zitadelStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil || len(s.postLogout[id]) == 0 {
		return c, err
	}
	return postLogoutClient{Client: c, uris: s.postLogout[id]}, nil
}

func (s *zitadelStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	id, refresh, exp, err := s.Storage.CreateAccessAndRefreshTokens(ctx, req, current)
	if err == nil && s.accessTTL > 0 {
		exp = time.Now().Add(s.accessTTL)
	}
	return id, refresh, exp, err
}

type postLogoutClient struct {
	op.Client
	uris []string
}

func (c postLogoutClient) PostLogoutRedirectURIs() []string { return c.uris }

// zitadelOP is a running example provider.
type zitadelOP struct {
	Issuer string // http://127.0.0.1:<port>/
	Origin string // http://127.0.0.1:<port>, where its login page is
	log    *syncBuffer

	clientID, secret string // gatehouse's client
}

// userinfo asks the example issuer's UserInfo endpoint with access token
// tok.
func (z *zitadelOP) userinfo(t *testing.T, tok string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, z.Origin+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: HTTP %d: %v", resp.StatusCode, err)
	}
	return out
}

// introspect asks the example issuer's introspection endpoint about tok,
// authenticated as gatehouse's client, as gatehouse would.
func (z *zitadelOP) introspect(t *testing.T, tok string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, z.Origin+"/oauth/introspect",
		strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(z.clientID), url.QueryEscape(z.secret))
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("introspection: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("introspection: HTTP %d: %v", resp.StatusCode, err)
	}
	return out
}

// startZitadel runs the example provider with one web client (id, secret)
// for a gatehouse at public URL pub, until t ends.
func startZitadel(t *testing.T, clientID, secret, pub string) *zitadelOP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z := &zitadelOP{log: &syncBuffer{}, clientID: clientID, secret: secret}
	z.Origin = "http://" + ln.Addr().String()
	z.Issuer = z.Origin + "/"
	clients := map[string]*storage.Client{
		clientID: storage.WebClient(clientID, secret, pub+"/oauth2/callback"),
	}
	st := &zitadelStorage{
		Storage:    storage.NewStorageWithClients(storage.NewUserStore(z.Issuer), clients),
		postLogout: map[string][]string{clientID: {pub + "/oauth2/sign_in"}},
		accessTTL:  zitadelAccessTokenTTL,
	}
	// SetupServer makes this logger the process's default slog logger.
	logger := slog.New(slog.NewTextHandler(z.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := &http.Server{Handler: exampleop.SetupServer(z.Issuer, st, logger, false), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
		defer cancel()
		srv.Shutdown(ctx)
		if t.Failed() || verboseLogs {
			t.Logf("zitadel example OP log:\n%s", z.log.String())
		}
	})
	return z
}

// zitadelGatehouse starts the example provider and a gatehouse registered
// there as a confidential client.
func zitadelGatehouse(t *testing.T, args ...string) (*zitadelOP, *gatehouseProc) {
	t.Helper()
	port := freePort(t)
	id, secret := fmt.Sprintf("gatehouse-%d", port), randomSecret(t)
	z := startZitadel(t, id, secret, publicURL(port))
	g := startGatehouse(t, gatehouseConfig{
		Port: port, Issuer: z.Issuer, ClientID: id, ClientSecret: secret, Upstream: startEcho(t), Args: args,
	})
	return z, g
}

// TestZitadel runs gatehouse against the zitadel/oidc example provider:
// browser sign-in through its login page, refresh, RP-initiated sign-out.
func TestZitadel(t *testing.T) {
	requireChromium(t)
	u := zitadelUser

	t.Run("SignIn", func(t *testing.T) {
		z, g := zitadelGatehouse(t)
		ctx := newBrowser(t)
		target := g.URL + "/some/page?x=1"
		signIn(t, ctx, target, z.Origin, u.Login, u.Password)
		p := readEchoPage(t, ctx)
		expectIdentity(t, p, map[string]string{"X-Forwarded-User": u.Subject, "X-Forwarded-Caller": "user"})
		screenshot(t, ctx, "zitadel-signed-in.png")
	})

	// The example provider, like any issuer following OpenID Connect Core
	// §5.4, returns the email and profile claims from its UserInfo
	// endpoint, not in the ID token, when the code flow issues an access
	// token. gatehouse must still forward the verified email (and the
	// preferred username) of a user who consented to the email and
	// profile scopes.
	t.Run("EmailAndProfileFromUserInfo", func(t *testing.T) {
		// --pass-authorization=bearer only so that the test can ask the
		// issuer's UserInfo endpoint itself.
		z, g := zitadelGatehouse(t, "--pass-authorization=bearer")
		ctx := newBrowser(t)
		target := g.URL + "/some/page"
		signIn(t, ctx, target, z.Origin, u.Login, u.Password)
		p := readEchoPage(t, ctx)
		info := z.userinfo(t, strings.TrimPrefix(p.Headers["Authorization"], "Bearer "))
		if info["email"] != u.Email || info["email_verified"] != true || info["preferred_username"] != u.Username {
			t.Fatalf("the issuer's UserInfo: %v; want email %s (verified), preferred_username %s", info, u.Email, u.Username)
		}
		want := map[string]string{
			"X-Forwarded-User":               u.Subject,
			"X-Forwarded-Email":              u.Email,
			"X-Forwarded-Preferred-Username": u.Username,
		}
		for name, v := range want {
			if got := p.Headers[name]; got != v {
				t.Errorf("upstream got %s = %q, want %q (the issuer serves it from UserInfo, scope %q)",
					name, got, v, "openid email profile offline_access")
			}
		}
	})

	t.Run("Refresh", func(t *testing.T) {
		z, g := zitadelGatehouse(t)
		ctx := newBrowserFor(t, 2*time.Minute)
		target := g.URL + "/refresh"
		signIn(t, ctx, target, z.Origin, u.Login, u.Password)
		for i := 1; i <= 2; i++ {
			before := g.loginEvents(t, "refresh", "ok")
			time.Sleep(zitadelAccessTokenTTL + time.Second)
			expectIdentity(t, expectSignedIn(t, ctx, target), map[string]string{"X-Forwarded-User": u.Subject})
			if !waitFor(5*time.Second, func() bool { return g.loginEvents(t, "refresh", "ok") > before }) {
				t.Fatalf("round %d: no successful refresh (ok %v, rejected %v, error %v)", i, before,
					g.loginEvents(t, "refresh", "rejected"), g.loginEvents(t, "refresh", "error"))
			}
		}
		if n := g.loginEvents(t, "refresh", "rejected") + g.loginEvents(t, "refresh", "error"); n != 0 {
			t.Errorf("%v refreshes rejected or failed", n)
		}
	})

	// An opaque access token, introspected at the issuer's discovered
	// introspection_endpoint: the upstream receives the user's access
	// token (--pass-authorization=bearer) and calls another route through
	// gatehouse with it, as a service acting for the user would. The
	// example issuer answers introspection only to a client in the
	// token's audience, which is gatehouse's client here.
	t.Run("OpaqueTokenRelay", func(t *testing.T) {
		requireFlags(t, "--pass-authorization", "--bearer-tokens")
		z, g := zitadelGatehouse(t, "--pass-authorization=bearer")
		ctx := newBrowser(t)
		target := g.URL + "/some/page"
		signIn(t, ctx, target, z.Origin, u.Login, u.Password)
		authz := readEchoPage(t, ctx).Headers["Authorization"]
		tok, ok := strings.CutPrefix(authz, "Bearer ")
		if !ok || tok == "" || strings.Count(tok, ".") == 2 {
			t.Fatalf("upstream got Authorization %q; want the issuer's opaque access token", authz)
		}
		// The example issuer's opaque tokens are JWEs it encrypted for
		// itself (op.NewAES256GCMCrypto: A256GCMKW, A256GCM): compact
		// serialization, five segments. To anyone else they are opaque.
		t.Logf("the issuer's access token has %d dot-separated segments", strings.Count(tok, ".")+1)
		// The issuer itself says the token is active, for this user.
		if in := z.introspect(t, tok); in["active"] != true || in["sub"] != u.Subject {
			t.Fatalf("the issuer's introspection of the token: %v; want active, sub %s", in, u.Subject)
		}
		before := g.metric(t, `gatehouse_auth_total{method="introspection",reason="",result="ok"}`)
		code, challenge, e := callAPI(t, g.URL+"/api/relay", bearer(tok))
		if code != http.StatusOK {
			t.Fatalf("the user's opaque access token: HTTP %d (%s), want 200", code, challenge)
		}
		if got := e.header("X-Forwarded-User"); got != u.Subject {
			t.Errorf("upstream got X-Forwarded-User %q, want %q", got, u.Subject)
		}
		if got := e.header("X-Forwarded-Caller"); got != "user" {
			t.Errorf("upstream got X-Forwarded-Caller %q, want user (introspection names a person: email, preferred_username)", got)
		}
		if after := g.metric(t, `gatehouse_auth_total{method="introspection",reason="",result="ok"}`); after != before+1 {
			t.Errorf("introspections ok: %v → %v, want one more", before, after)
		}
		if code, _, _ := callAPI(t, g.URL+"/api/relay", bearer(tok+"x")); code != http.StatusUnauthorized {
			t.Errorf("a token the issuer does not know: HTTP %d, want 401", code)
		}
	})

	t.Run("SignOut", func(t *testing.T) {
		z, g := zitadelGatehouse(t)
		ctx := newBrowser(t)
		target := g.URL + "/some/page"
		signIn(t, ctx, target, z.Origin, u.Login, u.Password)
		// RP-initiated logout at the example's end_session_endpoint, which
		// ends the tokens of this user and client and sends the browser
		// back to gatehouse's /oauth2/sign_in.
		signOut(t, ctx, g.URL)
		do(t, ctx, "opening "+target, chromedp.Navigate(target))
		expectLoginForm(t, ctx, z.Origin)
		screenshot(t, ctx, "zitadel-signed-out.png")
	})
}

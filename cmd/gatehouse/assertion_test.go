package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// The signed identity assertion verifies with go-oidc against gatehouse's
// JWKS, is bound to its route's upstream, and expires within a minute
// (cases 135, 136).
func TestIdentityAssertion(t *testing.T) {
	other := func(h *harness) string { return strings.Replace(h.up.url, "127.0.0.1", "localhost", 1) }
	h := startHarness(t, harnessOptions{extraFlags: []string{"--identity-assertion"}, flagsFor: func(h *harness) []string {
		return []string{"--upstream=/other/=" + other(h)}
	}})
	otherOrigin := other(h)
	cookie := h.sessionCookieHeader(t)
	get := func(path string) string {
		resp := newBrowser(t).do("GET", h.gw+path, nil, map[string]string{"Cookie": cookie, "X-Forwarded-Assertion": "forged"})
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		vs := h.up.last(t).Header.Values("X-Forwarded-Assertion")
		if len(vs) != 1 || vs[0] == "forged" {
			t.Fatalf("%s: upstream assertion %q", path, vs)
		}
		return vs[0]
	}
	a, b := get("/app"), get("/other/x")
	ctx := context.Background()
	keys := oidc.NewRemoteKeySet(ctx, h.gw+"/oauth2/jwks")
	verifier := func(aud string, now func() time.Time) *oidc.IDTokenVerifier {
		return oidc.NewVerifier(h.gw, keys, &oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{oidc.ES256}, Now: now})
	}
	tok, err := verifier(h.up.url, time.Now).Verify(ctx, a)
	if err != nil {
		t.Fatalf("assertion for / does not verify: %v", err)
	}
	var c struct {
		Email    string   `json:"email"`
		Groups   []string `json:"groups"`
		IssuedAt int64    `json:"iat"`
		Expiry   int64    `json:"exp"`
		JTI      string   `json:"jti"`
	}
	if err := tok.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if tok.Subject != "alice-sub" || c.Email != "alice@corp.test" || len(c.Groups) != 1 || c.Groups[0] != "dev" ||
		c.Expiry-c.IssuedAt > 60 || c.Expiry <= c.IssuedAt || c.JTI == "" {
		t.Errorf("claims: sub %q %+v", tok.Subject, c)
	}
	if _, err := verifier(otherOrigin, time.Now).Verify(ctx, a); err == nil {
		t.Error("route /'s assertion verified for the /other upstream")
	}
	if _, err := verifier(otherOrigin, time.Now).Verify(ctx, b); err != nil {
		t.Errorf("route /other's assertion: %v", err)
	}
	_, err = verifier(h.up.url, func() time.Time { return time.Now().Add(2 * time.Minute) }).Verify(ctx, a)
	var expired *oidc.TokenExpiredError
	if !errors.As(err, &expired) {
		t.Errorf("two minutes later: %v, want expired", err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// runCheckConfig validates every flag, then reaches the issuer's discovery
// document and JWKS, and reports what it found. It starts no listener.
func runCheckConfig(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	m := NewMain(stderr)
	if err := m.ParseFlags(args, getenv); err != nil {
		return err
	}
	s, err := m.cfg.validate()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "flags: ok (%d upstream route(s), %d trusted proxy range(s), %d cookie key(s))\n", len(s.routes), len(s.trusted), s.keys.Len())
	client := issuerClient(m.cfg.issuerTimeout)
	cctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, client), 20*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(cctx, m.cfg.issuer)
	if err != nil {
		return fmt.Errorf("--issuer %s: discovery failed: %w", m.cfg.issuer, err)
	}
	var meta struct {
		JWKS         string   `json:"jwks_uri"`
		EndSession   string   `json:"end_session_endpoint"`
		Introspect   string   `json:"introspection_endpoint"`
		PKCE         []string `json:"code_challenge_methods_supported"`
		IssParameter bool     `json:"authorization_response_iss_parameter_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return fmt.Errorf("--issuer: discovery document: %w", err)
	}
	fmt.Fprintf(stdout, "issuer: ok (%s)\n  authorization: %s\n  token: %s\n", m.cfg.issuer, p.Endpoint().AuthURL, p.Endpoint().TokenURL)
	n, err := countKeys(cctx, client, meta.JWKS)
	if err != nil {
		return fmt.Errorf("--issuer: jwks_uri %s: %w", meta.JWKS, err)
	}
	fmt.Fprintf(stdout, "  jwks: %d key(s)\n", n)
	if len(meta.PKCE) > 0 && !contains(meta.PKCE, "S256") {
		fmt.Fprintln(stdout, "  warning: the issuer does not list S256 in code_challenge_methods_supported; gatehouse always sends it")
	}
	if meta.EndSession == "" {
		fmt.Fprintln(stdout, "  note: no end_session_endpoint; sign-out ends the gatehouse session only")
	}
	fmt.Fprintln(stdout, "callback URL to register:", s.publicURL.String()+m.cfg.endpointPrefix+"/callback")
	fmt.Fprintln(stdout, "post-logout URL to register:", s.postLogin)
	return nil
}

func countKeys(ctx context.Context, client *http.Client, uri string) (int, error) {
	if uri == "" {
		return 0, errors.New("the discovery document has no jwks_uri")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return 0, err
	}
	if len(set.Keys) == 0 {
		return 0, errors.New("no keys published")
	}
	return len(set.Keys), nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

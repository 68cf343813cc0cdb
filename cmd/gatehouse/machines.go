package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/proxy"
	"github.com/gatehouse-proxy/gatehouse/proxy/bearer"
)

// bearerIssuers turns --bearer-issuer and --bearer-audience into issuer
// configurations. gatehouse's own client credentials go to --issuer only.
func (c *config) bearerIssuerConfigs() ([]bearer.IssuerConfig, error) {
	audiences := []string(c.bearerAudiences)
	if len(audiences) == 0 {
		audiences = []string{c.clientID}
	}
	specs := []string(c.bearerIssuers)
	if len(specs) == 0 {
		specs = []string{c.issuer}
	}
	var out []bearer.IssuerConfig
	seen := map[string]bool{}
	for _, spec := range specs {
		parts := strings.Split(spec, ";")
		u, err := url.Parse(parts[0])
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("--bearer-issuer %q: want URL[;aud=AUDIENCE…]", spec)
		}
		if seen[parts[0]] {
			return nil, fmt.Errorf("--bearer-issuer %q is given twice", parts[0])
		}
		seen[parts[0]] = true
		ic := bearer.IssuerConfig{URL: parts[0], AcceptIDTokens: c.bearerAcceptIDTokens, RequireAccessTokenType: c.bearerRequireATJWT}
		for _, p := range parts[1:] {
			aud, ok := strings.CutPrefix(p, "aud=")
			if !ok || aud == "" {
				return nil, fmt.Errorf("--bearer-issuer %q: %q is not aud=AUDIENCE", spec, p)
			}
			ic.Audiences = append(ic.Audiences, aud)
		}
		if len(ic.Audiences) == 0 {
			ic.Audiences = audiences
		}
		if parts[0] == c.issuer {
			ic.ClientID, ic.ClientSecret, ic.IntrospectionURL = c.clientID, string(c.clientSecret), c.introspectionURL
		}
		out = append(out, ic)
	}
	if c.introspectionURL != "" && !seen[c.issuer] {
		return nil, errors.New("--introspection-url applies to --issuer, which is not among the --bearer-issuer values")
	}
	return out, nil
}

// newBearer builds the machine-credential authenticator, or nil when
// --bearer-tokens and --password-grant are both off.
func (m *Main) newBearer(ctx context.Context, s *settings, metrics *proxy.Metrics) (*bearer.Authenticator, error) {
	c := &m.cfg
	if !c.bearerTokens && !c.passwordGrant {
		return nil, nil
	}
	issuers, err := c.bearerIssuerConfigs()
	if err != nil {
		return nil, err
	}
	cfg := bearer.Config{
		Issuers:     issuers,
		Client:      issuerClient(0),
		Timeout:     c.issuerTimeout,
		Observe:     metrics.BearerEvent,
		Logger:      m.logger,
		GroupsClaim: c.groupsClaim,
		ClientIP:    func(r *http.Request) netip.Addr { return proxy.ClientIP(r, s.trusted) },
	}
	if c.passwordGrant {
		if len(c.clientSecret) == 0 {
			return nil, errors.New("--password-grant needs a confidential client: set --client-secret-file")
		}
		cfg.PasswordGrant = bearer.PasswordConfig{Enabled: true, Issuer: c.issuer, Counter: m.stores.counter}
		m.logger.Warn("--password-grant is on: HTTP Basic credentials are sent to the issuer's token endpoint. " +
			"The resource-owner password grant is deprecated (RFC 9700 §2.4); use it only for legacy clients that cannot do better")
	}
	a, err := bearer.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("--bearer-issuer: %w", err)
	}
	return a, nil
}

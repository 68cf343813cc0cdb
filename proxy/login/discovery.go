package login

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Issuer is what discovery learned about the OIDC issuer.
type Issuer struct {
	Provider *oidc.Provider
	// Verifier checks ID tokens for gatehouse's own client.
	Verifier *oidc.IDTokenVerifier
	// Endpoint is the issuer's OAuth 2.0 endpoint with an explicit client
	// authentication style.
	Endpoint oauth2.Endpoint
	// EndSessionURL is the end_session_endpoint, or "" when the issuer
	// does not support RP-initiated logout.
	EndSessionURL string
	// IssParameter is true when the issuer promises RFC 9207's iss
	// parameter on authorization responses.
	IssParameter bool
	// URL is the issuer identifier as discovered.
	URL string

	keys       oidc.KeySet
	algorithms []string
}

func (i *Issuer) keySet() oidc.KeySet { return i.keys }

// Discovery loads the issuer's discovery document in the background and
// retries with backoff until it succeeds, so gatehouse starts (and reports
// not-ready) while the issuer is down instead of exiting.
type Discovery struct {
	mu      sync.RWMutex
	issuer  *Issuer
	lastErr error
	ready   chan struct{}
}

// DiscoveryConfig configures Discover.
type DiscoveryConfig struct {
	IssuerURL string
	ClientID  string
	// Algorithms is the ID-token signing algorithm allow-list; default
	// RS256, ES256, PS256 and EdDSA (never "none" or HMAC).
	Algorithms []string
	// Client is used for discovery and key fetches. Required.
	Client *http.Client
	// Logger receives retry messages. Required.
	Logger *slog.Logger
	// MaxBackoff caps the wait between attempts; default 30s.
	MaxBackoff time.Duration
}

// DefaultAlgorithms is the default signing-algorithm allow-list.
var defaultAlgorithms = []string{oidc.RS256, oidc.ES256, oidc.PS256, oidc.EdDSA}

// Discover starts loading the issuer's metadata and returns at once. The
// background work stops when ctx is done.
func Discover(ctx context.Context, cfg DiscoveryConfig) *Discovery {
	d := &Discovery{ready: make(chan struct{}), lastErr: ErrIssuerUnavailable}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	go d.run(ctx, cfg)
	return d
}

// NewStaticDiscovery returns a Discovery that already holds iss (for tests
// and tools that discovered the issuer themselves).
func NewStaticDiscovery(iss *Issuer) *Discovery {
	d := &Discovery{ready: make(chan struct{}), issuer: iss}
	close(d.ready)
	return d
}

func (d *Discovery) run(ctx context.Context, cfg DiscoveryConfig) {
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		iss, err := load(ctx, cfg)
		if err == nil {
			d.mu.Lock()
			d.issuer, d.lastErr = iss, nil
			d.mu.Unlock()
			close(d.ready)
			cfg.Logger.Info("issuer discovered", "issuer", iss.URL, "end_session", iss.EndSessionURL != "")
			return
		}
		d.mu.Lock()
		d.lastErr = fmt.Errorf("%w: %v", ErrIssuerUnavailable, err)
		d.mu.Unlock()
		cfg.Logger.Warn("issuer discovery failed; retrying", "issuer", cfg.IssuerURL, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, cfg.MaxBackoff)
	}
}

func load(ctx context.Context, cfg DiscoveryConfig) (*Issuer, error) {
	cctx := oidc.ClientContext(ctx, cfg.Client)
	rctx, cancel := context.WithTimeout(cctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(rctx, cfg.IssuerURL)
	if err != nil {
		return nil, err
	}
	var meta struct {
		Issuer       string   `json:"issuer"`
		EndSession   string   `json:"end_session_endpoint"`
		IssParameter bool     `json:"authorization_response_iss_parameter_supported"`
		AuthMethods  []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, err
	}
	if p.Endpoint().AuthURL == "" || p.Endpoint().TokenURL == "" {
		return nil, fmt.Errorf("login: discovery document lacks authorization or token endpoint")
	}
	if err := checkAuthURL(p.Endpoint().AuthURL); err != nil {
		return nil, err
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = defaultAlgorithms
	}
	var jwks struct {
		URI string `json:"jwks_uri"`
	}
	if err := p.Claims(&jwks); err != nil || jwks.URI == "" {
		return nil, fmt.Errorf("login: discovery document lacks jwks_uri")
	}
	// One key set, shared by the ID-token and logout-token verifiers. It is
	// created with a context that carries our client, so background key
	// fetches use its timeouts too.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), cfg.Client), jwks.URI)
	v := oidc.NewVerifier(meta.Issuer, keys, &oidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: algs})
	ep := p.Endpoint()
	ep.AuthStyle = authStyle(meta.AuthMethods)
	return &Issuer{Provider: p, Verifier: v, Endpoint: ep, EndSessionURL: meta.EndSession, IssParameter: meta.IssParameter,
		URL: meta.Issuer, keys: keys, algorithms: algs}, nil
}

// checkAuthURL checks the authorization endpoint, where Start sends
// browsers with a Location header as it is: an absolute http(s) URL of
// printable ASCII, without a fragment (the query is appended to it).
func checkAuthURL(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Errorf("login: authorization_endpoint %q has a byte outside printable ASCII", s)
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Contains(s, "#") {
		return fmt.Errorf("login: authorization_endpoint %q is not an absolute http(s) URL without a fragment", s)
	}
	return nil
}

// authStyle picks how to send client credentials from what the issuer
// supports. Being explicit matters: x/oauth2's auto-detection retries a
// refused token request in the other style, which spends an authorization
// code or a rotating refresh token twice.
func authStyle(methods []string) oauth2.AuthStyle {
	if len(methods) == 0 || contains(methods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader // the default when none is listed (OIDC Discovery §3)
	}
	if contains(methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// Get returns the discovered issuer, or an error wrapping
// ErrIssuerUnavailable while discovery has not succeeded.
func (d *Discovery) Get() (*Issuer, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.issuer == nil {
		return nil, d.lastErr
	}
	return d.issuer, nil
}

// Ready is closed once discovery has succeeded.
func (d *Discovery) Ready() <-chan struct{} { return d.ready }

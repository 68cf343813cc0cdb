package bearer

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// Defaults applied by [New] to zero-valued [Config] fields.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultMaxTokenBytes      = 8192
	DefaultCacheSize          = 10000
	DefaultNegativeCacheTTL   = 10 * time.Second
	DefaultIntrospectionTTL   = 5 * time.Minute
	DefaultKeyRefreshInterval = 60 * time.Second
	DefaultKeyMaxAge          = 10 * time.Minute
	DefaultTimeout            = 5 * time.Second
	DefaultGroupsClaim        = "groups"
)

// defaultAlgorithms is the signing-algorithm allow-list of an issuer that
// names none.
var defaultAlgorithms = []string{"RS256", "ES256", "PS256", "EdDSA"}

// asymmetricAlgorithms are the JWS algorithms an allow-list may name. "none"
// and the HMAC algorithms are never accepted: a bearer token's verification
// key is public.
var asymmetricAlgorithms = []string{
	"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA",
}

// IssuerConfig is one trusted token issuer.
type IssuerConfig struct {
	// URL is the issuer identifier, compared byte for byte with the iss
	// claim. Discovery reads URL + "/.well-known/openid-configuration".
	// It must be https, or http on a loopback address (development).
	// Required.
	URL string
	// Audiences are the values gatehouse accepts in a token's aud claim; a
	// token must name at least one of them, exactly (no trimming, no case
	// folding). Required.
	Audiences []string
	// Algorithms is the signing-algorithm allow-list, compared exactly and
	// case-sensitively with the JWS alg header. Default RS256, ES256,
	// PS256 and EdDSA. "none" and HS256/384/512 are rejected by New.
	Algorithms []string
	// IntrospectionURL is the RFC 7662 endpoint for opaque tokens. Default:
	// the discovered introspection_endpoint. Introspection needs ClientID
	// and ClientSecret; without them this issuer never introspects.
	IntrospectionURL string
	// ClientID and ClientSecret are gatehouse's credentials at this issuer,
	// for introspection and the password grant. ClientID is also the
	// audience of the issuer's ID tokens for gatehouse, which are refused
	// as bearer tokens unless AcceptIDTokens is set.
	ClientID, ClientSecret string
	// AcceptIDTokens turns off the ID-token refusal (see the package doc).
	// Default false.
	AcceptIDTokens bool
	// AllowedClients, when set, is the allow-list of the client a token
	// was issued to (client_id, or else azp); tokens of other clients, or
	// naming none, are refused. Default: any client.
	AllowedClients []string
	// RequireAccessTokenType accepts only JWTs typed "at+jwt" or
	// "application/at+jwt" (RFC 9068 §4). Default false: untyped and "JWT"
	// tokens are accepted too, ID tokens and logout tokens excepted.
	RequireAccessTokenType bool
}

// IntrospectionConfig tunes opaque-token introspection.
type IntrospectionConfig struct {
	// CacheTTL caps how long an active introspection result is reused;
	// never beyond the token's exp. Default 5m; negative disables it.
	CacheTTL time.Duration
	// FailuresPerClient is how many opaque tokens one client address may
	// present that turn out inactive within Window before its further
	// opaque tokens get 429 without a call to the issuer (token scanning).
	// Default 30; negative disables the limit.
	FailuresPerClient int
	// Window is the counting window of FailuresPerClient. Default 1m.
	Window time.Duration
}

// PasswordConfig configures the legacy HTTP Basic → resource owner
// password grant. It is off unless Enabled.
type PasswordConfig struct {
	// Enabled turns the grant on. Default false: Basic credentials are
	// refused.
	Enabled bool
	// Issuer is the URL of the IssuerConfig whose token endpoint and client
	// credentials are used. Default: the first issuer.
	Issuer string
	// Scopes are requested with the grant. Default none.
	Scopes []string
	// FailuresPerUser and FailuresPerClient are how many rejected
	// credentials one username (case-folded) or one client address may
	// send within Window before getting 429 without a call to the
	// issuer. Defaults 5 and 20.
	FailuresPerUser, FailuresPerClient int
	// Window is the counting window of the failure limits. Default 5m.
	Window time.Duration
	// CacheTTL caps how long a successful grant is reused for the same
	// username and password; never beyond the access token's expiry.
	// Default 5m; negative disables the cache.
	CacheTTL time.Duration
	// Counter keeps the failure counts. Default: in this process. With
	// several replicas give them a shared one (session.RedisCounter), or
	// each replica allows the full limit. If it cannot be reached, Basic
	// credentials get 503.
	Counter session.Counter
}

// Config configures an [Authenticator]. Client and Issuers are required;
// every other zero value means the documented default.
type Config struct {
	// Issuers are the trusted issuers. A JWT is checked only against the
	// issuer its iss claim names; opaque tokens go to the first issuer
	// that can introspect.
	Issuers []IssuerConfig
	// Client makes every call to the issuers (discovery, JWKS,
	// introspection, password grant). Required. Redirects are never
	// followed, whatever its CheckRedirect says.
	Client *http.Client
	// Logger receives background fetch failures and key changes, never
	// credentials. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// ClientIP returns the address failures are counted against. Default:
	// the host of r.RemoteAddr.
	ClientIP func(*http.Request) netip.Addr
	// Leeway is the clock skew allowed for exp, nbf and iat. Default 30s,
	// at most 5m.
	Leeway time.Duration
	// MaxTokenBytes bounds a bearer token (and Basic credentials).
	// Default 8192.
	MaxTokenBytes int
	// CacheSize bounds the verified-token cache and the negative cache
	// (entries each). Default 10000; negative disables both.
	CacheSize int
	// NegativeCacheTTL is how long a rejected token is answered from
	// memory. Default 10s; negative disables it.
	NegativeCacheTTL time.Duration
	// KeyRefreshInterval is the least time between two JWKS fetches of an
	// issuer (a token with an unknown kid may cause one). Default 60s.
	KeyRefreshInterval time.Duration
	// KeyMaxAge is the age after which an issuer's keys are refetched in
	// the background, so removed keys stop verifying. Default 10m.
	KeyMaxAge time.Duration
	// Timeout bounds each call to an issuer. Default 5s.
	Timeout time.Duration
	// GroupsClaim names the claim holding the groups; a dotted path
	// ("realm_access.roles") walks nested objects unless a top-level claim
	// has the whole name. Default "groups".
	GroupsClaim string
	// Observe, when set, is told of cache lookups ("token_cache": hit,
	// miss), key fetches ("jwks_fetch": ok, error) and introspection calls
	// ("introspection": active, refused, error), for metrics. It must be
	// cheap and safe for concurrent use.
	Observe func(event, result string)
	// Introspection tunes opaque tokens.
	Introspection IntrospectionConfig
	// PasswordGrant configures HTTP Basic credentials; off by default.
	PasswordGrant PasswordConfig
}

// New validates cfg and returns an Authenticator. It makes no network
// calls: discovery and key fetches happen when first needed (or when
// [Authenticator.Ready] is asked), in the background, with retries. ctx
// bounds that background work; cancel it at shutdown.
func New(ctx context.Context, cfg Config) (*Authenticator, error) {
	if ctx == nil {
		return nil, errors.New("bearer: nil context")
	}
	if cfg.Client == nil {
		return nil, errors.New("bearer: Client is required")
	}
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("bearer: at least one issuer is required")
	}
	if err := applyDefaults(&cfg); err != nil {
		return nil, err
	}
	client := *cfg.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	a := &Authenticator{
		cfg:    cfg,
		ctx:    ctx,
		client: &client,
		byURL:  make(map[string]*issuer, len(cfg.Issuers)),
		cache:  newTTLCache[entry](cfg.CacheSize),
		neg:    newTTLCache[*rejection](cfg.CacheSize),
		intro:  newFlight[[32]byte, introResult](maxInflight),
		opaque: newLimiter(maxLimiterKeys),
	}
	if cfg.NegativeCacheTTL < 0 {
		a.neg = nil
	}
	for n, ic := range cfg.Issuers {
		if err := validateIssuer(&ic); err != nil {
			return nil, err
		}
		if a.byURL[ic.URL] != nil {
			return nil, fmt.Errorf("bearer: issuer %q configured twice", ic.URL)
		}
		cfg.Issuers[n] = ic
		iss := newIssuer(a, ic)
		a.issuers = append(a.issuers, iss)
		a.byURL[ic.URL] = iss
	}
	for _, iss := range a.issuers {
		for _, alg := range iss.cfg.Algorithms {
			if !slices.Contains(a.algs, alg) {
				a.algs = append(a.algs, alg)
			}
		}
	}
	if cfg.PasswordGrant.Enabled {
		pw, err := newPasswordGrant(a, cfg.PasswordGrant)
		if err != nil {
			return nil, err
		}
		a.pw = pw
	}
	return a, nil
}

func applyDefaults(c *Config) error {
	c.Issuers = slices.Clone(c.Issuers)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Observe == nil {
		c.Observe = func(string, string) {}
	}
	if c.ClientIP == nil {
		c.ClientIP = remoteIP
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Leeway", &c.Leeway, DefaultLeeway},
		{"KeyRefreshInterval", &c.KeyRefreshInterval, DefaultKeyRefreshInterval},
		{"KeyMaxAge", &c.KeyMaxAge, DefaultKeyMaxAge},
		{"Timeout", &c.Timeout, DefaultTimeout},
		{"Introspection.Window", &c.Introspection.Window, time.Minute},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return fmt.Errorf("bearer: %s must not be negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.Leeway > 5*time.Minute {
		return errors.New("bearer: Leeway must be at most 5m")
	}
	if c.MaxTokenBytes < 0 {
		return errors.New("bearer: MaxTokenBytes must not be negative")
	}
	c.MaxTokenBytes = cmp.Or(c.MaxTokenBytes, DefaultMaxTokenBytes)
	c.CacheSize = cmp.Or(c.CacheSize, DefaultCacheSize)
	c.NegativeCacheTTL = cmp.Or(c.NegativeCacheTTL, DefaultNegativeCacheTTL)
	c.Introspection.CacheTTL = cmp.Or(c.Introspection.CacheTTL, DefaultIntrospectionTTL)
	c.Introspection.FailuresPerClient = cmp.Or(c.Introspection.FailuresPerClient, 30)
	c.GroupsClaim = cmp.Or(c.GroupsClaim, DefaultGroupsClaim)
	return nil
}

func validateIssuer(ic *IssuerConfig) error {
	if err := checkURL(ic.URL); err != nil {
		return fmt.Errorf("bearer: issuer URL %q: %w", ic.URL, err)
	}
	if len(ic.Audiences) == 0 {
		return fmt.Errorf("bearer: issuer %q: at least one audience is required", ic.URL)
	}
	for _, aud := range ic.Audiences {
		if aud == "" || strings.TrimSpace(aud) != aud || !headerSafe(aud) {
			return fmt.Errorf("bearer: issuer %q: audience %q is empty, padded or has control characters", ic.URL, aud)
		}
	}
	ic.Audiences = slices.Clone(ic.Audiences)
	for _, c := range ic.AllowedClients {
		if c == "" {
			return fmt.Errorf("bearer: issuer %q: empty allowed client", ic.URL)
		}
	}
	ic.AllowedClients = slices.Clone(ic.AllowedClients)
	if len(ic.Algorithms) == 0 {
		ic.Algorithms = defaultAlgorithms
	}
	ic.Algorithms = slices.Clone(ic.Algorithms)
	for _, alg := range ic.Algorithms {
		switch {
		case strings.EqualFold(alg, "none") || strings.HasPrefix(strings.ToUpper(alg), "HS"):
			return fmt.Errorf("bearer: issuer %q: algorithm %q is never allowed for bearer tokens", ic.URL, alg)
		case !slices.Contains(asymmetricAlgorithms, alg):
			return fmt.Errorf("bearer: issuer %q: unsupported algorithm %q (want one of %s)", ic.URL, alg, strings.Join(asymmetricAlgorithms, ", "))
		}
	}
	if ic.ClientSecret != "" && ic.ClientID == "" {
		return fmt.Errorf("bearer: issuer %q: ClientSecret without ClientID", ic.URL)
	}
	if ic.IntrospectionURL != "" {
		if err := checkURL(ic.IntrospectionURL); err != nil {
			return fmt.Errorf("bearer: issuer %q: introspection URL: %w", ic.URL, err)
		}
		if ic.ClientSecret == "" {
			return fmt.Errorf("bearer: issuer %q: introspection needs ClientID and ClientSecret", ic.URL)
		}
	}
	return nil
}

// checkURL accepts absolute https URLs, and http ones on loopback hosts.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must be an absolute URL without user info, query or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if u.Hostname() == "localhost" {
			return nil
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && ip.IsLoopback() {
			return nil
		}
		return errors.New("http is allowed only on loopback addresses")
	}
	return errors.New("scheme must be https")
}

// remoteIP is the default Config.ClientIP.
func remoteIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, _ := netip.ParseAddr(host)
	return ip.Unmap()
}

// newHMACKey returns the per-process key that turns credentials into cache
// keys.
func newHMACKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return k
}

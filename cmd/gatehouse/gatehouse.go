package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-proxy/gatehouse/proxy"
	"github.com/gatehouse-proxy/gatehouse/proxy/authz"
	"github.com/gatehouse-proxy/gatehouse/proxy/bearer"
	"github.com/gatehouse-proxy/gatehouse/proxy/login"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// Main is the program: ParseFlags, then Run, then Close.
type Main struct {
	// AppListener and AdminListener, when set before Run, are used instead
	// of listening on --listen and --admin-listen (tests pass :0 listeners).
	AppListener, AdminListener net.Listener

	out    io.Writer
	cfg    config
	logger *slog.Logger
	logw   *logWriter

	app, admin *http.Server
	stores     *stores
	login      *login.Login
	bearer     *bearer.Authenticator
	cancel     context.CancelFunc
	served     chan error
}

// NewMain returns a Main that writes usage and logs to out.
func NewMain(out io.Writer) *Main { return &Main{out: out} }

// ParseFlags reads flags and environment and validates them. Every error
// names the flag it is about.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	fs := newFlagSet("gatehouse", &m.cfg, m.out)
	fs.Usage = func() { usage(fs, m.out) }
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := m.cfg.readSecrets(getenv); err != nil {
		return err
	}
	return nil
}

// settings is config turned into the values the packages take.
type settings struct {
	publicURL *url.URL
	routes    []proxy.Route
	trusted   []netip.Prefix
	keys      session.Keys
	redirects *login.Redirects
	scopes    []string
	postLogin string
	level     slog.Level
	assertion *proxy.AssertionConfig
	policy    *authz.Policy
	headers   []proxy.HeaderRule
	passAuth  string
}

// validate checks every flag and their combinations.
func (c *config) validate() (*settings, error) {
	var s settings
	var err error
	if c.publicURL == "" {
		return nil, errors.New("--public-url is required (the external URL of gatehouse, e.g. https://app.example.com)")
	}
	s.publicURL, err = url.Parse(c.publicURL)
	if err != nil || (s.publicURL.Scheme != "https" && s.publicURL.Scheme != "http") || s.publicURL.Host == "" ||
		s.publicURL.User != nil || (s.publicURL.Path != "" && s.publicURL.Path != "/") || s.publicURL.RawQuery != "" {
		return nil, fmt.Errorf("--public-url %q must be an http(s) origin such as https://app.example.com, without path or query", c.publicURL)
	}
	s.publicURL.Path = ""
	if c.issuer == "" {
		return nil, errors.New("--issuer is required (the OIDC issuer URL, e.g. https://idp.example.com/realms/main)")
	}
	iu, err := url.Parse(c.issuer)
	if err != nil || iu.Host == "" || (iu.Scheme != "https" && iu.Scheme != "http") {
		return nil, fmt.Errorf("--issuer %q must be an https URL", c.issuer)
	}
	if iu.Scheme == "http" && !isLoopback(iu.Hostname()) && !c.insecureIssuerHTTP {
		return nil, fmt.Errorf("--issuer %q uses http on a non-loopback host; use https (or --insecure-issuer-http for development)", c.issuer)
	}
	if c.clientID == "" {
		return nil, errors.New("--client-id is required")
	}
	if len(c.cookieKey) == 0 {
		return nil, errors.New("--cookie-secret-file is required (or GATEHOUSE_COOKIE_SECRET): one key per line, each ≥32 random bytes, e.g. from `openssl rand -base64 32`")
	}
	if s.keys, err = session.ParseKeys(c.cookieKey); err != nil {
		return nil, fmt.Errorf("--cookie-secret-file: %w", err)
	}
	if len(c.upstreams) == 0 {
		return nil, errors.New("--upstream is required, e.g. --upstream=/=http://127.0.0.1:8080")
	}
	seen := map[string]bool{}
	for _, u := range c.upstreams {
		r, err := proxy.ParseRoute(u)
		if err != nil {
			return nil, fmt.Errorf("--upstream %w", err)
		}
		if seen[r.Host+r.Prefix] {
			return nil, fmt.Errorf("--upstream %q: %s%s is given twice", u, r.Host, r.Prefix)
		}
		seen[r.Host+r.Prefix] = true
		s.routes = append(s.routes, r)
	}
	for _, t := range c.trustedProxies {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				return nil, fmt.Errorf("--trusted-proxy %q is not a CIDR such as 10.0.0.0/8", t)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		s.trusted = append(s.trusted, p.Masked())
	}
	origins := append([]string{s.publicURL.Scheme + "://" + s.publicURL.Host}, c.allowedRedirects...)
	if s.redirects, err = login.NewRedirects(origins...); err != nil {
		return nil, fmt.Errorf("--allowed-redirect: %w", err)
	}
	s.scopes = strings.Fields(c.scope)
	if len(s.scopes) == 0 {
		return nil, errors.New("--scope must name at least openid")
	}
	if !validEndpointPrefix(c.endpointPrefix) {
		return nil, fmt.Errorf("--endpoint-prefix %q must be a path like /oauth2: letters, digits and - . _ ~ / only, without a trailing slash", c.endpointPrefix)
	}
	s.postLogin = c.postLogoutRedirectURL
	if s.postLogin == "" {
		s.postLogin = s.publicURL.String() + c.endpointPrefix + "/sign_in"
	} else if u, err := url.Parse(s.postLogin); err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("--post-logout-redirect-url %q must be an absolute URL", s.postLogin)
	}
	if c.sessionLifetime < time.Minute {
		return nil, fmt.Errorf("--session-lifetime %v is too short (at least 1m)", c.sessionLifetime)
	}
	if c.shutdownTimeout <= 0 {
		return nil, fmt.Errorf("--shutdown-timeout must be positive")
	}
	if err := s.level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q must be debug, info, warn or error", c.logLevel)
	}
	if len(c.rules) > 0 || c.defaultDeny {
		if s.policy, err = authz.New(authz.Config{Rules: c.rules, DefaultDeny: c.defaultDeny}); err != nil {
			return nil, fmt.Errorf("--rule: %w", err)
		}
	}
	for _, spec := range c.upstreamHeaders {
		hr, err := proxy.ParseHeaderRule(spec)
		if err != nil {
			return nil, fmt.Errorf("--upstream-header %w", err)
		}
		if hr.Route != "" && !seen[hr.Route] {
			return nil, fmt.Errorf("--upstream-header %q: no --upstream has the route %q", spec, hr.Route)
		}
		s.headers = append(s.headers, hr)
	}
	switch c.passAuthorization {
	case "none":
	case "basic", "bearer":
		s.passAuth = c.passAuthorization
	default:
		return nil, fmt.Errorf("--pass-authorization %q must be none, basic or bearer", c.passAuthorization)
	}
	if _, err := c.bearerIssuerConfigs(); err != nil {
		return nil, err
	}
	if c.passwordGrant && len(c.clientSecret) == 0 {
		return nil, errors.New("--password-grant needs a confidential client: set --client-secret-file")
	}
	if len(c.passwordGrantPaths) > 0 && !c.passwordGrant {
		return nil, errors.New("--password-grant-path is set but --password-grant is off")
	}
	if c.assertionKeyFile != "" && !c.identityAssertion {
		return nil, errors.New("--assertion-key-file is set but --identity-assertion is off")
	}
	if c.identityAssertion {
		s.assertion = &proxy.AssertionConfig{}
		if c.assertionKeyFile != "" {
			pemData, err := os.ReadFile(c.assertionKeyFile)
			if err != nil {
				return nil, fmt.Errorf("--assertion-key-file: %v", err)
			}
			if s.assertion.Keys, err = proxy.ParseAssertionKeys(pemData); err != nil {
				return nil, fmt.Errorf("--assertion-key-file: %v", err)
			}
		}
	}
	if c.issuerTimeout <= 0 {
		return nil, errors.New("--issuer-timeout must be positive")
	}
	if c.upstreamTimeout <= 0 {
		return nil, errors.New("--upstream-timeout must be positive")
	}
	if (c.tlsCertFile == "") != (c.tlsKeyFile == "") {
		return nil, errors.New("--tls-cert-file and --tls-key-file go together")
	}
	if c.logFlushInterval < 0 || c.logFlushInterval > 10*time.Second {
		return nil, fmt.Errorf("--log-flush-interval %v must be between 0 and 10s", c.logFlushInterval)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return nil, fmt.Errorf("--log-format %q must be text or json", c.logFormat)
	}
	return &s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Run validates the configuration, builds gatehouse and starts serving. It
// returns once the listeners are open; serving goes on until Close.
func (m *Main) Run(ctx context.Context) error {
	s, err := m.cfg.validate()
	if err != nil {
		return err
	}
	m.logw = newLogWriter(m.out, m.cfg.logFlushInterval)
	m.logger = newLogger(m.logw, m.cfg.logFormat, s.level)
	ok := false
	defer func() {
		if !ok {
			// Whatever was opened before the failure (the session store's
			// client and its subscriber) is released.
			if m.stores != nil {
				_ = m.stores.close()
				m.stores = nil
			}
			_ = m.logw.Close()
		}
	}()
	ctx, m.cancel = context.WithCancel(ctx)
	reg := prometheus.NewRegistry()
	gw, disc, err := m.build(ctx, s, reg)
	if err != nil {
		m.cancel()
		return err
	}
	if err := m.listen(); err != nil {
		m.cancel()
		return err
	}
	m.app = &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	m.admin = &http.Server{
		Handler:           m.adminHandler(reg, disc),
		ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
	appLn := m.AppListener
	if m.cfg.tlsCertFile != "" {
		certs, err := newCertReloader(m.cfg.tlsCertFile, m.cfg.tlsKeyFile, func(err error) {
			m.logger.Error("TLS certificate reload failed; keeping the previous one", "err", err)
		})
		if err != nil {
			m.cancel()
			m.AppListener.Close()
			m.AdminListener.Close()
			return err
		}
		m.app.TLSConfig = certs.tlsConfig()
	}
	m.served = make(chan error, 2)
	go func() {
		if m.app.TLSConfig != nil {
			m.served <- ignoreClosed(m.app.ServeTLS(appLn, "", ""))
			return
		}
		m.served <- ignoreClosed(m.app.Serve(appLn))
	}()
	go func() { m.served <- ignoreClosed(m.admin.Serve(m.AdminListener)) }()
	m.logger.Info("gatehouse started", "version", version, "listen", m.AppListener.Addr().String(),
		"admin", m.AdminListener.Addr().String(), "public_url", s.publicURL.String(), "issuer", m.cfg.issuer)
	ok = true
	return nil
}

func (m *Main) listen() error {
	var err error
	if m.AppListener == nil {
		if m.AppListener, err = net.Listen("tcp", m.cfg.listen); err != nil {
			return fmt.Errorf("--listen %s: %w", m.cfg.listen, err)
		}
	}
	if m.AdminListener == nil {
		if m.AdminListener, err = net.Listen("tcp", m.cfg.adminListen); err != nil {
			m.AppListener.Close()
			return fmt.Errorf("--admin-listen %s: %w", m.cfg.adminListen, err)
		}
	}
	return nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops accepting connections, lets in-flight requests finish within
// --shutdown-timeout, and releases everything Run started.
func (m *Main) Close() error {
	if m.app == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.shutdownTimeout)
	defer cancel()
	m.logger.Info("shutting down", "timeout", m.cfg.shutdownTimeout)
	err := m.app.Shutdown(ctx)
	_ = m.admin.Shutdown(ctx)
	m.cancel()
	if m.stores != nil {
		_ = m.stores.close()
	}
	_ = m.logw.Close()
	return err
}

// FlushLogs writes out the log lines held for --log-flush-interval.
func (m *Main) FlushLogs() {
	if m.logw != nil {
		_ = m.logw.Flush()
	}
}

// newLogger returns the logger that writes to w, in format, from level up.
func newLogger(w *logWriter, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(fastHandler{h, w, format == "json"})
}

// validEndpointPrefix reports whether p is a path of unreserved characters
// (RFC 3986) and slashes, starting but not ending with "/", without empty
// or dot segments: such a path reaches gatehouse as browsers send it,
// unescaped, so that the cookie scoped to the sign-out endpoint (a Path
// attribute, matched against the raw path) is sent there.
func validEndpointPrefix(p string) bool {
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' || strings.Contains(p, "//") ||
		strings.Contains(p+"/", "/./") || strings.Contains(p+"/", "/../") {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0) {
			return false
		}
	}
	return true
}

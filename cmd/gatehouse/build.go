package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gatehouse-proxy/gatehouse/proxy"
	"github.com/gatehouse-proxy/gatehouse/proxy/login"
	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/upstream"
)

// build wires the packages together from validated settings.
func (m *Main) build(ctx context.Context, s *settings, reg *prometheus.Registry) (*proxy.Gateway, *login.Discovery, error) {
	secure := s.publicURL.Scheme == "https"
	if !secure {
		m.logger.Warn("--public-url is http: cookies are not Secure; use https outside development")
	}
	st, err := m.openStores(s, secure)
	if err != nil {
		return nil, nil, err
	}
	m.stores = st
	metrics, err := proxy.NewMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	sessions := proxy.InstrumentStore(st.sessions, metrics)
	flows, err := session.NewFlowCookies(session.FlowConfig{Secure: secure}, s.keys, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("flow cookies: %w", err)
	}
	client := issuerClient(m.cfg.issuerTimeout)
	disc := login.Discover(ctx, login.DiscoveryConfig{
		IssuerURL: m.cfg.issuer, ClientID: m.cfg.clientID, Client: client, Logger: m.logger,
	})
	lg, err := login.New(login.Config{
		ClientID:        m.cfg.clientID,
		ClientSecret:    string(m.cfg.clientSecret),
		Scopes:          s.scopes,
		CallbackURL:     s.publicURL.String() + m.cfg.endpointPrefix + "/callback",
		PostLogoutURL:   s.postLogin,
		GroupsClaim:     m.cfg.groupsClaim,
		Discovery:       disc,
		Sessions:        sessions,
		Observe:         metrics.LoginEvent,
		KeepAccessToken: s.passAuth == proxy.PassAuthorizationBearer,
		SessionCookie:   st.cookie,
		Flows:           flows,
		Once:            st.once,
		Locker:          st.locker,
		Redirects:       s.redirects,
		Client:          client,
		Logger:          m.logger,
	})
	if err != nil {
		return nil, nil, err
	}
	machines, err := m.newBearer(ctx, s, metrics)
	if err != nil {
		return nil, nil, err
	}
	m.bearer = machines
	gw, err := proxy.New(proxy.Config{
		PublicURL:          s.publicURL,
		EndpointPrefix:     m.cfg.endpointPrefix,
		Routes:             s.routes,
		TrustedProxies:     s.trusted,
		Login:              lg,
		Redirects:          s.redirects,
		CookiePrefix:       st.cookie,
		Transport:          upstream.NewTransport(10*time.Second, m.cfg.upstreamTimeout),
		Logger:             m.logger,
		Metrics:            metrics,
		Bearer:             machines,
		PasswordGrantPaths: m.cfg.passwordGrantPaths,
		Assertion:          s.assertion,
		Policy:             s.policy,
		Headers:            s.headers,
		PassAuthorization:  s.passAuth,
		AllowPathParams:    m.cfg.allowPathParams,
	})
	if err != nil {
		return nil, nil, err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gatehouse_build_info", Help: "Always 1; the version label says which build runs.",
		ConstLabels: prometheus.Labels{"version": version},
	}, func() float64 { return 1 }))
	m.login = lg
	return gw, disc, nil
}

// issuerClient is the HTTP client for every call to the issuer: bounded in
// time and response size, and it never follows redirects (a token or
// introspection endpoint that redirects is refused, not obeyed).
func issuerClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	t.MaxIdleConnsPerHost = 32
	return &http.Client{
		Timeout:   timeout,
		Transport: &limitTransport{base: t, max: 1 << 20},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("issuer redirects are not followed")
		},
	}
}

// limitTransport fails response bodies larger than max bytes.
type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (t *limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

var errBodyTooLarge = errors.New("issuer response too large")

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left <= 0 && err == nil {
		// Peek whether anything follows; exactly max bytes is fine.
		var one [1]byte
		if m, _ := b.rc.Read(one[:]); m > 0 {
			return n, errBodyTooLarge
		}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

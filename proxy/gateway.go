// Package proxy is gatehouse's composition root: it canonicalizes each
// request, routes it, authenticates it, and forwards it upstream with the
// caller's identity, or answers it itself (sign-in, callback, sign-out,
// userinfo, errors).
//
// One request, one direction:
//
//	canonicalize → route → authenticate → authorize → forward
package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-proxy/gatehouse/proxy/authz"
	"github.com/gatehouse-proxy/gatehouse/proxy/bearer"
	"github.com/gatehouse-proxy/gatehouse/proxy/login"
	"github.com/gatehouse-proxy/gatehouse/upstream"
)

// Config configures a Gateway.
type Config struct {
	// PublicURL is gatehouse's external base URL. Required.
	PublicURL *url.URL
	// EndpointPrefix is where gatehouse's own endpoints live; default
	// "/oauth2".
	EndpointPrefix string
	// Routes map hosts and path prefixes to upstreams. At least one.
	Routes []Route
	// TrustedProxies are the peers whose X-Forwarded-* and X-Request-Id
	// headers are believed; default none.
	TrustedProxies []netip.Prefix
	// Login runs the browser flow. Required.
	Login *login.Login
	// Redirects validates rd parameters. Required.
	Redirects *login.Redirects
	// CookiePrefix names gatehouse's cookies; every cookie starting with it
	// is kept from upstreams. Required.
	CookiePrefix string
	// Transport carries upstream requests; nil: upstream.NewTransport.
	Transport http.RoundTripper
	// Logger is required. The access line ("request", one per request)
	// goes to its handler without a source position: a handler with
	// AddSource shows none for it.
	Logger *slog.Logger
	// Metrics are gatehouse's collectors (NewMetrics); nil: a set on a
	// private registry.
	Metrics *Metrics
	// Assertion, when set, adds a signed identity assertion to every
	// forwarded request and publishes its keys at <prefix>/jwks.
	Assertion *AssertionConfig
	// Now defaults to time.Now.
	Now func() time.Time
	// Policy authorizes requests; nil: every route needs a signed-in
	// caller and any signed-in caller may pass.
	Policy *authz.Policy
	// Headers add identity headers for legacy applications.
	Headers []HeaderRule
	// PassAuthorization is one of the PassAuthorization constants.
	PassAuthorization string
	// Bearer authenticates machine credentials (bearer tokens, the
	// password grant); nil: every Authorization header is refused.
	Bearer *bearer.Authenticator
	// PasswordGrantPaths limits HTTP Basic (the password grant) to these
	// path prefixes; empty: every route.
	PasswordGrantPaths []string
	// AllowPathParams accepts ";" path parameters (default: 400); rules
	// and routes then see the path without them.
	AllowPathParams bool
}

// Gateway is the http.Handler that fronts the upstreams.
type Gateway struct {
	cfg      Config
	routes   routeTable[*route]
	own      *http.ServeMux
	cop      *http.CrossOriginProtection
	idPrefix string
	ids      atomic.Uint64
	metrics  *Metrics
	assert   *assertions // nil when assertions are off
}

// New validates cfg and builds a Gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.PublicURL == nil || cfg.Login == nil || cfg.Redirects == nil || cfg.Logger == nil || cfg.CookiePrefix == "" {
		return nil, errors.New("proxy: PublicURL, Login, Redirects, CookiePrefix and Logger are required")
	}
	if len(cfg.Routes) == 0 {
		return nil, errors.New("proxy: at least one route is required")
	}
	if cfg.EndpointPrefix == "" {
		cfg.EndpointPrefix = "/oauth2"
	}
	if _, err := canonicalPath(cfg.EndpointPrefix); err != nil || strings.HasSuffix(cfg.EndpointPrefix, "/") {
		return nil, fmt.Errorf("proxy: endpoint prefix %q must be a plain path without a trailing slash", cfg.EndpointPrefix)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		cfg.Transport = upstream.NewTransport(10*time.Second, 0)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	g := &Gateway{cfg: cfg, idPrefix: hex.EncodeToString(b[:]), cop: http.NewCrossOriginProtection()}
	var err error
	g.metrics = cfg.Metrics
	if g.metrics == nil {
		if g.metrics, err = NewMetrics(prometheus.NewRegistry()); err != nil {
			return nil, fmt.Errorf("proxy: metrics: %w", err)
		}
	}
	if cfg.Assertion != nil {
		if g.assert, err = newAssertions(*cfg.Assertion, cfg.PublicURL.Scheme+"://"+cfg.PublicURL.Host, cfg.Now); err != nil {
			return nil, err
		}
	}
	if err := g.cop.AddTrustedOrigin(cfg.PublicURL.Scheme + "://" + cfg.PublicURL.Host); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	switch cfg.PassAuthorization {
	case PassAuthorizationNone, PassAuthorizationBasic, PassAuthorizationBearer:
	default:
		return nil, fmt.Errorf("proxy: PassAuthorization %q is not none, basic or bearer", cfg.PassAuthorization)
	}
	var strip []string
	for _, hr := range cfg.Headers {
		strip = append(strip, hr.Name)
		if hr.Route != "" && !hasRoute(cfg.Routes, hr.Route) {
			return nil, fmt.Errorf("proxy: header %s names route %q, which no upstream has", hr.Name, hr.Route)
		}
	}
	errorLog := slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError)
	for _, rt := range cfg.Routes {
		p, err := upstream.New(upstream.Config{
			Target:            rt.Target,
			Transport:         cfg.Transport,
			PassHostHeader:    true,
			StripHeaders:      strip,
			StripCookiePrefix: cfg.CookiePrefix,
			ErrorHandler:      g.upstreamError,
			ErrorLog:          log.New(errorLog.Writer(), "", 0),
		})
		if err != nil {
			return nil, fmt.Errorf("proxy: upstream %s: %w", rt, err)
		}
		entry := &route{name: rt.Host + rt.Prefix, audience: rt.Target.Scheme + "://" + rt.Target.Host, proxy: p}
		for _, hr := range cfg.Headers {
			if hr.Route == "" || hr.Route == entry.name {
				entry.headers = append(entry.headers, hr)
			}
		}
		if err := g.routes.add(rt.Host, rt.Prefix, entry); err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
	}
	g.own = g.endpoints()
	return g, nil
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c, cerr := clientOf(r, g.cfg.TrustedProxies)
	id := r.Header.Get("X-Request-Id")
	if !c.trusted || !validRequestID(id) {
		id = g.idPrefix + "-" + strconv.FormatUint(g.ids.Add(1), 36)
	}
	// One allocation for both.
	pair := &struct {
		rec recorder
		st  reqState
	}{recorder{ResponseWriter: w}, reqState{id: id, client: c}}
	rec, st := &pair.rec, &pair.st
	g.serve(rec, r, st, cerr)
	end := time.Now()
	total := end.Sub(start)
	g.metrics.observe(st, rec.status(), total)
	// The access line, as Logger.LogAttrs would write it but without the
	// caller's program counter, which no handler here reads and which
	// costs a stack walk per request.
	h := g.cfg.Logger.Handler()
	if ctx := r.Context(); h.Enabled(ctx, slog.LevelInfo) {
		line := slog.NewRecord(end, slog.LevelInfo, "request", 0)
		line.AddAttrs(slog.String("id", id), slog.String("method", r.Method), slog.String("host", r.Host),
			slog.String("path", st.path), slog.Int("status", rec.status()), slog.String("outcome", st.outcome),
			slog.String("user", st.user), slog.String("client", c.ip.String()),
			slog.Duration("duration", total))
		_ = h.Handle(ctx, line)
	}
}

// reqState is what one request has learnt on its way through.
type reqState struct {
	id       string
	client   client
	path     string // canonical path
	route    string // the matched route, "" before routing
	outcome  string // proxied, login, unauthenticated, forbidden, rejected, endpoint, error
	user     string
	upstream time.Duration // time spent in the upstream call
}

// route is one entry of the route table.
type route struct {
	name     string // host+prefix, the metrics label
	audience string // the upstream's origin: the aud of its identity assertions
	headers  []HeaderRule
	proxy    *upstream.Proxy
}

func hasRoute(routes []Route, name string) bool {
	for _, r := range routes {
		if r.Host+r.Prefix == name {
			return true
		}
	}
	return false
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, st *reqState, cerr error) {
	if cerr != nil {
		g.reject(w, r, st, http.StatusBadRequest, "malformed forwarding headers")
		return
	}
	if !validMethod(r.Method) || r.Method == http.MethodConnect || r.Method == http.MethodTrace {
		g.reject(w, r, st, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	rawPath, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	path, err := canonicalize(rawPath, g.cfg.AllowPathParams)
	if err != nil {
		g.reject(w, r, st, http.StatusBadRequest, "the request path is ambiguous (encoded slashes, dot segments, backslashes or control characters)")
		return
	}
	if g.cfg.AllowPathParams {
		path = stripParams(path)
	}
	st.path = path
	if rawQuery != "" && hasAccessTokenParam(rawQuery) {
		g.reject(w, r, st, http.StatusBadRequest, "access tokens are not accepted in the URL; send them in the Authorization header")
		return
	}
	if path == g.cfg.EndpointPrefix || strings.HasPrefix(path, g.cfg.EndpointPrefix+"/") {
		st.outcome = "endpoint"
		g.own.ServeHTTP(w, r.WithContext(withState(r.Context(), st)))
		return
	}
	rt, ok := g.routes.lookup(hostOnly(r.Host), path)
	if !ok {
		g.reject(w, r, st, http.StatusNotFound, "no upstream is configured for this address")
		return
	}
	st.route = rt.name
	g.authenticateAndForward(w, r, st, rt)
}

// hasAccessTokenParam reports whether the query carries an access_token
// parameter, in any case or encoding (RFC 6750 §2.3 URI tokens are refused,
// RFC 9700 §4.3.2). A query that does not decode counts as carrying one.
func hasAccessTokenParam(rawQuery string) bool {
	if strings.IndexByte(rawQuery, '%') < 0 && !containsFold(rawQuery, "access_token") {
		return false
	}
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, _, _ := strings.Cut(kv, "=")
		if k, err := url.QueryUnescape(k); err != nil || strings.EqualFold(k, "access_token") {
			return true
		}
	}
	return false
}

func (g *Gateway) reject(w http.ResponseWriter, r *http.Request, st *reqState, status int, msg string) {
	st.outcome = "rejected"
	if r.URL.Path == g.cfg.EndpointPrefix+"/auth" {
		// Forward-auth answers carry no body: the ingress reads the status.
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		return
	}
	writeError(w, r, st.id, status, msg)
}

// errUnavailable marks failures of a service gatehouse depends on (an
// issuer, the session store): 503, never a pass.
var errUnavailable = errors.New("proxy: a service gatehouse depends on is unavailable")

// fail answers with err's status and public message and logs its cause.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, st *reqState, err error) {
	status := login.StatusOf(err)
	if errors.Is(err, errUnavailable) {
		status = http.StatusServiceUnavailable
	}
	msg := "something went wrong"
	var le *login.Error
	switch {
	case errors.As(err, &le):
		msg = le.Public
	case status == http.StatusServiceUnavailable:
		msg = "a service gatehouse depends on is not reachable right now; please retry shortly"
	}
	st.outcome = "error"
	g.cfg.Logger.Warn("request failed", "id", st.id, "status", status, "err", err)
	writeError(w, r, st.id, status, msg)
}

func (g *Gateway) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r.Context())
	id := ""
	if st != nil {
		id, st.outcome = st.id, "upstream_error"
	}
	g.cfg.Logger.Warn("upstream failed", "id", id, "err", err)
	writeError(w, r, id, http.StatusBadGateway, "the application behind gatehouse did not answer")
}

// recorder remembers the status for the access log. It unwraps, so
// http.ResponseController (flushing, hijacking for websockets) reaches the
// real writer.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush supports streaming through wrappers that test for http.Flusher.
func (r *recorder) Flush() { _ = http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// containsFold is an allocation-free ASCII case-insensitive Contains.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// ClientIP is the caller's address as gatehouse sees it: the socket peer,
// or the X-Forwarded-For client when the peer is a trusted proxy. Rate
// limits key on it.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	c, _ := clientOf(r, trusted)
	return c.ip
}

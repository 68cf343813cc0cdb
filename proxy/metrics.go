package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are gatehouse's collectors. Label values come from configuration
// and fixed vocabularies only, never from the request, so cardinality stays
// bounded. Create them once with NewMetrics and hand them to the Gateway
// (Config.Metrics), the login flow (LoginEvent) and the session store
// (InstrumentStore).
type Metrics struct {
	requests *prometheus.CounterVec   // route, outcome, code
	duration *prometheus.HistogramVec // part: "gatehouse" (own time) or "upstream"
	auth     *prometheus.CounterVec   // method, result, reason
	redirect prometheus.Counter       // rejected redirect targets
	login    *prometheus.CounterVec   // event, result
	store    *prometheus.HistogramVec // op
	storeErr *prometheus.CounterVec   // op
	bearer   *prometheus.CounterVec   // event, result

	ownTime, upstreamTime prometheus.Observer // duration's two children, resolved once
}

// BearerEvent counts a machine-credential event: token cache hits and
// misses, JWKS fetches, introspection calls (bearer.Config.Observe).
func (m *Metrics) BearerEvent(event, result string) {
	m.bearer.WithLabelValues(event, result).Inc()
}

// LoginEvent counts a browser-flow event (start, callback, refresh,
// backchannel_logout, sign_out) with its result.
func (m *Metrics) LoginEvent(event, result string) {
	m.login.WithLabelValues(event, result).Inc()
}

// NewMetrics creates gatehouse's collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_requests_total",
			Help: "Requests by route, outcome (proxied, login, unauthenticated, forbidden, rejected, endpoint, callback, sign_out, error, upstream_error, public) and status code.",
		}, []string{"route", "outcome", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_request_duration_seconds",
			Help:    "Time spent per request, split into gatehouse's own time and the upstream's.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"part"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_auth_total",
			Help: "Authentication attempts by method (session, jwt, introspection, password), result (ok, rejected, error) and failure reason.",
		}, []string{"method", "result", "reason"}),
		redirect: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_redirects_rejected_total",
			Help: "Redirect targets (rd) refused by the allow-list.",
		}),
		login: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_login_events_total",
			Help: "Browser-flow events: start, callback (ok, denied, error), refresh (ok, rejected, error), backchannel_logout (ok, invalid), sign_out.",
		}, []string{"event", "result"}),
		store: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_session_store_duration_seconds",
			Help:    "Session store operations (load, save, clear, revoke) by duration.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
		storeErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_session_store_errors_total",
			Help: "Session store operations that failed for a technical reason (the store was unreachable).",
		}, []string{"op"}),
		bearer: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_bearer_events_total",
			Help: "Machine-credential work: token_cache (hit, miss), jwks_fetch (ok, error), introspection (active, refused, error).",
		}, []string{"event", "result"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.auth, m.redirect, m.login, m.store, m.storeErr, m.bearer} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.ownTime, m.upstreamTime = m.duration.WithLabelValues("gatehouse"), m.duration.WithLabelValues("upstream")
	return m, nil
}

// observe records one finished request.
func (m *Metrics) observe(st *reqState, code int, total time.Duration) {
	m.requests.WithLabelValues(st.route, st.outcome, codeLabel(code)).Inc()
	own := total - st.upstream
	m.ownTime.Observe(own.Seconds())
	if st.upstream > 0 {
		m.upstreamTime.Observe(st.upstream.Seconds())
	}
}

var codeLabels = func() map[int]string {
	m := make(map[int]string)
	for c := 100; c < 600; c++ {
		m[c] = itoa3(c)
	}
	return m
}()

func itoa3(c int) string {
	return string([]byte{byte('0' + c/100), byte('0' + c/10%10), byte('0' + c%10)})
}

// codeLabel avoids formatting the status per request.
func codeLabel(code int) string {
	if s, ok := codeLabels[code]; ok {
		return s
	}
	return "other"
}

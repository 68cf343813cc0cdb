package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are gatehouse's request collectors. Label values come from
// configuration and fixed vocabularies only, never from the request, so
// cardinality stays bounded.
type metrics struct {
	requests *prometheus.CounterVec   // route, outcome, code
	duration *prometheus.HistogramVec // part: "gatehouse" (own time) or "upstream"
	auth     *prometheus.CounterVec   // method, result, reason
	redirect prometheus.Counter       // rejected redirect targets
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
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
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.auth, m.redirect} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one finished request.
func (m *metrics) observe(st *reqState, code int, total time.Duration) {
	m.requests.WithLabelValues(st.route, st.outcome, codeLabel(code)).Inc()
	own := total - st.upstream
	m.duration.WithLabelValues("gatehouse").Observe(own.Seconds())
	if st.upstream > 0 {
		m.duration.WithLabelValues("upstream").Observe(st.upstream.Seconds())
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

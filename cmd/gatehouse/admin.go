package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-proxy/gatehouse/proxy/login"
)

// adminHandler serves the admin listener: metrics, health and session
// revocation, matched by exact path. It is a separate listener so that
// none of this is reachable through the app port.
func (m *Main) adminHandler(reg *prometheus.Registry, disc *login.Discovery) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if _, err := disc.Get(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: issuer discovery has not succeeded yet\n"))
			return
		}
		if m.bearer != nil && !m.bearer.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: a bearer-token issuer's discovery has not succeeded yet\n"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := m.stores.ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: session store unreachable\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	// POST /sessions/revoke?sub=… ends every session of a subject.
	mux.HandleFunc("POST /sessions/revoke", func(w http.ResponseWriter, r *http.Request) {
		sub := r.URL.Query().Get("sub")
		if sub == "" {
			http.Error(w, "want ?sub=", http.StatusBadRequest)
			return
		}
		if err := m.login.RevokeSubject(r.Context(), sub); err != nil {
			m.logger.Error("revoke failed", "sub", sub, "err", err)
			http.Error(w, "session store unreachable", http.StatusServiceUnavailable)
			return
		}
		m.logger.Info("sessions revoked by the admin endpoint", "sub", sub)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

package upstream

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// stubTransport answers every request in memory, so the benchmark measures
// the proxies rather than loopback networking (which dominates and is noisy).
type stubTransport struct{}

func (stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    200,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/plain"}, "Set-Cookie": {"app=1; Path=/"}},
		Body:          io.NopCloser(strings.NewReader("ok")),
		ContentLength: 2,
		Request:       r,
	}, nil
}

// BenchmarkProxy compares a Proxy with a plain httputil.ReverseProxy whose
// Rewrite does the same visible work (SetURL, SetXForwarded, setting the
// same four identity headers) without any stripping or cookie filtering.
// Both use an in-memory transport.
func BenchmarkProxy(b *testing.B) {
	target, _ := url.Parse("http://backend.internal:8080")
	headers := http.Header{
		"X-Forwarded-User":               {"alice"},
		"X-Forwarded-Email":              {"alice@example.com"},
		"X-Forwarded-Groups":             {"admins"},
		"X-Forwarded-Preferred-Username": {"alice"},
	}
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest("GET", "/api/items?page=2&sort=name", nil)
			r.Header.Set("User-Agent", "bench")
			r.Header.Set("Accept", "application/json")
			r.Header.Set("Accept-Language", "en")
			r.Header.Set("Cookie", "_gatehouse_session=abc; theme=dark")
			r.Header.Set("X-Request-Id", "0123456789")
			r = r.WithContext(WithHeaders(r.Context(), headers))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
	}

	b.Run("plain", func(b *testing.B) {
		run(b, &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
				for k, v := range headers {
					pr.Out.Header[k] = v
				}
			},
			Transport: stubTransport{},
		})
	})
	b.Run("gatehouse", func(b *testing.B) {
		p, err := New(Config{Target: target, Transport: stubTransport{}, PassHostHeader: true, StripCookiePrefix: "_gatehouse"})
		if err != nil {
			b.Fatal(err)
		}
		run(b, p)
	})
}

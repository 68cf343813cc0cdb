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

// BenchmarkHeaderHygiene measures each step of the outbound header work
// on a browser's request: stripping reserved headers (in any spelling),
// stripping the gateway's cookies, and setting the identity headers.
func BenchmarkHeaderHygiene(b *testing.B) {
	in := http.Header{
		"User-Agent":       {"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
		"Accept":           {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		"Accept-Language":  {"en-US,en;q=0.5"},
		"Accept-Encoding":  {"gzip, deflate, br"},
		"Referer":          {"https://app.example.com/"},
		"Sec-Fetch-Mode":   {"navigate"},
		"Cookie":           {"theme=dark; _ga=GA1.1.1234567890.1700000000; gatehouse=" + strings.Repeat("A", 2500)},
		"X_Forwarded_User": {"mallory"},
	}
	set := http.Header{
		"X-Request-Id":       {"0123456789abcdef"},
		"X-Forwarded-User":   {"alice"},
		"X-Forwarded-Email":  {"alice@example.com"},
		"X-Forwarded-Groups": {"dev,staff"},
		"X-Forwarded-Caller": {"user"},
	}
	steps := []struct {
		name string
		f    func(http.Header)
	}{
		{"stripHeaders", func(h http.Header) { stripHeaders(h, nil) }},
		{"stripCookies", func(h http.Header) { stripCookies(h, "gatehouse") }},
		{"setHeaders", func(h http.Header) { setHeaders(h, set) }},
	}
	for _, s := range steps {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				h := in.Clone()
				b.StartTimer()
				s.f(h)
			}
		})
	}
}

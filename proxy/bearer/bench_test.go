package bearer

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func benchRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/data", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// The hot path: a token seen before.
func BenchmarkBearerJWTCached(b *testing.B) {
	e := newEnv(b, nil)
	r := benchRequest(e.ccToken("svc", "svc-secret"))
	wantOK(b, e.a.Check(r))
	b.ReportAllocs()
	for b.Loop() {
		if res := e.a.Check(r); res.Status != 0 {
			b.Fatal(res.Reason)
		}
	}
}

func BenchmarkBearerJWTCachedParallel(b *testing.B) {
	e := newEnv(b, nil)
	r := benchRequest(e.ccToken("svc", "svc-secret"))
	wantOK(b, e.a.Check(r))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := e.a.Check(r); res.Status != 0 {
				b.Error(res.Reason)
				return
			}
		}
	})
}

// Every check parses and verifies the signature (RS256, 2048 bits): the
// caches are disabled.
func BenchmarkBearerJWTUncached(b *testing.B) {
	e := newEnv(b, nil)
	a := e.newAuth(func(c *Config) { c.CacheSize = -1 })
	r := benchRequest(e.ccToken("svc", "svc-secret"))
	wantOK(b, a.Check(r))
	b.ReportAllocs()
	for b.Loop() {
		if res := a.Check(r); res.Status != 0 {
			b.Fatal(res.Reason)
		}
	}
}

// A token refused by its claims (unknown issuer): no signature, no cache.
func BenchmarkBearerJWTRejectedUncached(b *testing.B) {
	e := newEnv(b, nil)
	a := e.newAuth(func(c *Config) { c.CacheSize = -1 })
	r := benchRequest(e.t0(func(_, c map[string]any) { c["iss"] = "https://idp2.test" }))
	b.ReportAllocs()
	for b.Loop() {
		if res := a.Check(r); res.Reason != ReasonIssuer {
			b.Fatal(res.Reason)
		}
	}
}

func BenchmarkParseAuthorization(b *testing.B) {
	v := "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0." +
		"eyJhdWQiOiJodHRwczovL2FwcC50ZXN0IiwiY2xpZW50X2lkIjoic3ZjIiwiZXhwIjoxODAwMDAwMzAwfQ." +
		"c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"
	b.ReportAllocs()
	for b.Loop() {
		if _, _, rej := parseAuthorization(v, DefaultMaxTokenBytes); rej != nil {
			b.Fatal(rej.reason)
		}
	}
}

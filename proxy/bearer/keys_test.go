package bearer

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// Case 114: a rotated key is picked up after at most one refetch; a
// removed key stops verifying once the keys are refreshed.
func TestCase114KeyRotationAndRemoval(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.KeyMaxAge = 2 * time.Minute })
	old := e.t0(nil)
	wantOK(t, e.check("Bearer "+old))
	fetches := e.requests("/keys")
	if fetches != 1 {
		t.Fatalf("%d JWKS fetches after the first token", fetches)
	}

	kid := e.iss.RotateKeys()
	rotated := e.mint(kid, nil)
	// Within the cooldown after the first fetch the new kid is unknown, and
	// asking again does not refetch.
	for range 3 {
		wantDeny(t, e.check("Bearer "+rotated), http.StatusUnauthorized, ReasonUnknownKey)
	}
	if got := e.requests("/keys"); got != fetches {
		t.Fatalf("%d JWKS fetches during the cooldown, want %d", got, fetches)
	}
	e.clock.Advance(DefaultKeyRefreshInterval)
	wantOK(t, e.check("Bearer "+rotated))
	if got := e.requests("/keys"); got != fetches+1 {
		t.Fatalf("%d JWKS fetches after rotation, want %d", got, fetches+1)
	}
	wantOK(t, e.check("Bearer "+old)) // k1 is still published

	e.iss.RemoveKey("k1")
	wantOK(t, e.check("Bearer "+old)) // nothing refreshed the keys yet
	e.clock.Advance(2*time.Minute + time.Second)
	// The keys are now older than KeyMaxAge: the next check refreshes them
	// in the background; once that lands, k1 tokens, even cached ones, fail.
	eventually(t, "k1 removal", func() bool {
		return e.check("Bearer "+old).Reason == ReasonUnknownKey
	})
	wantDeny(t, e.check("Bearer "+e.t0(nil)), http.StatusUnauthorized, ReasonUnknownKey)
	wantOK(t, e.check("Bearer "+e.mint(kid, nil)))
}

// Case 156: a flood of random kids costs at most one JWKS fetch per
// KeyRefreshInterval, and valid tokens keep working.
func TestCase156UnknownKidFlood(t *testing.T) {
	e := newEnv(t, nil)
	wantOK(t, e.check("Bearer "+e.t0(nil)))
	base := e.requests("/keys")
	flood := func(n int) {
		var wg sync.WaitGroup
		for w := range 10 {
			wg.Go(func() {
				for i := w; i < n; i += 10 {
					tok := e.mint("evil", func(h, _ map[string]any) { h["kid"] = randomID() })
					if res := e.check("Bearer " + tok); res.Status != http.StatusUnauthorized || res.Reason != ReasonUnknownKey {
						t.Errorf("random kid: %d %q", res.Status, res.Reason)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	flood(500)
	if got := e.requests("/keys") - base; got != 0 {
		t.Fatalf("%d JWKS fetches within the cooldown", got)
	}
	wantOK(t, e.check("Bearer "+e.t0(nil)))
	e.clock.Advance(DefaultKeyRefreshInterval)
	flood(500)
	if got := e.requests("/keys") - base; got != 1 {
		t.Fatalf("%d JWKS fetches over two windows, want 1", got)
	}
	wantOK(t, e.check("Bearer "+e.t0(nil)))
}

// Forged signatures under a known kid never cause a fetch.
func TestForgedKnownKidNoFetch(t *testing.T) {
	e := newEnv(t, nil)
	wantOK(t, e.check("Bearer "+e.t0(nil)))
	base := e.keysHits.Load()
	e.clock.Advance(DefaultKeyRefreshInterval) // a fetch would be allowed
	for range 20 {
		forged := e.mint("evil", func(h, _ map[string]any) { h["kid"] = "k1" })
		wantDeny(t, e.check("Bearer "+forged), http.StatusUnauthorized, ReasonSignature)
	}
	if got := e.keysHits.Load() - base; got != 0 {
		t.Errorf("%d JWKS fetches for forged signatures", got)
	}
}

// Case 157: while the JWKS endpoint fails or hangs, known keys keep
// verifying and unknown kids fail fast.
func TestCase157JWKSDown(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	wantOK(t, e.check("Bearer "+e.t0(nil)))
	for _, mode := range []int32{1, 2} {
		e.keysDown.Store(mode)
		e.clock.Advance(DefaultKeyMaxAge) // keys stale and a fetch allowed
		for range 3 {
			wantOK(t, e.check("Bearer "+e.t0(nil))) // fresh tokens, not cached
		}
		start := time.Now()
		res := e.check("Bearer " + e.mint("evil", func(h, _ map[string]any) { h["kid"] = randomID() }))
		if res.Status != http.StatusServiceUnavailable && res.Reason != ReasonUnknownKey {
			t.Errorf("mode %d: unknown kid: %d %q", mode, res.Status, res.Reason)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("mode %d: unknown kid took %v", mode, d)
		}
		res = e.check("Bearer " + e.mint("evil", func(h, _ map[string]any) { h["kid"] = randomID() }))
		wantDeny(t, res, http.StatusUnauthorized, ReasonUnknownKey) // within the cooldown: answered without a fetch
		wantOK(t, e.check("Bearer "+e.t0(nil)))
	}
	e.keysDown.Store(0)
}

// An issuer that is down at startup: New succeeds without network, checks
// fail closed (503), and once the issuer is back the authenticator
// becomes ready without a restart.
func TestIssuerDownAtStartup(t *testing.T) {
	e := newEnv(t, nil)
	if n := e.hits.Load(); n != 0 {
		t.Fatalf("New made %d requests", n)
	}
	e.down.Store(true)
	if e.a.Ready() {
		t.Fatal("ready while the issuer is down")
	}
	res := e.check("Bearer " + e.t0(nil))
	wantDeny(t, res, http.StatusServiceUnavailable, ReasonIssuerUnavailable)
	if res.Err == nil || res.Challenge != "" {
		t.Errorf("503 result %+v", res)
	}
	// Within the backoff no new attempt is made.
	hits := e.hits.Load()
	for range 10 {
		wantDeny(t, e.check("Bearer "+e.t0(nil)), http.StatusServiceUnavailable, ReasonIssuerUnavailable)
	}
	if e.hits.Load() != hits {
		t.Errorf("discovery retried %d times within the backoff", e.hits.Load()-hits)
	}
	e.down.Store(false)
	e.clock.Advance(maxDiscoveryBackoff)
	eventually(t, "readiness", e.a.Ready)
	wantOK(t, e.check("Bearer "+e.t0(nil)))
}

// A JWKS that is down when keys are first needed is a technical failure.
func TestJWKSDownAtFirstUse(t *testing.T) {
	e := newEnv(t, nil)
	e.keysDown.Store(1)
	wantDeny(t, e.check("Bearer "+e.t0(nil)), http.StatusServiceUnavailable, ReasonIssuerUnavailable)
	e.keysDown.Store(0)
	e.clock.Advance(DefaultKeyRefreshInterval)
	wantOK(t, e.check("Bearer "+e.t0(nil)))
}

func TestParseJWKS(t *testing.T) {
	for name, body := range map[string]string{
		"not json":    `{`,
		"no keys":     `{"keys":[]}`,
		"only oct":    `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}`,
		"unknown kty": `{"keys":[{"kty":"XYZ","kid":"x"}]}`,
	} {
		if _, err := parseJWKS([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

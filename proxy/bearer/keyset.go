package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds a JWKS document.
const maxJWKSBytes = 1 << 20

// keySet holds one issuer's signing keys, fetched from its jwks_uri.
//
// It is not go-oidc's RemoteKeySet, on purpose (ATTACKS R-42): that one
// refetches the JWKS on every signature that does not verify — unknown
// kid, no kid, or a forged signature under a known kid — with no cooldown,
// never refetches otherwise (a removed key keeps verifying), cannot show
// which keys it holds, and ignores a key's alg. Here:
//
//   - a fetch starts at most once per Config.KeyRefreshInterval, whatever
//     asks for it; an unknown kid during the cooldown is refused at once
//     (ReasonUnknownKey) and a bad signature under a known kid never
//     causes a fetch;
//   - keys older than Config.KeyMaxAge are refetched in the background, so
//     removed keys stop verifying; when a fetch fails the keys held keep
//     verifying (a JWKS outage does not stop known keys);
//   - a key verifies only with the algorithm its JWK names (or, without
//     one, an algorithm of its type and curve), and only signing keys.
//
// Signatures are verified by go-jose, the library go-oidc uses.
type keySet struct {
	iss     *issuer
	cur     atomic.Pointer[jwks] // nil until the first successful fetch
	fetched atomic.Int64         // UnixNano of the latest successful fetch
	r       retry
}

// jwks is an immutable set of keys. A fetch that returns the same document
// keeps the same *jwks, so verified-token cache entries survive it.
type jwks struct {
	keys []jose.JSONWebKey
	sum  [32]byte
}

// start begins a fetch of url unless one is running or the cooldown has
// not passed, and returns the running attempt or nil.
func (ks *keySet) start(url string) *attempt {
	return ks.r.begin(ks.iss.a.cfg.Now(), ks.gap, func() error { return ks.fetch(url) })
}

// gap is the least time between two fetches: the refresh interval, or a
// shorter backoff while no keys have ever been fetched.
func (ks *keySet) gap(fails int) time.Duration {
	interval := ks.iss.a.cfg.KeyRefreshInterval
	if ks.cur.Load() == nil {
		return backoff(fails, interval)
	}
	return interval
}

// refreshIfStale starts a background fetch when the keys are older than
// KeyMaxAge (and the cooldown allows); the keys held stay in use meanwhile.
func (ks *keySet) refreshIfStale(now time.Time) {
	if now.Sub(time.Unix(0, ks.fetched.Load())) <= ks.iss.a.cfg.KeyMaxAge {
		return
	}
	if ep := ks.iss.ep.Load(); ep != nil {
		ks.start(ep.jwks)
	}
}

// verify checks tok's signature with the issuer's keys and returns the key
// set that verified it.
func (ks *keySet) verify(ctx context.Context, tok string, h *jwtHeader, now time.Time) (*jwks, *rejection) {
	ep, rej := ks.iss.endpoints(ctx)
	if rej != nil {
		return nil, rej
	}
	set := ks.cur.Load()
	switch {
	case set == nil:
		if at := ks.start(ep.jwks); at != nil {
			if err := at.wait(ctx); err != nil {
				return nil, unavailable(ReasonIssuerUnavailable, err)
			}
		}
		if set = ks.cur.Load(); set == nil {
			return nil, unavailable(ReasonIssuerUnavailable, ks.r.lastErr())
		}
	default:
		ks.refreshIfStale(now)
	}
	cands := set.candidates(h)
	if len(cands) == 0 {
		// Perhaps a new key: refetch, unless within the cooldown (then only
		// a fetch that another request started may help).
		if at := ks.start(ep.jwks); at != nil {
			if err := at.wait(ctx); err != nil {
				return nil, unavailable(ReasonIssuerUnavailable, err)
			}
		}
		set = ks.cur.Load()
		if cands = set.candidates(h); len(cands) == 0 {
			return nil, rejectf(ReasonUnknownKey, "unknown signing key", nil)
		}
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(h.alg)})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, rejectf(ReasonMalformed, "malformed token", nil)
	}
	for _, k := range cands {
		if _, err := jws.Verify(k); err == nil {
			return set, nil
		}
	}
	return nil, rejectf(ReasonSignature, "invalid token signature", nil)
}

// candidates are the keys that may have signed a token with header h.
func (s *jwks) candidates(h *jwtHeader) []*jose.JSONWebKey {
	var out []*jose.JSONWebKey
	for i := range s.keys {
		k := &s.keys[i]
		if (!h.hasKid || k.KeyID == h.kid) && keyFits(k, h.alg) {
			out = append(out, k)
		}
	}
	return out
}

// keyFits binds keys to algorithms (RFC 8725 §3.1): a JWK that names an
// alg is used with exactly that one; otherwise the key type and curve
// decide. Keys marked for encryption never verify.
func keyFits(k *jose.JSONWebKey, alg string) bool {
	if k.Use != "" && k.Use != "sig" {
		return false
	}
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return alg == "ES256"
		case elliptic.P384():
			return alg == "ES384"
		case elliptic.P521():
			return alg == "ES512"
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// fetch loads the JWKS. On failure the keys held stay in use.
func (ks *keySet) fetch(url string) error {
	a := ks.iss.a
	set, err := ks.load(url)
	if err != nil {
		err = fmt.Errorf("bearer: issuer %q: fetching keys: %w", ks.iss.cfg.URL, shortError{err})
		a.cfg.Logger.Warn("bearer: key fetch failed", "issuer", ks.iss.cfg.URL, "error", err)
		a.cfg.Observe("jwks_fetch", "error")
		return err
	}
	a.cfg.Observe("jwks_fetch", "ok")
	ks.fetched.Store(a.cfg.Now().UnixNano())
	if old := ks.cur.Load(); old == nil || old.sum != set.sum {
		ks.cur.Store(set)
		a.cfg.Logger.Info("bearer: signing keys loaded", "issuer", ks.iss.cfg.URL, "keys", len(set.keys))
	}
	return nil
}

func (ks *keySet) load(url string) (*jwks, error) {
	a := ks.iss.a
	ctx, cancel := context.WithTimeout(a.ctx, a.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := readLimited(resp.Body, maxJWKSBytes)
	if err != nil {
		return nil, err
	}
	return parseJWKS(body)
}

// parseJWKS keeps the usable public signing keys of a JWKS and skips the
// rest (RFC 7517 §5: ignore keys you do not understand). Symmetric keys
// are never used. A set without usable keys is an error, so a broken
// document does not replace good keys.
func parseJWKS(body []byte) (*jwks, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("malformed JWKS: %w", err)
	}
	set := &jwks{sum: sha256.Sum256(body)}
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil || !k.Valid() {
			continue
		}
		if _, symmetric := k.Key.([]byte); symmetric {
			continue
		}
		if !k.IsPublic() {
			k = k.Public() // a private key published by mistake: use its public half
		}
		set.keys = append(set.keys, k)
	}
	if len(set.keys) == 0 {
		return nil, errors.New("JWKS has no usable keys")
	}
	return set, nil
}

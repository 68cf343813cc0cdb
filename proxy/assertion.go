package proxy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// AssertionHeader carries the signed identity assertion upstream.
const AssertionHeader = "X-Forwarded-Assertion"

// AssertionConfig configures the signed identity assertion: a short-lived
// ES256 JWT that tells an upstream who the caller is, verifiable against
// gatehouse's JWKS, so the upstream need not trust the network path.
type AssertionConfig struct {
	// Keys are P-256 private keys; the first signs, all are published (for
	// rotation: put the new key first, drop the old one after a minute).
	// Empty: one key is generated at start (fine for a single replica).
	Keys []*ecdsa.PrivateKey
	// Lifetime of each assertion; default and maximum 60s.
	Lifetime time.Duration
}

// assertions signs identity assertions and publishes their keys.
type assertions struct {
	issuer   string
	lifetime time.Duration
	signer   jose.Signer
	jwks     jose.JSONWebKeySet
	now      func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cachedAssertion
}

type cachedAssertion struct {
	jwt     string
	renewAt time.Time
}

const maxCachedAssertions = 10000

func newAssertions(cfg AssertionConfig, issuer string, now func() time.Time) (*assertions, error) {
	if cfg.Lifetime <= 0 || cfg.Lifetime > time.Minute {
		cfg.Lifetime = time.Minute
	}
	keys := cfg.Keys
	if len(keys) == 0 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("proxy: assertion key: %w", err)
		}
		keys = []*ecdsa.PrivateKey{k}
	}
	a := &assertions{issuer: issuer, lifetime: cfg.Lifetime, now: now, cache: make(map[[32]byte]cachedAssertion)}
	for i, k := range keys {
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("proxy: assertion key %d is not P-256", i+1)
		}
		jwk := jose.JSONWebKey{Key: k.Public(), Algorithm: string(jose.ES256), Use: "sig"}
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("proxy: assertion key %d: %w", i+1, err)
		}
		jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		a.jwks.Keys = append(a.jwks.Keys, jwk)
		if i == 0 {
			sk := jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: jwk.KeyID}}
			if a.signer, err = jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT")); err != nil {
				return nil, fmt.Errorf("proxy: assertion signer: %w", err)
			}
		}
	}
	return a, nil
}

// ParseAssertionKeys reads PEM-encoded P-256 private keys (SEC 1 "EC
// PRIVATE KEY" or PKCS #8 "PRIVATE KEY" blocks), in order.
func ParseAssertionKeys(data []byte) ([]*ecdsa.PrivateKey, error) {
	var keys []*ecdsa.PrivateKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var k any
		var err error
		switch block.Type {
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		default:
			return nil, fmt.Errorf("key %d: PEM block %q is not a private key", n, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", n, err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok || ek.Curve != elliptic.P256() {
			return nil, fmt.Errorf("key %d: not a P-256 (ES256) key", n)
		}
		keys = append(keys, ek)
	}
	if strings.TrimSpace(string(data)) != "" {
		return nil, errors.New("trailing data that is not PEM")
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM private key found (generate one with: openssl ecparam -name prime256v1 -genkey -noout)")
	}
	return keys, nil
}

// assertionClaims is the assertion's payload.
type assertionClaims struct {
	jwt.Claims
	Email    string   `json:"email,omitempty"`
	Username string   `json:"preferred_username,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	Machine  bool     `json:"machine,omitempty"`
}

// sign returns an assertion for id with audience aud. Assertions are
// reused for half their lifetime, so a busy session does not pay an ECDSA
// signature per request; each upstream still gets one valid for at least
// half the lifetime.
func (a *assertions) sign(id *session.Identity, aud string) (string, error) {
	key := assertionKey(id, aud)
	now := a.now()
	a.mu.Lock()
	if c, ok := a.cache[key]; ok && now.Before(c.renewAt) {
		a.mu.Unlock()
		return c.jwt, nil
	}
	a.mu.Unlock()
	c := assertionClaims{
		Claims: jwt.Claims{
			Issuer:   a.issuer,
			Subject:  id.Subject,
			Audience: jwt.Audience{aud},
			IssuedAt: jwt.NewNumericDate(now),
			Expiry:   jwt.NewNumericDate(now.Add(a.lifetime)),
			ID:       session.NewRandom()[:22],
		},
		Email: id.Email, Username: id.PreferredUsername, Groups: id.Groups, ClientID: id.ClientID, Machine: id.Machine,
	}
	tok, err := jwt.Signed(a.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("proxy: sign assertion: %w", err)
	}
	a.mu.Lock()
	if len(a.cache) >= maxCachedAssertions {
		clear(a.cache)
	}
	a.cache[key] = cachedAssertion{jwt: tok, renewAt: now.Add(a.lifetime / 2)}
	a.mu.Unlock()
	return tok, nil
}

func assertionKey(id *session.Identity, aud string) [32]byte {
	h := sha256.New()
	for _, s := range []string{aud, id.Issuer, id.Subject, id.Email, id.PreferredUsername, id.ClientID, strings.Join(id.Groups, "\x00")} {
		h.Write([]byte(s))
		h.Write([]byte{0xff})
	}
	if id.Machine {
		h.Write([]byte{1})
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
)

// signingKey is one asymmetric key of the issuer.
type signingKey struct {
	kid       string
	alg       string // "RS256" or "ES256"
	rsa       *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	published bool
}

func newRSAKey(kid string) (*signingKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devissuer: generating RSA key: %w", err)
	}
	return &signingKey{kid: kid, alg: "RS256", rsa: k, published: true}, nil
}

func newECKey(kid string) (*signingKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devissuer: generating EC key: %w", err)
	}
	return &signingKey{kid: kid, alg: "ES256", ec: k, published: true}, nil
}

func (k *signingKey) public() crypto.PublicKey {
	if k.rsa != nil {
		return &k.rsa.PublicKey
	}
	return &k.ec.PublicKey
}

func (k *signingKey) sign(input []byte) ([]byte, error) {
	h := sha256.Sum256(input)
	if k.rsa != nil {
		return rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, h[:])
	}
	r, s, err := ecdsa.Sign(rand.Reader, k.ec, h[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig, nil
}

func (k *signingKey) verify(input, sig []byte) bool {
	h := sha256.Sum256(input)
	if k.rsa != nil {
		return rsa.VerifyPKCS1v15(&k.rsa.PublicKey, crypto.SHA256, h[:], sig) == nil
	}
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(&k.ec.PublicKey, h[:], r, s)
}

func (k *signingKey) jwk() map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"kid": k.kid, "use": "sig", "alg": k.alg}
	if k.rsa != nil {
		m["kty"] = "RSA"
		m["n"] = b64(k.rsa.N.Bytes())
		m["e"] = b64(big.NewInt(int64(k.rsa.E)).Bytes())
		return m
	}
	raw, err := k.ec.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil || len(raw) != 65 {
		return nil
	}
	m["kty"] = "EC"
	m["crv"] = "P-256"
	m["x"] = b64(raw[1:33])
	m["y"] = b64(raw[33:])
	return m
}

// RotateKeys adds a new RSA-2048 RS256 key ("k3", "k4", …), publishes it and
// makes it the signing key. Older keys stay published. It returns the new
// key id ("" if key generation failed).
func (i *Issuer) RotateKeys() string {
	i.mu.Lock()
	kid := fmt.Sprintf("k%d", i.nextKey)
	i.nextKey++
	i.mu.Unlock()
	k, err := newRSAKey(kid)
	if err != nil {
		return ""
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append(i.keys, k)
	i.signKID = kid
	return kid
}

// RemoveKey stops publishing the key kid in the JWKS. The key is kept for
// [Issuer.Mint]; if it is the current signing key the issuer keeps signing
// with it (producing tokens whose kid is not in the JWKS) until
// [Issuer.SetSigningKey] or [Issuer.RotateKeys] is called.
func (i *Issuer) RemoveKey(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, k := range i.keys {
		if k.kid == kid {
			k.published = false
		}
	}
}

// SetSigningKey makes kid ("k1", "k2", …) the key used for issued tokens,
// e.g. "k2" for ES256 ID tokens.
func (i *Issuer) SetSigningKey(kid string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.keyLocked(kid) == nil {
		return fmt.Errorf("devissuer: unknown key %q", kid)
	}
	i.signKID = kid
	return nil
}

// SigningKey returns the id of the key currently used for issued tokens.
func (i *Issuer) SigningKey() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.signKID
}

// PublicKey returns the public key of kid (including "evil" and removed
// keys), e.g. to build an HS256-with-public-key confusion token.
func (i *Issuer) PublicKey(kid string) (crypto.PublicKey, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if kid == "evil" {
		return i.evil.public(), true
	}
	k := i.keyLocked(kid)
	if k == nil {
		return nil, false
	}
	return k.public(), true
}

func (i *Issuer) keyLocked(kid string) *signingKey {
	for _, k := range i.keys {
		if k.kid == kid {
			return k
		}
	}
	return nil
}

func (i *Issuer) jwks() map[string]any {
	i.mu.Lock()
	defer i.mu.Unlock()
	keys := []any{}
	for _, k := range i.keys {
		if k.published {
			if j := k.jwk(); j != nil {
				keys = append(keys, j)
			}
		}
	}
	return map[string]any{"keys": keys}
}

// Mint signs arbitrary header and claims. key selects the signing key: an
// issuer key id ("k1", "k2", rotated or removed keys), "evil" (an RSA key
// that is never published) or "none"/"" (alg "none", empty signature).
// Header defaults are typ "JWT" and the key's alg and kid; values in header
// win, so tests can lie about alg or kid, and a nil value removes a default.
// The signature is always made with the selected key whatever alg claims.
func (i *Issuer) Mint(header, claims map[string]any, key string) (string, error) {
	var k *signingKey
	switch key {
	case "", "none":
	case "evil":
		k = i.evil
	default:
		i.mu.Lock()
		k = i.keyLocked(key)
		i.mu.Unlock()
		if k == nil {
			return "", fmt.Errorf("devissuer: unknown key %q", key)
		}
	}
	h := map[string]any{"typ": "JWT", "alg": "none"}
	if k != nil {
		h["alg"] = k.alg
		h["kid"] = k.kid
	}
	input, err := signingInput(mergeHeader(h, header), claims)
	if err != nil {
		return "", err
	}
	if k == nil {
		return input + ".", nil
	}
	sig, err := k.sign([]byte(input))
	if err != nil {
		return "", fmt.Errorf("devissuer: signing: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// MintHMAC signs header and claims with HMAC using secret. The default
// header is {"typ":"JWT","alg":"HS256"}; header values win. An alg of
// "HS384" or "HS512" selects that hash, anything else uses SHA-256.
func (i *Issuer) MintHMAC(header, claims map[string]any, secret []byte) (string, error) {
	h := mergeHeader(map[string]any{"typ": "JWT", "alg": "HS256"}, header)
	input, err := signingInput(h, claims)
	if err != nil {
		return "", err
	}
	var hf func() hash.Hash
	switch h["alg"] {
	case "HS384":
		hf = sha512.New384
	case "HS512":
		hf = sha512.New
	default:
		hf = sha256.New
	}
	mac := hmac.New(hf, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

func mergeHeader(defaults, header map[string]any) map[string]any {
	for k, v := range header {
		if v == nil {
			delete(defaults, k)
		} else {
			defaults[k] = v
		}
	}
	return defaults
}

func signingInput(header, claims map[string]any) (string, error) {
	hj, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("devissuer: encoding header: %w", err)
	}
	if claims == nil {
		claims = map[string]any{}
	}
	cj, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("devissuer: encoding claims: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(hj) + "." + base64.RawURLEncoding.EncodeToString(cj), nil
}

// signJWT signs claims with the current signing key and the given typ.
func (i *Issuer) signJWT(typ string, claims map[string]any) (string, error) {
	i.mu.Lock()
	k := i.keyLocked(i.signKID)
	i.mu.Unlock()
	if k == nil {
		return "", errors.New("devissuer: no signing key")
	}
	return i.Mint(map[string]any{"typ": typ}, claims, k.kid)
}

// verifyJWT checks that token carries a valid signature by one of the
// published keys with the key's own algorithm and returns its claims. It
// does not check expiry.
func (i *Issuer) verifyJWT(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("devissuer: malformed jwt")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil {
		return nil, errors.New("devissuer: malformed jwt header")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("devissuer: malformed jwt signature")
	}
	input := []byte(parts[0] + "." + parts[1])
	i.mu.Lock()
	var candidates []*signingKey
	for _, k := range i.keys {
		if k.published && k.alg == header.Alg && (header.Kid == "" || header.Kid == k.kid) {
			candidates = append(candidates, k)
		}
	}
	i.mu.Unlock()
	for _, k := range candidates {
		if k.verify(input, sig) {
			cb, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				return nil, errors.New("devissuer: malformed jwt claims")
			}
			var claims map[string]any
			if err := json.Unmarshal(cb, &claims); err != nil || claims == nil {
				return nil, errors.New("devissuer: malformed jwt claims")
			}
			return claims, nil
		}
	}
	return nil, errors.New("devissuer: jwt signature not verified by any published key")
}

// atHash computes the OIDC at_hash of an access token (SHA-256 based, which
// matches both RS256 and ES256).
func atHash(accessToken string) string {
	h := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

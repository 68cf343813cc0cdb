package session

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gorilla/securecookie"
)

// MinKeyLength is the least number of bytes a cookie secret must have.
const MinKeyLength = 32

// Purposes for deriving per-use keys from a secret: a value encoded for
// one purpose never decodes for another.
const (
	purposeSession = "gatehouse session cookie v1"
	purposeFlow    = "gatehouse login flow cookie v1"
	purposeHint    = "gatehouse sign-out hint cookie v1"
)

// Keys are the secrets that sign and encrypt gatehouse's cookies.
//
// The first key signs and encrypts; every key verifies and decrypts, so a
// key can be rotated by adding a new one in front and dropping the old one
// once the cookies it wrote have expired. The zero Keys holds no key and
// is rejected by the stores. Keys never prints its secrets.
type Keys struct {
	secrets [][]byte
}

// ParseKeys reads cookie secrets, one a line. Blank lines and lines
// starting with '#' are ignored, and surrounding whitespace is trimmed.
// A line that decodes as base64 (standard or URL alphabet, padded or not)
// stands for the decoded bytes, any other line for its own bytes. Each
// secret must have at least MinKeyLength bytes, and there must be at least
// one. The first secret signs and encrypts, all of them verify and decrypt.
//
// Errors name the offending line but never include the secret.
func ParseKeys(data []byte) (Keys, error) {
	var secrets [][]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		secret, decoded := decodeBase64(line)
		if len(secret) < MinKeyLength {
			how := "bytes"
			if decoded {
				how = "bytes after base64 decoding"
			}
			return Keys{}, fmt.Errorf("session: key on line %d has %d %s; each key needs at least %d random bytes (e.g. `openssl rand -base64 32`)",
				i+1, len(secret), how, MinKeyLength)
		}
		secrets = append(secrets, secret)
	}
	if len(secrets) == 0 {
		return Keys{}, fmt.Errorf("session: no keys; give at least one secret of %d random bytes (e.g. `openssl rand -base64 32`)", MinKeyLength)
	}
	return Keys{secrets: secrets}, nil
}

// decodeBase64 decodes line as base64 in any of its common spellings, or
// returns a copy of line and false if it is none of them.
func decodeBase64(line []byte) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	} {
		b := make([]byte, enc.DecodedLen(len(line)))
		if n, err := enc.Decode(b, line); err == nil {
			return b[:n], true
		}
	}
	return bytes.Clone(line), false
}

// Len returns the number of keys.
func (k Keys) Len() int { return len(k.secrets) }

// String describes k without revealing its secrets.
func (k Keys) String() string { return "session.Keys(" + strconv.Itoa(len(k.secrets)) + " keys)" }

// GoString describes k without revealing its secrets.
func (k Keys) GoString() string { return k.String() }

// errNoKeys is returned by the constructors for a zero Keys.
var errNoKeys = errors.New("session: no keys (use ParseKeys)")

// codecs returns one codec per key, the signing key first, each with an
// HMAC-SHA-256 key and an AES-256 key derived from the secret for purpose
// with HKDF-SHA-256. Values are serialized as JSON, older than maxAge
// (checked against the wall clock by securecookie) are rejected, and
// encoded values may be at most maxLength bytes.
func (k Keys) codecs(purpose string, maxAge time.Duration, maxLength int) ([]securecookie.Codec, error) {
	if len(k.secrets) == 0 {
		return nil, errNoKeys
	}
	codecs := make([]securecookie.Codec, 0, len(k.secrets))
	for _, secret := range k.secrets {
		hashKey, err := hkdf.Key(sha256.New, secret, nil, purpose+" hmac-sha256", 32)
		if err != nil {
			return nil, fmt.Errorf("session: deriving keys: %w", err)
		}
		blockKey, err := hkdf.Key(sha256.New, secret, nil, purpose+" aes-256", 32)
		if err != nil {
			return nil, fmt.Errorf("session: deriving keys: %w", err)
		}
		c := securecookie.New(hashKey, blockKey).
			SetSerializer(securecookie.JSONEncoder{}).
			MaxAge(int(maxAge / time.Second)).
			MaxLength(maxLength)
		codecs = append(codecs, c)
	}
	return codecs, nil
}

// errNotCanonical is decodeCookie's error for a value that is not base64
// as securecookie writes it.
var errNotCanonical = errors.New("session: cookie value is not canonical base64")

// decodeCookie decodes a value securecookie encoded, with the first codec
// that accepts it, after checking that the value is base64 exactly as
// securecookie writes it. Go's base64 decoder ignores the unused low bits
// of a value's last character, so without the check a few different
// strings decode to the same signed bytes: a cookie changed there would
// still be accepted, as the same session (the HMAC covers the decoded
// bytes, not the text).
func decodeCookie(name, value string, dst any, codecs ...securecookie.Codec) error {
	if _, err := base64.URLEncoding.Strict().DecodeString(value); err != nil {
		return errNotCanonical
	}
	return securecookie.DecodeMulti(name, value, dst, codecs...)
}

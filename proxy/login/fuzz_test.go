package login

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// FuzzLogoutToken feeds arbitrary logout_token values to the verifier:
// never a panic, and nothing but a correctly signed token with every
// required claim is accepted.
func FuzzLogoutToken(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const issuer = "https://idp.test"
	l, err := New(Config{
		ClientID: "gw", CallbackURL: "https://app.test/oauth2/callback",
		Discovery: NewStaticDiscovery(&Issuer{URL: issuer, keys: &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{key.Public()}}, algorithms: []string{oidc.ES256}}),
		Sessions:  nopStore{}, Flows: &session.FlowCookies{}, Once: session.NewMemoryOnce(10, nil),
		Redirects: &Redirects{}, Client: http.DefaultClient, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("logout+jwt"))
	valid, _ := jwt.Signed(signer).Claims(map[string]any{
		"iss": issuer, "aud": "gw", "iat": time.Now().Unix(), "jti": "j1", "sid": "s1",
		"events": map[string]any{backchannelEvent: map[string]any{}},
	}).Serialize()
	if _, err := l.verifyLogoutToken(context.Background(), valid); err != nil {
		f.Fatalf("the seed logout token is refused: %v", err)
	}
	for _, s := range []string{valid, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", valid + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := l.verifyLogoutToken(context.Background(), raw)
		if err != nil {
			return
		}
		if c.JTI == "" || (c.SID == "" && c.Subject == "") || c.IssuedAt == nil || c.Nonce != nil {
			t.Fatalf("accepted a logout token without its required claims: %+v", c)
		}
	})
}

// nopStore is a Store with nothing in it.
type nopStore struct{}

func (nopStore) Load(*http.Request) (*session.Session, error)                    { return nil, session.ErrNoSession }
func (nopStore) Save(http.ResponseWriter, *http.Request, *session.Session) error { return nil }
func (nopStore) Clear(http.ResponseWriter, *http.Request) error                  { return nil }

package bearer

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"Bearer abc", "bearer  a.b.c", "Bearer\tabc", "Basic YWxpY2U6cHc=", "Basic Og==", "Bearer a==",
		"Bearer a,Bearer b", "Digest x=y", "", " ", "Bearer " + strings.Repeat(".", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		scheme, cred, rej := parseAuthorization(v, 512)
		if rej != nil {
			if scheme != "" || cred != "" || rej.status != http.StatusUnauthorized {
				t.Fatalf("rejection with values: %q %q %+v", scheme, cred, rej)
			}
			return
		}
		if (scheme != schemeBearer && scheme != schemeBasic) || !isB64Token(cred) || len(cred) > 512 || !strings.HasSuffix(v, " "+cred) {
			t.Fatalf("accepted %q as %q %q", v, scheme, cred)
		}
		if scheme == schemeBasic {
			if user, pass, rej := parseBasic(cred); rej == nil && (user == "" || hasControl(user) || hasControl(pass)) {
				t.Fatalf("basic %q accepted as %q:%q", cred, user, pass)
			}
		}
	})
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in fuzzing")
}

func FuzzJWTShape(f *testing.F) {
	const iss = "https://idp.test"
	a, err := New(context.Background(), Config{
		Issuers: []IssuerConfig{{URL: iss, Audiences: []string{testAud}, ClientID: "gw"}},
		Client:  &http.Client{Transport: failingTransport{}},
		Now:     func() time.Time { return time.Unix(1_800_000_000, 0) },
	})
	if err != nil {
		f.Fatal(err)
	}
	hdr := `{"alg":"RS256","kid":"k1","typ":"at+jwt"}`
	f.Add(rawJWT(hdr, `{"iss":"`+iss+`","aud":"`+testAud+`","sub":"s","exp":1800000300,"groups":["a"],"scope":"x y"}`, "c2ln"))
	f.Add(rawJWT(hdr, `{"iss":"`+iss+`","aud":["x"],"sub":"s","exp":1e300}`, "c2ln"))
	f.Add(rawJWT(`{"alg":"none"}`, `{}`, ""))
	f.Add(rawJWT(hdr, `{"iss":"`+iss+`","iss":"x"}`, "c2ln"))
	f.Add(strings.Repeat(".", 300))
	f.Add("eyJ.eyJ.eyJ")
	f.Fuzz(func(t *testing.T, tok string) {
		issuer, h, c, rej := a.parseJWT(tok)
		if rej != nil {
			return
		}
		if issuer == nil || h == nil || c == nil || !slices.Contains(a.algs, h.alg) || c.iss != iss {
			t.Fatalf("parsed %q into %v %+v %+v", tok, issuer, h, c)
		}
		if issuer.checkClaims(h, c, a.cfg.Now(), a.cfg.Leeway) != nil {
			return
		}
		if id, rej := identity(iss, c); rej == nil && (id.Subject == "" || !headerSafe(id.Subject)) {
			t.Fatalf("identity %+v", id)
		}
		// The whole path, with a network that always fails, never panics
		// and never authenticates.
		if res := checkWith(a, "Bearer "+tok); res.Status == 0 {
			t.Fatalf("authenticated %q without keys", tok)
		}
	})
}

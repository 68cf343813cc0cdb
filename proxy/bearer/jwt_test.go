package bearer

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// The positive control: a real client-credentials token, and T0.
func TestPositiveControl(t *testing.T) {
	e := newEnv(t, nil)
	res := wantOK(t, e.check("Bearer "+e.ccToken("svc", "svc-secret")))
	id := res.Identity
	if id.Subject != "svc" || id.ClientID != "svc" || !id.Machine || id.Issuer != e.srv.URL ||
		!slices.Equal(id.Groups, []string{"robots"}) || res.Method != MethodJWT {
		t.Errorf("identity %+v method %q", id, res.Method)
	}
	res = wantOK(t, e.check("Bearer "+e.t0(nil)))
	if res.Identity.Subject != "svc-1" || res.Identity.ClientID != "svc" {
		t.Errorf("T0 identity %+v", res.Identity)
	}
}

// Case 95 and 96: "none" and its variants, and a missing alg.
func TestCase95And96AlgNone(t *testing.T) {
	e := newEnv(t, nil)
	none := e.mint("none", func(h, _ map[string]any) { h["alg"] = "none" }) // h.p.
	wantDeny(t, e.check("Bearer "+none), http.StatusUnauthorized, ReasonMalformed)
	wantDeny(t, e.check("Bearer "+strings.TrimSuffix(none, ".")), http.StatusUnauthorized, ReasonMalformed)
	for _, alg := range []any{"none", "None", "NONE", "nOnE", "none ", "", "rs256", "RS256 "} {
		tok := e.t0(func(h, _ map[string]any) { h["alg"] = alg })
		wantDeny(t, e.check("Bearer "+tok), http.StatusUnauthorized, ReasonAlgorithm)
	}
	missing := e.t0(func(h, _ map[string]any) { h["alg"] = nil })
	wantDeny(t, e.check("Bearer "+missing), http.StatusUnauthorized, ReasonAlgorithm)
	numeric := e.t0(func(h, _ map[string]any) { h["alg"] = 256 })
	wantDeny(t, e.check("Bearer "+numeric), http.StatusUnauthorized, ReasonMalformed)
}

// Case 97: HS256 keyed with the issuer's RSA public key in every encoding.
func TestCase97HMACWithPublicKey(t *testing.T) {
	e := newEnv(t, nil)
	pub, _ := e.iss.PublicKey("k1")
	rsaPub := pub.(*rsa.PublicKey)
	spki, err := x509.MarshalPKIXPublicKey(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	spkiPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rsaPub)})
	secrets := [][]byte{spkiPEM, spkiPEM[:len(spkiPEM)-1], pkcs1PEM, spki, rsaPub.N.Bytes()}
	for _, secret := range secrets {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			tok, err := e.iss.MintHMAC(map[string]any{"alg": alg, "kid": "k1", "typ": "at+jwt"}, e.t0Claims(), secret)
			if err != nil {
				t.Fatal(err)
			}
			wantDeny(t, e.check("Bearer "+tok), http.StatusUnauthorized, ReasonAlgorithm)
		}
	}
}

// Case 99: a key embedded in the header is never trusted.
func TestCase99EmbeddedJWK(t *testing.T) {
	e := newEnv(t, nil)
	evil, _ := e.iss.PublicKey("evil")
	b, err := jose.JSONWebKey{Key: evil, KeyID: "k1", Algorithm: "RS256", Use: "sig"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	if err := json.Unmarshal(b, &jwk); err != nil {
		t.Fatal(err)
	}
	withKid := e.mint("evil", func(h, _ map[string]any) { h["jwk"], h["kid"] = jwk, "k1" })
	wantDeny(t, e.check("Bearer "+withKid), http.StatusUnauthorized, ReasonSignature)
	noKid := e.mint("evil", func(h, _ map[string]any) { h["jwk"], h["kid"] = jwk, nil })
	wantDeny(t, e.check("Bearer "+noKid), http.StatusUnauthorized, ReasonSignature)
	// go-jose refuses a broken x5c chain while parsing; it never uses one.
	x5c := e.mint("evil", func(h, _ map[string]any) { h["x5c"], h["kid"] = []string{"MIIB"}, "k1" })
	wantDeny(t, e.check("Bearer "+x5c), http.StatusUnauthorized, ReasonMalformed)
}

// Case 100: jku and x5u are never fetched.
func TestCase100JKUAndX5U(t *testing.T) {
	e := newEnv(t, nil)
	var hits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer evil.Close()
	for _, h := range []map[string]any{
		{"jku": evil.URL + "/jwks.json"},
		{"x5u": evil.URL + "/cert.pem"},
		{"jku": "https://idp.test@" + strings.TrimPrefix(evil.URL, "http://") + "/"},
	} {
		tok := e.mint("evil", func(hdr, _ map[string]any) {
			hdr["kid"] = "k1"
			for k, v := range h {
				hdr[k] = v
			}
		})
		wantDeny(t, e.check("Bearer "+tok), http.StatusUnauthorized, ReasonSignature)
	}
	if hits.Load() != 0 {
		t.Errorf("evil server got %d hits", hits.Load())
	}
}

// Case 101: kid injection; the JWKS is fetched at most once more.
func TestCase101KidInjection(t *testing.T) {
	e := newEnv(t, nil)
	wantOK(t, e.check("Bearer "+e.t0(nil))) // keys loaded
	before := e.keysHits.Load()
	hs, err := e.iss.MintHMAC(map[string]any{"kid": "../../../../../../dev/null", "typ": "at+jwt"}, e.t0Claims(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantDeny(t, e.check("Bearer "+hs), http.StatusUnauthorized, ReasonAlgorithm)
	sqli := e.mint("evil", func(h, _ map[string]any) { h["kid"] = "k1' OR '1'='1" })
	wantDeny(t, e.check("Bearer "+sqli), http.StatusUnauthorized, ReasonUnknownKey)
	nul := e.mint("evil", func(h, _ map[string]any) { h["kid"] = "k1\x00x" })
	wantDeny(t, e.check("Bearer "+nul), http.StatusUnauthorized, ReasonMalformed)
	long := e.mint("evil", func(h, _ map[string]any) { h["kid"] = strings.Repeat("k", 64<<10) })
	wantDeny(t, e.check("Bearer "+long), http.StatusUnauthorized, ReasonMalformed)
	big := e.newAuth(func(c *Config) { c.MaxTokenBytes = 200 << 10 })
	wantDeny(t, checkWith(big, "Bearer "+long), http.StatusUnauthorized, ReasonMalformed)
	if n := e.keysHits.Load() - before; n > 1 {
		t.Errorf("%d JWKS fetches, want at most 1", n)
	}
}

// Case 102: the time window; exp is mandatory.
func TestCase102TimeWindow(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now().Unix()
	tests := []struct {
		name   string
		mod    func(c map[string]any)
		reason string
	}{
		{"exp an hour ago", func(c map[string]any) { c["exp"] = now - 3600 }, ReasonExpired},
		{"exp beyond leeway", func(c map[string]any) { c["exp"] = now - 31 }, ReasonExpired},
		{"exp within leeway", func(c map[string]any) { c["exp"] = now - 29 }, ""},
		{"exp missing", func(c map[string]any) { delete(c, "exp") }, ReasonMalformed},
		{"nbf in an hour", func(c map[string]any) { c["nbf"] = now + 3600 }, ReasonNotYetValid},
		{"nbf within leeway", func(c map[string]any) { c["nbf"] = now + 29 }, ""},
		{"iat in an hour", func(c map[string]any) { c["iat"] = now + 3600 }, ReasonNotYetValid},
		{"fractional exp", func(c map[string]any) { c["exp"] = float64(now) + 300.5 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.check("Bearer " + e.t0(func(_, c map[string]any) { tt.mod(c) }))
			if tt.reason == "" {
				wantOK(t, res)
			} else {
				wantDeny(t, res, http.StatusUnauthorized, tt.reason)
			}
		})
	}
}

// Case 104: aud is required and matched exactly.
func TestCase104Audience(t *testing.T) {
	e := newEnv(t, nil)
	for _, aud := range []any{"gw", "https://other-api.test", nil, []string{}, []string{"https://other.test", testAud + " "}, "HTTPS://APP.TEST"} {
		tok := e.t0(func(_, c map[string]any) {
			if c["aud"] = aud; aud == nil {
				delete(c, "aud")
			}
		})
		wantDeny(t, e.check("Bearer "+tok), http.StatusUnauthorized, ReasonAudience)
	}
	wantOK(t, e.check("Bearer "+e.t0(func(_, c map[string]any) { c["aud"] = []string{"https://other.test", testAud} })))
}

// Case 105: ID tokens and logout tokens are not access tokens (see the
// package doc for the typ rule).
func TestCase105CrossJWTConfusion(t *testing.T) {
	e := newEnv(t, nil)
	idToken, _ := e.passwordTokens("alice", "wonderland", "openid profile email").Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("no id_token from the issuer")
	}
	wantDeny(t, e.check("Bearer "+idToken), http.StatusUnauthorized, ReasonType)
	// An ID token for another audience we do accept, recognised by nonce.
	withNonce := e.t0(func(h, c map[string]any) { h["typ"], c["nonce"] = "JWT", "n-0S6_WzA2Mj" })
	wantDeny(t, e.check("Bearer "+withNonce), http.StatusUnauthorized, ReasonType)
	logout := e.t0(func(h, c map[string]any) {
		h["typ"] = "logout+jwt"
		c["events"] = map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}
	})
	wantDeny(t, e.check("Bearer "+logout), http.StatusUnauthorized, ReasonType)
	logoutJWT := e.t0(func(h, c map[string]any) {
		h["typ"] = "JWT"
		c["events"] = map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}
	})
	wantDeny(t, e.check("Bearer "+logoutJWT), http.StatusUnauthorized, ReasonType)
	for _, typ := range []string{"dpop+jwt", "secevent+jwt", "JOSE"} {
		tok := e.t0(func(h, _ map[string]any) { h["typ"] = typ })
		wantDeny(t, e.check("Bearer "+tok), http.StatusUnauthorized, ReasonType)
	}
	typJWT := e.t0(func(h, _ map[string]any) { h["typ"] = "JWT" })
	noTyp := e.t0(func(h, _ map[string]any) { h["typ"] = nil })
	appAT := e.t0(func(h, _ map[string]any) { h["typ"] = "application/AT+JWT" })
	// Default: plain JWT access tokens are accepted.
	wantOK(t, e.check("Bearer "+typJWT))
	wantOK(t, e.check("Bearer "+noTyp))
	wantOK(t, e.check("Bearer "+appAT))
	// Strict RFC 9068 mode: only at+jwt.
	strict := e.newAuth(func(c *Config) { c.Issuers[0].RequireAccessTokenType = true })
	wantDeny(t, checkWith(strict, "Bearer "+typJWT), http.StatusUnauthorized, ReasonType)
	wantDeny(t, checkWith(strict, "Bearer "+noTyp), http.StatusUnauthorized, ReasonType)
	wantDeny(t, checkWith(strict, "Bearer "+idToken), http.StatusUnauthorized, ReasonType)
	wantOK(t, checkWith(strict, "Bearer "+appAT))
	// AcceptIDTokens lifts the ID-token rule, never the logout rule.
	lax := e.newAuth(func(c *Config) { c.Issuers[0].AcceptIDTokens = true })
	wantOK(t, checkWith(lax, "Bearer "+withNonce))
	wantDeny(t, checkWith(lax, "Bearer "+logoutJWT), http.StatusUnauthorized, ReasonType)
}

// Case 106: a key verifies only with its own algorithm.
func TestCase106AlgorithmKeyBinding(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Issuers[0].Algorithms = []string{"RS256", "ES256", "ES384", "PS256"} })
	wantOK(t, e.check("Bearer "+e.mint("k2", nil))) // ES256 with k2 is fine
	// No key with that kid may be used with that alg.
	for _, tok := range []string{
		e.mint("k2", func(h, _ map[string]any) { h["alg"] = "ES384" }),
		e.mint("k2", func(h, _ map[string]any) { h["alg"] = "RS256" }),
		e.mint("k1", func(h, _ map[string]any) { h["alg"] = "PS256" }),
	} {
		wantDeny(t, e.check("Bearer "+tok), http.StatusUnauthorized, ReasonUnknownKey)
	}
	// Without a kid, only keys fit for the alg are tried (here k2, which
	// did not sign it).
	noKid := e.mint("k1", func(h, _ map[string]any) { h["alg"], h["kid"] = "ES256", nil })
	wantDeny(t, e.check("Bearer "+noKid), http.StatusUnauthorized, ReasonSignature)
	// An algorithm outside the allow-list never reaches the keys.
	wantDeny(t, e.check("Bearer "+e.mint("k2", func(h, _ map[string]any) { h["alg"] = "ES512" })), http.StatusUnauthorized, ReasonAlgorithm)
}

// Case 107: malformed compact serialization.
func TestCase107MalformedSerialization(t *testing.T) {
	e := newEnv(t, nil)
	t0 := e.t0(nil)
	parts := strings.Split(t0, ".")
	std := func(s string) string {
		b, _ := base64.RawURLEncoding.DecodeString(s)
		return base64.StdEncoding.EncodeToString(b)
	}
	tests := map[string]struct{ tok, reason string }{
		"four parts":        {t0 + ".x", ReasonMalformed},
		"five parts":        {t0 + ".x.y", ReasonInactive}, // a JWE-shaped token is opaque: introspected, found inactive
		"padded std b64":    {std(parts[0]) + "." + std(parts[1]) + "." + parts[2], ReasonMalformed},
		"padding":           {parts[0] + "==." + parts[1] + "." + parts[2], ReasonMalformed},
		"header not JSON":   {rawJWT("not json", jsonOf(t, e.t0Claims()), "c2ln"), ReasonMalformed},
		"header array":      {rawJWT(`["alg","RS256"]`, jsonOf(t, e.t0Claims()), "c2ln"), ReasonMalformed},
		"header trailing":   {rawJWT(`{"alg":"RS256","kid":"k1"} {}`, jsonOf(t, e.t0Claims()), "c2ln"), ReasonMalformed},
		"duplicate alg":     {rawJWT(`{"alg":"RS256","alg":"none"}`, jsonOf(t, e.t0Claims()), "c2ln"), ReasonMalformed},
		"crit":              {e.t0(func(h, _ map[string]any) { h["crit"] = []string{"exp"} }), ReasonMalformed},
		"b64 false":         {e.t0(func(h, _ map[string]any) { h["b64"] = false }), ReasonMalformed},
		"zip":               {e.t0(func(h, _ map[string]any) { h["zip"] = "DEF" }), ReasonUnsupported},
		"payload array":     {rawJWT(`{"alg":"RS256","kid":"k1"}`, `[1]`, "c2ln"), ReasonMalformed},
		"duplicate iss":     {rawJWT(`{"alg":"RS256","kid":"k1"}`, `{"iss":"`+e.srv.URL+`","iss":"x"}`, "c2ln"), ReasonMalformed},
		"empty signature":   {parts[0] + "." + parts[1] + ".", ReasonMalformed},
		"bad signature b64": {parts[0] + "." + parts[1] + ".a", ReasonMalformed},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			wantDeny(t, e.check("Bearer "+tt.tok), http.StatusUnauthorized, tt.reason)
		})
	}
	// Embedded whitespace never gets past the header grammar.
	wantDeny(t, e.check("Bearer "+parts[0]+". "+parts[1]+"."+parts[2]), http.StatusUnauthorized, ReasonMalformed)
	if _, _, _, rej := e.a.parseJWT(parts[0] + ".\n" + parts[1] + "." + parts[2]); rej == nil {
		t.Error("newline inside a token accepted")
	}
}

// Case 109: claims are type-checked strictly.
func TestCase109ClaimTypes(t *testing.T) {
	e := newEnv(t, nil)
	for name, mod := range map[string]func(c map[string]any){
		"exp string":            func(c map[string]any) { c["exp"] = "9999999999" },
		"exp 1e300":             func(c map[string]any) { c["exp"] = 1e300 },
		"exp -1":                func(c map[string]any) { c["exp"] = -1 },
		"aud number":            func(c map[string]any) { c["aud"] = 123 },
		"aud mixed":             func(c map[string]any) { c["aud"] = []any{testAud, 1} },
		"sub object":            func(c map[string]any) { c["sub"] = map[string]any{"a": 1} },
		"sub empty":             func(c map[string]any) { c["sub"] = "" },
		"sub absent":            func(c map[string]any) { delete(c, "sub") },
		"nbf null":              func(c map[string]any) { c["nbf"] = nil },
		"iat bool":              func(c map[string]any) { c["iat"] = true },
		"iss array":             func(c map[string]any) { c["iss"] = []string{e.srv.URL} },
		"groups obj":            func(c map[string]any) { c["groups"] = map[string]any{} },
		"email_verified string": func(c map[string]any) { c["email_verified"] = "true" },
	} {
		res := e.check("Bearer " + e.t0(func(_, c map[string]any) { mod(c) }))
		if res.Status != http.StatusUnauthorized || (res.Reason != ReasonMalformed && res.Reason != ReasonIssuer) {
			t.Errorf("%s: status %d reason %q", name, res.Status, res.Reason)
		}
	}
}

// Case 112: a client called "alice" is not the person alice.
func TestCase112ClientCredentialsIdentity(t *testing.T) {
	e := newEnv(t, nil)
	client := wantOK(t, e.check("Bearer "+e.ccToken("alice", "alice-secret"))).Identity
	person := wantOK(t, e.check("Bearer "+e.passwordTokens("alice", "wonderland", "").AccessToken)).Identity
	if !client.Machine || client.Subject != "alice" || client.Email != "" {
		t.Errorf("client identity %+v", client)
	}
	if person.Machine || person.Subject != "u-alice" || person.Email != "alice@corp.test" || person.PreferredUsername != "alice" {
		t.Errorf("person identity %+v", person)
	}
	// No user claims at all: a machine, even when sub differs from client_id.
	noUser := wantOK(t, e.check("Bearer "+e.t0(nil))).Identity
	if !noUser.Machine {
		t.Errorf("T0 identity %+v", noUser)
	}
	unverified := e.t0(func(_, c map[string]any) { c["email"], c["email_verified"] = "x@corp.test", false })
	if id := wantOK(t, e.check("Bearer "+unverified)).Identity; id.Email != "" || id.Machine {
		t.Errorf("unverified email identity %+v", id)
	}
}

// Case 115: scope is a space-separated string, taken literally.
func TestCase115Scopes(t *testing.T) {
	e := newEnv(t, nil)
	for scope, want := range map[string][]string{
		"read":            {"read"},
		"readadmin":       {"readadmin"},
		"read admin-lite": {"read", "admin-lite"},
		"read admin":      {"read", "admin"},
	} {
		id := wantOK(t, e.check("Bearer "+e.t0(func(_, c map[string]any) { c["scope"] = scope }))).Identity
		if !slices.Equal(id.Scopes, want) {
			t.Errorf("scope %q: got %q", scope, id.Scopes)
		}
	}
	array := e.t0(func(_, c map[string]any) { c["scope"] = []string{"admin"} })
	wantDeny(t, e.check("Bearer "+array), http.StatusUnauthorized, ReasonMalformed)
	scp := e.t0(func(_, c map[string]any) { c["scp"] = []string{"read", "write"} })
	if id := wantOK(t, e.check("Bearer "+scp)).Identity; !slices.Equal(id.Scopes, []string{"read", "write"}) {
		t.Errorf("scp: %q", id.Scopes)
	}
}

// A client allow-list applies to JWTs too (client_id, else azp).
func TestAllowedClients(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Issuers[0].AllowedClients = []string{"svc"} })
	wantOK(t, e.check("Bearer "+e.t0(nil)))
	wantOK(t, e.check("Bearer "+e.t0(func(_, c map[string]any) { delete(c, "client_id"); c["azp"] = "svc" })))
	wantDeny(t, e.check("Bearer "+e.ccToken("alice", "alice-secret")), http.StatusUnauthorized, ReasonClient)
	wantDeny(t, e.check("Bearer "+e.t0(func(_, c map[string]any) { delete(c, "client_id") })), http.StatusUnauthorized, ReasonClient)
}

// Identity values must be safe to put in a header.
func TestHeaderUnsafeClaims(t *testing.T) {
	e := newEnv(t, nil)
	for _, mod := range []func(c map[string]any){
		func(c map[string]any) { c["sub"] = "svc\r\nX-Forwarded-User: admin" },
		func(c map[string]any) { c["sub"] = strings.Repeat("s", 1025) },
		func(c map[string]any) { c["groups"] = []string{"dev", "a\x00b"} },
		func(c map[string]any) { c["preferred_username"] = "bob\u0085" },
	} {
		wantDeny(t, e.check("Bearer "+e.t0(func(_, c map[string]any) { mod(c) })), http.StatusUnauthorized, ReasonMalformed)
	}
}

// An iss naming no configured issuer is refused without any network call.
func TestUnknownIssuerNoNetwork(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.t0(func(_, c map[string]any) { c["iss"] = "https://idp2.test" })
	wantDeny(t, e.check("Bearer "+tok), http.StatusUnauthorized, ReasonIssuer)
	trailing := e.t0(func(_, c map[string]any) { c["iss"] = e.srv.URL + "/" })
	wantDeny(t, e.check("Bearer "+trailing), http.StatusUnauthorized, ReasonIssuer)
	if n := len(e.iss.Requests()); n != 0 || e.introHits.Load() != 0 {
		t.Errorf("%d issuer requests", n)
	}
}

// Groups may live at a dotted path.
func TestGroupsClaimPath(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.GroupsClaim = "realm_access.roles" })
	tok := e.t0(func(_, c map[string]any) { c["realm_access"] = map[string]any{"roles": []string{"dev", "ops"}} })
	if id := wantOK(t, e.check("Bearer "+tok)).Identity; !slices.Equal(id.Groups, []string{"dev", "ops"}) {
		t.Errorf("groups %q", id.Groups)
	}
	flat := e.t0(func(_, c map[string]any) { c["realm_access.roles"] = []string{"flat"} })
	if id := wantOK(t, e.check("Bearer "+flat)).Identity; !slices.Equal(id.Groups, []string{"flat"}) {
		t.Errorf("groups %q", id.Groups)
	}
}

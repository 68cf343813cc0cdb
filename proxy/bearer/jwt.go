package bearer

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// maxKidBytes bounds the kid header; real ones are short.
const maxKidBytes = 256

var b64url = base64.RawURLEncoding.Strict()

// jwtHeader is the checked JOSE header of a JWT.
type jwtHeader struct {
	alg, kid, typ string
	hasKid        bool
}

// verifyJWT checks a three-segment token. Everything that costs no key
// fetch and no signature comes first (convention 13): shape, encoding, the
// header, the algorithm, every claim and its type. Only a token that
// passes all of that is verified against its issuer's keys.
func (a *Authenticator) verifyJWT(ctx context.Context, tok string, now time.Time) (entry, *rejection) {
	e, rej := a.checkJWT(ctx, tok, now)
	if rej != nil {
		rej.method = MethodJWT
	}
	return e, rej
}

func (a *Authenticator) checkJWT(ctx context.Context, tok string, now time.Time) (entry, *rejection) {
	iss, hdr, c, rej := a.parseJWT(tok)
	if rej != nil {
		return entry{}, rej
	}
	if rej := iss.checkClaims(hdr, c, now, a.cfg.Leeway); rej != nil {
		return entry{}, rej
	}
	id, rej := identity(iss.cfg.URL, c)
	if rej != nil {
		return entry{}, rej
	}
	set, rej := iss.keys.verify(ctx, tok, hdr, now)
	if rej != nil {
		return entry{}, rej
	}
	return entry{id: id, method: MethodJWT, until: c.exp, keys: iss.keys, set: set}, nil
}

// parseJWT decodes and type-checks a token without trusting it. It finds
// the issuer by the iss claim: a token naming no configured issuer ends
// here, without any network call.
func (a *Authenticator) parseJWT(tok string) (*issuer, *jwtHeader, *claims, *rejection) {
	h64, rest, _ := strings.Cut(tok, ".")
	p64, s64, _ := strings.Cut(rest, ".")
	if !isB64URL(h64) || !isB64URL(p64) || !isB64URL(s64) {
		return nil, nil, nil, rejectf(ReasonMalformed, "malformed token", nil)
	}
	hb, err := b64url.DecodeString(h64)
	if err != nil {
		return nil, nil, nil, rejectf(ReasonMalformed, "malformed token", nil)
	}
	hdr, rej := a.parseHeader(hb)
	if rej != nil {
		return nil, nil, nil, rej
	}
	pb, err := b64url.DecodeString(p64)
	if err != nil {
		return nil, nil, nil, rejectf(ReasonMalformed, "malformed token", nil)
	}
	c, err := parseClaims(pb, a.cfg.GroupsClaim)
	if err != nil {
		return nil, nil, nil, rejectf(ReasonMalformed, "malformed token claims", err)
	}
	iss := a.byURL[c.iss]
	if !c.hasIss || iss == nil {
		return nil, nil, nil, rejectf(ReasonIssuer, "untrusted issuer", nil)
	}
	return iss, hdr, c, nil
}

var (
	errCrit = errors.New("bearer: critical or unencoded-payload header")
	errJWE  = errors.New("bearer: encrypted or compressed token")
)

// parseHeader checks the JOSE header. Keys named in the header (jwk, jku,
// x5u, x5c) are ignored entirely: keys come only from the issuer's JWKS.
// crit and b64 are refused (no extension is understood), enc and zip too
// (no JWE, no compression).
func (a *Authenticator) parseHeader(b []byte) (*jwtHeader, *rejection) {
	h := &jwtHeader{}
	err := members(b, func(name string, raw json.RawMessage) error {
		ok := true
		switch name {
		case "alg":
			h.alg, ok = jsonString(raw)
		case "kid":
			h.kid, ok = jsonString(raw)
			ok = ok && len(h.kid) <= maxKidBytes && !hasControl(h.kid)
			h.hasKid = true
		case "typ":
			h.typ, ok = jsonString(raw)
		case "crit", "b64":
			return errCrit
		case "enc", "zip":
			return errJWE
		}
		if !ok {
			return errNotObject
		}
		return nil
	})
	switch {
	case errors.Is(err, errJWE):
		return nil, rejectf(ReasonUnsupported, "encrypted tokens are not accepted", nil)
	case err != nil:
		return nil, rejectf(ReasonMalformed, "malformed token header", err)
	case !slices.Contains(a.algs, h.alg):
		return nil, rejectf(ReasonAlgorithm, "signing algorithm not accepted", nil)
	}
	return h, nil
}

// tokenType classifies the typ header (compared case-insensitively, RFC
// 7515 §4.1.9): at reports RFC 9068 access tokens, ok is false for types
// that are never access tokens (logout+jwt, dpop+jwt, secevent+jwt, …).
func tokenType(typ string) (at, ok bool) {
	switch strings.ToLower(typ) {
	case "at+jwt", "application/at+jwt":
		return true, true
	case "", "jwt", "application/jwt":
		return false, true
	}
	return false, false
}

// checkClaims applies the issuer's rules to a parsed token.
func (iss *issuer) checkClaims(h *jwtHeader, c *claims, now time.Time, leeway time.Duration) *rejection {
	if !slices.Contains(iss.cfg.Algorithms, h.alg) {
		return rejectf(ReasonAlgorithm, "signing algorithm not accepted", nil)
	}
	at, ok := tokenType(h.typ)
	switch {
	case !ok:
		return rejectf(ReasonType, "token type not accepted", nil)
	case c.hasEvents:
		return rejectf(ReasonType, "event and logout tokens are not accepted", nil)
	case iss.cfg.RequireAccessTokenType && !at:
		return rejectf(ReasonType, "token type not accepted", nil)
	case !at && !iss.cfg.AcceptIDTokens && (c.hasNonce || iss.cfg.ClientID != "" && slices.Contains(c.aud, iss.cfg.ClientID)):
		return rejectf(ReasonType, "id tokens are not accepted", nil)
	}
	switch {
	case !c.hasExp:
		return rejectf(ReasonMalformed, "token has no expiry", nil)
	case !now.Before(c.exp.Add(leeway)):
		return rejectf(ReasonExpired, "token expired", nil)
	case c.hasNbf && now.Add(leeway).Before(c.nbf):
		return rejectf(ReasonNotYetValid, "token not yet valid", nil)
	case c.hasIat && now.Add(leeway).Before(c.iat):
		return rejectf(ReasonNotYetValid, "token issued in the future", nil)
	case !c.hasAud || !anyOf(c.aud, iss.cfg.Audiences):
		return rejectf(ReasonAudience, "token audience not accepted", nil)
	case c.sub == "":
		return rejectf(ReasonMalformed, "token has no subject", nil)
	}
	return iss.checkClient(c)
}

// checkClient applies the issuer's AllowedClients.
func (iss *issuer) checkClient(c *claims) *rejection {
	if len(iss.cfg.AllowedClients) > 0 && !slices.Contains(iss.cfg.AllowedClients, cmp.Or(c.clientID, c.azp)) {
		return rejectf(ReasonClient, "client not accepted", nil)
	}
	return nil
}

// anyOf reports whether one of have is exactly one of want.
func anyOf(have, want []string) bool {
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}

package bearer

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxIntrospectionBytes bounds an introspection response.
const maxIntrospectionBytes = 64 << 10

// introResult is the outcome of one introspection call, shared by every
// request that waited for it.
type introResult struct {
	e   entry
	rej *rejection
}

// introspect checks an opaque token with RFC 7662 introspection. Failures
// to get a usable answer are technical (503, fail closed); an answer that
// the token is inactive, or is not for us, is a rejection (401) that
// counts against the client's address.
func (a *Authenticator) introspect(r *http.Request, tok string, h [32]byte, now time.Time) (entry, *rejection) {
	ctx := r.Context()
	iss, endpoint, rej := a.introspector(ctx)
	if rej != nil {
		rej.method = MethodIntrospection
		return entry{}, rej
	}
	ic := a.cfg.Introspection
	key := "i:" + a.cfg.ClientIP(r).String()
	if d, blocked := a.opaque.blocked(key, ic.FailuresPerClient, ic.Window, now); blocked {
		return entry{}, &rejection{status: http.StatusTooManyRequests, reason: ReasonRateLimited,
			desc: "too many invalid tokens", retry: d, method: MethodIntrospection}
	}
	res, err := a.intro.do(ctx, h, func() introResult { return a.callIntrospection(iss, endpoint, tok) })
	if err != nil {
		rej := unavailable(ReasonIntrospectionError, err)
		rej.method, rej.retry = MethodIntrospection, time.Second
		return entry{}, rej
	}
	if res.rej != nil {
		if res.rej.status == http.StatusUnauthorized {
			a.opaque.fail(key, ic.Window, a.cfg.Now())
		}
		return entry{}, res.rej
	}
	e := res.e
	if until := now.Add(ic.CacheTTL); e.until.IsZero() || until.Before(e.until) {
		e.until = until
	}
	return e, nil
}

// introspector picks the issuer that introspects opaque tokens: the first
// one, in configuration order, that has client credentials and an
// introspection endpoint (configured, or discovered — which may mean
// waiting for its discovery).
func (a *Authenticator) introspector(ctx context.Context) (*issuer, string, *rejection) {
	for _, iss := range a.issuers {
		if iss.cfg.ClientSecret == "" {
			continue
		}
		if u := iss.cfg.IntrospectionURL; u != "" {
			return iss, u, nil
		}
		ep, rej := iss.endpoints(ctx)
		if rej != nil {
			return nil, "", rej
		}
		if ep.introspection != "" {
			return iss, ep.introspection, nil
		}
	}
	return nil, "", rejectf(ReasonUnsupported, "opaque tokens are not accepted", nil)
}

// callIntrospection makes the RFC 7662 request: a POST with the token in
// the form body (never in the URL), token_type_hint=access_token, and
// client_secret_basic authentication (RFC 6749 §2.3.1: form-encoded id and
// secret). Redirects are not followed.
func (a *Authenticator) callIntrospection(iss *issuer, endpoint, tok string) introResult {
	res := a.introspectionCall(iss, endpoint, tok)
	switch {
	case res.rej == nil:
		a.cfg.Observe("introspection", "active")
	case res.rej.status == http.StatusServiceUnavailable:
		a.cfg.Observe("introspection", "error")
	default:
		a.cfg.Observe("introspection", "refused")
	}
	return res
}

func (a *Authenticator) introspectionCall(iss *issuer, endpoint, tok string) introResult {
	fail := func(err error) introResult {
		rej := unavailable(ReasonIntrospectionError, fmt.Errorf("bearer: introspection at issuer %q: %w", iss.cfg.URL, err))
		rej.method = MethodIntrospection
		return introResult{rej: rej}
	}
	ctx, cancel := context.WithTimeout(a.ctx, a.cfg.Timeout)
	defer cancel()
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(iss.cfg.ClientID), url.QueryEscape(iss.cfg.ClientSecret))
	resp, err := a.client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("status %d", resp.StatusCode))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return fail(errors.New("response is not application/json"))
	}
	body, err := readLimited(resp.Body, maxIntrospectionBytes)
	if err != nil {
		return fail(err)
	}
	res := a.parseIntrospection(iss, body)
	if res.rej != nil && res.rej.status == http.StatusServiceUnavailable {
		return fail(res.rej.err)
	}
	if res.rej != nil {
		res.rej.method = MethodIntrospection
	}
	return res
}

// parseIntrospection reads a response strictly (RFC 7662 §2.2): a single
// JSON object without duplicate members; active must be the JSON true
// (when it is false nothing else is read); iss, aud, token_type, exp and
// nbf are checked when present.
func (a *Authenticator) parseIntrospection(iss *issuer, body []byte) introResult {
	deny := func(reason, desc string, err error) introResult { return introResult{rej: rejectf(reason, desc, err)} }
	c, err := parseClaims(body, a.cfg.GroupsClaim)
	switch {
	case errors.Is(err, errNotObject):
		return introResult{rej: unavailable(ReasonIntrospectionError, errors.New("response is not a JSON object"))}
	case err != nil:
		return deny(ReasonMalformed, "malformed introspection response", err)
	}
	switch string(c.active) {
	case "true":
	case "false":
		return deny(ReasonInactive, "token is not active", nil)
	default:
		return deny(ReasonMalformed, "malformed introspection response", errors.New("bearer: active is not a JSON boolean"))
	}
	now, leeway := a.cfg.Now(), a.cfg.Leeway
	switch {
	case c.hasIss && c.iss != iss.cfg.URL:
		return deny(ReasonIssuer, "untrusted issuer", nil)
	case c.hasAud && !anyOf(c.aud, iss.cfg.Audiences):
		return deny(ReasonAudience, "token audience not accepted", nil)
	case c.hasTokenType && !strings.EqualFold(c.tokenType, "access_token") && !strings.EqualFold(c.tokenType, "bearer"):
		return deny(ReasonType, "token type not accepted", nil)
	case c.hasExp && !now.Before(c.exp.Add(leeway)):
		return deny(ReasonExpired, "token expired", nil)
	case c.hasNbf && now.Add(leeway).Before(c.nbf):
		return deny(ReasonNotYetValid, "token not yet valid", nil)
	}
	if rej := iss.checkClient(c); rej != nil {
		return introResult{rej: rej}
	}
	if c.sub == "" {
		c.sub = c.clientID // a client-credentials token may have no sub
	}
	if c.sub == "" {
		return deny(ReasonMalformed, "token has no subject", nil)
	}
	id, rej := identity(iss.cfg.URL, c)
	if rej != nil {
		return introResult{rej: rej}
	}
	e := entry{id: id, method: MethodIntrospection}
	if c.hasExp {
		e.until = c.exp
	}
	return introResult{e: e}
}

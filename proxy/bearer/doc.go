// Package bearer authenticates machine callers: bearer JWTs from trusted
// issuers, opaque bearer tokens by RFC 7662 introspection, and — only when
// enabled — legacy HTTP Basic credentials by the resource owner password
// grant.
//
// # One call, one result
//
// [Authenticator.Check] reads the request's Authorization header (nothing
// else: query parameters, bodies and cookies never carry a token) and
// returns a [Result] with everything the caller needs: the Identity, or the
// status to answer with (400, 401, 429, 503), the WWW-Authenticate value,
// a Retry-After duration, and a Reason and Method for metrics. Status 0 is
// the "ok" of gatehouse's (Identity, bool, error) convention; 503 is its
// "err" (an issuer could not be asked: fail closed); every other status is
// its "false", with a reason the caller can render. The package never logs
// a token, password or Authorization header, never creates a session and
// never returns anything cookie-like.
//
// # Authorization header
//
// Exactly one Authorization field (several: 400). The scheme is
// case-insensitive, followed by one or more spaces (a tab is refused) and
// one RFC 6750 b64token of at most Config.MaxTokenBytes. "Basic" goes to
// the password grant when it is enabled and is refused otherwise; it is
// never parsed as a JWT.
//
// # Which path a token takes
//
// By shape alone: three dot-separated segments are a JWT and are verified
// locally, never introspected (so a JWT naming an unknown issuer costs no
// network call); no dot, or one dot (Ory Hydra's tokens have one) unless
// the token starts like a JOSE header ("eyJ"), is an opaque token and is
// introspected; five segments (JWE) are refused, as is anything else.
//
// # JWTs
//
// Cheap checks come first: size, segments, unpadded base64url, a header
// that is one JSON object without duplicate members, alg exactly in the
// allow-list (never none or HS*), no crit/b64/enc/zip; jwk, jku, x5u and
// x5c are ignored — keys come only from the issuer's JWKS. The payload is
// parsed as strictly: iss must name a configured issuer byte for byte; exp
// is required and a JSON number; nbf and iat are numbers when present (a
// future iat beyond the leeway is refused); aud is a string or an array of
// strings and must contain a configured audience exactly; sub is a
// non-empty string; scope is a space-separated string (an array is
// malformed), scp an array or a string. Only then is the signature
// checked, with go-jose, against the issuer's keys (see keySet for the
// refetch cooldown and why it is not go-oidc's RemoteKeySet).
//
// ID tokens are not access tokens. RFC 9068 asks resource servers to
// require typ "at+jwt", but many issuers mint access tokens typed "JWT" or
// untyped, so by default those are accepted too, with one exclusion rule
// that makes the two kinds mutually exclusive: a JWT not typed at+jwt is
// refused (ReasonType) when it carries a nonce or when its aud names the
// issuer's IssuerConfig.ClientID (gatehouse's own browser client, the
// audience of the ID tokens gatehouse receives at login) — unless
// AcceptIDTokens is set. IssuerConfig.RequireAccessTokenType makes at+jwt
// mandatory instead. Tokens with an events claim (back-channel logout and
// other Security Event Tokens) and types such as logout+jwt are always
// refused.
//
// # Identities
//
// Subject is sub; ClientID is client_id or else azp; Scopes come from
// scope (or scp); Groups from Config.GroupsClaim; Email only when
// email_verified is true; Issuer is the issuer URL. Machine is true when
// the token speaks for a client rather than a person: sub equals the
// client id, or gty is "client-credentials" (Auth0), or idtyp is "app"
// (Entra ID), or the token has no user claim at all (email,
// preferred_username, username, name, upn). A person's token without user
// claims is therefore treated as a machine — the safe direction. Callers
// must keep machines apart from people (e.g. a "client:" prefix), since a
// client may be called "alice". Every value must be valid UTF-8, at most 1
// KiB and free of control characters, or the token is refused.
//
// # Opaque tokens
//
// They are introspected at the first issuer, in configuration order, that
// has client credentials and an introspection endpoint (IntrospectionURL
// or the discovered introspection_endpoint): one issuer answers for all
// opaque tokens, since an opaque token does not say where it came from.
// The request is a POST with the token in the form body,
// token_type_hint=access_token and HTTP Basic client authentication. The
// answer must be a JSON object without duplicate members whose active is
// the JSON true; iss, aud and token_type are checked when present
// (refresh tokens are refused), and the client against
// IssuerConfig.AllowedClients when that is set. Non-200 answers, other content types,
// unparsable or oversized bodies, redirects and timeouts are technical
// failures (503), never a fallback. Concurrent introspections of one token
// share one call; active results are cached until exp, at most
// Introspection.CacheTTL; clients presenting many inactive tokens get 429.
//
// # Caches
//
// Verified tokens are cached by SHA-256 until their exp (a JWT's entry also
// ends when its issuer's keys change), rejected ones for NegativeCacheTTL;
// both are bounded by CacheSize with cheap random eviction.
package bearer

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/proxy/authz"
)

// config is everything the flags say, before validation turns it into the
// packages' own Config structs.
type config struct {
	listen, adminListen     string
	publicURL               string
	issuer, clientID        string
	clientSecretFile        string
	cookieSecretFile        string
	upstreams               listFlag
	scope                   string
	allowedRedirects        listFlag
	trustedProxies          listFlag
	endpointPrefix          string
	groupsClaim             string
	sessionLifetime         time.Duration
	postLogoutRedirectURL   string
	shutdownTimeout         time.Duration
	logFormat, logLevel     string
	logFlushInterval        time.Duration
	insecureIssuerHTTP      bool
	identityAssertion       bool
	rules                   listFlag
	upstreamHeaders         listFlag
	passAuthorization       string
	allowPathParams         bool
	upstreamTimeout         time.Duration
	issuerTimeout           time.Duration
	tlsCertFile, tlsKeyFile string
	sessionStore            string
	bearerTokens            bool
	bearerIssuers           listFlag
	bearerAudiences         listFlag
	bearerAcceptIDTokens    bool
	bearerRequireATJWT      bool
	introspectionURL        string
	passwordGrant           bool
	passwordGrantPaths      listFlag
	redisURL, redisMode     string
	redisPasswordFile       string
	sessionIdle             time.Duration
	sessionCacheTTL         givenDuration
	defaultDeny             bool
	assertionKeyFile        string
	redisPassword           []byte
	clientSecret, cookieKey []byte // read from files or GATEHOUSE_CLIENT_SECRET / GATEHOUSE_COOKIE_SECRET
}

// givenDuration is a duration flag that knows whether it was given (on the
// command line or in the environment), for flags that only some settings
// use.
type givenDuration struct {
	d     time.Duration
	given bool
}

func (g *givenDuration) String() string { return g.d.String() }
func (g *givenDuration) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("parse error")
	}
	g.d, g.given = d, true
	return nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// newFlagSet declares every flag. Each one can also come from the
// environment as GATEHOUSE_<NAME> (upper case, '-' → '_'); flags win.
func newFlagSet(name string, c *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.listen, "listen", ":4180", "address of the app listener")
	fs.StringVar(&c.adminListen, "admin-listen", "127.0.0.1:9180", "address of the admin listener (/metrics, /healthz, /readyz); never expose it publicly")
	fs.StringVar(&c.publicURL, "public-url", "", "external base URL of gatehouse, e.g. https://app.example.com (required); the callback is <public-url><endpoint-prefix>/callback; https makes cookies Secure and __Host- prefixed")
	fs.StringVar(&c.issuer, "issuer", "", "OIDC issuer URL, used for discovery (required)")
	fs.StringVar(&c.clientID, "client-id", "", "OAuth client id (required)")
	fs.StringVar(&c.clientSecretFile, "client-secret-file", "", "file holding the client secret; absent: a public client (PKCE only). Also GATEHOUSE_CLIENT_SECRET")
	fs.StringVar(&c.cookieSecretFile, "cookie-secret-file", "", "file with one cookie key per line, each ≥32 random bytes (e.g. from openssl rand -base64 32); the first encrypts, the rest still decrypt (rotation). Also GATEHOUSE_COOKIE_SECRET (required)")
	fs.Var(&c.upstreams, "upstream", "repeatable `[host]/path/=URL`, e.g. /=http://127.0.0.1:8080 or api.example.com/v1/=http://10.0.0.5:9000; the longest match wins (required)")
	fs.StringVar(&c.scope, "scope", "openid email profile", "scopes to request; add offline_access to get refresh tokens")
	fs.Var(&c.allowedRedirects, "allowed-redirect", "repeatable origin allowed as a post-login target besides the public URL's own, e.g. https://*.example.com")
	fs.Var(&c.trustedProxies, "trusted-proxy", "repeatable CIDR whose X-Forwarded-* and X-Request-Id headers are believed (default none)")
	fs.StringVar(&c.endpointPrefix, "endpoint-prefix", "/oauth2", "path prefix of gatehouse's own endpoints")
	fs.StringVar(&c.groupsClaim, "groups-claim", "groups", "ID-token claim holding the user's groups; a dotted path reaches into objects (realm_access.roles)")
	fs.BoolVar(&c.bearerTokens, "bearer-tokens", true, "accept machine credentials: Authorization: Bearer JWTs (and opaque tokens by introspection) from --bearer-issuer")
	fs.Var(&c.bearerIssuers, "bearer-issuer", "repeatable issuer whose access tokens are accepted, `URL[;aud=AUDIENCE…]`; default the --issuer. A token is checked only against the issuer its iss names")
	fs.Var(&c.bearerAudiences, "bearer-audience", "repeatable audience a bearer token must carry, for issuers that name none; default the --client-id")
	fs.BoolVar(&c.bearerAcceptIDTokens, "bearer-accept-id-tokens", false, "accept ID tokens minted for --client-id as bearer tokens (default: refused; they prove a login, not an authorization)")
	fs.BoolVar(&c.bearerRequireATJWT, "bearer-require-at-jwt", false, "accept only JWT access tokens typed at+jwt (RFC 9068); default: untyped and JWT-typed access tokens too")
	fs.StringVar(&c.introspectionURL, "introspection-url", "", "RFC 7662 endpoint for opaque tokens of --issuer (default: its discovered introspection_endpoint); gatehouse authenticates with --client-id and the client secret")
	fs.BoolVar(&c.passwordGrant, "password-grant", false, "LEGACY: exchange HTTP Basic credentials at the issuer's token endpoint (resource-owner password grant), rate-limited; off by default")
	fs.Var(&c.passwordGrantPaths, "password-grant-path", "repeatable path prefix where --password-grant applies (default every route)")
	fs.StringVar(&c.sessionStore, "session-store", "cookie", "where sessions live: cookie (in the browser, encrypted) or redis (shared by replicas; enables revocation)")
	fs.StringVar(&c.redisURL, "redis-url", "", "Redis for --session-store=redis: redis://[user@]host:port/db or rediss:// (TLS); with --redis-mode=sentinel add ?master_name=NAME&addr=host2:port, with cluster ?addr=host2:port")
	fs.StringVar(&c.redisMode, "redis-mode", "standalone", "standalone, sentinel or cluster")
	fs.StringVar(&c.redisPasswordFile, "redis-password-file", "", "file holding the Redis password (keeps it out of --redis-url). Also GATEHOUSE_REDIS_PASSWORD")
	fs.DurationVar(&c.sessionIdle, "session-idle-timeout", 8*time.Hour, "with --session-store=redis, a session unused this long ends")
	c.sessionCacheTTL.d = time.Second
	fs.Var(&c.sessionCacheTTL, "session-cache-ttl", "with --session-store=redis, the longest `duration` a replica serves a session it read from Redis again without reading it anew (0: read it every time; at most 10s). Sign-out and revocation reach the other replicas through Redis pub/sub at once, and within this TTL at worst")
	fs.DurationVar(&c.sessionLifetime, "session-lifetime", 24*time.Hour, "absolute lifetime of a browser session")
	fs.StringVar(&c.postLogoutRedirectURL, "post-logout-redirect-url", "", "post_logout_redirect_uri sent to the issuer at sign-out; must be registered there (default <public-url><endpoint-prefix>/sign_in)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 25*time.Second, "how long in-flight requests may finish after SIGTERM")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.logFlushInterval, "log-flush-interval", 100*time.Millisecond, "how long info and debug lines (the access log) may wait to be written together; warnings and errors are written at once; 0 writes every line as it comes")
	fs.Var(&c.rules, "rule", "repeatable authorization rule `[METHODS ][host]/path/ ACTION...`, e.g. '/admin/ groups=admins' or 'GET /public/ public' (grammar below)")
	fs.BoolVar(&c.defaultDeny, "default-deny", false, "refuse every request that no --rule matches (default: unlisted routes need any signed-in caller)")
	fs.Var(&c.upstreamHeaders, "upstream-header", "repeatable `[route:]Header=claim` adding an identity header for legacy apps, e.g. Remote-User=preferred_username or /legacy/:X-Remote-Email=email; claims: sub, email, preferred_username, name, groups, client_id, user")
	fs.StringVar(&c.passAuthorization, "pass-authorization", "none", "Authorization sent upstream: none (bearer callers' own token passes, Basic never), basic (Basic base64(user:)) or bearer (the session's access token)")
	fs.StringVar(&c.tlsCertFile, "tls-cert-file", "", "PEM certificate (chain) for the app listener; with --tls-key-file, gatehouse serves HTTPS and reloads both when they change")
	fs.StringVar(&c.tlsKeyFile, "tls-key-file", "", "PEM private key for --tls-cert-file")
	fs.DurationVar(&c.issuerTimeout, "issuer-timeout", 5*time.Second, "bound on every call to an issuer (discovery, keys, token, introspection, userinfo)")
	fs.DurationVar(&c.upstreamTimeout, "upstream-timeout", time.Minute, "how long an upstream may take to send its response headers before gatehouse answers 502 (streams and websockets are not limited once they have started)")
	fs.BoolVar(&c.allowPathParams, "allow-path-params", false, "accept ';' path parameters (e.g. ;jsessionid=) instead of answering 400; rules and routes then match the path without them")
	fs.BoolVar(&c.identityAssertion, "identity-assertion", false, "send every upstream a short-lived ES256 JWT of the caller's identity in X-Forwarded-Assertion (aud = the upstream's origin); keys at <endpoint-prefix>/jwks")
	fs.StringVar(&c.assertionKeyFile, "assertion-key-file", "", "PEM file with P-256 private keys for --identity-assertion; the first signs, all are published (rotation); absent: a key generated at start")
	fs.BoolVar(&c.insecureIssuerHTTP, "insecure-issuer-http", false, "allow an http:// issuer that is not on loopback (development only)")
	return fs
}

// envName is the environment variable that can set flag name.
func envName(name string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseFlags parses args, then fills every flag not given on the command
// line from the environment. Repeatable flags take comma-separated values
// there.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags take the form --name=value)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if given[f.Name] || v == "" {
			return
		}
		values := []string{v}
		if _, repeatable := f.Value.(*listFlag); repeatable {
			values = splitList(v, listSeparator(f.Name))
		}
		for _, one := range values {
			if err := fs.Set(f.Name, one); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", envName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// listSeparator separates a repeatable flag's values in its environment
// variable: commas, except for rules, whose grammar uses commas itself
// ("GET,HEAD /public/ public"); they are separated by ';'. Newlines
// separate values of every list.
func listSeparator(name string) string {
	if name == "rule" {
		return ";"
	}
	return ","
}

func splitList(v, sep string) []string {
	var out []string
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || string(r) == sep }) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// readSecrets loads the client secret and cookie keys from their files or,
// failing that, from GATEHOUSE_CLIENT_SECRET / GATEHOUSE_COOKIE_SECRET.
func (c *config) readSecrets(getenv func(string) string) error {
	read := func(flagName, file, env string) ([]byte, error) {
		if file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("--%s: %v", flagName, err)
			}
			return b, nil
		}
		return []byte(getenv(env)), nil
	}
	var err error
	if c.clientSecret, err = read("client-secret-file", c.clientSecretFile, "GATEHOUSE_CLIENT_SECRET"); err != nil {
		return err
	}
	c.clientSecret = []byte(strings.TrimSpace(string(c.clientSecret)))
	c.cookieKey, err = read("cookie-secret-file", c.cookieSecretFile, "GATEHOUSE_COOKIE_SECRET")
	if err != nil {
		return err
	}
	return c.validateStore(getenv)
}

// usage prints the flags sorted, with their environment names.
func usage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintf(out, "Usage: gatehouse [flags]\n       gatehouse demo [flags]\n       gatehouse check-config [flags]\n       gatehouse version\n\nFlags (each also from the environment variable shown):\n")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, n := range names {
		f := fs.Lookup(n)
		arg, help := flag.UnquoteUsage(f)
		fmt.Fprintf(out, "  --%s %s\n        %s\n        env %s", n, arg, help, envName(n))
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(out, "; default %q", f.DefValue)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "\n%s\n", authz.Grammar)
}

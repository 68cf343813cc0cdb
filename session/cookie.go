package session

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// ErrTooLarge is returned by CookieStore.Save when a session does not fit
// in the cookies the store may set even after dropping its ID and access
// tokens, and by FlowCookies.Save when a flow does not fit in one cookie.
var ErrTooLarge = errors.New("session: too large for cookies")

// DefaultCookieName is the base cookie name when none is configured.
const DefaultCookieName = "gatehouse"

const (
	// chunkSize is the most bytes of encoded value put in one cookie, so
	// that name, value and attributes stay under browsers' 4,096 bytes.
	chunkSize = 3800
	// maxCookieNameLength bounds configured names, leaving room for the
	// "__Host-" prefix and the chunk and flow suffixes within 4,096 bytes.
	maxCookieNameLength = 64
	// maxMaxChunks bounds CookieConfig.MaxChunks: beyond it the Cookie
	// header outgrows what common proxies accept.
	maxMaxChunks = 10
	// maxRequestCookies is net/http's limit on the cookies of a request
	// (GODEBUG httpcookiemaxnum): past it, Request.Cookies returns none,
	// and the store finds none either.
	maxRequestCookies = 3000
	// hostPrefix makes browsers accept a cookie only when it is Secure,
	// Path=/ and has no Domain, so sibling hosts cannot set or shadow it.
	hostPrefix = "__Host-"
	// securePrefix makes browsers accept a cookie only when it is Secure
	// and set by a secure origin; unlike hostPrefix it allows a Path.
	securePrefix = "__Secure-"
	// hintSuffix names the sign-out hint cookie: <base>_hint.
	hintSuffix = "_hint"
)

// CookieConfig configures a CookieStore.
type CookieConfig struct {
	// Name is the base cookie name. Default "gatehouse". When Secure is
	// set the "__Host-" prefix is added, so the name must not carry a
	// prefix of its own. Letters, digits, '-', '_' and '.' only; at most 64
	// bytes.
	Name string
	// Secure sets the Secure attribute and the "__Host-" name prefix. The
	// gateway sets it when its public URL is https. Default false.
	Secure bool
	// Lifetime is the absolute lifetime of a session, counted from
	// Session.CreatedAt; refreshes do not extend it. Load enforces it
	// itself, not only through Max-Age: from CreatedAt (with the store's
	// clock) and from the signed timestamp securecookie puts in the cookie
	// at each Save (with the wall clock). Default 24h; at least one second.
	Lifetime time.Duration
	// SameSite is the cookies' SameSite attribute: http.SameSiteLaxMode,
	// http.SameSiteStrictMode or http.SameSiteNoneMode (which needs
	// Secure). Default (zero) http.SameSiteLaxMode.
	SameSite http.SameSite
	// MaxChunks is how many cookies a session may be split into: <name>,
	// <name>_1 … <name>_{MaxChunks-1}, each holding at most 3,800 bytes.
	// Default 4; at most 10.
	MaxChunks int
	// CacheSize is how many decoded sessions Load remembers, keyed by a
	// hash of the exact cookie bytes, so that a browser's repeated requests
	// skip the HMAC, AES, base64 and JSON work of decoding. Every hit is
	// checked against both lifetimes, as decoding would be; only cookies
	// that decoded into a valid session are remembered; the cache also
	// stays under 16 MiB of session data. Default (0)
	// DefaultCookieCacheSize; negative: no cache.
	CacheSize int
	// SignOutPath is the path of the sign-out endpoint, such as
	// "/oauth2/sign_out". When set, Save keeps the session's ID token,
	// which only sign-out reads (as id_token_hint), out of the session
	// cookies and in a cookie of its own, <base>_hint, whose Path is
	// SignOutPath: browsers send it to that path only, so every other
	// request carries a session cookie without the ID token, about half
	// as large. With Secure its name takes the "__Secure-" prefix ("__Host-"
	// requires Path=/). Its value is bound to the session's ID: Load
	// ignores a hint cookie of another session. Save writes it for new
	// sessions only (RefreshedAt not after CreatedAt); a refreshed one
	// keeps the ID token of its sign-in there. Empty: the ID token stays
	// in the session cookies.
	SignOutPath string
}

// CookieStore is a Store that keeps the whole session in the browser, in
// cookies signed with HMAC-SHA-256 and encrypted with AES-256 (through
// github.com/gorilla/securecookie, with keys derived from Keys). It needs
// no server-side state, so it cannot revoke sessions: a session ends when
// its lifetime does, or when the browser drops its cookies.
//
// Every cookie this package sets, session chunks and login flow cookies
// alike (when FlowConfig has the same Name and Secure), has a name that
// starts with CookieName(), so a proxy can strip them all from upstream
// requests by that one prefix, browsers' cookie prefixes aside: with
// Secure, the sign-out hint cookie (CookieConfig.SignOutPath) is
// "__Secure-"<base>_hint where the others are "__Host-"<base>…
//
// A CookieStore is safe for concurrent use.
type CookieStore struct {
	name     string         // effective base name, with any prefix
	names    []string       // chunk cookie names; names[0] == name
	index    map[string]int // chunk name to its index in names
	secure   bool
	sameSite http.SameSite
	lifetime time.Duration
	maxLen   int // most bytes of encoded value, over all chunks
	encoder  securecookie.Codec
	decoders []securecookie.Codec
	now      func() time.Time
	maxAge   int64         // the codecs' MaxAge, in seconds
	cache    *sessionCache // nil: no cache

	// The sign-out hint cookie; hintPath "" when there is none.
	hintName, hintPath string
	hintEncoder        securecookie.Codec
	hintDecoders       []securecookie.Codec
}

// hint is the sign-out hint cookie's value.
type hint struct {
	SessionID string `json:"sid"`
	IDToken   string `json:"id_token"`
}

// NewCookieStore returns a CookieStore for cfg that signs and encrypts
// with keys. now is the clock for lifetimes; nil means time.Now. It only
// validates cfg: it sets no cookie and starts nothing.
func NewCookieStore(cfg CookieConfig, keys Keys, now func() time.Time) (*CookieStore, error) {
	name, err := cookieBaseName(cfg.Name, cfg.Secure)
	if err != nil {
		return nil, err
	}
	lifetime := cfg.Lifetime
	switch {
	case lifetime == 0:
		lifetime = 24 * time.Hour
	case lifetime < time.Second:
		return nil, fmt.Errorf("session: cookie lifetime %v is less than a second", cfg.Lifetime)
	}
	sameSite, err := cookieSameSite(cfg.SameSite, cfg.Secure)
	if err != nil {
		return nil, err
	}
	maxChunks := cfg.MaxChunks
	switch {
	case maxChunks == 0:
		maxChunks = 4
	case maxChunks < 0 || maxChunks > maxMaxChunks:
		return nil, fmt.Errorf("session: MaxChunks %d is not between 1 and %d", maxChunks, maxMaxChunks)
	}
	if keys.Len() == 0 {
		return nil, errNoKeys
	}
	cacheSize := cfg.CacheSize
	if cacheSize == 0 {
		cacheSize = DefaultCookieCacheSize
	}
	maxLen := maxChunks * chunkSize
	decoders, err := keys.codecs(purposeSession, lifetime, maxLen)
	if err != nil {
		return nil, err
	}
	// The encoder has no length limit: Save measures the value and slims
	// the session itself.
	encoders, err := keys.codecs(purposeSession, lifetime, 0)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	s := &CookieStore{
		name:     name,
		names:    make([]string, maxChunks),
		index:    make(map[string]int, maxChunks),
		secure:   cfg.Secure,
		sameSite: sameSite,
		lifetime: lifetime,
		maxLen:   maxLen,
		encoder:  encoders[0],
		decoders: decoders,
		now:      now,
		maxAge:   int64(lifetime / time.Second),
		cache:    newSessionCache(cacheSize),
	}
	for i := range s.names {
		n := name
		if i > 0 {
			n += "_" + strconv.Itoa(i)
		}
		s.names[i] = n
		s.index[n] = i
	}
	if cfg.SignOutPath != "" {
		if err := checkCookiePath(cfg.SignOutPath); err != nil {
			return nil, err
		}
		s.hintPath = cfg.SignOutPath
		s.hintName = name + hintSuffix
		if cfg.Secure {
			s.hintName = securePrefix + strings.TrimPrefix(name, hostPrefix) + hintSuffix
		}
		if s.hintDecoders, err = keys.codecs(purposeHint, lifetime, chunkSize); err != nil {
			return nil, err
		}
		// No length limit: Save measures the value, and keeps an ID token
		// too large for a cookie of its own with the session.
		encoders, err := keys.codecs(purposeHint, lifetime, 0)
		if err != nil {
			return nil, err
		}
		s.hintEncoder = encoders[0]
	}
	return s, nil
}

// checkCookiePath checks a path for a cookie's Path attribute.
func checkCookiePath(p string) error {
	if !strings.HasPrefix(p, "/") || len(p) > 256 {
		return fmt.Errorf("session: sign-out path %q must start with '/' and be at most 256 bytes", p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == ';' || c == ',' || c == '"' || c == '\\' {
			return fmt.Errorf("session: sign-out path %q has a byte a cookie's Path cannot carry", p)
		}
	}
	return nil
}

// cookieBaseName validates a configured cookie name and returns it with
// the "__Host-" prefix when secure.
func cookieBaseName(name string, secure bool) (string, error) {
	if name == "" {
		name = DefaultCookieName
	}
	if len(name) > maxCookieNameLength {
		return "", fmt.Errorf("session: cookie name is %d bytes, over %d", len(name), maxCookieNameLength)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", fmt.Errorf("session: cookie name %q may only have letters, digits, '-', '_' and '.'", name)
		}
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "__host-") || strings.HasPrefix(lower, "__secure-") {
		return "", fmt.Errorf("session: cookie name %q must not carry a prefix; Secure adds %q", name, hostPrefix)
	}
	if secure {
		name = hostPrefix + name
	}
	return name, nil
}

// cookieSameSite applies the default to a configured SameSite and checks
// it.
func cookieSameSite(ss http.SameSite, secure bool) (http.SameSite, error) {
	switch ss {
	case 0:
		return http.SameSiteLaxMode, nil
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
		return ss, nil
	case http.SameSiteNoneMode:
		if !secure {
			return 0, errors.New("session: SameSite=None needs Secure")
		}
		return ss, nil
	default:
		return 0, fmt.Errorf("session: SameSite %d is not Lax, Strict or None", ss)
	}
}

// CookieName returns the effective base cookie name, such as
// "__Host-gatehouse". Every cookie the store sets starts with it.
func (s *CookieStore) CookieName() string { return s.name }

// Load returns the session in r's cookies. It reads exactly the cookies
// <name>, <name>_1 … up to MaxChunks, joins them in order and decodes the
// result with every key. A missing, duplicated, oversized, tampered,
// undecodable or expired session yields ErrNoSession; Load never returns
// another error. Sessions it decoded are remembered (CookieConfig.CacheSize)
// and returned as copies when the same cookie bytes come again, after
// the same lifetime checks.
func (s *CookieStore) Load(r *http.Request) (*Session, error) {
	if r == nil {
		return nil, ErrNoSession
	}
	ch := s.scan(r)
	if ch.bad || ch.set&1 == 0 {
		return nil, ErrNoSession
	}
	values := ch.values[:ch.leading()]
	total := 0
	for _, v := range values {
		total += len(v)
	}
	if total > s.maxLen {
		return nil, ErrNoSession
	}
	var key uint64
	if s.cache != nil {
		// The cache matches the chunks as they are; a hit needs no
		// joined copy.
		key = s.cache.key(values)
		if sess, hit := s.cache.get(key, values, s.now(), time.Now().Unix()); hit {
			if sess == nil {
				return nil, ErrNoSession
			}
			s.loadHint(&ch, sess)
			return sess, nil
		}
	}
	value := strings.Join(values, "")
	var sess Session
	if err := decodeCookie(s.name, value, &sess, s.decoders...); err != nil {
		return nil, ErrNoSession
	}
	if sess.ID == "" || sess.CreatedAt.IsZero() || !s.now().Before(sess.CreatedAt.Add(s.lifetime)) {
		return nil, ErrNoSession
	}
	if s.cache != nil {
		// securecookie accepted the signed timestamp against the wall
		// clock; hits repeat that check with the timestamp read here.
		if ts, ok := signedTimestamp(value); ok {
			s.cache.put(key, value, &sess, sess.CreatedAt.Add(s.lifetime), ts+s.maxAge)
		}
	}
	s.loadHint(&ch, &sess)
	return &sess, nil
}

// loadHint puts the ID token of the request's sign-out hint cookie into
// sess (a copy the caller owns) if the request has one such cookie, it
// decodes, and it belongs to sess. Browsers send it only to SignOutPath.
func (s *CookieStore) loadHint(ch *chunks, sess *Session) {
	if ch.hintCount != 1 || sess.IDToken != "" {
		return
	}
	var h hint
	if decodeCookie(s.hintName, ch.hint, &h, s.hintDecoders...) != nil || h.SessionID != sess.ID {
		return
	}
	sess.IDToken = h.IDToken
}

// chunks is what scan finds of a session's cookies on a request.
type chunks struct {
	values [maxMaxChunks]string // values[i] is chunk i's value
	set    uint16               // bit i: the request has chunk i
	// bad: a chunk is there twice, or is longer than any Save sets.
	bad bool
	// hint is the sign-out hint cookie's value, when the request has
	// exactly one.
	hint      string
	hintCount int
}

// leading returns how many chunks, from the first, the request has
// without a gap.
func (c *chunks) leading() int {
	n := 0
	for n < len(c.values) && c.set&(1<<n) != 0 {
		n++
	}
	return n
}

// scan finds the session's chunk cookies on r, by exact name. It splits
// the Cookie lines as net/http does, and gives up past as many cookies,
// but it only looks at pairs named like a chunk and does not check their
// values' bytes: a value with a byte no cookie may carry cannot decode,
// so Load refuses it all the same. (net/http would skip such a pair; scan
// counts it, so a second, valid copy of the chunk makes it a duplicate,
// which Load refuses too.)
func (s *CookieStore) scan(r *http.Request) (c chunks) {
	if r == nil {
		return c
	}
	lines := r.Header["Cookie"]
	n := 0
	for _, line := range lines {
		n += strings.Count(line, ";") + 1
	}
	if n > maxRequestCookies {
		return c
	}
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, val, _ := strings.Cut(textproto.TrimString(part), "=")
			name = textproto.TrimString(name)
			if s.hintPath != "" && name == s.hintName {
				c.hint = val
				c.hintCount++
				continue
			}
			if !strings.HasPrefix(name, s.name) {
				continue
			}
			i, mine := s.index[name]
			if !mine {
				continue
			}
			if c.set&(1<<i) != 0 || len(val) > chunkSize {
				c.bad = true
			}
			c.set |= 1 << i
			c.values[i] = val
		}
	}
	return c
}

// Save encodes sess into as many cookies as it needs and sets them on w,
// expiring higher chunks left over on r from a larger session. Max-Age is
// the session's remaining lifetime. With CookieConfig.SignOutPath the ID
// token goes to the sign-out hint cookie instead, set for a new session
// only (see there).
//
// If the encoded session needs more than MaxChunks cookies, Save drops
// the ID token, then the access token (keeping the refresh token and
// Expiry), from what it stores; sess itself is not changed. If it still
// does not fit, Save sets no cookie and returns an error wrapping
// ErrTooLarge. A session whose lifetime has already ended yields an error
// wrapping ErrNoSession.
func (s *CookieStore) Save(w http.ResponseWriter, r *http.Request, sess *Session) error {
	switch {
	case sess == nil:
		return errors.New("session: cannot save a nil session")
	case sess.ID == "":
		return errors.New("session: cannot save a session without an ID")
	case sess.CreatedAt.IsZero():
		return errors.New("session: cannot save a session without CreatedAt")
	}
	remaining := sess.CreatedAt.Add(s.lifetime).Sub(s.now())
	if remaining < time.Second {
		return fmt.Errorf("session: session lifetime ended at %s: %w", sess.CreatedAt.Add(s.lifetime).Format(time.RFC3339), ErrNoSession)
	}
	var hintValue string
	if s.hintPath != "" && sess.IDToken != "" {
		v, err := s.hintEncoder.Encode(s.hintName, &hint{SessionID: sess.ID, IDToken: sess.IDToken})
		if err != nil {
			return fmt.Errorf("session: encoding the sign-out hint: %w", err)
		}
		// An ID token too large for a cookie of its own stays with the
		// session, which may drop it to fit (encode).
		if len(v) <= chunkSize {
			// The hint is written when the session is new. A refreshed
			// session keeps the hint of its sign-in: an earlier ID token
			// of the same session is still a valid id_token_hint, and a
			// refresh answered through a forward-auth proxy has room for
			// one Set-Cookie only (nginx's auth_request_set takes the
			// first; newer nginx would join them into one broken line).
			if !sess.RefreshedAt.After(sess.CreatedAt) {
				hintValue = v
			}
			c := *sess
			c.IDToken = ""
			sess = &c
		}
	}
	value, err := s.encode(sess)
	if err != nil {
		return err
	}
	old := s.scan(r)
	maxAge := int(min(remaining, s.lifetime) / time.Second)
	for i, name := range s.names {
		start := i * chunkSize
		switch {
		case start < len(value):
			http.SetCookie(w, s.cookie(name, value[start:min(len(value), start+chunkSize)], maxAge))
		case old.set&(1<<i) != 0:
			http.SetCookie(w, s.cookie(name, "", -1))
		}
	}
	if hintValue != "" {
		http.SetCookie(w, s.hintCookie(hintValue, maxAge))
	}
	return nil
}

// encode encodes sess, slimming a copy of it until it fits in the chunks.
func (s *CookieStore) encode(sess *Session) (string, error) {
	c := *sess
	for {
		v, err := s.encoder.Encode(s.name, &c)
		if err != nil {
			return "", fmt.Errorf("session: encoding session: %w", err)
		}
		if len(v) <= s.maxLen {
			return v, nil
		}
		switch {
		case c.IDToken != "":
			c.IDToken = ""
		case c.AccessToken != "":
			c.AccessToken = ""
		default:
			return "", fmt.Errorf("%w: the session encodes to %d bytes even without its ID and access tokens, over the %d bytes of %d cookies; use the Redis session store",
				ErrTooLarge, len(v), s.maxLen, len(s.names))
		}
	}
}

// Clear expires every chunk cookie, with the attributes they were set
// with so that browsers actually delete "__Host-" cookies. It never fails.
func (s *CookieStore) Clear(w http.ResponseWriter, r *http.Request) error {
	for _, name := range s.names {
		http.SetCookie(w, s.cookie(name, "", -1))
	}
	if s.hintPath != "" {
		http.SetCookie(w, s.hintCookie("", -1))
	}
	return nil
}

// hintCookie returns the sign-out hint cookie; maxAge < 0 deletes it.
func (s *CookieStore) hintCookie(value string, maxAge int) *http.Cookie {
	c := s.cookie(s.hintName, value, maxAge)
	c.Path = s.hintPath
	return c
}

// cookie returns a session cookie; maxAge < 0 deletes it.
func (s *CookieStore) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: s.sameSite,
	}
}

package session

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/redis/go-redis/v9"
)

// ErrStoreUnavailable is wrapped by the errors of the Redis-backed types
// when Redis cannot be reached or fails (connection refused, timeout,
// error reply). Callers must fail closed, with 503, and must not treat it
// as "not signed in".
var ErrStoreUnavailable = errors.New("session: store unavailable")

const (
	// purposeRedisHandle derives the keys of the handle cookie.
	purposeRedisHandle = "gatehouse redis-handle cookie v1"
	// redisPayloadInfo derives a session's payload key from its secret.
	redisPayloadInfo = "gatehouse redis session payload v1 aes-256-gcm"
	// redisPayloadVersion is the first byte of every stored payload.
	redisPayloadVersion = 1
	// defaultRedisKeyPrefix and defaultRedisIdleTimeout are RedisConfig's
	// defaults.
	defaultRedisKeyPrefix   = "gatehouse:"
	defaultRedisIdleTimeout = 8 * time.Hour
	// defaultRedisTimeout bounds one call to Redis when nothing else does.
	defaultRedisTimeout = 2 * time.Second
	// defaultRedisRefreshSkew is RedisConfig.RefreshSkew's default.
	defaultRedisRefreshSkew = 30 * time.Second
	// minRedisSessionID is 128 bits in unpadded base64; maxRedisSessionID
	// keeps the handle cookie small.
	minRedisSessionID = 22
	maxRedisSessionID = 128
	// redisSecretLength is the size of a session's own secret.
	redisSecretLength = 32
	// maxRedisHandle bounds the encoded handle cookie; real ones are
	// about 400 bytes.
	maxRedisHandle = 1024
	// redisRevokeBatch bounds the commands in one revocation pipeline.
	redisRevokeBatch = 256
)

// RedisConfig configures a RedisStore.
type RedisConfig struct {
	// Client is the Redis connection: standalone, Sentinel or Cluster.
	// Required. The store does not close it. Build it with
	// ContextTimeoutEnabled so that Timeout also bounds socket reads and
	// writes; otherwise the client's ReadTimeout and WriteTimeout do.
	Client redis.UniversalClient
	// KeyPrefix starts every key the store writes. Default "gatehouse:".
	KeyPrefix string
	// Cookie names the handle cookie and sets its attributes and the
	// absolute session lifetime, as for CookieStore. MaxChunks is unused:
	// the handle always fits one cookie. CacheSize bounds the caches of
	// decoded handles and of decrypted payloads (see RedisStore).
	Cookie CookieConfig
	// IdleTimeout ends a session that has not been loaded or saved for
	// this long. Each Load and Save extends it, up to the absolute
	// lifetime. Default 8h; at least one second.
	IdleTimeout time.Duration
	// Timeout bounds each Load, Save, Clear, RevokeSID, RevokeSubject and
	// Ping, all its calls to Redis together. Default 2s.
	Timeout time.Duration
	// CacheTTL is how long Load may serve a session it read from Redis
	// again without reading it anew; at most 10s. Zero (the default)
	// disables this cache: every Load reads Redis. The cache serves hits
	// only after Start, while its subscription to the stores'
	// announcements of changed and deleted sessions is confirmed, and
	// forgets everything whenever that subscription breaks. Save, Clear,
	// RevokeSID and RevokeSubject return only once every store subscribed
	// has acknowledged dropping what they changed, or 500ms have passed;
	// so a sign-out or revocation on one store reaches the others at
	// once, and within CacheTTL at worst (if announcing it failed, or a
	// store was too slow to acknowledge). The cache's size is bounded by
	// Cookie.CacheSize; a negative CacheSize disables it too.
	CacheTTL time.Duration
	// RefreshSkew keeps sessions whose tokens are due for refresh
	// (Session.NeedsRefresh with this skew) out of the cache's hits, so
	// that a refresh that waits for another store's, and then loads the
	// session again, sees that store's result even if this store missed
	// its announcement. It should be at least the skew the caller
	// refreshes with. Default 30s, the default of login.Config.RefreshSkew.
	RefreshSkew time.Duration
}

// RedisStore is a Store and Revoker that keeps sessions in Redis, shared
// by every replica that uses the same Redis, KeyPrefix and Keys.
//
// The browser holds only a handle cookie, signed and encrypted with keys
// derived from Keys: a random session id and a random 32-byte secret of
// the session's own. The session is stored under KeyPrefix + "s:" +
// hex(SHA-256(id)), encrypted with AES-256-GCM under a key derived from
// the secret with HKDF-SHA-256, with the Redis key as additional data. So
// neither a dump of Redis, nor a dump together with Keys, reveals tokens
// or yields a cookie.
//
// For revocation, each session key is also listed in sorted sets named
// after the session's Identity.SID (KeyPrefix + "sid:" + hex(SHA-256(sid)))
// and Identity.Subject (KeyPrefix + "sub:" + hex(SHA-256(sub))). Every
// command and script touches a single key, and pipelines are only
// batches of such commands, so the store works on Redis Cluster without
// hash tags; the price is that Save is not one atomic step, which the
// order of its steps makes safe (see Save).
//
// Without CacheTTL, a RedisStore keeps no session state of its own: every
// Load reads the session from Redis, so revocation and idle timeouts take
// effect at once. It only remembers, bounded by Cookie.CacheSize, handle
// cookies it has decoded and payloads it has decrypted, so that the same
// bytes are not decrypted and decoded again. With CacheTTL, Load also
// serves sessions it read shortly before from memory, as long as no
// store has announced a change to them on the Redis channel KeyPrefix +
// "invalidate" (every store announces its changes there, whatever its
// own CacheTTL; see redisnotify.go for the protocol); see
// RedisConfig.CacheTTL and Start. It is safe for
// concurrent use, and Redis outages cost it neither goroutines nor memory
// (the client reconnects by itself).
type RedisStore struct {
	client   redis.UniversalClient
	prefix   string
	name     string
	secure   bool
	sameSite http.SameSite
	lifetime time.Duration
	idle     time.Duration
	slack    time.Duration // Load extends the TTL only when it is short by more
	timeout  time.Duration
	encoder  securecookie.Codec
	decoders []securecookie.Codec
	index    *redis.Script
	now      func() time.Time
	maxAge   int64 // the codecs' MaxAge, in seconds
	// handleCache remembers decoded handle cookies by the SHA-256 of their
	// value, and payloadCache opened payloads by the SHA-256 of the
	// handle and the exact payload bytes (see open). Neither skips Redis:
	// every Load still reads the session there. nil: no caches.
	handleCache  *genCache[[32]byte, cachedHandle]
	payloadCache *genCache[[32]byte, *Session]
	bufs         sync.Pool // *[]byte scratch for hashing
	// cache holds loaded sessions (CacheTTL); nil: none. channel is where
	// changes are announced; refreshSkew is RedisConfig.RefreshSkew.
	cache       *redisCache
	channel     string
	refreshSkew time.Duration
}

// cachedHandle is a decoded handle cookie and the last Unix second its
// signed timestamp is accepted at.
type cachedHandle struct {
	h           redisHandle
	signedUntil int64
}

// redisHandle is what the handle cookie holds.
type redisHandle struct {
	ID     string `json:"i"`
	Secret []byte `json:"k"`
}

// NewRedisStore returns a RedisStore for cfg that signs and encrypts its
// handle cookies with keys. now is the clock for lifetimes; nil means
// time.Now. Redis's own clock runs the idle timeout. It only validates
// cfg and does not contact Redis (see Ping).
func NewRedisStore(cfg RedisConfig, keys Keys, now func() time.Time) (*RedisStore, error) {
	if cfg.Client == nil {
		return nil, errors.New("session: RedisConfig.Client is required")
	}
	name, err := cookieBaseName(cfg.Cookie.Name, cfg.Cookie.Secure)
	if err != nil {
		return nil, err
	}
	sameSite, err := cookieSameSite(cfg.Cookie.SameSite, cfg.Cookie.Secure)
	if err != nil {
		return nil, err
	}
	lifetime := cfg.Cookie.Lifetime
	switch {
	case lifetime == 0:
		lifetime = 24 * time.Hour
	case lifetime < time.Second:
		return nil, fmt.Errorf("session: cookie lifetime %v is less than a second", cfg.Cookie.Lifetime)
	}
	idle := cfg.IdleTimeout
	switch {
	case idle == 0:
		idle = defaultRedisIdleTimeout
	case idle < time.Second:
		return nil, fmt.Errorf("session: idle timeout %v is less than a second", cfg.IdleTimeout)
	}
	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = defaultRedisTimeout
	case timeout < 0:
		return nil, fmt.Errorf("session: Redis timeout %v is negative", cfg.Timeout)
	}
	if cfg.CacheTTL < 0 || cfg.CacheTTL > maxRedisCacheTTL {
		return nil, fmt.Errorf("session: cache TTL %v is not between 0 and %v", cfg.CacheTTL, maxRedisCacheTTL)
	}
	refreshSkew := cfg.RefreshSkew
	switch {
	case refreshSkew == 0:
		refreshSkew = defaultRedisRefreshSkew
	case refreshSkew < 0:
		return nil, fmt.Errorf("session: refresh skew %v is negative", cfg.RefreshSkew)
	}
	prefix := cfg.KeyPrefix
	if prefix == "" {
		prefix = defaultRedisKeyPrefix
	}
	if keys.Len() == 0 {
		return nil, errNoKeys
	}
	codecs, err := keys.codecs(purposeRedisHandle, lifetime, maxRedisHandle)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	cacheSize := cfg.Cookie.CacheSize
	if cacheSize == 0 {
		cacheSize = DefaultCookieCacheSize
	}
	var handles *genCache[[32]byte, cachedHandle]
	var payloads *genCache[[32]byte, *Session]
	var loaded *redisCache
	if cacheSize >= 2 {
		handles = newGenCache[[32]byte, cachedHandle](cacheSize, cookieCacheBytes/4)
		payloads = newGenCache[[32]byte, *Session](cacheSize, cookieCacheBytes)
		if cfg.CacheTTL > 0 {
			loaded = newRedisCache(cfg.CacheTTL, cacheSize, prefix+redisInvalidateChannel)
		}
	}
	return &RedisStore{
		client:   cfg.Client,
		prefix:   prefix,
		name:     name,
		secure:   cfg.Cookie.Secure,
		sameSite: sameSite,
		lifetime: lifetime,
		idle:     idle,
		slack:    min(idle/16, time.Minute),
		timeout:  timeout,
		encoder:  codecs[0],
		decoders: codecs,
		index:    redis.NewScript(redisIndexScript),
		now:      now,
		maxAge:   int64(lifetime / time.Second),

		handleCache:  handles,
		payloadCache: payloads,
		cache:        loaded,
		channel:      prefix + redisInvalidateChannel,
		refreshSkew:  refreshSkew,
	}, nil
}

// CookieName returns the effective handle cookie name, such as
// "__Host-gatehouse". It is the only cookie the store sets.
func (s *RedisStore) CookieName() string { return s.name }

// Ping checks that Redis answers, for readiness probes. Its error wraps
// ErrStoreUnavailable.
func (s *RedisStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return redisUnavailable("ping", err)
	}
	return nil
}

// redisUnavailable wraps a Redis failure in ErrStoreUnavailable.
func redisUnavailable(op string, err error) error {
	return fmt.Errorf("%w: redis %s: %w", ErrStoreUnavailable, op, err)
}

// redisKey returns prefix + kind + hex(SHA-256(id)).
func redisKey(prefix, kind, id string) string {
	sum := sha256.Sum256([]byte(id))
	return prefix + kind + hex.EncodeToString(sum[:])
}

// sessionHash returns the SHA-256 of a session ID, which names its key.
func (s *RedisStore) sessionHash(id string) [32]byte { return s.hash(id, nil, nil) }

// hashKey returns the session key for an ID's SHA-256.
func (s *RedisStore) hashKey(sum [32]byte) string {
	return s.prefix + "s:" + hex.EncodeToString(sum[:])
}

func (s *RedisStore) sessionKey(id string) string  { return s.hashKey(s.sessionHash(id)) }
func (s *RedisStore) sidKey(sid string) string     { return redisKey(s.prefix, "sid:", sid) }
func (s *RedisStore) subKey(sub string) string     { return redisKey(s.prefix, "sub:", sub) }
func (s *RedisStore) revokedKey(sid string) string { return redisKey(s.prefix, "revoked-sid:", sid) }

// context returns the context for one store operation.
func (s *RedisStore) context(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// handles decodes the handle cookies on r (normally none or one).
// Undecodable ones are skipped; dup reports whether r has the cookie
// more than once.
func (s *RedisStore) handles(r *http.Request) (hs []redisHandle, dup bool) {
	if r == nil {
		return nil, false
	}
	cookies := r.CookiesNamed(s.name)
	for i, c := range cookies {
		if i == 4 { // no browser sends more; bound the work
			break
		}
		if len(c.Value) > maxRedisHandle {
			continue
		}
		if h, ok := s.decodeHandle(c.Value); ok {
			hs = append(hs, h)
		}
	}
	return hs, len(cookies) > 1
}

// decodeHandle decodes and checks one handle cookie value, from the
// handle cache when it has seen the value before (with securecookie's
// timestamp check repeated).
func (s *RedisStore) decodeHandle(value string) (redisHandle, bool) {
	var k [32]byte
	if s.handleCache != nil {
		k = s.hash(value, nil, nil)
		if e, ok := s.handleCache.get(k); ok {
			if time.Now().Unix() > e.signedUntil {
				s.handleCache.remove(k)
				return redisHandle{}, false
			}
			return redisHandle{ID: e.h.ID, Secret: bytes.Clone(e.h.Secret)}, true
		}
	}
	var h redisHandle
	if decodeCookie(s.name, value, &h, s.decoders...) != nil ||
		len(h.ID) < minRedisSessionID || len(h.ID) > maxRedisSessionID || len(h.Secret) != redisSecretLength {
		return redisHandle{}, false
	}
	if s.handleCache != nil {
		if ts, ok := signedTimestamp(value); ok {
			s.handleCache.put(k, cachedHandle{h: redisHandle{ID: h.ID, Secret: bytes.Clone(h.Secret)}, signedUntil: ts + s.maxAge}, len(h.ID)+len(h.Secret))
		}
	}
	return h, true
}

// hash returns the SHA-256 of a, b and c, each but the last preceded by
// its length, without allocating.
func (s *RedisStore) hash(a string, b, c []byte) [32]byte {
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf := (*bp)[:0]
	if b != nil || c != nil {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(a)))
		buf = append(buf, a...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
		buf = append(buf, b...)
		buf = append(buf, c...)
	} else {
		buf = append(buf, a...)
	}
	k := sha256.Sum256(buf)
	*bp = buf
	s.bufs.Put(bp)
	return k
}

// open decrypts and decodes the payload stored under key for handle h,
// and checks that it is h's session. Opening is a pure function of h and
// the payload bytes (the key derives from h.ID), so an opened session is
// remembered by their hash and a copy returned when Redis hands back the
// same bytes for the same handle; any change to the payload is a miss.
func (s *RedisStore) open(key string, h redisHandle, payload []byte) (*Session, bool) {
	var k [32]byte
	if s.payloadCache != nil {
		k = s.hash(h.ID, h.Secret, payload)
		if sess, ok := s.payloadCache.get(k); ok {
			return sess.clone(), true
		}
	}
	sess, ok := redisOpen(key, h.Secret, payload)
	if !ok || sess.ID != h.ID || sess.CreatedAt.IsZero() {
		return nil, false
	}
	if s.payloadCache != nil {
		s.payloadCache.put(k, sess.clone(), len(payload)+sessionSize(sess))
	}
	return sess, true
}

// handle returns r's one valid handle: r must have exactly one handle
// cookie, and it must decode.
func (s *RedisStore) handle(r *http.Request) (redisHandle, bool) {
	if r == nil {
		return redisHandle{}, false
	}
	cookies := r.CookiesNamed(s.name)
	if len(cookies) != 1 || len(cookies[0].Value) > maxRedisHandle {
		return redisHandle{}, false
	}
	return s.decodeHandle(cookies[0].Value)
}

// redisAEAD returns the payload cipher for a session secret.
func redisAEAD(secret []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, redisPayloadInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("session: deriving payload key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("session: payload cipher: %w", err)
	}
	g, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("session: payload cipher: %w", err)
	}
	return g, nil
}

// redisSeal encrypts sess for key under secret.
func redisSeal(key string, secret []byte, sess *Session) ([]byte, error) {
	plain, err := json.Marshal(sess)
	if err != nil {
		return nil, fmt.Errorf("session: encoding session: %w", err)
	}
	g, err := redisAEAD(secret)
	if err != nil {
		return nil, err
	}
	return g.Seal([]byte{redisPayloadVersion}, nil, plain, []byte(key)), nil
}

// redisOpen decrypts a payload stored under key; ok is false if it does not
// decrypt or decode.
func redisOpen(key string, secret []byte, payload []byte) (*Session, bool) {
	if len(payload) < 1 || payload[0] != redisPayloadVersion {
		return nil, false
	}
	g, err := redisAEAD(secret)
	if err != nil {
		return nil, false
	}
	plain, err := g.Open(nil, nil, payload[1:], []byte(key))
	if err != nil {
		return nil, false
	}
	var sess Session
	if json.Unmarshal(plain, &sess) != nil {
		return nil, false
	}
	return &sess, true
}

// Load returns the session r's handle cookie points to, and extends its
// idle timeout. A missing, duplicated, tampered or foreign handle, a
// session that is gone from Redis (ended, idle, cleared or revoked), one
// that does not decrypt, and one past its absolute lifetime yield
// ErrNoSession. A Redis failure yields an error wrapping
// ErrStoreUnavailable, within Timeout.
//
// Extending the idle timeout is best effort: a failure there does not
// fail Load. To spare writes, Load extends it only once it has run down
// by more than a sixteenth of IdleTimeout (at most a minute).
//
// With CacheTTL, a session read shortly before may come from memory
// instead (see RedisConfig.CacheTTL); the idle timeout is then extended
// as above, judged from what the store knows of the key's TTL.
func (s *RedisStore) Load(r *http.Request) (*Session, error) {
	h, ok := s.handle(r)
	if !ok {
		return nil, ErrNoSession
	}
	id := s.sessionHash(h.ID)
	var gen uint64
	var cacheable bool
	if s.cache != nil {
		if sess, ok := s.cached(id, h); ok {
			return sess, nil
		}
		gen, cacheable = s.cache.token()
	}
	ctx, cancel := s.context(r.Context())
	defer cancel()
	key := s.hashKey(id)
	sent := time.Now()
	pipe := s.client.Pipeline()
	get := pipe.Get(ctx, key)
	pttl := pipe.PTTL(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil {
		if errors.Is(get.Err(), redis.Nil) {
			return nil, ErrNoSession
		}
		return nil, redisUnavailable("load", err)
	}
	sess, ok := s.open(key, h, []byte(get.Val()))
	if !ok {
		return nil, ErrNoSession
	}
	deadline := sess.CreatedAt.Add(s.lifetime)
	remaining := deadline.Sub(s.now())
	if remaining <= 0 {
		return nil, ErrNoSession
	}
	cur := pttl.Val()
	expires := sent.Add(cur)
	// PEXPIRE never creates a key, so this cannot revive a session that
	// was deleted since the GET.
	if want := min(s.idle, remaining); cur < 0 || want-cur > s.slack {
		extended := time.Now()
		ok, err := s.client.PExpire(ctx, key, want).Result()
		expires = extended.Add(want)
		cacheable = cacheable && ok && err == nil
	}
	if cacheable {
		s.remember(id, h, sess, sent, expires, deadline, gen)
	}
	return sess, nil
}

// Save stores sess in Redis and sets the handle cookie on w, whose
// Max-Age is the session's remaining absolute lifetime. The Redis key
// expires after IdleTimeout, or at the end of the lifetime if sooner.
//
// sess.ID names the session; Save sets it to NewRandom() if it is empty,
// and rejects IDs of fewer than 22 or more than 128 bytes. If r carries a
// valid handle for sess.ID, Save keeps its secret and only overwrites a
// session that still exists (SET XX): a session revoked, cleared or idle
// meanwhile yields an error wrapping ErrNoSession and is not revived.
// Otherwise Save makes a new handle with a new secret, and deletes the
// session of any valid handle r carries for another ID: an ID is never
// taken from the request. A session whose lifetime has ended, or whose
// SID was revoked (RevokeSID), yields an error wrapping ErrNoSession. A
// Redis failure yields an error wrapping ErrStoreUnavailable, and no
// cookie.
//
// Save first lists the session in its SID and subject indexes, then
// writes it, then, for a new handle, checks that its SID was not revoked;
// RevokeSID works in the opposite order, so whichever runs first, a
// revoked session does not survive. Last, it announces the keys it wrote
// and deleted to the stores' caches and waits for their acknowledgements
// (see RedisConfig.CacheTTL); failing to announce fails Save too.
func (s *RedisStore) Save(w http.ResponseWriter, r *http.Request, sess *Session) error {
	switch {
	case sess == nil:
		return errors.New("session: cannot save a nil session")
	case sess.CreatedAt.IsZero():
		return errors.New("session: cannot save a session without CreatedAt")
	case sess.ID == "":
		sess.ID = NewRandom()
	case len(sess.ID) < minRedisSessionID || len(sess.ID) > maxRedisSessionID:
		return fmt.Errorf("session: session ID of %d bytes; want %d to %d (use NewRandom)", len(sess.ID), minRedisSessionID, maxRedisSessionID)
	}
	now := s.now()
	deadline := sess.CreatedAt.Add(s.lifetime)
	remaining := deadline.Sub(now)
	if remaining < time.Second {
		return fmt.Errorf("session: session lifetime ended at %s: %w", deadline.Format(time.RFC3339), ErrNoSession)
	}
	ctx := context.Background()
	if r != nil {
		ctx = r.Context()
	}
	ctx, cancel := s.context(ctx)
	defer cancel()

	var stale []string
	h, reuse := s.handle(r)
	if !reuse || h.ID != sess.ID {
		reuse = false
		hs, _ := s.handles(r)
		for _, old := range hs {
			if old.ID != sess.ID {
				stale = append(stale, s.sessionKey(old.ID))
			}
		}
		h = redisHandle{ID: sess.ID, Secret: make([]byte, redisSecretLength)}
		_, _ = rand.Read(h.Secret) // never fails; crashes the program if it would
	}
	key := s.sessionKey(h.ID)
	value, err := redisSeal(key, h.Secret, sess)
	if err != nil {
		return err
	}
	cookie, err := s.encoder.Encode(s.name, &h)
	if err != nil {
		return fmt.Errorf("session: encoding handle: %w", err)
	}
	// Whatever happens below, the keys Save may have touched are
	// announced; on success explicitly, so that its failure is reported.
	touched := append(stale, key)
	announced := false
	defer func() {
		if !announced {
			_ = s.invalidate(ctx, touched...)
		}
	}()

	// 1. Index, and drop the sessions the browser is leaving.
	pipe := s.client.Pipeline()
	var indexes []string
	if sid := sess.Identity.SID; sid != "" {
		indexes = append(indexes, s.sidKey(sid))
	}
	if sub := sess.Identity.Subject; sub != "" {
		indexes = append(indexes, s.subKey(sub))
	}
	for _, idx := range indexes {
		s.index.Eval(ctx, pipe, []string{idx}, key, deadline.UnixMilli(), now.UnixMilli(), remaining.Milliseconds())
	}
	for _, k := range stale {
		pipe.Del(ctx, k)
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return redisUnavailable("save", err)
		}
	}
	// 2. Write.
	ttl := min(s.idle, remaining)
	if reuse {
		ok, err := s.client.SetXX(ctx, key, value, ttl).Result()
		if err != nil {
			return redisUnavailable("save", err)
		}
		if !ok {
			return fmt.Errorf("session: session ended before it could be saved: %w", ErrNoSession)
		}
	} else if err := s.client.Set(ctx, key, value, ttl).Err(); err != nil {
		return redisUnavailable("save", err)
	}
	// 3. A new session must not outlive a revocation of its SID that
	// raced with it, or came before it.
	if !reuse && sess.Identity.SID != "" {
		n, err := s.client.Exists(ctx, s.revokedKey(sess.Identity.SID)).Result()
		if err != nil || n > 0 {
			_ = s.client.Del(ctx, key).Err()
		}
		switch {
		case err != nil:
			return redisUnavailable("save", err)
		case n > 0:
			return fmt.Errorf("session: the session's sid was revoked: %w", ErrNoSession)
		}
	}
	// 4. Announce.
	announced = true
	if err := s.invalidate(ctx, touched...); err != nil {
		return redisUnavailable("save", err)
	}
	http.SetCookie(w, s.cookie(cookie, int(min(remaining, s.lifetime)/time.Second)))
	return nil
}

// Clear expires the handle cookie and deletes the session it points to,
// and announces that to the stores' caches (see RedisConfig.CacheTTL).
// It sets the cookie first, so a browser is logged out even when Redis
// fails; the error, wrapping ErrStoreUnavailable, then tells that the
// server-side session may live on until it expires (or, if only the
// announcement failed, in other stores' caches for up to their CacheTTL).
func (s *RedisStore) Clear(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, s.cookie("", -1))
	hs, _ := s.handles(r)
	if len(hs) == 0 {
		return nil
	}
	ctx, cancel := s.context(r.Context())
	defer cancel()
	keys := make([]string, len(hs))
	pipe := s.client.Pipeline()
	for i, h := range hs {
		keys[i] = s.sessionKey(h.ID)
		pipe.Del(ctx, keys[i])
	}
	_, err := pipe.Exec(ctx)
	if ierr := s.invalidate(ctx, keys...); err == nil {
		err = ierr
	}
	if err != nil {
		return redisUnavailable("clear", err)
	}
	return nil
}

// cookie returns the handle cookie; maxAge < 0 deletes it.
func (s *RedisStore) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     s.name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.secure,
		SameSite: s.sameSite,
	}
}

var (
	_ Store   = (*RedisStore)(nil)
	_ Revoker = (*RedisStore)(nil)
)

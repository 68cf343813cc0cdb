package session

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

const (
	// DefaultCookieCacheSize is CookieConfig.CacheSize's default.
	DefaultCookieCacheSize = 4096
	// cookieCacheBytes bounds the memory the decoded sessions of a cache
	// hold (tokens and identity strings, estimated), whatever their count.
	cookieCacheBytes = 16 << 20
	// cacheEntryOverhead estimates an entry's fixed cost: key, struct and
	// map slot.
	cacheEntryOverhead = 512
)

// sessionCache remembers sessions that CookieStore.Load decoded, keyed by
// the SHA-256 of the exact encoded value they were decoded from (every
// chunk, joined). Decoding is a pure function of that value and the keys,
// except for the two lifetime checks, which each entry keeps and Load
// repeats on every hit. So a hit returns exactly what decoding would have
// returned, for the price of a hash and a map lookup instead of HMAC, AES,
// two base64 decodings and JSON. Only values that decoded into a valid
// session are cached: a tampered or foreign cookie is never remembered,
// so forged cookies cannot fill the cache.
type sessionCache struct {
	entries *genCache[*cachedSession]
	bufs    sync.Pool // *[]byte scratch for hashing without allocating
}

// cachedSession is one decoded session. sess is never handed out: hits
// return copies.
type cachedSession struct {
	sess Session
	// deadline is CreatedAt + lifetime, checked with the store's clock.
	deadline time.Time
	// signedUntil is the last Unix second securecookie accepts the value
	// at (its signed timestamp + MaxAge), checked with the wall clock as
	// securecookie does.
	signedUntil int64
}

// newSessionCache returns a cache of at most size entries, or nil when
// size < 2.
func newSessionCache(size int) *sessionCache {
	if size < 2 {
		return nil
	}
	return &sessionCache{entries: newGenCache[*cachedSession](size, cookieCacheBytes)}
}

// key hashes an encoded value given as its chunk cookies, in order.
func (c *sessionCache) key(chunks []*http.Cookie) [32]byte {
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = (*bp)[:0]
	for _, ch := range chunks {
		*bp = append(*bp, ch.Value...)
	}
	k := sha256.Sum256(*bp)
	c.bufs.Put(bp)
	return k
}

// get returns a copy of the session cached under k. hit reports whether k
// is cached; a hit with a nil session is an entry past one of its
// lifetimes at now (store clock) or wall (Unix seconds), which get drops:
// decoding its value would fail too.
func (c *sessionCache) get(k [32]byte, now time.Time, wall int64) (sess *Session, hit bool) {
	e, ok := c.entries.get(k)
	if !ok {
		return nil, false
	}
	if !now.Before(e.deadline) || wall > e.signedUntil {
		c.entries.remove(k)
		return nil, true
	}
	return e.sess.clone(), true
}

// put remembers sess, decoded from the value hashed to k.
func (c *sessionCache) put(k [32]byte, sess *Session, deadline time.Time, signedUntil int64) {
	// The cache keeps its own slices: the caller may change sess's.
	c.entries.put(k, &cachedSession{sess: *sess.clone(), deadline: deadline, signedUntil: signedUntil}, sessionSize(sess))
}

// len returns the number of entries.
func (c *sessionCache) len() int { return c.entries.len() }

// genCache is a map bounded in entries and bytes by two generations: new
// and used entries go into the current one; when it is full it becomes
// the old one and the previous old one is dropped. An entry used in the
// old generation moves back into the current one, so entries in use stay.
// It is safe for concurrent use.
type genCache[V any] struct {
	mu        sync.Mutex
	half      int // most entries of one generation
	halfBytes int // most bytes of one generation
	curBytes  int
	cur, old  map[[32]byte]genEntry[V]
}

type genEntry[V any] struct {
	v    V
	size int
}

func newGenCache[V any](entries, bytes int) *genCache[V] {
	return &genCache[V]{half: max(entries/2, 1), halfBytes: bytes / 2, cur: make(map[[32]byte]genEntry[V])}
}

func (c *genCache[V]) get(k [32]byte) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cur[k]
	if !ok {
		if e, ok = c.old[k]; ok {
			delete(c.old, k)
			c.addLocked(k, e)
		}
	}
	return e.v, ok
}

// put adds v, whose data take about size bytes.
func (c *genCache[V]) put(k [32]byte, v V, size int) {
	size += cacheEntryOverhead
	if size > c.halfBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.cur[k]; ok {
		c.curBytes -= old.size
		delete(c.cur, k)
	}
	c.addLocked(k, genEntry[V]{v, size})
}

func (c *genCache[V]) remove(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cur[k]; ok {
		c.curBytes -= e.size
		delete(c.cur, k)
	}
	delete(c.old, k)
}

// addLocked adds e to the current generation, first retiring it when it
// is full.
func (c *genCache[V]) addLocked(k [32]byte, e genEntry[V]) {
	if len(c.cur) >= c.half || c.curBytes+e.size > c.halfBytes {
		c.old, c.cur, c.curBytes = c.cur, make(map[[32]byte]genEntry[V], len(c.cur)), 0
	}
	c.cur[k] = e
	c.curBytes += e.size
}

// len returns the number of entries in both generations.
func (c *genCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}

// clone returns a copy of s that shares no slice with it.
func (s *Session) clone() *Session {
	c := *s
	c.Identity.Groups = slices.Clone(s.Identity.Groups)
	c.Identity.Scopes = slices.Clone(s.Identity.Scopes)
	return &c
}

// sessionSize estimates the bytes a decoded session holds.
func sessionSize(s *Session) int {
	n := len(s.ID) + len(s.IDToken) + len(s.AccessToken) + len(s.RefreshToken)
	id := &s.Identity
	n += len(id.Issuer) + len(id.Subject) + len(id.Email) + len(id.PreferredUsername) + len(id.Name) + len(id.ClientID) + len(id.SID)
	for _, g := range id.Groups {
		n += len(g) + 16
	}
	for _, sc := range id.Scopes {
		n += len(sc) + 16
	}
	return n
}

// signedTimestamp returns the timestamp securecookie signed into value
// (base64url of "timestamp|payload|mac"), reading only its first bytes.
func signedTimestamp(value string) (int64, bool) {
	const prefix = 32 // base64 characters: 24 bytes, more than "%d|" needs
	if len(value) < prefix {
		return 0, false
	}
	var b [24]byte
	n, err := base64.URLEncoding.Decode(b[:], []byte(value[:prefix]))
	if err != nil {
		return 0, false
	}
	for i := 0; i < n; i++ {
		if b[i] == '|' {
			t, err := strconv.ParseInt(string(b[:i]), 10, 64)
			return t, err == nil
		}
	}
	return 0, false
}

package session

import (
	"encoding/base64"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
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
	// cacheKeyTail is how many bytes from the end of an encoded value its
	// cache key covers.
	cacheKeyTail = 64
)

// sessionCache remembers sessions that CookieStore.Load decoded, by the
// exact encoded value they were decoded from (every chunk, joined).
// Decoding is a pure function of that value and the keys, except for the
// two lifetime checks, which each entry keeps and Load repeats on every
// hit. So a hit returns exactly what decoding would have returned, for the
// price of a hash and a comparison instead of HMAC, AES, two base64
// decodings and JSON. Only values that decoded into a valid session are
// cached: a tampered or foreign cookie is never remembered, so forged
// cookies cannot fill the cache.
//
// Entries are found by a 64-bit hash/maphash sum of the value's length and
// tail, with a seed made at random for each cache, and a hit also needs
// the whole value to be equal. The comparison is not constant-time; it only runs once the
// keyed hash of a guess matches a stored value's, and the seed never
// leaves the process, so its timing tells a guesser nothing it could use.
type sessionCache struct {
	entries *genCache[uint64, *cachedSession]
	seed    maphash.Seed
}

// cachedSession is one decoded session. sess is never handed out: hits
// return copies.
type cachedSession struct {
	value string // the encoded value it was decoded from
	sess  Session
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
	return &sessionCache{entries: newGenCache[uint64, *cachedSession](size, cookieCacheBytes), seed: maphash.MakeSeed()}
}

// key returns the key of an encoded value given as its chunks, in order:
// a keyed hash of its length and of its last 64 bytes. Those end in the
// value's HMAC, so different sessions get different keys, without hashing
// kilobytes per request; get still compares the whole value.
func (c *sessionCache) key(chunks []string) uint64 {
	n := 0
	for _, ch := range chunks {
		n += len(ch)
	}
	var tail [8 + cacheKeyTail]byte
	binary.LittleEndian.PutUint64(tail[:8], uint64(n))
	b := tail[8:]
	for i := len(chunks) - 1; i >= 0 && len(b) > 0; i-- {
		ch := chunks[i]
		k := copy(b[max(0, len(b)-len(ch)):], ch[max(0, len(ch)-len(b)):])
		b = b[:len(b)-k]
	}
	return maphash.Bytes(c.seed, tail[:])
}

// get returns a copy of the session cached for the value made of chunks,
// whose key is k. hit reports whether the value is cached; a hit with a
// nil session is an entry past one of its lifetimes at now (store clock)
// or wall (Unix seconds), which get drops: decoding its value would fail
// too.
func (c *sessionCache) get(k uint64, chunks []string, now time.Time, wall int64) (sess *Session, hit bool) {
	e, ok := c.entries.get(k)
	if !ok || !joinedEqual(e.value, chunks) {
		return nil, false
	}
	if !now.Before(e.deadline) || wall > e.signedUntil {
		c.entries.remove(k)
		return nil, true
	}
	return e.sess.clone(), true
}

// put remembers sess, decoded from value, whose key is k. A different
// value with the same key replaces the entry.
func (c *sessionCache) put(k uint64, value string, sess *Session, deadline time.Time, signedUntil int64) {
	// The cache keeps its own copies: the caller may change sess's slices,
	// and value may be part of a larger header string.
	e := &cachedSession{value: strings.Clone(value), sess: *sess.clone(), deadline: deadline, signedUntil: signedUntil}
	c.entries.put(k, e, len(value)+sessionSize(sess))
}

// joinedEqual reports whether s equals the concatenation of parts.
func joinedEqual(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.HasPrefix(s, p) {
			return false
		}
		s = s[len(p):]
	}
	return s == ""
}

// len returns the number of entries.
func (c *sessionCache) len() int { return c.entries.len() }

// genCache is a map bounded in entries and bytes by two generations: new
// and used entries go into the current one; when it is full it becomes
// the old one and the previous old one is dropped. An entry used in the
// old generation moves back into the current one, so entries in use stay.
// It is safe for concurrent use.
type genCache[K comparable, V any] struct {
	mu        sync.Mutex
	half      int // most entries of one generation
	halfBytes int // most bytes of one generation
	curBytes  int
	cur, old  map[K]genEntry[V]
}

type genEntry[V any] struct {
	v    V
	size int
}

func newGenCache[K comparable, V any](entries, bytes int) *genCache[K, V] {
	return &genCache[K, V]{half: max(entries/2, 1), halfBytes: bytes / 2, cur: make(map[K]genEntry[V])}
}

func (c *genCache[K, V]) get(k K) (V, bool) {
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
func (c *genCache[K, V]) put(k K, v V, size int) {
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

func (c *genCache[K, V]) remove(k K) {
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
func (c *genCache[K, V]) addLocked(k K, e genEntry[V]) {
	if len(c.cur) >= c.half || c.curBytes+e.size > c.halfBytes {
		c.old, c.cur, c.curBytes = c.cur, make(map[K]genEntry[V], len(c.cur)), 0
	}
	c.cur[k] = e
	c.curBytes += e.size
}

// len returns the number of entries in both generations.
func (c *genCache[K, V]) len() int {
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

package session

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// A Load that read Redis before an announcement was processed must not
// cache what it read; one that read after may.
func TestRedisCachePutAfterInvalidation(t *testing.T) {
	c := newRedisCache(time.Minute, 16, "x:invalidate")
	id := sha256.Sum256([]byte("session"))
	other := sha256.Sum256([]byte("other"))
	secret := make([]byte, redisSecretLength)
	now := time.Now()
	entry := func() *redisEntry {
		return &redisEntry{fetched: now, expires: now.Add(time.Hour), size: 1}
	}
	if _, ok := c.token(); ok {
		t.Fatal("token before the subscription is confirmed")
	}
	c.put(id, entry(), 0)
	if c.len() != 0 {
		t.Fatal("put before the subscription is confirmed")
	}
	c.reset(true)
	for _, tc := range []struct {
		name    string
		between func()
		want    bool
	}{
		{"nothing", func() {}, true},
		{"announcement of this session", func() { c.drop([][32]byte{id}) }, false},
		{"announcement of another session", func() { c.drop([][32]byte{other}) }, false},
		{"unreadable announcement", func() { c.drop(nil) }, false},
		{"resubscription", func() { c.reset(false); c.reset(true) }, false},
	} {
		c.reset(true)
		gen, ok := c.token()
		if !ok {
			t.Fatal("no token while live")
		}
		tc.between()
		c.put(id, entry(), gen)
		if _, hit := c.lookup(id, secret, now); hit != tc.want {
			t.Errorf("%s between read and put: hit %v, want %v", tc.name, hit, tc.want)
		}
	}
	// Hits need the same secret, a young entry and an unexpired key.
	c.reset(true)
	gen, _ := c.token()
	c.put(id, entry(), gen)
	if _, hit := c.lookup(id, []byte(strings.Repeat("x", redisSecretLength)), now); hit {
		t.Error("hit for another handle's secret")
	}
	if _, hit := c.lookup(id, secret, now.Add(time.Minute)); hit {
		t.Error("hit at the TTL")
	}
	gen, _ = c.token()
	e := entry()
	e.expires = now.Add(time.Second)
	c.put(id, e, gen)
	if _, hit := c.lookup(id, secret, now.Add(time.Second)); hit {
		t.Error("hit when the key has expired")
	}
	gen, _ = c.token()
	c.put(id, entry(), gen)
	c.reset(false)
	if _, hit := c.lookup(id, secret, now); hit || c.len() != 0 {
		t.Error("hit, or entries, after the subscription broke")
	}
}

func TestRedisCacheBounds(t *testing.T) {
	c := newRedisCache(time.Minute, 8, "x:invalidate")
	c.reset(true)
	now := time.Now()
	for i := range 100 {
		gen, _ := c.token()
		c.put(sha256.Sum256([]byte{byte(i)}), &redisEntry{fetched: now, expires: now.Add(time.Hour), size: 1}, gen)
	}
	if n := c.len(); n > 8 {
		t.Errorf("%d entries in a cache of 8", n)
	}
	gen, _ := c.token()
	before := c.len()
	c.put(sha256.Sum256([]byte("huge")), &redisEntry{fetched: now, expires: now.Add(time.Hour), size: redisCacheBytes}, gen)
	if _, hit := c.lookup(sha256.Sum256([]byte("huge")), make([]byte, redisSecretLength), now); hit || c.len() != before {
		t.Error("an entry larger than the byte bound was kept")
	}
}

func TestInvalidationMessages(t *testing.T) {
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	var ids [][32]byte
	for _, k := range []string{"p:s:" + hex.EncodeToString(a[:]), "a prefix with spaces:s:" + hex.EncodeToString(b[:])} {
		id, ok := sessionKeyHash(k)
		if !ok {
			t.Fatalf("sessionKeyHash(%q) failed", k)
		}
		ids = append(ids, id)
	}
	kind, nonce, got, ok := parseMessage(invalidation("n0nce", ids))
	if !ok || kind != 'i' || nonce != "n0nce" || len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("announcement round trip: %c %q %x %v", kind, nonce, got, ok)
	}
	kind, nonce, got, ok = parseMessage(invalidation(noAck, nil))
	if !ok || kind != 'i' || nonce != noAck || got != nil {
		t.Errorf("announcement of every session: %c %q %x %v", kind, nonce, got, ok)
	}
	if kind, nonce, _, ok := parseMessage("a n0nce"); !ok || kind != 'a' || nonce != "n0nce" {
		t.Errorf("acknowledgement: %c %q %v", kind, nonce, ok)
	}
	for _, bad := range []string{"", " ", "i", "a", "a -", "a x y", "x y", hex.EncodeToString(a[:]),
		"i n " + hex.EncodeToString(a[:]) + " zz", "i n " + strings.Repeat("g", 64)} {
		if _, _, _, ok := parseMessage(bad); ok {
			t.Errorf("parseMessage(%q) succeeded", bad)
		}
	}
	if _, ok := sessionKeyHash("p:s:short"); ok {
		t.Error("sessionKeyHash of a short key succeeded")
	}
}

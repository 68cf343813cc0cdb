package session

import (
	"testing"
	"time"
)

// TestSessionCacheComparesValues checks that an entry is only ever
// returned for its own value, even when another value lands on its key
// (here forced; with maphash keys it takes a 64-bit collision).
func TestSessionCacheComparesValues(t *testing.T) {
	c := newSessionCache(16)
	now := time.Now()
	alice := &Session{ID: "alice-session", CreatedAt: now}
	c.put(42, "aaaa.bbbb", alice, now.Add(time.Hour), now.Add(time.Hour).Unix())
	for _, chunks := range [][]string{
		{"aaaa.bbbb"}, {"aaaa", ".bbbb"}, {"", "aaaa.bbbb", ""},
	} {
		if s, hit := c.get(42, chunks, now, now.Unix()); !hit || s == nil || s.ID != "alice-session" {
			t.Errorf("get(%q) = %v, %v; want alice's session", chunks, s, hit)
		}
	}
	for _, chunks := range [][]string{
		{"aaaa.bbbc"}, {"aaaa.bbb"}, {"aaaa.bbbbb"}, {"aaaa", "bbbb"}, {}, {"aaaa.bbbb", "x"},
	} {
		if s, hit := c.get(42, chunks, now, now.Unix()); hit || s != nil {
			t.Errorf("get(%q) = %v, %v; want a miss", chunks, s, hit)
		}
	}
	if k1, k2 := c.key([]string{"ab", "c"}), c.key([]string{"a", "bc"}); k1 != k2 {
		t.Errorf("a value's key depends on how it is chunked: %x, %x", k1, k2)
	}
	if other := newSessionCache(16); other.key([]string{"abc"}) == c.key([]string{"abc"}) {
		t.Errorf("two caches share a seed")
	}
}

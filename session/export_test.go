package session

// Hooks for the external tests of the decoded-session cache.

// CookieCacheLen returns how many sessions s's cache holds.
func CookieCacheLen(s *CookieStore) int {
	if s.cache == nil {
		return 0
	}
	return s.cache.len()
}

// BreakCookieDecoding makes every decode of s fail, so that only cache
// hits can load a session: a successful Load proves a hit.
func BreakCookieDecoding(s *CookieStore) { s.decoders = nil }

// ExpireCookieCacheSignatures moves the signed-timestamp limit of every
// cached entry of s into the past, as if securecookie's MaxAge had run
// out on the wall clock.
func ExpireCookieCacheSignatures(s *CookieStore) {
	c := s.cache.entries
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range []map[uint64]genEntry[*cachedSession]{c.cur, c.old} {
		for _, e := range m {
			e.v.signedUntil = 0
		}
	}
}

// SignedTimestamp exposes signedTimestamp.
var SignedTimestamp = signedTimestamp

// BreakRedisHandleDecoding makes every handle decode of s fail, so that
// only handle-cache hits can load a session.
func BreakRedisHandleDecoding(s *RedisStore) { s.decoders = nil }

// RedisCacheLens returns how many handles and payloads s's caches hold.
func RedisCacheLens(s *RedisStore) (handles, payloads int) {
	if s.handleCache == nil {
		return 0, 0
	}
	return s.handleCache.len(), s.payloadCache.len()
}

// RedisLoadedLen returns how many sessions s's cache of loaded sessions
// (CacheTTL) holds.
func RedisLoadedLen(s *RedisStore) int {
	if s.cache == nil {
		return 0
	}
	return s.cache.len()
}

// OnRedisCacheEvent makes the subscriber of s's cache of loaded sessions
// call f, from its goroutine, once it has acted on an event: "live" (the
// subscription is confirmed), "down" (it broke; the cache is empty) and
// "message" (an announcement, as payload, processed). Call it before
// Start.
func OnRedisCacheEvent(s *RedisStore, f func(event, payload string)) {
	s.cache.testEvent = f
}

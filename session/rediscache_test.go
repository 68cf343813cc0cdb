package session_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/session/redistest"
	"github.com/gatehouse-proxy/gatehouse/session/storetest"
)

// The Redis store's caches spare decoding, never Redis: a session deleted,
// revoked or changed in Redis is seen at the next Load.
func TestRedisStoreCaches(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	client := redisClient(t, addr)
	prefix := redisPrefix()
	st := newRedisStore(t, session.RedisConfig{Client: client, KeyPrefix: prefix}, redisKeys(t), nil)
	want := storetest.FullSession(1000, 1200, 400)
	want.ID = ""
	jar := new(storetest.Jar)
	mustSave(t, st, jar, want)
	wantLoads(t, st, jar, want, "first Load")
	if h, p := session.RedisCacheLens(st); h != 1 || p != 1 {
		t.Fatalf("caches hold %d handles and %d payloads, want 1 and 1", h, p)
	}
	// The handle now comes from the cache: decoding is not needed.
	session.BreakRedisHandleDecoding(st)
	wantLoads(t, st, jar, want, "cached Load")
	got, err := loadFrom(st, jar)
	if err != nil {
		t.Fatal(err)
	}
	got.Identity.Groups[0] = "changed"
	wantLoads(t, st, jar, want, "Load after the caller changed its copy")

	// A changed payload is a miss and is opened (here: refused) again.
	keys, err := client.Keys(context.Background(), prefix+"s:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("session keys %v, %v", keys, err)
	}
	payload, err := client.Get(context.Background(), keys[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), payload...)
	tampered[len(tampered)-1] ^= 1
	if err := client.Set(context.Background(), keys[0], tampered, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := loadFrom(st, jar); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Load of a tampered payload: %v, want ErrNoSession", err)
	}
	if err := client.Set(context.Background(), keys[0], payload, 0).Err(); err != nil {
		t.Fatal(err)
	}
	wantLoads(t, st, jar, want, "Load of the restored payload")

	// A session gone from Redis is gone, whatever the caches hold.
	if err := client.Del(context.Background(), keys[0]).Err(); err != nil {
		t.Fatal(err)
	}
	wantGone(t, st, jar, "a session deleted in Redis")
}

func TestRedisStoreCacheOff(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	st := newRedisStore(t, session.RedisConfig{Client: redisClient(t, addr), KeyPrefix: redisPrefix(), Cookie: session.CookieConfig{CacheSize: -1}}, redisKeys(t), nil)
	want := storetest.FullSession(10, 10, 10)
	want.ID = ""
	jar := new(storetest.Jar)
	mustSave(t, st, jar, want)
	wantLoads(t, st, jar, want, "Load")
	if h, p := session.RedisCacheLens(st); h != 0 || p != 0 {
		t.Errorf("CacheSize -1: caches hold %d and %d", h, p)
	}
}

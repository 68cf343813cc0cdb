package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// stores is the session store and what goes with it.
type stores struct {
	sessions session.Store
	cookie   string // the session cookie's name
	once     session.Once
	locker   session.Locker  // nil with the cookie store
	counter  session.Counter // shared failure counts; nil with the cookie store
	ping     func(context.Context) error
	close    func() error
}

func (m *Main) openStores(s *settings, secure bool) (*stores, error) {
	cookie := session.CookieConfig{Secure: secure, Lifetime: m.cfg.sessionLifetime}
	if m.cfg.sessionStore == "cookie" {
		// The ID token, read only at sign-out, goes only there.
		cookie.SignOutPath = m.cfg.endpointPrefix + "/sign_out"
		cs, err := session.NewCookieStore(cookie, s.keys, nil)
		if err != nil {
			return nil, fmt.Errorf("session store: %w", err)
		}
		return &stores{sessions: cs, cookie: cs.CookieName(), once: session.NewMemoryOnce(session.DefaultMemoryOnceMax, nil),
			ping: func(context.Context) error { return nil }, close: func() error { return nil }}, nil
	}
	client, err := m.redisClient()
	if err != nil {
		return nil, err
	}
	// go-redis has one process-wide logger; the program (not a library
	// package) is the place to point it at ours.
	redis.SetLogger(redisLog{m.logger})
	rs, err := session.NewRedisStore(session.RedisConfig{
		Client: client, Cookie: cookie, IdleTimeout: m.cfg.sessionIdle, CacheTTL: m.cfg.sessionCacheTTL.d,
	}, s.keys, nil)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("session store: %w", err)
	}
	// The cache of loaded sessions listens for other replicas' sign-outs
	// and revocations until close.
	rs.Start(context.Background())
	closeAll := func() error {
		_ = rs.Close()
		return client.Close()
	}
	return &stores{sessions: rs, cookie: rs.CookieName(), once: session.NewRedisOnce(client, "gatehouse:"),
		locker: session.NewRedisLocker(client, "gatehouse:", 10*time.Second), counter: session.NewRedisCounter(client, "gatehouse:"),
		ping: rs.Ping, close: closeAll}, nil
}

// redisClient builds a go-redis client from --redis-url and --redis-mode.
// Per-operation timeouts are short so a dead Redis fails requests fast
// (503) instead of piling them up. It speaks RESP2 unless the URL asks
// for another protocol (?protocol=3): gatehouse needs nothing of RESP3,
// whose push notifications go-redis looks for around every command.
func (m *Main) redisClient() (redis.UniversalClient, error) {
	c := m.cfg
	password := strings.TrimSpace(string(c.redisPassword))
	switch c.redisMode {
	case "standalone":
		o, err := redis.ParseURL(c.redisURL)
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		if password != "" {
			o.Password = password
		}
		o.ContextTimeoutEnabled, o.MaxRetries, o.DialTimeout = true, 1, 2*time.Second
		if o.Protocol == 0 {
			o.Protocol = 2
		}
		return redis.NewClient(o), nil
	case "sentinel":
		o, err := redis.ParseFailoverURL(c.redisURL)
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		if o.MasterName == "" {
			return nil, errors.New("--redis-url: sentinel mode needs ?master_name=NAME")
		}
		if password != "" {
			o.Password = password
		}
		o.ContextTimeoutEnabled, o.MaxRetries, o.DialTimeout = true, 1, 2*time.Second
		if o.Protocol == 0 {
			o.Protocol = 2
		}
		return redis.NewFailoverClient(o), nil
	case "cluster":
		o, err := redis.ParseClusterURL(c.redisURL)
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		if password != "" {
			o.Password = password
		}
		o.ContextTimeoutEnabled, o.MaxRetries, o.DialTimeout = true, 1, 2*time.Second
		if o.Protocol == 0 {
			o.Protocol = 2
		}
		return redis.NewClusterClient(o), nil
	}
	return nil, fmt.Errorf("--redis-mode %q must be standalone, sentinel or cluster", c.redisMode)
}

// validateStore checks the session-store flags.
func (c *config) validateStore(getenv func(string) string) error {
	switch c.sessionStore {
	case "cookie":
		if c.redisURL != "" {
			return errors.New("--redis-url is set but --session-store is cookie; add --session-store=redis")
		}
		if c.sessionCacheTTL.given {
			return errors.New("--session-cache-ttl is set but --session-store is cookie; it only applies to --session-store=redis")
		}
		return nil
	case "redis":
	default:
		return fmt.Errorf("--session-store %q must be cookie or redis", c.sessionStore)
	}
	if c.redisURL == "" {
		return errors.New("--session-store=redis needs --redis-url, e.g. redis://127.0.0.1:6379/0")
	}
	if !strings.HasPrefix(c.redisURL, "redis://") && !strings.HasPrefix(c.redisURL, "rediss://") {
		return fmt.Errorf("--redis-url must start with redis:// or rediss://")
	}
	switch c.redisMode {
	case "standalone", "sentinel", "cluster":
	default:
		return fmt.Errorf("--redis-mode %q must be standalone, sentinel or cluster", c.redisMode)
	}
	if c.sessionIdle < time.Minute {
		return fmt.Errorf("--session-idle-timeout %v is too short (at least 1m)", c.sessionIdle)
	}
	if ttl := c.sessionCacheTTL.d; ttl < 0 || ttl > 10*time.Second {
		return fmt.Errorf("--session-cache-ttl %v must be between 0 (no cache) and 10s", ttl)
	}
	if c.redisPasswordFile != "" {
		b, err := os.ReadFile(c.redisPasswordFile)
		if err != nil {
			return fmt.Errorf("--redis-password-file: %v", err)
		}
		c.redisPassword = b
	} else {
		c.redisPassword = []byte(getenv("GATEHOUSE_REDIS_PASSWORD"))
	}
	return nil
}

// redisLog sends go-redis's own messages (reconnects, pool errors) to the
// structured log instead of its default standard-error logger.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(_ context.Context, format string, v ...any) {
	r.l.Warn("redis: " + fmt.Sprintf(format, v...))
}

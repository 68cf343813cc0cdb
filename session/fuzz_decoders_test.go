package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// FuzzFlowTake feeds arbitrary Cookie headers and states to the login-flow
// decoder: never a panic, never a flow for a state it was not saved for.
func FuzzFlowTake(f *testing.F) {
	keys := mustKeys(f, secret('f'))
	flows, err := session.NewFlowCookies(session.FlowConfig{}, keys, nil)
	if err != nil {
		f.Fatal(err)
	}
	rec := httptest.NewRecorder()
	state := session.NewRandom()
	if err := flows.Save(rec, httptest.NewRequest(http.MethodGet, "/", nil), &session.Flow{State: state, Nonce: "n", Verifier: "v"}); err != nil {
		f.Fatal(err)
	}
	valid := rec.Header().Get("Set-Cookie")
	if i := len(valid); i > 0 {
		for j := 0; j < len(valid); j++ {
			if valid[j] == ';' {
				valid = valid[:j]
				break
			}
		}
	}
	f.Add(valid, state)
	f.Add(valid, state+"x")
	f.Add("gatehouse_flow_0000000000000000=x", "s")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, header, st string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", header)
		fl, err := flows.Take(httptest.NewRecorder(), r, st)
		if err != nil {
			if !errors.Is(err, session.ErrNoFlow) {
				t.Fatalf("Take error %v does not wrap ErrNoFlow", err)
			}
			return
		}
		if fl.State != st {
			t.Fatalf("Take(%q) returned the flow of %q", st, fl.State)
		}
	})
}

// FuzzRedisHandle feeds arbitrary Cookie headers to the Redis store's
// handle decoder. No Redis runs: a handle that does not verify must be
// refused before any network call, as ErrNoSession, never as a store
// failure and never a panic.
func FuzzRedisHandle(f *testing.F) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer client.Close()
	st, err := session.NewRedisStore(session.RedisConfig{Client: client, Timeout: 100 * time.Millisecond}, mustKeys(f, secret('r')), nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "gatehouse=", "gatehouse=abc", "gatehouse=MTc5NTc4MTQ0NXx8", "gatehouse=a; gatehouse=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(context.Background())
		r.Header.Set("Cookie", header)
		if _, err := st.Load(r); !errors.Is(err, session.ErrNoSession) {
			t.Fatalf("Load of an unverifiable handle: %v, want ErrNoSession", err)
		}
	})
}

package main

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
	"github.com/gatehouse-proxy/gatehouse/session/redistest"
)

// redisHarness runs two gatehouses sharing a real redis-server.
func redisHarness(t *testing.T, o harnessOptions) (*harness, func(), func()) {
	addr, stop, restart := redistest.Start(t)
	o.replicas = 2
	o.extraFlags = append(o.extraFlags, "--session-store=redis", "--redis-url=redis://"+addr+"/0")
	return startHarness(t, o), stop, restart
}

// on sends a request to replica i with the browser's cookies.
func (h *harness) on(t *testing.T, b *browser, i int, method, path string, hdr map[string]string) *http.Response {
	all := map[string]string{"X-Test-Replica": strconv.Itoa(i), "Accept": "application/json"}
	for k, v := range hdr {
		all[k] = v
	}
	return b.do(method, h.gw+path, nil, all)
}

func TestReplicasShareSessions(t *testing.T) {
	h, _, _ := redisHarness(t, harnessOptions{})
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	for i := range 2 {
		if resp := h.on(t, b, i, "GET", "/x", nil); resp.StatusCode != 200 {
			t.Fatalf("replica %d: %d", i, resp.StatusCode)
		}
	}
	// The cookie carries a handle only: no token, no claims.
	for _, c := range h.jarCookies(b) {
		if len(c.Value) > 600 {
			t.Errorf("cookie %s is %d bytes; the Redis store's handle should be small", c.Name, len(c.Value))
		}
	}
	// Sign out on replica 0: replica 1 no longer accepts the old cookie,
	// even when it is replayed (case 84).
	old := h.jarCookies(b)
	resp := h.on(t, b, 0, "POST", "/oauth2/sign_out", map[string]string{"Origin": h.gw})
	location(t, resp, http.StatusSeeOther)
	replay := newBrowser(t)
	u, _ := url.Parse(h.gw)
	replay.jar.SetCookies(u, old)
	if resp := h.on(t, replay, 1, "GET", "/x", nil); resp.StatusCode != 401 {
		t.Fatalf("replayed cookie after sign-out on the other replica: %d", resp.StatusCode)
	}
}

// Back-channel logout on one replica ends the session on every replica,
// by sid; a later login (another sid) survives a replay (cases 92, 84).
func TestBackchannelLogoutAcrossReplicas(t *testing.T) {
	h, _, _ := redisHarness(t, harnessOptions{})
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	_ = b
	// A fresh login whose ID token the test captures, to learn its sid.
	b, sid := h.loginCapturingSID(t)
	logout := func(claims map[string]any, key string, header map[string]any) int {
		if header == nil {
			header = map[string]any{"typ": "logout+jwt"}
		}
		tok, err := h.iss.Mint(header, claims, key)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.PostForm(h.gw+"/oauth2/backchannel-logout", url.Values{"logout_token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 && resp.Header.Get("Cache-Control") != "no-store" {
			t.Error("logout response without Cache-Control: no-store")
		}
		return resp.StatusCode
	}
	now := time.Now().Unix()
	valid := func() map[string]any {
		return map[string]any{"iss": h.issURL, "aud": "gw", "iat": now, "jti": strconv.FormatInt(time.Now().UnixNano(), 36), "sid": sid,
			"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}
	}
	bad := map[string]func(map[string]any) (map[string]any, string){
		"evil key":     func(c map[string]any) (map[string]any, string) { return c, "evil" },
		"nonce":        func(c map[string]any) (map[string]any, string) { c["nonce"] = "x"; return c, "k1" },
		"no events":    func(c map[string]any) (map[string]any, string) { delete(c, "events"); return c, "k1" },
		"no sid/sub":   func(c map[string]any) (map[string]any, string) { delete(c, "sid"); return c, "k1" },
		"other aud":    func(c map[string]any) (map[string]any, string) { c["aud"] = "other"; return c, "k1" },
		"other iss":    func(c map[string]any) (map[string]any, string) { c["iss"] = "https://idp2.test"; return c, "k1" },
		"expired":      func(c map[string]any) (map[string]any, string) { c["exp"] = now - 3600; return c, "k1" },
		"old iat":      func(c map[string]any) (map[string]any, string) { c["iat"] = now - 7200; return c, "k1" },
		"no jti":       func(c map[string]any) (map[string]any, string) { delete(c, "jti"); return c, "k1" },
		"alg none":     func(c map[string]any) (map[string]any, string) { return c, "none" },
		"events array": func(c map[string]any) (map[string]any, string) { c["events"] = []any{"x"}; return c, "k1" },
	}
	for name, mutate := range bad {
		claims, key := mutate(valid())
		if code := logout(claims, key, nil); code != 400 {
			t.Errorf("%s: %d, want 400", name, code)
		}
	}
	for i := range 2 {
		if resp := h.on(t, b, i, "GET", "/x", nil); resp.StatusCode != 200 {
			t.Fatalf("after refused logout tokens, replica %d: %d", i, resp.StatusCode)
		}
	}
	good := valid()
	if code := logout(good, "k1", nil); code != 200 {
		t.Fatalf("valid logout token: %d", code)
	}
	for i := range 2 {
		if resp := h.on(t, b, i, "GET", "/x", nil); resp.StatusCode != 401 {
			t.Errorf("after back-channel logout, replica %d: %d", i, resp.StatusCode)
		}
	}
	// 92(h): alice logs in again (new sid); the old token replayed ends nothing.
	b2 := newBrowser(t)
	h.login(b2, "/", "alice", "pw-alice")
	if code := logout(good, "k1", nil); code != 400 && code != 200 {
		t.Errorf("replayed logout token: %d", code)
	}
	if resp := h.on(t, b2, 1, "GET", "/x", nil); resp.StatusCode != 200 {
		t.Errorf("the new session was ended by a replayed token: %d", resp.StatusCode)
	}
	// The admin endpoint revokes every session of a subject.
	resp, err := http.Post(h.admins[1]+"/sessions/revoke?sub=alice-sub", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("admin revoke: %v %v", err, resp)
	}
	if resp := h.on(t, b2, 0, "GET", "/x", nil); resp.StatusCode != 401 {
		t.Errorf("after admin revoke: %d", resp.StatusCode)
	}
}

// loginCapturingSID logs alice in and returns the browser and the sid of
// the ID token the issuer minted for that login.
func (h *harness) loginCapturingSID(t *testing.T) (*browser, string) {
	t.Helper()
	var sid string
	h.iss.SetHooks(devissuer.Hooks{IDTokenClaims: func(c map[string]any) { sid, _ = c["sid"].(string) }})
	defer h.iss.SetHooks(devissuer.Hooks{})
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	if sid == "" {
		t.Fatal("the issuer's ID token has no sid")
	}
	return b, sid
}

// The refresh race: two replicas, a rotating issuer that revokes the whole
// family on reuse, concurrent requests across several expiries — nobody is
// logged out and every expiry costs one refresh.
func TestRefreshAcrossReplicas(t *testing.T) {
	h, _, _ := redisHarness(t, harnessOptions{accessTTL: 2 * time.Second, revokeReuse: true})
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	cookies := h.jarCookies(b)
	var failures, total atomic.Int64
	var mu sync.Mutex
	codes := map[int]int{}
	// Run until three refreshes have happened (bounded at 30s), so the test
	// covers several expiries however slow the machine is.
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	done := func() bool { return h.grants("refresh_token") >= 3 || time.Now().After(deadline) }
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done() {
				req, _ := http.NewRequest("GET", h.gw+"/x", nil)
				req.Header.Set("Accept", "application/json")
				req.Header.Set("X-Test-Replica", strconv.Itoa(g%2))
				for _, c := range cookies {
					req.AddCookie(c)
				}
				resp, err := http.DefaultClient.Do(req)
				total.Add(1)
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
					code := -1
					if resp != nil {
						code = resp.StatusCode
					}
					mu.Lock()
					codes[code]++
					mu.Unlock()
				}
				if resp != nil {
					resp.Body.Close()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	refreshes := h.grants("refresh_token")
	t.Logf("%d requests in %v, %d failed, %d refreshes", total.Load(), elapsed.Round(time.Millisecond), failures.Load(), refreshes)
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed across the refreshes: status counts %v", failures.Load(), total.Load(), codes)
	}
	// 2s tokens are refreshed 1.5s after they were issued: at most one
	// refresh per 1.5s, never one per request.
	if refreshes < 3 || float64(refreshes) > elapsed.Seconds()/1.5+1 {
		t.Errorf("%d refreshes in %v of 2s tokens", refreshes, elapsed)
	}
}

// Redis down: session requests fail closed with 503, /readyz says so, and
// gatehouse recovers by itself when Redis is back.
func TestRedisOutage(t *testing.T) {
	h, stop, restart := redisHarness(t, harnessOptions{})
	b := newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	tok := h.clientToken(t, "svc", "svc-secret")
	stop()
	// Machines do not need the session store: their tokens keep working.
	for i := range 2 {
		resp := send(t, &http.Client{}, "GET", h.gw+"/api", map[string]string{"Authorization": "Bearer " + tok, "X-Test-Replica": strconv.Itoa(i)})
		if resp.StatusCode != 200 {
			t.Fatalf("bearer request on replica %d with Redis down: %d", i, resp.StatusCode)
		}
	}
	resp := h.on(t, b, 0, "GET", "/x", map[string]string{"Accept": "text/html"})
	body := readBody(t, resp)
	if resp.StatusCode != 503 || !strings.Contains(body, "Request ID") {
		t.Fatalf("session request with Redis down: %d %s", resp.StatusCode, body)
	}
	if r, err := http.Get(h.admins[0] + "/readyz"); err != nil || r.StatusCode != 503 {
		t.Fatalf("/readyz with Redis down: %v %v", err, r)
	}
	restart()
	// The test's Redis keeps nothing on disk, so the session is gone: the
	// answer turns from 503 (store down) to 401 (no session), and a new
	// login works on both replicas.
	var last int
	for range 100 {
		if last = h.on(t, b, 1, "GET", "/x", nil).StatusCode; last != 503 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if last != 401 {
		t.Fatalf("after Redis came back: %d", last)
	}
	b = newBrowser(t)
	h.login(b, "/", "alice", "pw-alice")
	for i := range 2 {
		if resp := h.on(t, b, i, "GET", "/x", nil); resp.StatusCode != 200 {
			t.Fatalf("new login after the outage, replica %d: %d", i, resp.StatusCode)
		}
	}
	if r, err := http.Get(h.admins[1] + "/readyz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("/readyz after Redis came back: %v %v", err, r)
	}
}

// Password-grant failure limits hold across replicas with Redis: failures
// on one replica count on the other.
func TestPasswordGrantLimitsAcrossReplicas(t *testing.T) {
	h, _, _ := redisHarness(t, harnessOptions{extraFlags: []string{"--password-grant"}})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:wrong"))
	get := func(i int) int {
		resp := send(t, &http.Client{}, "GET", h.gw+"/legacy", map[string]string{"Authorization": basic, "X-Test-Replica": strconv.Itoa(i), "Accept": "application/json"})
		return resp.StatusCode
	}
	for range 5 {
		if s := get(0); s != 401 {
			t.Fatalf("wrong password on replica 0: %d", s)
		}
	}
	grants := h.grants("password")
	if s := get(1); s != 429 {
		t.Fatalf("replica 1 after 5 failures on replica 0: %d, want 429", s)
	}
	if h.grants("password") != grants {
		t.Error("the locked-out attempt reached the issuer")
	}
}

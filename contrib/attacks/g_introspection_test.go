package attacks

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Group G: opaque tokens checked by RFC 7662 introspection (fixture F3:
// --introspection-url points at a scripted endpoint of I, which logs every
// call and answers whatever the test says).

type introAnswer struct {
	status   int
	ctype    string
	body     string
	delay    time.Duration
	location string
}

// scriptIntrospection makes I's scripted endpoint answer per token; other
// tokens go to the development issuer's real introspection.
func scriptIntrospection(f *fixture, answers map[string]introAnswer) {
	var mu sync.Mutex
	f.front.setScript(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/introspect-scripted" {
			return false
		}
		_ = r.ParseForm()
		mu.Lock()
		a, ok := answers[r.PostForm.Get("token")]
		mu.Unlock()
		if !ok {
			return false
		}
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-r.Context().Done():
				return true
			}
		}
		if a.ctype == "" {
			a.ctype = "application/json"
		}
		if a.status == 0 {
			a.status = 200
		}
		w.Header().Set("Content-Type", a.ctype)
		if a.location != "" {
			w.Header().Set("Location", a.location)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
		return true
	})
}

// opaque returns a fresh random opaque token.
func opaque() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "opaque-" + hex.EncodeToString(b)
}

// introDeny sends each scripted token and expects DENY.
func introDeny(t *testing.T, f *fixture, path string, bodies map[string]string, want ...int) {
	t.Helper()
	if len(want) == 0 {
		want = []int{401}
	}
	answers := map[string]introAnswer{}
	names := map[string]string{}
	for name, body := range bodies {
		tok := opaque()
		answers[tok] = introAnswer{body: body}
		names[tok] = name
	}
	scriptIntrospection(f, answers)
	n := f.up.count()
	for tok, name := range names {
		calls := len(f.front.introCalls())
		r := f.send(t, f.att(), "GET", path, hdr("Authorization", "Bearer "+tok, "Accept", "application/json"), nil)
		ok := false
		for _, w := range want {
			ok = ok || r.Status == w
		}
		if !ok {
			t.Errorf("%s: %d, want %v", name, r.Status, want)
		}
		if len(f.front.introCalls()) != calls+1 {
			t.Errorf("%s: %d introspection calls", name, len(f.front.introCalls())-calls)
		}
	}
	if f.up.count() != n {
		t.Errorf("U was called")
	}
}

func TestG116_InactiveToken(t *testing.T) {
	attackCase(t, 116)
	t.Parallel()
	f := use(t, "F3")
	introDeny(t, f, "/api/data", map[string]string{
		"active false":             `{"active":false}`,
		"active false with claims": `{"active":false,"sub":"alice","scope":"admin","client_id":"svc","aud":"` + f.gw + `"}`,
	})
}

func TestG117_MalformedActive(t *testing.T) {
	attackCase(t, 117)
	t.Parallel()
	f := use(t, "F3")
	c := `,"sub":"svc-1","client_id":"svc"`
	introDeny(t, f, "/api/data", map[string]string{
		"{}":                   `{}`,
		"active \"true\"":      `{"active":"true"` + c + `}`,
		"active 1":             `{"active":1` + c + `}`,
		"active null":          `{"active":null` + c + `}`,
		"active true, false":   `{"active":true,"active":false` + c + `}`,
		"active false, true":   `{"active":false,"active":true` + c + `}`,
		"active TRUE (string)": `{"active":"TRUE"` + c + `}`,
	}, 401, 503)
}

func TestG119_ActiveForSomeoneElse(t *testing.T) {
	attackCase(t, 119)
	t.Parallel()
	f := use(t, "F3")
	c := `,"sub":"svc-1","client_id":"svc"`
	introDeny(t, f, "/api/data", map[string]string{
		"aud other api": `{"active":true,"aud":"https://other-api.test"` + c + `}`,
		"iss I2":        `{"active":true,"iss":"https://idp2.test"` + c + `}`,
	})
	// gatehouse's client allow-list is a route rule (clients=svc).
	introDeny(t, f, "/clients-only/x", map[string]string{
		"unknown client": `{"active":true,"client_id":"unknown-client","sub":"x","aud":"` + f.gw + `"}`,
	}, 403)
	// Control: the allowed client passes.
	tok := opaque()
	scriptIntrospection(f, map[string]introAnswer{tok: {body: `{"active":true,"client_id":"svc","sub":"svc-1","aud":"` + f.gw + `"}`}})
	if r := f.send(t, f.att(), "GET", "/clients-only/x", hdr("Authorization", "Bearer "+tok), nil); r.Status != 200 {
		t.Errorf("control: %d", r.Status)
	}
}

func TestG120_RefreshTokenAsAccessToken(t *testing.T) {
	attackCase(t, 120)
	t.Parallel()
	f := use(t, "F3")
	before := len(f.front.introCalls())
	introDeny(t, f, "/api/data", map[string]string{
		"token_type refresh_token": `{"active":true,"token_type":"refresh_token","sub":"alice","client_id":"svc"}`,
		"token_type id_token":      `{"active":true,"token_type":"urn:ietf:params:oauth:token-type:id_token","sub":"alice","client_id":"svc"}`,
	})
	for _, c := range f.front.introCalls()[before:] {
		v, _ := url.ParseQuery(c.Body)
		if v.Get("token_type_hint") != "access_token" {
			t.Errorf("introspection request without token_type_hint=access_token: %q", c.Body)
		}
	}
}

func TestG121_IntrospectionFailures(t *testing.T) {
	attackCase(t, 121)
	t.Parallel()
	f := use(t, "F3")
	evilBefore := evil.count()
	answers := map[string]introAnswer{
		"500":            {status: 500, body: "oops", ctype: "text/plain"},
		"401":            {status: 401, body: `{"error":"invalid_client"}`},
		"30 s silence":   {delay: 30 * time.Second, body: `{"active":true,"sub":"svc-1"}`},
		"text/html":      {ctype: "text/html", body: `<html>{"active":true,"sub":"svc-1"}</html>`},
		"truncated JSON": {body: `{"active":tr`},
		"302 to evil":    {status: 302, location: evil.url + "/introspect", body: ""},
		"20 MB body":     {body: `{"active":true,"sub":"svc-1","x":"` + strings.Repeat("a", 20<<20) + `"}`},
	}
	byToken := map[string]introAnswer{}
	names := map[string]string{}
	for name, a := range answers {
		tok := opaque()
		byToken[tok] = a
		names[tok] = name
	}
	scriptIntrospection(f, byToken)
	n := f.up.count()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for tok, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.trySend(f.att(), "GET", "/api/data", hdr("Authorization", "Bearer "+tok, "Accept", "application/json"), nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			if r.Status != 401 && r.Status != 503 {
				t.Errorf("%s: %d, want 401 or 503 (fail closed)", name, r.Status)
			}
			if r.Took > 6*time.Second {
				t.Errorf("%s: answered after %v, beyond the 5 s timeout", name, r.Took)
			}
		}()
	}
	wg.Wait()
	if f.up.count() != n {
		t.Errorf("U was called")
	}
	if evil.count() != evilBefore {
		t.Errorf("gatehouse followed the redirect to evil.test")
	}
}

// Case 122. The suite runs on loopback http (no TLS to I); everything else
// about the call is checked.
func TestG122_IntrospectionHygiene(t *testing.T) {
	attackCase(t, 122)
	t.Parallel()
	f := use(t, "F3")
	tok := opaque()
	scriptIntrospection(f, map[string]introAnswer{tok: {body: `{"active":true,"client_id":"svc","sub":"svc-1","aud":"` + f.gw + `"}`}})
	before := len(f.front.introCalls())
	real := f.front.count("/introspect")
	if r := f.send(t, f.att(), "GET", "/api/data", hdr("Authorization", "Bearer "+tok), nil); r.Status != 200 {
		t.Fatalf("introspected token: %d", r.Status)
	}
	calls := f.front.introCalls()[before:]
	if len(calls) != 1 {
		t.Fatalf("%d introspection calls", len(calls))
	}
	c := calls[0]
	v, _ := url.ParseQuery(c.Body)
	if c.Method != "POST" || !strings.HasPrefix(c.ContentType, "application/x-www-form-urlencoded") || v.Get("token") != tok ||
		strings.Contains(c.Query, tok) || c.Query != "" {
		t.Errorf("introspection call %+v", c)
	}
	if c.BasicUser != "gw" || c.BasicPass != "s3cr3t" {
		t.Errorf("introspection client authentication %q/%q", c.BasicUser, c.BasicPass)
	}
	if f.front.count("/introspect") != real {
		t.Errorf("gatehouse called another introspection URL than the configured one")
	}
	// A JWT-shaped token naming a URL never makes gatehouse call it.
	jwtish := mintT0(t, f, map[string]any{"jku": evil.url}, map[string]any{"introspection_endpoint": evil.url})
	before2 := evil.count()
	f.send(t, f.att(), "GET", "/api/data", hdr("Authorization", "Bearer "+jwtish), nil)
	if evil.count() != before2 {
		t.Errorf("a token-supplied URL was called")
	}
}

func TestG124_JWTShapedTokenInOpaqueMode(t *testing.T) {
	attackCase(t, 124)
	t.Parallel()
	f := use(t, "F3")
	unsigned := mintWith(t, f, map[string]any{"alg": "none"}, map[string]any{"sub": "alice", "scope": "admin"}, "none")
	scriptIntrospection(f, map[string]introAnswer{unsigned: {body: `{"active":false}`}, strings.TrimSuffix(unsigned, "."): {body: `{"active":false}`}})
	n := f.up.count()
	for _, tok := range []string{unsigned, strings.TrimSuffix(unsigned, ".")} {
		r := f.send(t, f.att(), "GET", "/api/data", hdr("Authorization", "Bearer "+tok, "Accept", "application/json"), nil)
		if r.Status != 401 {
			t.Errorf("unsigned JWT %.20q…: %d", tok, r.Status)
		}
	}
	if f.up.count() != n {
		t.Errorf("U was called")
	}
}

func TestG125_TokenScanning(t *testing.T) {
	attackCase(t, 125)
	t.Parallel()
	f := use(t, "F3b")
	scriptIntrospection(f, nil) // every token goes to I's real introspection: inactive
	before := len(f.front.introCalls())
	start := time.Now()
	statuses := map[int]int{}
	for range 1000 {
		r := f.send(t, f.att(), "GET", "/api/data", hdr("Authorization", "Bearer "+opaque(), "Accept", "application/json"), nil)
		statuses[r.Status]++
	}
	took := time.Since(start)
	calls := len(f.front.introCalls()) - before
	t.Logf("1000 random tokens in %v: statuses %v, %d introspection calls", took, statuses, calls)
	if took > 10*time.Second {
		t.Errorf("sending took %v", took)
	}
	if statuses[429] == 0 {
		t.Errorf("no 429 after 1000 invalid tokens from one client")
	}
	if calls > 100 {
		t.Errorf("I's /introspect was called %d times for 1000 scanned tokens", calls)
	}
	if statuses[200] != 0 {
		t.Errorf("%d random tokens were accepted", statuses[200])
	}
}

package attacks

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

// Group D: callback, state, PKCE and ID-token validation. I logs every
// request to /authorize and /token; several cases assert on that log.

func tokenCalls(f *fixture) int { return len(f.issuerRequests("/token")) }

// withQuery returns u with its query changed by mutate.
func withQuery(u *url.URL, mutate func(url.Values)) string {
	c := *u
	q := c.Query()
	mutate(q)
	c.RawQuery = q.Encode()
	return c.String()
}

// loginFails runs LOGIN(alice) and expects the callback to refuse it with
// 403 (or 502 for an issuer that broke the protocol) and set no session.
func loginFails(t *testing.T, f *fixture, name string, statuses ...int) {
	t.Helper()
	if len(statuses) == 0 {
		statuses = []int{403}
	}
	b := f.browser("")
	_, cb := b.login(t, "alice", "")
	ok := false
	for _, s := range statuses {
		ok = ok || cb.Status == s
	}
	if !ok {
		t.Errorf("%s: callback %d, want %v", name, cb.Status, statuses)
	}
	if f.setsSession(cb) || b.hasSession() {
		t.Errorf("%s: a session was set", name)
	}
	if r := b.get(t, "/app"); r.Status != 302 || !strings.HasPrefix(r.Location, f.issURL+"/authorize?") {
		t.Errorf("%s: after the failed login /app answered %d", name, r.Status)
	}
}

func TestD057_MissingState(t *testing.T) {
	attackCase(t, 57)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	cb := b.callbackURL(t, "alice", "/oauth2/start")
	before := tokenCalls(f)
	r := b.get(t, withQuery(cb, func(v url.Values) { v.Del("state") }))
	if r.Status != 400 && r.Status != 403 {
		t.Errorf("callback without state: %d", r.Status)
	}
	if tokenCalls(f) != before || f.setsSession(r) {
		t.Errorf("callback without state: %d /token calls, session %v", tokenCalls(f)-before, f.setsSession(r))
	}
}

func TestD059_LoginCSRF(t *testing.T) {
	attackCase(t, 59)
	t.Parallel()
	f := use(t, "F0")
	mallory := f.browser("")
	cbM := mallory.callbackURL(t, "mallory", "/oauth2/start")
	before := tokenCalls(f)
	fresh := f.browser("")
	withFlow := f.browser("")
	withFlow.get(t, "/oauth2/start") // the victim's own parallel login
	for name, v := range map[string]*browser{"fresh victim": fresh, "victim with its own flow": withFlow} {
		r := v.get(t, cbM.String())
		if r.Status != 403 || f.setsSession(r) || v.hasSession() {
			t.Errorf("%s: %d, session %v", name, r.Status, v.hasSession())
		}
	}
	if tokenCalls(f) != before {
		t.Errorf("code_M reached /token")
	}
}

func TestD060_CallbackReplay(t *testing.T) {
	attackCase(t, 60)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	start := b.get(t, "/oauth2/start")
	flow := start.Cookies
	cbU, err := f.iss.Authorize(start.Location, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if r := b.get(t, cbU.String()); r.Status != 302 {
		t.Fatalf("first callback: %d", r.Status)
	}
	before := tokenCalls(f)
	for _, c := range flow {
		b.jar.set(c.Name, c.Value) // the flow cookie restored
	}
	r := b.get(t, cbU.String())
	if r.Status != 403 || f.setsSession(r) {
		t.Errorf("replayed callback: %d", r.Status)
	}
	if tokenCalls(f) != before {
		t.Errorf("the replay reached /token")
	}
}

// Case 61 runs on the https fixture, whose cookies are __Host- prefixed.
func TestD061_CookieTossing(t *testing.T) {
	attackCase(t, 61)
	t.Parallel()
	f := use(t, "FT")
	flowCookie := func(r *resp) *http.Cookie {
		for _, c := range r.Cookies {
			if strings.Contains(c.Name, "_flow_") {
				return c
			}
		}
		t.Fatalf("no flow cookie in %v", r.Header.Values("Set-Cookie"))
		return nil
	}
	// Mallory's own pair: her flow cookie, state and code.
	m := f.browser("")
	mStart := m.get(t, "/oauth2/start")
	mFlow := flowCookie(mStart)
	if !strings.HasPrefix(mFlow.Name, "__Host-") {
		t.Fatalf("flow cookie %q is not __Host- prefixed", mFlow.Name)
	}
	mCB, err := f.iss.Authorize(mStart.Location, "mallory", "pw")
	if err != nil {
		t.Fatal(err)
	}
	unprefixed := strings.TrimPrefix(mFlow.Name, "__Host-")
	before := tokenCalls(f)
	for name, cookie := range map[string]string{
		"attacker cookie without the prefix (tossed via Domain=)": unprefixed + "=" + mFlow.Value,
		"duplicate __Host- cookies":                               mFlow.Name + "=garbage; " + mFlow.Name + "=" + mFlow.Value,
		"duplicate, attacker's first":                             mFlow.Name + "=" + mFlow.Value + "; " + mFlow.Name + "=garbage",
	} {
		v := f.browser("")
		v.get(t, "/oauth2/start") // the victim's own flow cookie stays in its jar
		r := f.send(t, v.c, "GET", mCB.String(), hdr("Cookie", cookie, "Accept", "text/html"), nil)
		if (r.Status != 400 && r.Status != 403) || f.setsSession(r) {
			t.Errorf("%s: %d, session %v", name, r.Status, f.setsSession(r))
		}
	}
	if tokenCalls(f) != before {
		t.Errorf("an attacker-chosen pair reached /token")
	}
}

var (
	b64url43  = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	verifierS = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
)

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// starts runs n /oauth2/start and returns the authorization requests.
func starts(t *testing.T, f *fixture, n int) []url.Values {
	t.Helper()
	c := f.att()
	var out []url.Values
	for range n {
		r := f.send(t, c, "GET", "/oauth2/start", nil, nil)
		u, err := url.Parse(r.Location)
		if r.Status != 302 || err != nil {
			t.Fatalf("/oauth2/start: %d %q", r.Status, r.Location)
		}
		out = append(out, u.Query())
	}
	return out
}

func TestD062_PKCEParameters(t *testing.T) {
	attackCase(t, 62)
	t.Parallel()
	f := use(t, "F0")
	seen := map[string]bool{}
	for _, q := range starts(t, f, 1000) {
		ch := q.Get("code_challenge")
		if q.Get("code_challenge_method") != "S256" || !b64url43.MatchString(ch) {
			t.Fatalf("authorization request: method %q challenge %q", q.Get("code_challenge_method"), ch)
		}
		if seen[ch] {
			t.Fatalf("code_challenge %q repeated", ch)
		}
		seen[ch] = true
	}
	for range 3 {
		b := f.browser("")
		start := b.get(t, "/oauth2/start")
		au, _ := url.Parse(start.Location)
		cbU, err := f.iss.Authorize(start.Location, "alice", "pw")
		if err != nil {
			t.Fatal(err)
		}
		cb := b.get(t, cbU.String())
		var verifier string
		for _, lr := range f.issuerRequests("/token") {
			if lr.Form.Get("code") == cbU.Query().Get("code") {
				verifier = lr.Form.Get("code_verifier")
			}
		}
		if !verifierS.MatchString(verifier) || s256(verifier) != au.Query().Get("code_challenge") {
			t.Errorf("code_verifier %q does not match code_challenge %q", verifier, au.Query().Get("code_challenge"))
		}
		visible := start.Location + cbU.String() + cb.Location + strings.Join(start.Header.Values("Set-Cookie"), ";") +
			strings.Join(cb.Header.Values("Set-Cookie"), ";")
		if verifier != "" && strings.Contains(visible, verifier) {
			t.Errorf("the verifier appears in a Location, URL or cookie")
		}
	}
}

func TestD064_CodeInjection(t *testing.T) {
	attackCase(t, 64)
	t.Parallel()
	f := use(t, "F0")
	alice := f.browser("")
	cbA := alice.callbackURL(t, "alice", "/oauth2/start")
	m := f.browser("")
	mStart := m.get(t, "/oauth2/start")
	mAuth, _ := url.Parse(mStart.Location)
	inj := f.gw + "/oauth2/callback?" + url.Values{"code": {cbA.Query().Get("code")}, "state": {mAuth.Query().Get("state")},
		"iss": {f.issURL}}.Encode()
	r := m.get(t, inj)
	if r.Status != 403 || f.setsSession(r) || m.hasSession() {
		t.Errorf("code injection: %d, session %v", r.Status, m.hasSession())
	}
	found := false
	for _, lr := range f.issuerRequests("/token") {
		if lr.Form.Get("code") == cbA.Query().Get("code") {
			found = true
			if s256(lr.Form.Get("code_verifier")) != mAuth.Query().Get("code_challenge") {
				t.Errorf("the /token request for code_A did not carry mallory's verifier")
			}
		}
	}
	if !found {
		t.Log("gatehouse made no /token call for the injected code (also acceptable)")
	}
}

func TestD065_MixUpIss(t *testing.T) {
	attackCase(t, 65)
	t.Parallel()
	f := use(t, "F0")
	for name, mutate := range map[string]func(url.Values){
		"iss idp2":           func(v url.Values) { v.Set("iss", "https://idp2.test") },
		"iss absent":         func(v url.Values) { v.Del("iss") },
		"iss trailing slash": func(v url.Values) { v.Set("iss", f.issURL+"/") },
		"iss twice":          func(v url.Values) { v.Add("iss", f.issURL) },
	} {
		b := f.browser("")
		cb := b.callbackURL(t, "alice", "/oauth2/start")
		before := tokenCalls(f)
		r := b.get(t, withQuery(cb, mutate))
		if r.Status != 403 || f.setsSession(r) {
			t.Errorf("%s: %d", name, r.Status)
		}
		if tokenCalls(f) != before {
			t.Errorf("%s: /token was called", name)
		}
	}
}

func TestD066_ImplicitGrantRefused(t *testing.T) {
	attackCase(t, 66)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	r := b.get(t, "/oauth2/start?response_type=token&response_mode=fragment")
	au, err := url.Parse(r.Location)
	if err != nil || r.Status != 302 {
		t.Fatalf("start: %d", r.Status)
	}
	if q := au.Query(); q.Get("response_type") != "code" || q.Has("response_mode") || len(q["response_type"]) != 1 {
		t.Errorf("authorization request %v", q)
	}
	t0 := mintT0(t, f, nil, nil)
	before, userinfo := tokenCalls(f), f.front.count("/userinfo")
	cb := b.get(t, "/oauth2/callback?access_token="+t0+"&token_type=Bearer&state="+au.Query().Get("state")+"&iss="+url.QueryEscape(f.issURL))
	if (cb.Status != 400 && cb.Status != 403) || f.setsSession(cb) || b.hasSession() {
		t.Errorf("tokens in the callback: %d, session %v", cb.Status, b.hasSession())
	}
	if tokenCalls(f) != before || f.front.count("/userinfo") != userinfo {
		t.Errorf("the injected token was used")
	}
	if r := b.get(t, "/app"); r.Status != 302 {
		t.Errorf("after the tokens-in-callback request /app answered %d", r.Status)
	}
}

func TestD067_IdPErrorReflected(t *testing.T) {
	attackCase(t, 67)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	start := b.get(t, "/oauth2/start")
	au, _ := url.Parse(start.Location)
	before := tokenCalls(f)
	r := b.get(t, "/oauth2/callback?state="+au.Query().Get("state")+"&iss="+url.QueryEscape(f.issURL)+
		"&error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&error_description=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&error_uri=javascript%3Aalert(1)")
	if r.Status < 400 || r.Status > 499 {
		t.Errorf("IdP error at the callback: status %d, want 4xx", r.Status)
	}
	low := strings.ToLower(r.Body)
	for _, bad := range []string{"<script", "<img", "javascript:", "onerror"} {
		if strings.Contains(low, bad) {
			t.Errorf("error page contains %q: %s", bad, r.Body)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	if tokenCalls(f) != before {
		t.Errorf("/token was called")
	}
}

func TestD069_IDTokenNonce(t *testing.T) {
	attackCase(t, 69)
	t.Parallel()
	f := use(t, "F0")
	var mu sync.Mutex
	var previous string
	f.iss.SetHooks(devissuer.Hooks{IDTokenClaims: func(c map[string]any) {
		mu.Lock()
		previous, _ = c["nonce"].(string)
		mu.Unlock()
	}})
	f.browser("").signIn(t, "alice")
	mu.Lock()
	prev := previous
	mu.Unlock()
	if prev == "" {
		t.Fatal("no nonce in alice's ID token")
	}
	for name, hook := range map[string]func(map[string]any){
		"nonce attacker": func(c map[string]any) { c["nonce"] = "attacker" },
		"no nonce":       func(c map[string]any) { delete(c, "nonce") },
		"replayed nonce": func(c map[string]any) { c["nonce"] = prev },
	} {
		f.iss.SetHooks(devissuer.Hooks{IDTokenClaims: hook})
		loginFails(t, f, name)
	}
}

func TestD070_IDTokenIss(t *testing.T) {
	attackCase(t, 70)
	t.Parallel()
	f := use(t, "F0")
	for name, iss := range map[string]string{"idp2": "https://idp2.test", "trailing slash": f.issURL + "/"} {
		f.iss.SetHooks(devissuer.Hooks{IDTokenClaims: func(c map[string]any) { c["iss"] = iss }})
		loginFails(t, f, name)
	}
}

func TestD071_IDTokenAudAzp(t *testing.T) {
	attackCase(t, 71)
	t.Parallel()
	f := use(t, "F0")
	for name, hook := range map[string]func(map[string]any){
		"other audience":       func(c map[string]any) { c["aud"] = "other-client" },
		"extra aud, no azp":    func(c map[string]any) { c["aud"] = []string{"gw", "untrusted-client"}; delete(c, "azp") },
		"extra aud, azp other": func(c map[string]any) { c["aud"] = []string{"gw", "untrusted-client"}; c["azp"] = "untrusted-client" },
		"empty aud":            func(c map[string]any) { c["aud"] = []string{} },
	} {
		f.iss.SetHooks(devissuer.Hooks{IDTokenClaims: hook})
		loginFails(t, f, name)
	}
}

// decodeClaims returns a JWT's claims without verifying it.
func decodeClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) < 2 {
		t.Fatalf("not a JWT: %.30q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// reMint replaces the ID token of token responses with mint(claims).
func reMint(t *testing.T, mint func(claims map[string]any) (string, error)) devissuer.Hooks {
	return devissuer.Hooks{TokenResponse: func(grant string, resp map[string]any) (int, []byte, bool) {
		idt, _ := resp["id_token"].(string)
		if idt == "" {
			return 0, nil, false
		}
		forged, err := mint(decodeClaims(t, idt))
		if err != nil {
			t.Error(err)
		}
		resp["id_token"] = forged
		return 0, nil, false
	}}
}

func TestD072_IDTokenSignature(t *testing.T) {
	attackCase(t, 72)
	t.Parallel()
	f := use(t, "F0")
	i2 := issuer2(t)
	for name, mint := range map[string]func(map[string]any) (string, error){
		"Kevil as k1": func(c map[string]any) (string, error) { return f.iss.Mint(map[string]any{"kid": "k1"}, c, "evil") },
		"alg none":    func(c map[string]any) (string, error) { return f.iss.Mint(nil, c, "none") },
		"HS256 with the client secret": func(c map[string]any) (string, error) {
			return f.iss.MintHMAC(map[string]any{"kid": "k1"}, c, []byte("s3cr3t"))
		},
		"RS256 with I2's key": func(c map[string]any) (string, error) { return i2.Mint(map[string]any{"kid": "k1"}, c, "k1") },
	} {
		f.iss.SetHooks(reMint(t, mint))
		loginFails(t, f, name)
	}
}

func TestD074_AtHashMismatch(t *testing.T) {
	attackCase(t, 74)
	t.Parallel()
	f := use(t, "F0")
	f.iss.SetHooks(devissuer.Hooks{IDTokenClaims: func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }})
	loginFails(t, f, "at_hash mismatch")
}

func TestD075_TokenEndpointAnomalies(t *testing.T) {
	attackCase(t, 75)
	t.Parallel()
	f := use(t, "F0")
	evilBefore := evil.count()
	static := func(status int, ctype, body string, extra ...string) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/token" {
				return false
			}
			w.Header().Set("Content-Type", ctype)
			for i := 0; i+1 < len(extra); i += 2 {
				w.Header().Set(extra[i], extra[i+1])
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return true
		}
	}
	for name, script := range map[string]func(w http.ResponseWriter, r *http.Request) bool{
		"200 with an error":   static(200, "application/json", `{"error":"invalid_grant"}`),
		"text/html body":      static(200, "text/html", `<html><body>hello</body></html>`),
		"302 to evil.test":    static(302, "text/plain", "", "Location", evil.url+"/token"),
		"10 MB body":          static(200, "application/json", `{"access_token":"`+strings.Repeat("a", 10<<20)+`","token_type":"Bearer"}`),
		"not even JSON":       static(200, "application/json", `{"access_token":`),
		"500 from the issuer": static(500, "text/plain", "oops"),
	} {
		f.front.setScript(script)
		loginFails(t, f, name, 403, 502)
		f.front.setScript(nil)
	}
	for name, hook := range map[string]func(string, map[string]any) (int, []byte, bool){
		"no id_token": func(g string, resp map[string]any) (int, []byte, bool) {
			delete(resp, "id_token")
			return 0, nil, false
		},
		"token_type MAC": func(g string, resp map[string]any) (int, []byte, bool) {
			resp["token_type"] = "MAC"
			return 0, nil, false
		},
	} {
		f.iss.SetHooks(devissuer.Hooks{TokenResponse: hook})
		loginFails(t, f, name, 403, 502)
	}
	if evil.count() != evilBefore {
		t.Errorf("gatehouse followed the token endpoint's redirect to evil.test")
	}
}

func TestD076_ExactRedirectURI(t *testing.T) {
	attackCase(t, 76)
	t.Parallel()
	f := use(t, "F0")
	f.browser("").signIn(t, "alice")
	b := f.browser("127.0.0.2")
	r := b.get(t, "/deep/path?q", "X-Forwarded-Host", "x.apps.test", "X-Forwarded-Proto", "http")
	if r.Status != 302 {
		t.Fatalf("PRX-started login: %d", r.Status)
	}
	cb := b.finish(t, r, "alice")
	if cb.Status != 302 {
		t.Fatalf("callback: %d", cb.Status)
	}
	if err := f.safe(cb.URL.String(), cb.Location); err != nil {
		t.Errorf("L: %v", err)
	}
	n := 0
	for _, path := range []string{"/authorize", "/token"} {
		for _, lr := range f.issuerRequests(path) {
			if lr.Form.Has("request_id") || (path == "/token" && lr.Form.Get("grant_type") != "authorization_code") {
				continue
			}
			n++
			if got := lr.Form.Get("redirect_uri"); got != f.gw+"/oauth2/callback" {
				t.Errorf("I saw redirect_uri %q at %s", got, path)
			}
		}
	}
	if n < 4 {
		t.Errorf("only %d logged requests checked", n)
	}
}

// commonPrefix is the length of the common prefix of a and b.
func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func TestD077_Randomness(t *testing.T) {
	attackCase(t, 77)
	t.Parallel()
	f := use(t, "F0")
	qs := starts(t, f, 1000)
	for _, param := range []string{"state", "nonce", "code_challenge"} {
		seen := map[string]bool{}
		var vals []string
		for _, q := range qs {
			v := q.Get(param)
			raw, err := base64.RawURLEncoding.DecodeString(v)
			if err != nil || len(raw) < 16 {
				t.Fatalf("%s %q: fewer than 128 bits (%v)", param, v, err)
			}
			if seen[v] {
				t.Fatalf("%s %q repeated", param, v)
			}
			seen[v] = true
			vals = append(vals, v)
		}
		// No prefix that grows with time or a counter: consecutive values
		// share no more than chance would give.
		sum, most := 0, 0
		for i := 1; i < len(vals); i++ {
			p := commonPrefix(vals[i-1], vals[i])
			sum += p
			most = max(most, p)
		}
		if most > 4 || float64(sum)/float64(len(vals)) > 0.2 {
			t.Errorf("%s: consecutive values share prefixes (max %d, mean %.3f)", param, most, float64(sum)/float64(len(vals)))
		}
		sorted := append([]string(nil), vals...)
		sort.Strings(sorted)
		same := 0
		for i := range vals {
			if vals[i] == sorted[i] {
				same++
			}
		}
		if same > 50 {
			t.Errorf("%s values come out sorted (%d of %d in order)", param, same, len(vals))
		}
	}
}

package attacks

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

// Group I: what U receives; smuggling; upgrades.

func TestI135_BaselineIdentity(t *testing.T) {
	attackCase(t, 135)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	b.signIn(t, "alice")
	if r := f.send(t, b.c, "GET", "/app?x=1", nil, nil); r.Status != 200 {
		t.Fatalf("ALICE /app?x=1: %d", r.Status)
	}
	up := f.up.last(t)
	exactIdentity(t, "ALICE", up, aliceIdentity)
	if a := up.Header.Values("X-Forwarded-Assertion"); len(a) != 1 || a[0] == "" {
		t.Errorf("X-Forwarded-Assertion %q", a)
	}
	if up.URI != "/app?x=1" {
		t.Errorf("U request-target %q", up.URI)
	}
}

func TestI136_SignedAssertion(t *testing.T) {
	attackCase(t, 136)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	b.signIn(t, "alice")
	get := func(path string) string {
		if r := f.send(t, b.c, "GET", path, hdr("X-Forwarded-Assertion", "forged"), nil); r.Status != 200 {
			t.Fatalf("%s: %d", path, r.Status)
		}
		a := f.up.last(t).Header.Values("X-Forwarded-Assertion")
		if len(a) != 1 || a[0] == "forged" {
			t.Fatalf("%s: U assertion %q", path, a)
		}
		return a[0]
	}
	audA, audB := f.up.url, strings.Replace(f.up.url, "127.0.0.1", "localhost", 1)
	a, bTok := get("/app"), get("/other/x")
	ctx := context.Background()
	keys := oidc.NewRemoteKeySet(ctx, f.gw+"/oauth2/jwks")
	verifier := func(aud string) *oidc.IDTokenVerifier {
		return oidc.NewVerifier(f.gw, keys, &oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{oidc.ES256, oidc.RS256}})
	}
	for name, c := range map[string]struct{ tok, aud string }{"route A": {a, audA}, "route B": {bTok, audB}} {
		idt, err := verifier(c.aud).Verify(ctx, c.tok)
		if err != nil {
			t.Errorf("%s: assertion does not verify against gatehouse's JWKS: %v", name, err)
			continue
		}
		if idt.Issuer != f.gw || idt.Subject != "alice" || idt.Expiry.Sub(idt.IssuedAt) > 300*time.Second {
			t.Errorf("%s: iss %q sub %q lifetime %v", name, idt.Issuer, idt.Subject, idt.Expiry.Sub(idt.IssuedAt))
		}
		hdrJSON := decodeHeader(t, c.tok)
		if alg := hdrJSON["alg"]; alg != "ES256" && alg != "RS256" {
			t.Errorf("%s: alg %v", name, alg)
		}
		if typ, _ := hdrJSON["typ"].(string); typ == "" {
			t.Errorf("%s: no explicit typ", name)
		}
	}
	if _, err := verifier(audB).Verify(ctx, a); err == nil {
		t.Errorf("route A's assertion verifies for route B")
	}
	if _, err := verifier(audA).Verify(ctx, bTok); err == nil {
		t.Errorf("route B's assertion verifies for route A")
	}
}

func decodeHeader(t *testing.T, jwt string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(jwt, ".")
	return decodeClaims(t, "x."+h)
}

func TestI137_GatewaySecretsNotForwarded(t *testing.T) {
	attackCase(t, 137)
	t.Parallel()
	f := use(t, "F0")
	var mu sync.Mutex
	var tokens []string
	f.iss.SetHooks(devissuer.Hooks{TokenResponse: func(g string, resp map[string]any) (int, []byte, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range []string{"access_token", "id_token", "refresh_token"} {
			if s, ok := resp[k].(string); ok {
				tokens = append(tokens, s)
			}
		}
		return 0, nil, false
	}})
	b := f.browser("")
	b.signIn(t, "alice")
	cookie := b.sessionHeader() + "; gatehouse_flow_0123456789abcdef=x; app=1"
	if r := f.send(t, f.att(), "GET", "/app", hdr("Cookie", cookie), nil); r.Status != 200 {
		t.Fatalf("ALICE /app: %d", r.Status)
	}
	up := f.up.last(t)
	if c := up.Header.Values("Cookie"); len(c) != 1 || c[0] != "app=1" {
		t.Errorf("U Cookie %q, want exactly app=1", c)
	}
	mu.Lock()
	defer mu.Unlock()
	for k, vs := range up.Header {
		for _, v := range vs {
			for _, tok := range tokens {
				if strings.Contains(v, tok) {
					t.Errorf("U header %s carries one of the issuer's tokens", k)
				}
			}
		}
	}
}

func TestI139_H2CUpgradeSmuggling(t *testing.T) {
	attackCase(t, 139)
	t.Parallel()
	f := use(t, "F0")
	// U would switch to h2c if asked.
	f.up.setBehaviour(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.EqualFold(r.Header.Get("Upgrade"), "h2c") {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "h2c")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return true
		}
		return false
	})
	alice := f.userCookie(t, "alice")
	for _, c := range []string{"", alice} {
		n := f.up.count()
		extra := []string{"Connection", "Upgrade, HTTP2-Settings", "Upgrade", "h2c", "HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"}
		if c != "" {
			extra = append(extra, "Cookie", c)
		}
		out := f.raw(t, "", strings.Replace(rawGet("GET", "/public/x", f.host, extra...), "Connection: close\r\n", "", 1))
		if strings.Contains(out, " 101 ") {
			t.Errorf("h2c upgrade (session %v) switched protocols: %q", c != "", firstLine(out))
		}
		for _, up := range f.up.since(n) {
			for k := range up.Header {
				if nk := normName(k); nk == "upgrade" || nk == "http2-settings" {
					t.Errorf("U saw %s: %q", k, up.Header[k])
				}
			}
			if strings.Contains(strings.ToLower(strings.Join(up.Header.Values("Connection"), ",")), "upgrade") {
				t.Errorf("U saw Connection %q", up.Header.Values("Connection"))
			}
		}
	}
}

// rawClosed writes request and reads until the server closes the
// connection (closed) or stays quiet for a second.
func (f *fixture) rawClosed(t *testing.T, request string) (string, bool) {
	t.Helper()
	c, err := f.dialRaw("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			var ne net.Error
			if ok := asNetErr(err, &ne); ok && ne.Timeout() {
				return b.String(), false
			}
			return b.String(), true
		}
	}
}

func asNetErr(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

func TestI140_CLTEDesync(t *testing.T) {
	attackCase(t, 140)
	t.Parallel()
	f := use(t, "F0")
	n := f.up.count()
	req := "POST /public/x HTTP/1.1\r\nHost: " + f.host + "\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"GET /admin HTTP/1.1\r\nHost: " + f.host + "\r\nConnection: close\r\n\r\n"
	out, _ := f.rawClosed(t, req)
	lines := statusLines(out)
	if len(lines) == 0 {
		t.Fatalf("no answer")
	}
	if statusOf(lines[0]) != 400 {
		// TE won: both requests must be refused on their own.
		for _, l := range lines {
			if st := statusOf(l); st != 401 && st != 403 && st != 302 && st != 400 {
				t.Errorf("smuggled pair answered %q", l)
			}
		}
	}
	for _, up := range f.up.since(n) {
		t.Errorf("U received %s %s", up.Method, up.URI)
	}
}

func TestI141_TEObfuscation(t *testing.T) {
	attackCase(t, 141)
	t.Parallel()
	f := use(t, "F0")
	body := "5\r\nhello\r\n0\r\n\r\n"
	for name, te := range map[string]string{
		"xchunked":               "Transfer-Encoding: xchunked\r\n",
		"chunked, identity":      "Transfer-Encoding: chunked, identity\r\n",
		"two chunked fields":     "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
		"space before the colon": "Transfer-Encoding : chunked\r\n",
		"identity, chunked":      "Transfer-Encoding: identity, chunked\r\n",
		"chunked plus CL":        "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
	} {
		n := f.up.count()
		out, closed := f.rawClosed(t, "GET /public/x HTTP/1.1\r\nHost: "+f.host+"\r\n"+te+"\r\n"+body)
		st := firstStatus(out)
		if name == "chunked plus CL" {
			// Go drops CL when TE is chunked: one request, one answer.
			if st != 400 && f.up.count()-n != 1 {
				t.Errorf("%s: %q, U calls %d", name, firstLine(out), f.up.count()-n)
			}
			continue
		}
		if (st != 400 && st != 501) || !closed {
			t.Errorf("%s: %q, connection closed %v; want 400/501 and a closed connection", name, firstLine(out), closed)
		}
		if f.up.count() != n {
			t.Errorf("%s: U was called", name)
		}
	}
	// HTTP/1.0 with TE and CL: CL frames the body (or 400), and the
	// connection is closed after the answer; U gets at most one request.
	n := f.up.count()
	out, closed := f.rawClosed(t, "GET /public/x HTTP/1.0\r\nHost: "+f.host+"\r\nTransfer-Encoding: chunked\r\nContent-Length: 20\r\n\r\n"+
		"0\r\n\r\nGET /admin HTTP/1.0\r\n\r\n")
	if st := firstStatus(out); st != 400 && st != 200 {
		t.Errorf("HTTP/1.0 TE+CL: %q", firstLine(out))
	}
	if !closed || len(statusLines(out)) != 1 || f.up.count()-n > 1 {
		t.Errorf("HTTP/1.0 TE+CL: closed %v, %d answers, U calls %d", closed, len(statusLines(out)), f.up.count()-n)
	}
	// A tab before chunked is legal optional whitespace: not an attack.
	n = f.up.count()
	out, _ = f.rawClosed(t, "GET /public/x HTTP/1.1\r\nHost: "+f.host+"\r\nTransfer-Encoding:\tchunked\r\nConnection: close\r\n\r\n"+body)
	if firstStatus(out) != 200 || f.up.count() != n+1 {
		t.Errorf("tab before chunked: %q, U calls %d", firstLine(out), f.up.count()-n)
	}
}

func TestI142_ContentLengthAnomalies(t *testing.T) {
	attackCase(t, 142)
	t.Parallel()
	f := use(t, "F0")
	for name, cl := range map[string]string{
		"4 and 40": "Content-Length: 4\r\nContent-Length: 40\r\n",
		"4, 40":    "Content-Length: 4, 40\r\n",
		"+4":       "Content-Length: +4\r\n",
		"0x4":      "Content-Length: 0x4\r\n",
		"-4":       "Content-Length: -4\r\n",
		" 4 4":     "Content-Length: 4 4\r\n",
	} {
		n := f.up.count()
		out, closed := f.rawClosed(t, "GET /public/x HTTP/1.1\r\nHost: "+f.host+"\r\n"+cl+"\r\nbodyGET /public/y HTTP/1.1\r\nHost: x\r\n\r\n")
		if firstStatus(out) != 400 || !closed {
			t.Errorf("%s: %q, closed %v; want 400 and a closed connection", name, firstLine(out), closed)
		}
		if f.up.count() != n {
			t.Errorf("%s: U was called", name)
		}
	}
}

func TestI144_TrailersSmuggling(t *testing.T) {
	attackCase(t, 144)
	t.Parallel()
	f := use(t, "F0")
	alice := f.userCookie(t, "alice")
	n := f.up.count()
	out, _ := f.rawClosed(t, "POST /app HTTP/1.1\r\nHost: "+f.host+"\r\nCookie: "+alice+"\r\nTE: trailers\r\nTrailer: X-Forwarded-User\r\n"+
		"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nbody\r\n0\r\nX-Forwarded-User: admin\r\nX_Forwarded_Groups: admins\r\n\r\n")
	st := firstStatus(out)
	if st != 200 && st != 400 {
		t.Errorf("chunked POST with trailers: %q", firstLine(out))
	}
	for _, up := range f.up.since(n) {
		for _, h := range []http.Header{up.Header, up.Trailer} {
			for k, vs := range normalized(h) {
				for _, v := range vs {
					if v == "admin" || v == "admins" {
						t.Errorf("U saw %s: %q", k, v)
					}
				}
			}
		}
		if u := up.Header.Values("X-Forwarded-User"); len(u) != 1 || u[0] != "alice" {
			t.Errorf("U X-Forwarded-User %q", u)
		}
	}
}

func TestI145_HostSentUpstream(t *testing.T) {
	attackCase(t, 145)
	t.Parallel()
	f := use(t, "F0")
	if r := f.send(t, f.att(), "GET", "/public/x", hdr("X-Forwarded-Host", "evil.test"), nil); r.Status != 200 {
		t.Fatalf("public: %d", r.Status)
	}
	up := f.up.last(t)
	if up.Host != f.host {
		t.Errorf("U Host %q", up.Host)
	}
	if v := up.Header.Values("X-Forwarded-Host"); len(v) != 1 || v[0] != f.host {
		t.Errorf("U X-Forwarded-Host %q", v)
	}
}

func TestI146_AuthorisedIsForwarded(t *testing.T) {
	attackCase(t, 146)
	t.Parallel()
	f := use(t, "F0")
	alice := f.userCookie(t, "alice")
	n := f.up.count()
	out := f.raw(t, "", rawGet("GET", "/app/a%2Fb/..%2Fc?x=1;y=2&x=3", f.host, "Cookie", alice))
	if st := firstStatus(out); st == 200 {
		if up := f.up.last(t); up.URI != "/app/a%2Fb/..%2Fc?x=1;y=2&x=3" {
			t.Errorf("U received %q", up.URI)
		}
	} else if st != 400 || f.up.count() != n {
		t.Errorf("encoded path: %q", firstLine(out))
	}
	for _, target := range []string{"/app/a?x=1;y=2&x=3", "/app/%7Ea?q=%2F&q=a+b&z", "/app/b?x=%zz&;&&"} {
		out := f.raw(t, "", rawGet("GET", target, f.host, "Cookie", alice))
		if firstStatus(out) != 200 {
			t.Errorf("%s: %q", target, firstLine(out))
			continue
		}
		if up := f.up.last(t); up.URI != target {
			t.Errorf("%s reached U as %q", target, up.URI)
		}
	}
}

// Case 147, on the http fixture (cookies named gatehouse…) and the https
// one (__Host-gatehouse…): U can set neither a session chunk nor a flow
// cookie; its own cookies pass.
func TestI147_UpstreamSetsGatewayCookie(t *testing.T) {
	attackCase(t, 147)
	t.Parallel()
	for _, f := range useAll(t, "F0", "FT") {
		base := f.sessionCookie()
		f.up.setBehaviour(func(w http.ResponseWriter, r *http.Request) bool {
			for _, c := range []string{base + "=attacker; Path=/; HttpOnly", base + "_1=attacker; Path=/",
				base + "_flow_0123456789abcdef=x; Path=/", base + "=attacker; Path=/; Secure; HttpOnly; Max-Age=99999", "app=1; Path=/"} {
				w.Header().Add("Set-Cookie", c)
			}
			io.WriteString(w, "ok")
			return true
		})
		alice := f.userCookie(t, "alice")
		for _, c := range []string{"", alice} {
			r := f.send(t, f.att(), "GET", "/public/x", hdr("Cookie", c), nil)
			got := r.Header.Values("Set-Cookie")
			if len(got) != 1 || !strings.HasPrefix(got[0], "app=1") {
				t.Errorf("%s: client received Set-Cookie %q, want only app=1", f.name, got)
			}
		}
	}
}

// Case 149. gatehouse's 502 page for a refused connection must leak
// nothing. For an upstream that answers only after 120 s, the catalogue
// expects gatehouse to time out and render the same page; the test gives
// it 32 s.
func TestI149_UpstreamFailurePage(t *testing.T) {
	attackCase(t, 149)
	t.Parallel()
	f := use(t, "FJ")
	b := f.browser("")
	b.signIn(t, "alice")
	secret := "s3cr3t-header-value"
	check := func(what string, r *resp) {
		t.Helper()
		if r.Status < 500 {
			t.Errorf("%s: %d, want gatehouse's own 5xx page", what, r.Status)
		}
		low := strings.ToLower(r.Body)
		for _, leak := range []string{secret, strings.TrimPrefix(f.downURL, "http://"), strings.TrimPrefix(f.up.url, "http://"),
			"goroutine", "panic", ".go:", "dial tcp", "connection refused", "<script", b.sessionHeader()[:20]} {
			if strings.Contains(low, strings.ToLower(leak)) {
				t.Errorf("%s: the error page contains %q", what, leak)
			}
		}
		if !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: Cache-Control %q", what, r.Header.Get("Cache-Control"))
		}
	}
	check("U refuses connections", f.send(t, b.c, "GET", "/down/x?q=%3Cscript%3E", hdr("X-Secret", secret, "Accept", "text/html"), nil))

	release := make(chan struct{})
	defer close(release)
	f.up.setBehaviour(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/slow" {
			return false
		}
		select {
		case <-release:
		case <-time.After(120 * time.Second):
		}
		io.WriteString(w, "late "+secret)
		return true
	})
	c := f.client("", b.jar)
	c.Timeout = 32 * time.Second
	r, err := f.trySend(c, "GET", "/slow", hdr("X-Secret", secret, "Accept", "text/html"), nil)
	if err != nil {
		t.Errorf("U answering after 120 s: gatehouse (--upstream-timeout=5s) had not answered after 32 s: %v", err)
		return
	}
	check("U answering after 120 s", r)
}

func TestI150_ForwardAuthDoesNotProxy(t *testing.T) {
	attackCase(t, 150)
	t.Parallel()
	f := use(t, "F0")
	n := f.up.count()
	r, err := f.trySend(f.prx(), "POST", "/oauth2/auth", hdr(fwd("/public/x")...), strings.NewReader(strings.Repeat("x", 10<<20)))
	if err == nil && r.Status >= 500 {
		t.Errorf("POST /oauth2/auth with 10 MB: %d", r.Status)
	}
	// The body is not read: the answer comes before it is sent.
	conn, err := f.dialRaw("127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /oauth2/auth HTTP/1.1\r\nHost: "+f.host+"\r\nX-Forwarded-Uri: /public/x\r\nX-Forwarded-Method: GET\r\n"+
		"X-Forwarded-Host: app.test\r\nX-Forwarded-Proto: https\r\nContent-Length: 10485760\r\n\r\n"+strings.Repeat("x", 1024))
	out := readUntilQuiet(conn, 2*time.Second, 3*time.Second)
	if st := firstStatus(out); st == 0 || st >= 500 {
		t.Errorf("no answer before the 10 MB body was sent: %q", firstLine(out))
	}
	if out := f.raw(t, "127.0.0.2", rawGet("GET", "/oauth2/auth/../../admin", f.host)); firstStatus(out) != 400 {
		t.Errorf("path tricks on the auth endpoint: %q", firstLine(out))
	}
	if f.up.count() != n {
		t.Errorf("forward-auth called U %d times", f.up.count()-n)
	}
}

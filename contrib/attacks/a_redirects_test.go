package attacks

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Group A: redirect handling. For every rd the pass condition is SAFE(L)
// after LOGIN(alice, rd); gatehouse may instead answer 400 at /oauth2/start
// (it documents that it refuses off-list targets rather than repairing
// them). The catalogue's https://app.test is gatehouse's own origin here
// (http on loopback), so each catalogue payload is sent verbatim and, where
// it names app.test, also adapted to gatehouse's real origin.

// checkRD runs LOGIN(alice, rdRaw) and checks every Location it yields. It
// returns the Locations and whether /oauth2/start accepted rd.
func checkRD(t *testing.T, f *fixture, rdRaw string) (locs []string, accepted bool) {
	t.Helper()
	b := f.browser("")
	start, cb := b.login(t, "alice", rdRaw)
	if start.Location != "" {
		locs = append(locs, start.Location)
	}
	switch start.Status {
	case http.StatusBadRequest:
		if start.Location != "" {
			t.Errorf("rd=%s: 400 with a Location %q", rdRaw, start.Location)
		}
		return locs, false
	case http.StatusFound:
	default:
		t.Errorf("rd=%s: /oauth2/start answered %d", rdRaw, start.Status)
		return locs, false
	}
	au, _ := url.Parse(start.Location)
	if got := au.Query().Get("redirect_uri"); got != f.gw+"/oauth2/callback" {
		t.Errorf("rd=%s: redirect_uri %q", rdRaw, got)
	}
	locs = append(locs, cb.Location)
	if cb.Status != http.StatusFound {
		t.Errorf("rd=%s: callback answered %d", rdRaw, cb.Status)
		return locs, true
	}
	if err := f.safe(cb.URL.String(), cb.Location); err != nil {
		t.Errorf("rd=%s: SAFE(L) fails: %v", rdRaw, err)
	}
	return locs, true
}

func checkAll(t *testing.T, f *fixture, rds ...string) {
	t.Helper()
	for _, rd := range rds {
		checkRD(t, f, rd)
	}
}

func TestA001_ProtocolRelative(t *testing.T) {
	attackCase(t, 1)
	t.Parallel()
	f := use(t, "F0")
	for _, rd := range []string{"%2F%2Fevil.test%2F", "%2F%2F%2Fevil.test", "%2F%2F%2F%2Fevil.test"} {
		locs, _ := checkRD(t, f, rd)
		for _, l := range locs {
			if strings.Contains(l, "evil.test") {
				t.Errorf("rd=%s: evil.test appears in Location %q", rd, l)
			}
		}
	}
}

func TestA002_Backslash(t *testing.T) {
	attackCase(t, 2)
	t.Parallel()
	f := use(t, "F0")
	checkAll(t, f, "%2F%5Cevil.test", "%5C%5Cevil.test", "%2F%5C%2Fevil.test", "%2F%09evil.test", "%2F%5C%09evil.test")
}

func TestA004_WhitespaceAndDotSegments(t *testing.T) {
	attackCase(t, 4)
	t.Parallel()
	f := use(t, "F0")
	checkAll(t, f, "%2F%09%2F%09%5Cevil.test", "%2F.%2F%5Cevil.test", "%2F.%2F..%2F..%2F%5Cevil.test", "%2Fok%2F%09%09%5Cevil.test")
}

func TestA005_DomainLabelBoundary(t *testing.T) {
	attackCase(t, 5)
	t.Parallel()
	f := use(t, "F0")
	q := url.QueryEscape
	checkAll(t, f,
		"https%3A%2F%2Fevilapp.test%2F", "https%3A%2F%2Fapp.test.evil.test%2F", "https%3A%2F%2Fevilapps.test%2F",
		"https%3A%2F%2Fx.apps.test.evil.test%2F",
		q("http://evilapps.test/"), q("http://x.apps.test.evil.test/"), q("http://127.0.0.1.evil.test/"),
		q("http://"+f.host+".evil.test/"), q("http://apps.test/"), q("http://x.apps.testevil.test/"))
	// Positive controls: the allow-list works (exact origin, subdomain).
	for _, rd := range []string{f.gw + "/ok?x=1", "http://x.apps.test/ok"} {
		b := f.browser("")
		_, cb := b.login(t, "alice", q(rd))
		if cb == nil || cb.Location != rd {
			t.Errorf("allowed rd %s: %+v", rd, cb)
		}
	}
}

func TestA006_Userinfo(t *testing.T) {
	attackCase(t, 6)
	t.Parallel()
	f := use(t, "F0")
	q := url.QueryEscape
	checkAll(t, f,
		"https%3A%2F%2Fapp.test%40evil.test%2F", "https%3A%2F%2Fapp.test%3A443%40evil.test%2F",
		"%2F%2Fapp.test%40evil.test", "%2F%09%2Fapp.test%40evil.test",
		q("http://"+f.host+"@evil.test/"), q("http://x.apps.test@evil.test/"), q("http://evil.test@"+f.host+"/"),
		q("//"+f.host+"@evil.test"), q("http://x.apps.test:80@evil.test/"))
}

func TestA007_BackslashInAuthority(t *testing.T) {
	attackCase(t, 7)
	t.Parallel()
	f := use(t, "F0")
	q := url.QueryEscape
	checkAll(t, f,
		"https%3A%2F%2Fevil.test%5C%40app.test%2F", "https%3A%2F%2Fapp.test%5C%40evil.test%2F", "%2F%2Fevil.test%5C%40app.test",
		q(`http://evil.test\@`+f.host+`/`), q(`http://`+f.host+`\@evil.test/`), q(`http://evil.test\@x.apps.test/`),
		q(`//evil.test\@`+f.host), "http%3A%2F%2Fevil.test%255C%40"+f.host+"%2F")
}

func TestA009_DangerousSchemes(t *testing.T) {
	attackCase(t, 9)
	t.Parallel()
	f := use(t, "F0")
	checkAll(t, f, "javascript%3Aalert(document.domain)", "JaVaScRiPt%3Aalert(1)", "java%0D%0Ascript%3Aalert(0)",
		"%01javascript%3Aalert(1)", "data%3Atext%2Fhtml%3Bbase64%2CPHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg%3D%3D",
		"vbscript%3Amsgbox(1)", "%2F%0Ajavascript%3Aalert(1)")
	// Nothing is reflected into a page as an href or script.
	b := f.browser("")
	r := b.get(t, "/oauth2/sign_in?rd=javascript%3Aalert(1)")
	if strings.Contains(r.Body, "javascript:") {
		t.Errorf("sign-in page reflects javascript: %s", r.Body)
	}
}

// Case 10 needs cookies that are Secure: the https fixture FT, where an
// http: target is a downgrade.
func TestA010_SchemeDowngrade(t *testing.T) {
	attackCase(t, 10)
	t.Parallel()
	f := use(t, "FT")
	q := url.QueryEscape
	checkAll(t, f, q("http://"+f.host+"/x"), "http%3Aevil.test", "http%3A%2Fevil.test", q("http://x.apps.test/"),
		q("http:"+f.host+"/x"))
	// Control: the https origin itself is accepted.
	b := f.browser("")
	if _, cb := b.login(t, "alice", q(f.gw+"/x")); cb == nil || cb.Location != f.gw+"/x" {
		t.Errorf("https control: %+v", cb)
	}
}

func TestA011_UnicodeIDNA(t *testing.T) {
	attackCase(t, 11)
	t.Parallel()
	f := use(t, "F0")
	checkAll(t, f, "https%3A%2F%2Fapp.test%E3%80%82evil.test%2F", "%2F%2Fevil%E3%80%82test", "%E3%80%B1evil.test",
		"https%3A%2F%2Fevil.test%EF%BC%8F%40app.test",
		url.QueryEscape("http://x.apps.test\u3002evil.test/"), url.QueryEscape("http://"+f.host+"\uff0eevil.test/"),
		url.QueryEscape("//evil\uff61test"), url.QueryEscape("http://ｘ.apps.test/"))
}

func TestA012_DoubleEncoding(t *testing.T) {
	attackCase(t, 12)
	t.Parallel()
	f := use(t, "F0")
	checkAll(t, f, "%252F%252Fevil.test", "%2F%252F%252Fevil.test", "%2F%2F%2Fbing.com%2F%3Fwww.app.test",
		"%2Fok%3Fnext%3D%252F%252Fevil.test")
	// The value validated is the value used: no second decode anywhere.
	b := f.browser("")
	if _, cb := b.login(t, "alice", "%2Fok%252Fx"); cb != nil && cb.Location != "/ok%252Fx" {
		t.Errorf("rd=/ok%%252Fx came back as %q", cb.Location)
	}
}

func TestA014_StateTampering(t *testing.T) {
	attackCase(t, 14)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	cb := b.callbackURL(t, "alice", "/oauth2/start?rd=%2Fok")
	tokens := len(f.issuerRequests("/token"))
	for _, suffix := range []string{":https://evil.test/", ":provider:https://evil.test/", "x"} {
		bad := *cb
		q := bad.Query()
		q.Set("state", q.Get("state")+suffix)
		bad.RawQuery = q.Encode()
		r := b.get(t, bad.String())
		if r.Status != 403 && r.Status != 400 {
			t.Errorf("tampered state %q: status %d", suffix, r.Status)
		}
		if r.Location != "" || f.setsSession(r) {
			t.Errorf("tampered state %q: Location %q, session set %v", suffix, r.Location, f.setsSession(r))
		}
	}
	if n := len(f.issuerRequests("/token")); n != tokens {
		t.Errorf("tampered states reached /token (%d calls)", n-tokens)
	}
	// The real state still leads where the login started, nowhere else.
	r := b.get(t, cb.String())
	if r.Status != 302 || r.Location != "/ok" {
		t.Errorf("untampered callback: %d %q", r.Status, r.Location)
	}
}

func TestA015_ChainThroughAllowedHost(t *testing.T) {
	attackCase(t, 15)
	t.Parallel()
	f := use(t, "F0")
	q := url.QueryEscape
	for _, rd := range []string{
		"https%3A%2F%2Fapp.test%2Foauth2%2Fstart%3Frd%3Dhttps%3A%2F%2Fevil.test",
		"https%3A%2F%2Fapp.test%2Foauth2%2Fsign_out%3Frd%3D%2F%2Fevil.test",
		"%2F%2Fapp.test%2Fredirect%3Furl%3Dhttps%3A%2F%2Fevil.test",
		q(f.gw + "/oauth2/start?rd=http://evil.test"), q(f.gw + "/oauth2/start?rd=" + q("http://evil.test")),
		q("/oauth2/start?rd=//evil.test"), q(f.gw + "/oauth2/sign_out?rd=//evil.test"), q("/redirect?url=https://evil.test"),
		q("/redirect?url=%2F%2Fevil.test"), q("/redirect?url=javascript:alert(1)"), q("/redirect?url=data:text/html,x"),
	} {
		b := f.browser("")
		locs, _ := checkRD(t, f, rd)
		// Follow whatever chain there is on gatehouse: every hop re-validates.
		if len(locs) == 2 {
			next := locs[1]
			for hop := 0; hop < 3 && next != ""; hop++ {
				u, err := url.Parse(f.gw + "/oauth2/callback")
				if err != nil {
					t.Fatal(err)
				}
				abs, err := u.Parse(next)
				if err != nil || abs.Host != f.host {
					break
				}
				r := b.get(t, abs.String())
				if r.Location == "" {
					break
				}
				if !strings.HasPrefix(r.Location, f.issURL+"/authorize?") {
					if err := f.safe(abs.String(), r.Location); err != nil {
						t.Errorf("rd=%s: hop %d: %v", rd, hop, err)
					}
				}
				if strings.Contains(r.Location, "evil.test") {
					t.Errorf("rd=%s: hop %d Location %q", rd, hop, r.Location)
				}
				next = r.Location
			}
		}
	}
}

// TestA016_SignOutRedirect: a sign-out POST with an off-list rd still ends
// the session (that is what the user asked for) but never goes there: each
// of them lands on I's end_session_endpoint with gatehouse's registered
// post_logout_redirect_uri, or on gatehouse's own sign-in page once there is
// no session left to end at I. The client's post_logout_redirect_uri is
// never used, and no id_token goes to a non-issuer host.
func TestA016_SignOutRedirect(t *testing.T) {
	attackCase(t, 16)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	b.signIn(t, "alice")
	page := b.get(t, "/oauth2/sign_out?rd=https%3A%2F%2Fevil.test%2F")
	if strings.Contains(page.Body, "evil.test") {
		t.Errorf("sign-out page carries the off-list rd: %s", page.Body)
	}
	post := func(query string) *resp {
		return f.send(t, b.c, "POST", "/oauth2/sign_out"+query, hdr("Origin", f.gw, "Accept", "text/html"), nil)
	}
	safe := func(q string, r *resp) {
		t.Helper()
		if r.Status != http.StatusSeeOther || strings.Contains(r.Location, "evil") {
			t.Errorf("POST sign_out%s: %d %q", q, r.Status, r.Location)
			return
		}
		loc, err := url.Parse(r.Location)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case loc.Scheme+"://"+loc.Host == f.issURL && loc.Path == "/end_session":
			if got := loc.Query().Get("post_logout_redirect_uri"); got != f.gw+"/oauth2/sign_in" {
				t.Errorf("POST sign_out%s: post_logout_redirect_uri %q is not the registered one", q, got)
			}
		case r.Location == "/oauth2/sign_in":
		default:
			t.Errorf("POST sign_out%s: Location %q is neither I's end_session_endpoint nor gatehouse's sign-in page", q, r.Location)
		}
	}
	for i, q := range []string{"?rd=https%3A%2F%2Fevil.test%2F", "?rd=%2F%5Cevil.test", "?rd=%2F%2Fevil.test"} {
		r := post(q)
		safe(q, r)
		if i == 0 && !f.clearsSession(r) {
			t.Errorf("sign-out with an off-list rd did not clear the session: %v", r.Header.Values("Set-Cookie"))
		}
		b.signIn(t, "alice")
	}
	r := post("?post_logout_redirect_uri=https%3A%2F%2Fevil.test")
	if r.Status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", r.Status)
	}
	if !f.clearsSession(r) {
		t.Errorf("sign-out did not clear the session cookie: %v", r.Header.Values("Set-Cookie"))
	}
	for _, c := range r.Cookies {
		if f.isSessionCookie(c.Name) && c.MaxAge >= 0 {
			t.Errorf("session cookie not expired by sign-out: %v", c)
		}
	}
	loc, err := url.Parse(r.Location)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Scheme+"://"+loc.Host != f.issURL || loc.Path != "/end_session" {
		t.Errorf("sign-out went to %q, not I's end_session_endpoint", r.Location)
	}
	if got := loc.Query().Get("post_logout_redirect_uri"); got != f.gw+"/oauth2/sign_in" {
		t.Errorf("post_logout_redirect_uri %q is not the registered one", got)
	}
	if strings.Contains(r.Location, "evil") {
		t.Errorf("sign-out Location %q", r.Location)
	}
	// An allowed rd without an id_token (no session) stays on the list.
	r = post("?rd=%2Fbye")
	if r.Status != http.StatusSeeOther || r.Location != "/bye" {
		t.Errorf("sign-out without a session, rd=/bye: %d %q", r.Status, r.Location)
	}
}

func TestA017_HostHeaderRedirectURI(t *testing.T) {
	attackCase(t, 17)
	t.Parallel()
	f := use(t, "F0")
	for _, host := range []string{"evil.test", "app.test:1@evil.test"} {
		b := f.browser("")
		r := b.get(t, "/private", "Host", host)
		if r.Status == 400 || r.Status == 421 {
			continue
		}
		if r.Status != 302 {
			t.Errorf("Host %s: status %d", host, r.Status)
			continue
		}
		au, _ := url.Parse(r.Location)
		if au.Scheme+"://"+au.Host != f.issURL || au.Query().Get("redirect_uri") != f.gw+"/oauth2/callback" {
			t.Errorf("Host %s: Location %q", host, r.Location)
			continue
		}
		cb := b.finish(t, r, "alice")
		if err := f.safe(cb.URL.String(), cb.Location); err != nil || strings.Contains(cb.Location, "evil") {
			t.Errorf("Host %s: L %q: %v", host, cb.Location, err)
		}
	}
	for _, path := range []string{"/authorize", "/token"} {
		for _, lr := range f.issuerRequests(path) {
			if lr.Form.Has("request_id") || (path == "/token" && lr.Form.Get("grant_type") != "authorization_code") {
				continue // the login form's POST; refresh grants
			}
			if got := lr.Form.Get("redirect_uri"); got != f.gw+"/oauth2/callback" {
				t.Errorf("I saw redirect_uri %q at %s", got, path)
			}
		}
	}
}

func TestA019_XForwardedProto(t *testing.T) {
	attackCase(t, 19)
	t.Parallel()
	f := use(t, "F0")
	nav := func(c *http.Client, proto string) *resp {
		return f.send(t, c, "GET", "/private", hdr("Accept", "text/html", "X-Forwarded-Proto", proto), nil)
	}
	for _, proto := range []string{"evil_protocol", "javascript", "http", "https"} {
		r := nav(f.att(), proto) // ignored from ATT
		au, _ := url.Parse(r.Location)
		if r.Status != 302 || au == nil || au.Scheme+"://"+au.Host != f.issURL || au.Query().Get("redirect_uri") != f.gw+"/oauth2/callback" {
			t.Errorf("ATT X-Forwarded-Proto %s: %d %q", proto, r.Status, r.Location)
		}
	}
	for _, proto := range []string{"evil_protocol", "javascript", "ftp", "HTTPS"} {
		if r := nav(f.prx(), proto); r.Status != 400 || r.Location != "" {
			t.Errorf("PRX X-Forwarded-Proto %s: %d %q, want 400", proto, r.Status, r.Location)
		}
	}
	for _, proto := range []string{"http", "https"} {
		r := nav(f.prx(), proto)
		if r.Status != 302 || !strings.HasPrefix(r.Location, f.issURL+"/authorize?") {
			t.Errorf("PRX X-Forwarded-Proto %s: %d %q", proto, r.Status, r.Location)
		}
	}
}

func TestA020_TrustedProxyForgedHost(t *testing.T) {
	attackCase(t, 20)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("127.0.0.2")
	r := b.get(t, "/private", "X-Forwarded-Host", "evil.test", "X-Forwarded-Proto", f.scheme)
	if r.Status == 400 {
		return
	}
	au, _ := url.Parse(r.Location)
	if r.Status != 302 || au.Scheme+"://"+au.Host != f.issURL || au.Query().Get("redirect_uri") != f.gw+"/oauth2/callback" {
		t.Fatalf("PRX forged host: %d %q", r.Status, r.Location)
	}
	cb := b.finish(t, r, "alice")
	if err := f.safe(cb.URL.String(), cb.Location); err != nil || strings.Contains(cb.Location, "evil") {
		t.Errorf("L %q: %v", cb.Location, err)
	}
}

func TestA021_ForwardedHeader(t *testing.T) {
	attackCase(t, 21)
	t.Parallel()
	f := use(t, "F0")
	fwd := "for=1.2.3.4;host=evil.test;proto=https"
	r := f.send(t, f.att(), "GET", "/private", hdr("Accept", "text/html", "Forwarded", fwd), nil)
	au, _ := url.Parse(r.Location)
	if r.Status != 302 || au.Scheme+"://"+au.Host != f.issURL || au.Query().Get("redirect_uri") != f.gw+"/oauth2/callback" {
		t.Errorf("/private with Forwarded: %d %q", r.Status, r.Location)
	}
	n := f.up.count()
	f.send(t, f.att(), "GET", "/public/x", hdr("Forwarded", fwd, "forwarded", fwd), nil)
	for _, up := range f.up.since(n) {
		for name := range up.Header {
			if strings.EqualFold(name, "Forwarded") {
				t.Errorf("U saw %s: %q", name, up.Header[name])
			}
		}
	}
	if f.up.count() != n+1 {
		t.Errorf("public control not forwarded")
	}
}

func TestA022_ReflectedXSS(t *testing.T) {
	attackCase(t, 22)
	t.Parallel()
	f := use(t, "F0")
	b := f.browser("")
	for _, r := range []*resp{
		b.get(t, "/oauth2/sign_in?rd=%22%3E%3Csvg%2Fonload%3Dalert(1)%3E"),
		b.get(t, "/oauth2/sign_in?rd=javascript%3Aalert(1)"),
		b.get(t, "/oauth2/sign_in", "Referer", "javascript:alert(document.domain)//x"),
	} {
		low := strings.ToLower(r.Body)
		if strings.Contains(low, "<svg") || strings.Contains(low, "<script") || strings.Contains(low, `href="javascript:`) ||
			strings.Contains(low, "javascript:") {
			t.Errorf("%s: body reflects the payload: %s", r.URL, r.Body)
		}
		csp := r.Header.Get("Content-Security-Policy")
		if r.Header.Get("Content-Type") != "text/html; charset=utf-8" || r.Header.Get("X-Content-Type-Options") != "nosniff" ||
			csp == "" || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: Content-Type %q nosniff %q CSP %q", r.URL, r.Header.Get("Content-Type"),
				r.Header.Get("X-Content-Type-Options"), csp)
		}
	}
}

// openRedirectCorpus generates ≥ 500 redirect payloads (decoded values, as
// oauth2-proxy's corpus test uses them): every prefix that browsers read as
// a network path or another scheme, combined with host tricks (userinfo,
// label boundaries, IDNA dots, backslashes in the authority, encodings).
func openRedirectCorpus(gwHost string) []string {
	prefixes := []string{
		"//", "///", "////", `/\`, `\\`, `\/`, `/\/`, `//\`, "/\t/", "/\n/", "/\r/", "\t//", " //", "/ /", "/\x0b/",
		`/./\`, `/../\`, "/.//", "/%09/", "/%2F/", "%2F%2F", "/%5C", "/%2f%2f", "/%252F/",
		"http://", "https://", "http:", "https:", "http:/", "https:/", `http:\\`, `https:\/`, "HTTP://", "hTtPs://",
		"ftp://", "ws://", "javascript://", "data://", "//%09", "http:%2F%2F", "/\u3000/",
	}
	hosts := []string{
		"evil.test", "evil.test/", "evil.test:80", "evil.test" + `\@` + gwHost, gwHost + "@evil.test",
		gwHost + ".evil.test", "x.apps.test.evil.test", "x.apps.test@evil.test", "evilapps.test", "apps.test",
		"evil\u3002test", "evil\uff0etest", "evil\uff61test", "evil.test\uff0f@" + gwHost, "%65vil.test",
		"evil%2Etest", "evil.test%2F%2E%2E", "evil.test#" + gwHost, "evil.test?" + gwHost, "evil.test%00" + gwHost,
		"1.2.3.4", "0x7f.1", "[::1]@evil.test", "evil.test%40" + gwHost, gwHost + "%40evil.test",
	}
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, p := range prefixes {
		for _, h := range hosts {
			add(p + h)
		}
	}
	for _, s := range []string{
		"javascript:alert(1)", "javascript:alert(1)//" + gwHost, "JAVASCRIPT:alert(1)", "java\tscript:alert(1)",
		"\x01javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
		"/ok/\t\t\\evil.test", "/ok/..%2F..%2F%2Fevil.test", "/ok/%2e%2e/%2e%2e//evil.test",
	} {
		add(s)
	}
	for _, s := range append([]string(nil), out[:200]...) {
		add(url.PathEscape(s))
		add(url.QueryEscape(url.QueryEscape(s)))
	}
	return out
}

func TestA024_OpenRedirectCorpus(t *testing.T) {
	attackCase(t, 24)
	t.Parallel()
	f := use(t, "F0")
	corpus := openRedirectCorpus(f.host)
	if len(corpus) < 500 {
		t.Fatalf("corpus has %d payloads", len(corpus))
	}
	accepted := 0
	for _, rd := range corpus {
		if locs, ok := checkRD(t, f, url.QueryEscape(rd)); ok {
			accepted++
			if testing.Verbose() && len(locs) == 2 {
				t.Logf("accepted %q → L %q", rd, locs[1])
			}
		}
	}
	t.Logf("%d payloads, %d accepted by /oauth2/start (each ended SAFE)", len(corpus), accepted)
}

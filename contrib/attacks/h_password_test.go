package attacks

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

// Group H: the legacy HTTP Basic → password grant, on for /legacy/ only
// (fixture F2: --password-grant --password-grant-path=/legacy/).

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func (f *fixture) withAuth(t *testing.T, c *http.Client, path, auth string) *resp {
	t.Helper()
	return f.send(t, c, "GET", path, hdr("Authorization", auth, "Accept", "application/json"), nil)
}

func TestH126_OffUnlessEnabled(t *testing.T) {
	attackCase(t, 126)
	t.Parallel()
	fs := useAll(t, "F0", "F2")
	for i, c := range []struct {
		f    *fixture
		path string
	}{{fs[0], "/private"}, {fs[1], "/app"}} {
		f := c.f
		n, grants := f.up.count(), f.grants("password")
		r := f.withAuth(t, f.att(), c.path, "Basic YWxpY2U6cHc=")
		f.deny(t, []string{"F0 (grant off)", "F2 outside /legacy/"}[i], r, n)
		if f.grants("password") != grants {
			t.Errorf("%s: I received a password grant", f.name)
		}
	}
}

func TestH127_WrongPasswordNeverCached(t *testing.T) {
	attackCase(t, 127)
	t.Parallel()
	f := use(t, "F2")
	if r := f.withAuth(t, f.att(), "/legacy/x", basic("alice", "pw")); r.Status != 200 {
		t.Fatalf("alice:pw: %d %s", r.Status, r.Body)
	}
	for _, v := range []struct{ user, pass string }{{"alice", "wrong"}, {"ALICE", "pw"}, {"alice", "pw "}, {"alice", ""}} {
		grants := f.grants("password")
		r := f.withAuth(t, f.att(), "/legacy/x", basic(v.user, v.pass))
		if r.Status == 200 {
			t.Errorf("%s:%q was accepted (served from a cache?)", v.user, v.pass)
		}
		if r.Status != 401 && f.grants("password") == grants {
			t.Errorf("%s:%q: %d without asking I", v.user, v.pass, r.Status)
		}
	}
}

func TestH129_MalformedBasic(t *testing.T) {
	attackCase(t, 129)
	t.Parallel()
	f := use(t, "F2")
	grants := f.grants("password")
	n := f.up.count()
	for name, v := range map[string]string{
		"Basic (empty)":    "Basic",
		"Basic Og== (:)":   "Basic Og==",
		"no colon":         "Basic YWxpY2U=",
		"Basic !!!":        "Basic !!!",
		"16 KB":            "Basic " + strings.Repeat("QUFB", 4096),
		"NUL in username":  basic("al\x00ice", "pw"),
		"empty user (::p)": "Basic Ojpw",
		"empty user":       basic("", "pw"),
		"unpadded":         "Basic " + strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("alice:pw12")), "="),
	} {
		r := f.withAuth(t, f.att(), "/legacy/x", v)
		if r.Status != 401 && r.Status != 400 {
			t.Errorf("%s: %d, want 401", name, r.Status)
		}
	}
	if f.grants("password") != grants {
		t.Errorf("malformed credentials reached I (%d grants)", f.grants("password")-grants)
	}
	if f.up.count() != n {
		t.Errorf("U was called")
	}
}

func TestH130_CredentialsNeverUpstream(t *testing.T) {
	attackCase(t, 130)
	t.Parallel()
	f := use(t, "F2")
	if r := f.withAuth(t, f.att(), "/legacy/x", basic("bob", "pw")); r.Status != 200 {
		t.Fatalf("bob:pw: %d", r.Status)
	}
	up := f.up.last(t)
	if a := up.Header.Values("Authorization"); len(a) != 0 {
		t.Errorf("U saw Authorization %q", a)
	}
	if u := up.Header.Get("X-Forwarded-User"); u != "bob" {
		t.Errorf("U X-Forwarded-User %q", u)
	}
	for k, vs := range up.Header {
		for _, v := range vs {
			if strings.Contains(v, basic("bob", "pw")[6:]) {
				t.Errorf("U header %s carries the credentials", k)
			}
		}
	}
}

func TestH131_BasicCreatesNoSession(t *testing.T) {
	attackCase(t, 131)
	t.Parallel()
	f := use(t, "F2")
	b := f.browser("")
	r := f.send(t, b.c, "GET", "/legacy/x", hdr("Authorization", "Basic bWFsbG9yeTpwdw==", "Accept", "text/html"), nil)
	if r.Status != 200 {
		t.Fatalf("mallory:pw: %d", r.Status)
	}
	if len(r.Cookies) != 0 {
		t.Errorf("the password grant set cookies: %v", r.Header.Values("Set-Cookie"))
	}
	n := f.up.count()
	f.deny(t, "the request after it, without credentials", b.get(t, "/legacy/x"), n)
}

func TestH132_GrantTokensValidated(t *testing.T) {
	attackCase(t, 132)
	t.Parallel()
	f := use(t, "F2")
	i2 := issuer2(t)
	for name, hook := range map[string]func(string, map[string]any) (int, []byte, bool){
		"access token for another audience": func(g string, resp map[string]any) (int, []byte, bool) {
			c := decodeClaims(t, resp["access_token"].(string))
			c["aud"] = "https://other.test"
			tok, _ := f.iss.Mint(map[string]any{"typ": "at+jwt"}, c, "k1")
			resp["access_token"] = tok
			return 0, nil, false
		},
		"a token from I2": func(g string, resp map[string]any) (int, []byte, bool) {
			c := decodeClaims(t, resp["access_token"].(string))
			c["iss"] = "https://idp2.test"
			tok, _ := i2.Mint(map[string]any{"typ": "at+jwt"}, c, "k1")
			resp["access_token"] = tok
			return 0, nil, false
		},
		"I2's id_token as the access token": func(g string, resp map[string]any) (int, []byte, bool) {
			c := decodeClaims(t, resp["access_token"].(string))
			c["aud"] = "gw"
			tok, _ := i2.Mint(nil, c, "k1")
			resp["access_token"] = tok
			return 0, nil, false
		},
		"token_type MAC": func(g string, resp map[string]any) (int, []byte, bool) {
			resp["token_type"] = "MAC"
			return 0, nil, false
		},
	} {
		f.iss.SetHooks(devissuer.Hooks{TokenResponse: func(g string, resp map[string]any) (int, []byte, bool) {
			if g != "password" {
				return 0, nil, false
			}
			return hook(g, resp)
		}})
		n, grants := f.up.count(), f.grants("password")
		r := f.withAuth(t, f.att(), "/legacy/x", basic("dave", "pw"))
		if r.Status != 401 {
			t.Errorf("%s: %d, want 401", name, r.Status)
		}
		if f.up.count() != n || f.grants("password") != grants+1 {
			t.Errorf("%s: U calls %d, grants %d", name, f.up.count()-n, f.grants("password")-grants)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// Case 134 (statistical, "P" in the catalogue). gatehouse rate-limits
// failed Basic credentials per username (5) and per client address (20)
// within 5 minutes, so an attacker gets 20 samples per address, not 200:
// the test takes every sample the limits allow from both source addresses
// (unknown users vs known users with a wrong password), compares medians,
// and then shows further attempts get 429 without reaching I.
func TestH134_TimingOracle(t *testing.T) {
	attackCase(t, 134) // sequential: it measures latency
	f := use(t, "F2t")
	known := []string{"alice", "bob", "mallory", "nogroups", "carol", "dave"}
	var unknownT, knownT []time.Duration
	k := 0
	for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
		c := f.client(from, nil)
		for i := range 20 {
			var auth string
			if i%2 == 0 {
				auth = basic("nobody-"+randomKey()[:8], "wrong")
			} else {
				auth = basic(known[k%len(known)], "wrong")
				k++
			}
			r := f.withAuth(t, c, "/legacy/x", auth)
			if r.Status != 401 {
				t.Fatalf("attempt %d from %s: %d", i, from, r.Status)
			}
			if i%2 == 0 {
				unknownT = append(unknownT, r.Took)
			} else {
				knownT = append(knownT, r.Took)
			}
		}
	}
	// The catalogue treats timing as a monitored metric, not a gate (§3):
	// the medians are logged. What is asserted is the structural reason
	// there is no oracle: gatehouse asks I for unknown and known users
	// alike (one grant per attempt), so both take the same path.
	mu, mk := median(unknownT), median(knownT)
	t.Logf("median unknown user %v, known user wrong password %v (%d samples each)", mu, mk, len(unknownT))
	if got, want := f.grants("password"), len(unknownT)+len(knownT); got < want {
		t.Errorf("I saw %d password grants for %d attempts: some usernames were answered without asking I", got, want)
	}
	grants := f.grants("password")
	for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
		r := f.withAuth(t, f.client(from, nil), "/legacy/x", basic("nobody-x", "wrong"))
		if r.Status != 429 {
			t.Errorf("attempt beyond the limit from %s: %d, want 429", from, r.Status)
		}
	}
	if f.grants("password") != grants {
		t.Errorf("attempts beyond the limit reached I")
	}
}

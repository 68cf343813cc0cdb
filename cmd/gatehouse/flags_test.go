package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testCookieKey = "aW5zZWN1cmUtdGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg=="

// validArgs is a flag set that passes validation.
func validArgs() []string {
	return []string{"--public-url=https://app.test", "--issuer=https://idp.test", "--client-id=gw", "--upstream=/=http://127.0.0.1:8080"}
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFlagValidation(t *testing.T) {
	env := envOf(map[string]string{"GATEHOUSE_COOKIE_SECRET": testCookieKey})
	with := func(extra ...string) []string { return append(validArgs(), extra...) }
	without := func(name string) []string {
		var out []string
		for _, a := range validArgs() {
			if !strings.HasPrefix(a, "--"+name+"=") {
				out = append(out, a)
			}
		}
		return out
	}
	cases := []struct {
		args []string
		env  func(string) string
		want string // fragment of the error, naming the flag
	}{
		{without("public-url"), env, "--public-url is required"},
		{with("--public-url=app.test"), env, "--public-url"},
		{with("--public-url=https://app.test/sub"), env, "--public-url"},
		{without("issuer"), env, "--issuer is required"},
		{with("--issuer=http://idp.example.com"), env, "--issuer"},
		{with("--issuer=ftp://idp.test"), env, "--issuer"},
		{without("client-id"), env, "--client-id is required"},
		{without("upstream"), env, "--upstream is required"},
		{with("--upstream=/=ftp://x"), env, "--upstream"},
		{with("--upstream=nopath=http://x"), env, "--upstream"},
		{with("--upstream=/=http://a", "--upstream=/=http://b"), env, "twice"},
		{validArgs(), envOf(nil), "--cookie-secret-file is required"},
		{validArgs(), envOf(map[string]string{"GATEHOUSE_COOKIE_SECRET": "short"}), "--cookie-secret-file"},
		{with("--cookie-secret-file=/nonexistent/keys"), env, "--cookie-secret-file"},
		{with("--trusted-proxy=10.0.0.0/33"), env, "--trusted-proxy"},
		{with("--trusted-proxy=banana"), env, "--trusted-proxy"},
		{with("--allowed-redirect=evil.test"), env, "--allowed-redirect"},
		{with("--endpoint-prefix=oauth2"), env, "--endpoint-prefix"},
		{with("--endpoint-prefix=/oauth2/"), env, "--endpoint-prefix"},
		{with("--endpoint-prefix=/o,auth"), env, "--endpoint-prefix"},
		{with("--endpoint-prefix=/o<auth>"), env, "--endpoint-prefix"},
		{with("--endpoint-prefix=/a/../oauth2"), env, "--endpoint-prefix"},
		{with("--endpoint-prefix=/a//oauth2"), env, "--endpoint-prefix"},
		{with(`--endpoint-prefix=/o"auth`), env, "--endpoint-prefix"},
		{with("--scope="), env, "--scope"},
		{with("--session-lifetime=1s"), env, "--session-lifetime"},
		{with("--log-level=loud"), env, "--log-level"},
		{with("--log-format=xml"), env, "--log-format"},
		{with("--log-flush-interval=-1s"), env, "--log-flush-interval"},
		{with("--log-flush-interval=1m"), env, "--log-flush-interval"},
		{with("--post-logout-redirect-url=/relative"), env, "--post-logout-redirect-url"},
		{with("--no-such-flag"), env, "no-such-flag"},
		{with("stray"), env, "stray"},
		{validArgs(), envOf(map[string]string{"GATEHOUSE_COOKIE_SECRET": testCookieKey, "GATEHOUSE_SESSION_LIFETIME": "soon"}), "GATEHOUSE_SESSION_LIFETIME"},
		{with("--session-cache-ttl=1s"), env, "--session-cache-ttl is set but --session-store is cookie"},
		{validArgs(), envOf(map[string]string{"GATEHOUSE_COOKIE_SECRET": testCookieKey, "GATEHOUSE_SESSION_CACHE_TTL": "0"}), "--session-cache-ttl"},
		{with("--session-store=redis", "--redis-url=redis://127.0.0.1:6379/0", "--session-cache-ttl=11s"), env, "--session-cache-ttl"},
		{with("--session-store=redis", "--redis-url=redis://127.0.0.1:6379/0", "--session-cache-ttl=-1s"), env, "--session-cache-ttl"},
		{with("--session-cache-ttl=soon"), env, "session-cache-ttl"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		m := NewMain(&out)
		err := m.ParseFlags(c.args, c.env)
		if err == nil {
			_, err = m.cfg.validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.args, err, c.want)
		}
		if err != nil && strings.Count(err.Error(), "\n") > 0 && c.want != "no-such-flag" {
			t.Errorf("%v: error is not one line: %q", c.args, err)
		}
	}
}

func TestFlagsFromEnvironmentAndFiles(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	secret := filepath.Join(dir, "secret")
	os.WriteFile(keys, []byte("# rotation: new key first\n"+testCookieKey+"\n\n"+strings.Repeat("k!", 20)+"\n"), 0o600)
	os.WriteFile(secret, []byte("from-file\n"), 0o600)
	env := envOf(map[string]string{
		"GATEHOUSE_PUBLIC_URL":         "https://env.test",
		"GATEHOUSE_ISSUER":             "https://idp.test",
		"GATEHOUSE_CLIENT_ID":          "from-env",
		"GATEHOUSE_UPSTREAM":           "/=http://127.0.0.1:1, /api/=http://127.0.0.1:2",
		"GATEHOUSE_TRUSTED_PROXY":      "10.0.0.0/8,192.168.1.1",
		"GATEHOUSE_COOKIE_SECRET_FILE": keys,
		"GATEHOUSE_CLIENT_SECRET":      "from-env-secret",
		"GATEHOUSE_RULE":               "GET,HEAD /public/ public; /admin/ groups=a,b\n/internal/ deny",
	})
	m := NewMain(&bytes.Buffer{})
	if err := m.ParseFlags([]string{"--client-id=from-flag", "--client-secret-file=" + secret}, env); err != nil {
		t.Fatal(err)
	}
	s, err := m.cfg.validate()
	if err != nil {
		t.Fatal(err)
	}
	if m.cfg.clientID != "from-flag" {
		t.Errorf("flag did not win over environment: %q", m.cfg.clientID)
	}
	if m.cfg.publicURL != "https://env.test" || len(s.routes) != 2 || len(s.trusted) != 2 || s.keys.Len() != 2 {
		t.Errorf("environment not applied: url %q routes %d trusted %v keys %d", m.cfg.publicURL, len(s.routes), s.trusted, s.keys.Len())
	}
	if len(m.cfg.rules) != 3 || m.cfg.rules[0] != "GET,HEAD /public/ public" || m.cfg.rules[1] != "/admin/ groups=a,b" {
		t.Errorf("rules from the environment: %q", m.cfg.rules)
	}
	if string(m.cfg.clientSecret) != "from-file" {
		t.Errorf("client secret %q, want the file's (trimmed)", m.cfg.clientSecret)
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, envOf(nil), &out, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	var c config
	newFlagSet("x", &c, &out).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "--"+f.Name+" ") || !strings.Contains(out.String(), envName(f.Name)) {
			t.Errorf("--help does not document --%s and %s", f.Name, envName(f.Name))
		}
	})
	for _, want := range []string{`default ":4180"`, `default "/oauth2"`, `default "openid email profile"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, envOf(nil), &out, &out); err != nil || !strings.HasPrefix(out.String(), "gatehouse ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
}

func TestCheckConfig(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	env := envOf(map[string]string{"GATEHOUSE_COOKIE_SECRET": testCookieKey})
	args := []string{"check-config", "--public-url=https://app.test", "--issuer=" + h.issURL, "--client-id=gw", "--upstream=/=http://127.0.0.1:1"}
	var out bytes.Buffer
	if err := run(context.Background(), args, env, &out, &out); err != nil {
		t.Fatalf("check-config: %v\n%s", err, out.String())
	}
	for _, want := range []string{"flags: ok", "issuer: ok", "jwks: 2 key(s)", "https://app.test/oauth2/callback"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out.String())
		}
	}
	args[2] = "--issuer=http://127.0.0.1:1"
	if err := run(context.Background(), args, env, &out, &out); err == nil || !strings.Contains(err.Error(), "--issuer") {
		t.Errorf("unreachable issuer: %v", err)
	}
	args[2] = "--issuer=" + h.issURL
	if err := run(context.Background(), append(args, "--scope="), env, &out, &out); err == nil || !strings.Contains(err.Error(), "--scope") {
		t.Errorf("bad flag: %v", err)
	}
}

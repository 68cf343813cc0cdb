package session_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/session"
	"github.com/gatehouse-proxy/gatehouse/session/storetest"
)

func TestParseKeys(t *testing.T) {
	raw32 := strings.Repeat("k", 32)
	b32 := []byte(strings.Repeat("\xfe", 32))
	tests := []struct {
		name    string
		data    string
		n       int
		errLine string // substring of the error, "" for success
	}{
		{"raw", raw32 + "!", 1, ""},
		{"std base64", base64.StdEncoding.EncodeToString(b32), 1, ""},
		{"std base64 unpadded", base64.RawStdEncoding.EncodeToString(b32), 1, ""},
		{"url base64", base64.URLEncoding.EncodeToString(b32), 1, ""},
		{"url base64 unpadded", base64.RawURLEncoding.EncodeToString(b32), 1, ""},
		{"comments and blanks", "# keys\n\n   \n  " + secret('a') + "  \r\n# old:\n" + secret('b') + "\n", 2, ""},
		{"short raw", "short!", 0, "line 1 has 6 bytes"},
		{"short base64", "\n" + base64.StdEncoding.EncodeToString(make([]byte, 16)), 0, "line 2 has 16 bytes after base64 decoding"},
		{"second short", secret('a') + "\n#\n" + "tiny key", 0, "line 3"},
		{"empty", "", 0, "no keys"},
		{"only comments", "# nothing\n\n", 0, "no keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := session.ParseKeys([]byte(tt.data))
			if tt.errLine != "" {
				if err == nil {
					t.Fatalf("ParseKeys succeeded, want error with %q", tt.errLine)
				}
				if !strings.Contains(err.Error(), tt.errLine) || !strings.HasPrefix(err.Error(), "session: ") {
					t.Errorf("error %q, want it to start with session: and contain %q", err, tt.errLine)
				}
				if !strings.Contains(err.Error(), "32") {
					t.Errorf("error %q does not say a key needs 32 bytes", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeys: %v", err)
			}
			if k.Len() != tt.n {
				t.Errorf("Len = %d, want %d", k.Len(), tt.n)
			}
		})
	}
}

func TestParseKeysHidesSecrets(t *testing.T) {
	const short = "hunter2-is-my-password"
	_, err := session.ParseKeys([]byte(short))
	if err == nil || strings.Contains(err.Error(), short) {
		t.Errorf("error %v: want one that does not reveal the key", err)
	}
	k := mustKeys(t, secret('a'), secret('b'))
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, "aaaa") || strings.Contains(s, "YWFh") {
			t.Errorf("formatted Keys %q reveals a secret", s)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	a, b := secret('a'), secret('b')
	store := func(keys ...string) session.Store {
		s, err := session.NewCookieStore(session.CookieConfig{}, mustKeys(t, keys...), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	jar := new(storetest.Jar)
	save(t, store(a), jar, storetest.FullSession(100, 100, 100))
	if _, err := store(b, a).Load(storetest.Request(jar.Cookies())); err != nil {
		t.Errorf("cookie from key A with keys [B, A]: %v", err)
	}
	if _, err := store(b).Load(storetest.Request(jar.Cookies())); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("cookie from key A with keys [B]: %v, want ErrNoSession", err)
	}
	// [B, A] signs with B.
	jar = new(storetest.Jar)
	save(t, store(b, a), jar, storetest.FullSession(100, 100, 100))
	if _, err := store(b).Load(storetest.Request(jar.Cookies())); err != nil {
		t.Errorf("cookie from keys [B, A] with keys [B]: %v", err)
	}
	if _, err := store(a).Load(storetest.Request(jar.Cookies())); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("cookie from keys [B, A] with keys [A]: %v, want ErrNoSession", err)
	}
}

package session

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// malleable returns value with the unused low bits of its last base64
// character changed, or "" when value has no such bits (no padding).
func malleable(value string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	data := strings.TrimRight(value, "=")
	if len(data) == len(value) {
		return ""
	}
	i := len(data) - 1
	j := strings.IndexByte(alphabet, data[i])
	return data[:i] + string(alphabet[j^1]) + value[i+1:]
}

// TestDecodeCookieRefusesOtherEncodings checks that a cookie whose text
// differs from what securecookie wrote is refused even where the bytes it
// decodes to are the same.
func TestDecodeCookieRefusesOtherEncodings(t *testing.T) {
	keys, err := ParseKeys([]byte(NewRandom() + NewRandom()))
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewCookieStore(CookieConfig{}, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for n := range 12 { // payload sizes until both kinds of padding have come up
		sess := &Session{ID: NewRandom(), CreatedAt: time.Now(), IDToken: strings.Repeat("i", 100+n)}
		value, err := st.encode(sess)
		if err != nil {
			t.Fatal(err)
		}
		other := malleable(value)
		if other == "" {
			continue
		}
		a, err1 := base64.URLEncoding.DecodeString(value)
		b, err2 := base64.URLEncoding.DecodeString(other)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("the premise fails: %q and %q decode to different bytes (%v, %v)", value, other, err1, err2)
		}
		tried++
		var got Session
		if err := decodeCookie(st.name, value, &got, st.decoders...); err != nil || got.ID != sess.ID {
			t.Fatalf("the value as written: %v", err)
		}
		if err := decodeCookie(st.name, other, &got, st.decoders...); err == nil {
			t.Errorf("a value changed in its last character's unused bits was accepted")
		}
	}
	if tried == 0 {
		t.Fatal("no encoded value had padding; the test tried nothing")
	}
}

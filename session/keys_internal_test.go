package session

import (
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

func TestPurposesUseDifferentKeys(t *testing.T) {
	k, err := ParseKeys([]byte(NewRandom()))
	if err != nil {
		t.Fatal(err)
	}
	sess, err := k.codecs(purposeSession, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	flow, err := k.codecs(purposeFlow, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	v, err := sess[0].Encode("name", &Flow{State: "s"})
	if err != nil {
		t.Fatal(err)
	}
	var fl Flow
	if err := securecookie.DecodeMulti("name", v, &fl, sess...); err != nil || fl.State != "s" {
		t.Fatalf("same purpose: %v, %+v", err, fl)
	}
	if err := securecookie.DecodeMulti("name", v, &fl, flow...); err == nil {
		t.Error("a session-purpose value decoded with flow-purpose keys")
	}
}

package session_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/gatehouse-proxy/gatehouse/session"
)

func ExampleNewCookieStore() {
	// In production, read the secrets from a file: one per line, newest
	// first, each from `openssl rand -base64 32`.
	keys, err := session.ParseKeys([]byte(`
# current
cJ0ouYlZP2gB1ml5kQd0Bq3rGvKXo3fHnE9xIc6wT2s=
# previous, until its cookies have expired
V8mF0yP3bq1a9Jt4cXhQe2LkR7sNwZ5uDgA6oB1iE0M=
`))
	if err != nil {
		log.Fatal(err)
	}
	store, err := session.NewCookieStore(session.CookieConfig{Secure: true}, keys, nil)
	if err != nil {
		log.Fatal(err)
	}
	// Every cookie gatehouse sets starts with this name: strip them all
	// from requests to upstreams.
	fmt.Println(store.CookieName())

	mux := http.NewServeMux()
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Load(r)
		if err != nil {
			http.Error(w, "please sign in", http.StatusUnauthorized)
			return
		}
		fmt.Fprintln(w, s.Identity.Subject)
	})
	// Output: __Host-gatehouse
}

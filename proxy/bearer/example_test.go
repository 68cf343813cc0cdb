package bearer_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
	"github.com/gatehouse-proxy/gatehouse/proxy/bearer"
	"golang.org/x/oauth2/clientcredentials"
)

func ExampleNew() {
	// A development issuer stands in for the real one.
	var iss *devissuer.Issuer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { iss.ServeHTTP(w, r) }))
	defer srv.Close()
	iss, _ = devissuer.New(devissuer.Config{
		Issuer:  srv.URL,
		Clients: []devissuer.Client{{ID: "reports", Secret: "s3cret", Audience: []string{"https://app.example"}}},
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops background key fetches
	a, err := bearer.New(ctx, bearer.Config{
		Issuers: []bearer.IssuerConfig{{URL: srv.URL, Audiences: []string{"https://app.example"}}},
		Client:  &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		log.Fatal(err)
	}

	// A service obtains a token with client credentials and presents it.
	cc := clientcredentials.Config{ClientID: "reports", ClientSecret: "s3cret", TokenURL: srv.URL + "/token"}
	tok, err := cc.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/data", nil)
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res := a.Check(r)
	fmt.Println(res.Status, res.Identity.Subject, res.Identity.Machine, res.Method)

	// Without credentials: the caller answers Status with Challenge as
	// WWW-Authenticate (or tries a session cookie).
	res = a.Check(httptest.NewRequest(http.MethodGet, "/api/data", nil))
	fmt.Println(res.Status, res.Reason, res.Challenge)
	// Output:
	// 0 reports true jwt
	// 401 missing Bearer realm="gatehouse"
}

package upstream_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/gatehouse-proxy/gatehouse/upstream"
)

func ExampleNew() {
	// The protected application.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%q cookie=%q", r.Header.Get("X-Forwarded-User"), r.Header.Get("Cookie"))
	}))
	defer app.Close()

	target, _ := url.Parse(app.URL)
	p, err := upstream.New(upstream.Config{
		Target:            target,
		PassHostHeader:    true,
		StripCookiePrefix: "_gatehouse",
	})
	if err != nil {
		panic(err)
	}

	// The gateway: authenticate, then attach the identity headers.
	gateway := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ... authentication happens here ...
		h := http.Header{"X-Forwarded-User": {"alice"}}
		p.ServeHTTP(w, r.WithContext(upstream.WithHeaders(r.Context(), h)))
	})
	front := httptest.NewServer(gateway)
	defer front.Close()

	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	req.Header.Set("X_Forwarded_User", "mallory") // a client trying its luck
	req.Header.Set("Cookie", "_gatehouse_session=secret; theme=dark")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Println(string(body))
	// Output: user="alice" cookie="theme=dark"
}

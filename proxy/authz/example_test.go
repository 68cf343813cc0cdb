package authz_test

import (
	"fmt"

	"github.com/gatehouse-proxy/gatehouse/proxy/authz"
	"github.com/gatehouse-proxy/gatehouse/session"
)

func ExampleNew() {
	p, err := authz.New(authz.Config{Rules: []string{
		"GET,HEAD /public/ public",
		"/admin/ groups=admins",
		"api.example.com/v1/ machines scopes=read,write",
		"/internal/ deny",
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	alice := &session.Identity{Subject: "alice", Groups: []string{"staff"}}
	svc := &session.Identity{Subject: "svc", Scopes: []string{"read"}, Machine: true}

	fmt.Println(p.Public("GET", "app.example.com", "/public/logo.png"))
	fmt.Println(p.Decide(nil, "DELETE", "app.example.com", "/public/logo.png").Decision)
	fmt.Println(p.Decide(alice, "GET", "app.example.com", "/administrator").Decision)
	r := p.Decide(alice, "GET", "app.example.com", "/admin/users")
	fmt.Printf("%v: %s (%s)\n", r.Decision, r.Reason, r.Rule)
	r = p.Decide(svc, "POST", "api.example.com", "/v1/orders")
	fmt.Printf("%v: %s, insufficient scope %v\n", r.Decision, r.Reason, r.InsufficientScope)

	_, err = authz.New(authz.Config{Rules: []string{"GET /x/ grups=a"}})
	fmt.Println(err)
	// Output:
	// true
	// need-auth
	// allow
	// deny: requires group admins (/admin/ groups=admins)
	// deny: requires scopes read, write, insufficient scope true
	// authz: rule "GET /x/ grups=a": unknown requirement "grups"
}

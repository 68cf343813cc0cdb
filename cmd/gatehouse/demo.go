package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
	"github.com/gatehouse-proxy/gatehouse/contrib/echo"
)

// Demo users of the built-in development issuer.
var demoUsers = []devissuer.User{
	{Username: "alice", Password: "alice", Email: "alice@example.test", EmailVerified: true, Name: "Alice Example", Groups: []string{"dev", "staff"}},
	{Username: "bob", Password: "bob", Email: "bob@example.test", EmailVerified: true, Name: "Bob Example", Groups: []string{"admins"}},
}

// runDemo starts, in one process, the development issuer, an upstream that
// echoes every request, and gatehouse in front of it, wired through the
// same flags a production gatehouse takes.
func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehouse demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:4180", "address gatehouse listens on")
	issuerListen := fs.String("issuer-listen", "127.0.0.1:5556", "address the development issuer listens on")
	adminListen := fs.String("admin-listen", "127.0.0.1:9180", "address of gatehouse's admin listener")
	host := fs.String("host", "localhost", "host name the browser uses for gatehouse (must differ from the issuer's 127.0.0.1 so their cookies stay apart)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	issuerLn, err := net.Listen("tcp", *issuerListen)
	if err != nil {
		return fmt.Errorf("demo: --issuer-listen: %w", err)
	}
	defer issuerLn.Close()
	appLn, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("demo: --listen: %w", err)
	}
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer upLn.Close()

	_, port, _ := net.SplitHostPort(appLn.Addr().String())
	publicURL := "http://" + *host + ":" + port
	issuerURL := "http://" + issuerLn.Addr().String()
	secret := randomString()
	iss, err := devissuer.New(devissuer.Config{
		Issuer: issuerURL,
		Clients: []devissuer.Client{{
			ID: "gatehouse-demo", Secret: secret,
			RedirectURIs:           []string{publicURL + "/oauth2/callback"},
			PostLogoutRedirectURIs: []string{publicURL + "/oauth2/sign_in"},
		}},
		Users:          demoUsers,
		AccessTokenTTL: 2 * time.Minute,
	})
	if err != nil {
		return err
	}
	issuerSrv := &http.Server{Handler: iss, ReadHeaderTimeout: 10 * time.Second}
	go issuerSrv.Serve(issuerLn)
	defer issuerSrv.Close()
	upSrv := &http.Server{Handler: echo.New(), ReadHeaderTimeout: 10 * time.Second}
	go upSrv.Serve(upLn)
	defer upSrv.Close()

	env := map[string]string{
		"GATEHOUSE_CLIENT_SECRET": secret,
		"GATEHOUSE_COOKIE_SECRET": randomString(),
	}
	m := NewMain(stderr)
	m.AppListener = appLn
	err = m.ParseFlags([]string{
		"--public-url=" + publicURL,
		"--issuer=" + issuerURL,
		"--client-id=gatehouse-demo",
		"--upstream=/=http://" + upLn.Addr().String(),
		"--scope=openid email profile offline_access",
		"--admin-listen=" + *adminListen,
	}, func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return getenv(k)
	})
	if err != nil {
		appLn.Close()
		return err
	}
	if err := m.Run(ctx); err != nil {
		appLn.Close()
		return err
	}
	printBanner(stdout, publicURL, issuerURL)
	<-ctx.Done()
	return errors.Join(m.Close())
}

func printBanner(out io.Writer, publicURL, issuerURL string) {
	line := strings.Repeat("=", 72)
	fmt.Fprintf(out, `%s
 gatehouse demo is running.

   Open:        %s/
   Sign in as:  alice / alice   (groups dev, staff)
                bob   / bob     (group admins)

 WARNING: the built-in issuer at %s is for DEVELOPMENT ONLY.
 It keeps plain-text demo passwords and fresh keys in memory. Never put it
 in front of anything real; run gatehouse against your own OIDC issuer.

 Press Ctrl-C to stop.
%s
`, line, publicURL, issuerURL, line)
}

func randomString() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

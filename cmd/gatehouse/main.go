// Command gatehouse is an OAuth 2.0 / OpenID Connect authentication gateway:
// a reverse proxy that signs browsers in with the authorization-code flow
// (PKCE always) and forwards requests upstream with the caller's identity.
//
//	gatehouse --public-url=https://app.example.com --issuer=https://idp.example.com \
//	    --client-id=app --client-secret-file=/run/secrets/client-secret \
//	    --cookie-secret-file=/run/secrets/cookie-keys --upstream=/=http://127.0.0.1:8080
//
// `gatehouse demo` runs a complete local setup; `gatehouse --help` lists
// every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startGCFloor(os.Getenv)
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(2)
	}
}

// run dispatches the subcommands and runs until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintln(stdout, "gatehouse", version)
			return nil
		case "demo":
			return runDemo(ctx, args[1:], getenv, stdout, stderr)
		case "check-config":
			return runCheckConfig(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	m := NewMain(stderr)
	if err := m.ParseFlags(args, getenv); err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return m.Close()
}

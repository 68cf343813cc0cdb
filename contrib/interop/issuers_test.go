package interop

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Browser steps shared by the tests against real issuers. They know only
// what every issuer's login page has (a form with username, password and a
// submit button) and what gatehouse serves; nothing here depends on which
// issuer is behind gatehouse.

// expectLoginForm asserts the tab shows a login form with username and
// password fields, served from loginOrigin (the issuer's login UI), not by
// gatehouse.
func expectLoginForm(t *testing.T, ctx context.Context, loginOrigin string) {
	t.Helper()
	do(t, ctx, "waiting for the issuer's login form",
		chromedp.WaitVisible(chromedp.CSS(`form input[name=username]`)),
		chromedp.WaitVisible(chromedp.CSS(`form input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`form button[type=submit]`)),
	)
	loc := location(t, ctx)
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("location %q: %v", loc, err)
	}
	if got := u.Scheme + "://" + u.Host; got != loginOrigin {
		t.Fatalf("expected the issuer's login form at %s, got %s", loginOrigin, loc)
	}
}

// submitLogin fills the issuer's login form and submits it, waiting for
// the navigation (through the issuer's redirects and gatehouse's callback)
// to load.
func submitLogin(t *testing.T, ctx context.Context, user, password string) {
	t.Helper()
	do(t, ctx, "filling the login form",
		chromedp.SendKeys(chromedp.CSS(`form input[name=username]`), user),
		chromedp.SendKeys(chromedp.CSS(`form input[name=password]`), password),
	)
	resp := must[*network.Response](t, "submitting the login form")(chromedp.RunResponse(ctx,
		chromedp.Click(chromedp.CSS(`form button[type=submit]`))))
	if resp.Status != 200 {
		t.Errorf("after login: HTTP %d for %s", resp.Status, resp.URL)
	}
}

// signIn opens target on gatehouse, expects the issuer's login form at
// loginOrigin, logs in and expects to be back at target.
func signIn(t *testing.T, ctx context.Context, target, loginOrigin, user, password string) {
	t.Helper()
	do(t, ctx, "opening "+target, chromedp.Navigate(target))
	expectLoginForm(t, ctx, loginOrigin)
	submitLogin(t, ctx, user, password)
	if loc := location(t, ctx); loc != target {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("after login: at %s, want %s; page says:\n%s", loc, target, body)
	}
}

// expectSignedIn opens target and expects the upstream's page there, with
// no detour through the issuer, and returns what the upstream saw.
func expectSignedIn(t *testing.T, ctx context.Context, target string) echoPage {
	t.Helper()
	resp := must[*network.Response](t, "opening "+target)(chromedp.Run(ctx, chromedp.NavigateResponse(target)))
	if loc := location(t, ctx); loc != target || resp.Status != 200 {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("expected to stay signed in at %s; got HTTP %d at %s:\n%s", target, resp.Status, loc, body)
	}
	return readEchoPage(t, ctx)
}

// signOut clicks the echo page's sign-out button (a same-origin POST to
// /oauth2/sign_out) and expects to end at gatehouse's sign-in page, where
// the issuer sends the browser back after RP-initiated logout.
func signOut(t *testing.T, ctx context.Context, gatehouseURL string) {
	t.Helper()
	resp := must[*network.Response](t, "clicking Sign out")(chromedp.RunResponse(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/oauth2/sign_out"] button[type=submit]`))))
	if resp.Status != 200 {
		t.Errorf("after sign-out: HTTP %d for %s", resp.Status, resp.URL)
	}
	if loc, want := location(t, ctx), gatehouseURL+"/oauth2/sign_in"; loc != want {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("after sign-out: at %s, want %s; page says:\n%s", loc, want, body)
	}
	do(t, ctx, "waiting for the Sign in button", chromedp.WaitVisible(chromedp.CSS(`a.button`)))
}

// sessionCookies returns a Cookie header with the browser's cookies for
// gatehouse, so a plain HTTP client can act with the browser's session.
func sessionCookies(t *testing.T, ctx context.Context, gatehouseURL string) http.Header {
	t.Helper()
	res := must[network.GetCookiesResult](t, "reading cookies")(chromedp.Call(ctx, network.GetCookies,
		network.GetCookiesParams{URLs: []string{gatehouseURL + "/"}}))
	var parts []string
	for _, c := range res.Cookies {
		if strings.HasPrefix(c.Name, "gatehouse") {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	if len(parts) == 0 {
		t.Fatalf("no gatehouse cookie in the browser; cookies: %v", cookieNames(res.Cookies))
	}
	return http.Header{"Cookie": {strings.Join(parts, "; ")}}
}

// identityOf reads the identity headers the upstream got, for comparing.
func identityOf(u testUser, withProfile bool) map[string]string {
	want := map[string]string{
		"X-Forwarded-User":  u.Subject,
		"X-Forwarded-Email": u.Email,
	}
	if withProfile {
		want["X-Forwarded-Preferred-Username"] = u.Username
	}
	if len(u.Groups) > 0 {
		want["X-Forwarded-Groups"] = strings.Join(u.Groups, ",")
	}
	return want
}

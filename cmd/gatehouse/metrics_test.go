package main

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsGolden runs a scripted set of requests and compares the
// counters the admin listener exports with testdata/metrics/flow.txt.
// UPDATE_GOLDEN=1 rewrites the file (review the diff).
func TestMetricsGolden(t *testing.T) {
	h := startHarness(t, harnessOptions{})
	b := newBrowser(t)
	h.login(b, "/app", "alice", "pw-alice")                                                      // start (navigation) + callback
	b.get(h.gw + "/app")                                                                         // proxied
	b.do("GET", h.gw+"/api", nil, map[string]string{"Accept": "application/json", "Cookie": ""}) // 401
	newBrowser(t).get(h.gw + "/oauth2/start?rd=" + url.QueryEscape("//evil.test"))               // rejected redirect
	tok := h.clientToken(t, "svc", "svc-secret")
	bearerReq(t, "GET", h.gw+"/api", tok) // cache miss, key fetch
	bearerReq(t, "GET", h.gw+"/api", tok) // cache hit
	bearerReq(t, "GET", h.gw+"/api", "not-a-token")

	names := []string{"gatehouse_requests_total", "gatehouse_auth_total", "gatehouse_login_events_total",
		"gatehouse_redirects_rejected_total", "gatehouse_bearer_events_total"}
	const golden = "testdata/metrics/flow.txt"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		resp, err := http.Get(h.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		var keep []string
		for _, line := range strings.Split(body, "\n") {
			for _, n := range names {
				if strings.HasPrefix(line, n) || strings.HasPrefix(line, "# HELP "+n+" ") || strings.HasPrefix(line, "# TYPE "+n+" ") {
					keep = append(keep, line)
					break
				}
			}
		}
		if err := os.WriteFile(golden, []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.ScrapeAndCompare(h.admin+"/metrics", f, names...); err != nil {
		t.Fatal(err)
	}
}

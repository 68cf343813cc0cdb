// Command bench measures what gatehouse costs on top of the reverse proxy it
// is built on. One command, everything on loopback:
//
//	go run ./contrib/bench                       # full run, writes BENCHMARKS.md
//	go run ./contrib/bench -duration=2s -layouts=shared -out=   # quicker, table only
//
// It builds gatehouse into a temporary directory and starts, each as its own
// process: a small upstream, a plain httputil.ReverseProxy with a tuned
// transport (the floor), gatehouse (cookie sessions, bearer tokens, the
// password grant), a redis-server and a second gatehouse with Redis
// sessions. The development issuer (contrib/devissuer) runs inside the bench
// process. Each target is driven by the same load generator (load.go, a
// separate process) at each connection count, and the table gives
// requests/s, p50/p99 latency and the ratio to the plain proxy measured in
// the same run, with gatehouse's CPU per request read from
// /proc/<pid>/task/*/schedstat.
//
// Layouts: "pinned" puts the proxy under test alone on CPU 0 and the load
// generator, the upstream and Redis on CPU 1 (taskset); "shared" lets all
// of them share both CPUs, as a two-core machine would.
//
// Also measured: the login round trip (start → issuer → callback → session
// cookie) with gatehouse's CPU per login, the time from exec to /readyz,
// idle RSS, binary size, and RSS after a million distinct invalid bearer
// tokens. -perf-dir records perf profiles of gatehouse under load.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type options struct {
	duration, warmup time.Duration
	conns            []int
	modes            []string
	layouts          []string
	out              string
	upstream         string
	invalidTokens    int64
	logins           int
	loginConns       int
	startups         int
	rounds           int
	perfDir          string
	perfModes        []string
	perfConns        int
	keep             bool
	extras           bool
	gatehouseFlags   []string
}

func main() {
	var (
		o                                   options
		role, addr, target, kind            string
		conns, modes, layouts, perfModes, x string
	)
	flag.StringVar(&role, "role", "", "internal: run as one of the bench's processes (load, upstream, plain)")
	flag.StringVar(&addr, "addr", "", "internal: listen address of a role")
	flag.StringVar(&target, "target", "", "internal: the plain proxy's upstream URL")
	flag.StringVar(&kind, "kind", "static", "internal: upstream kind")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per point")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each point (same connections, not counted)")
	flag.StringVar(&conns, "conns", "1,16,64", "connection counts")
	flag.StringVar(&modes, "modes", strings.Join(allModes(), ","), "gatehouse modes to measure")
	flag.StringVar(&layouts, "layouts", "pinned,shared", "CPU layouts: pinned (proxy on CPU 0, load generator, upstream and Redis on CPU 1) and/or shared")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "Markdown file whose generated section is replaced with the results (relative to the module root); empty: stdout only")
	flag.StringVar(&o.upstream, "upstream", "static", "upstream: static (a fixed small JSON answer) or echo (contrib/echo, much heavier)")
	flag.Int64Var(&o.invalidTokens, "invalid-tokens", 1_000_000, "distinct invalid bearer tokens to send for the memory measurement; 0 skips it")
	flag.IntVar(&o.logins, "logins", 300, "browser logins for the login round trip")
	flag.IntVar(&o.loginConns, "login-conns", 8, "browsers signing in at once for the concurrent login measurement (the same -logins in all); 1 measures only sequential logins")
	flag.IntVar(&o.startups, "startups", 5, "gatehouse starts for the startup time")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds over every (connections, mode) point; the table shows the median")
	flag.BoolVar(&o.extras, "extras", true, "measure logins, startup, RSS and invalid tokens")
	flag.StringVar(&o.perfDir, "perf-dir", "", "record perf profiles of gatehouse into this directory (needs perf)")
	flag.StringVar(&perfModes, "perf-modes", "cookie,jwt", "modes to profile with -perf-dir")
	flag.IntVar(&o.perfConns, "perf-conns", 16, "connection count to profile at")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, logs)")
	flag.StringVar(&x, "gatehouse-flags", "", "extra flags for gatehouse, space-separated (e.g. --log-level=warn)")
	flag.Parse()

	var err error
	switch role {
	case "load":
		err = loadMain()
	case "upstream":
		err = upstreamMain(addr, kind)
	case "plain":
		err = plainMain(addr, target)
	case "":
		o.conns, err = parseInts(conns)
		o.rounds = max(o.rounds, 1)
		o.modes, o.layouts, o.perfModes = splitComma(modes), splitComma(layouts), splitComma(perfModes)
		o.gatehouseFlags = strings.Fields(x)
		if err == nil {
			err = run(o)
		}
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitComma(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad connection count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// moduleRoot finds the directory of gatehouse's go.mod from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/gatehouse-proxy/gatehouse\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run the bench inside the gatehouse module (go run ./contrib/bench)")
		}
		dir = parent
	}
}

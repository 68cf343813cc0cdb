package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/devissuer"
)

// Modes. The "plain" ones are the floor: the plain proxy given the same
// request as the gatehouse modes measured against it, gatehouse's own
// cookies aside (floorOf); the others are gatehouse.
const (
	modePlain       = "plain"        // a browser's page request, with the app's cookies
	modePlainAPI    = "plain-api"    // an API request without credentials
	modePlainJWT    = "plain-jwt"    // an API request with the bearer JWT
	modePlainOpaque = "plain-opaque" // an API request with the opaque token
	modePlainBasic  = "plain-basic"  // an API request with Basic credentials
	modeCookie      = "cookie"
	modeRedis       = "redis"
	modeRedisTTL0   = "redis-ttl0"
	modeJWT         = "jwt"
	modeOpaque      = "opaque"
	modePassword    = "password"
	modeRedirect    = "redirect"
	modeAPI401      = "api401"
)

func allModes() []string {
	return []string{modeCookie, modeRedis, modeRedisTTL0, modeJWT, modeOpaque, modePassword, modeRedirect, modeAPI401}
}

// floorOf is the plain-proxy mode a gatehouse mode is compared with: the
// one that gets the same request. A machine client sends its token to a
// plain proxy too (which forwards it); a browser sends gatehouse's session
// cookie only to gatehouse.
var floorOf = map[string]string{
	modeCookie: modePlain, modeRedis: modePlain, modeRedisTTL0: modePlain, modeRedirect: modePlain,
	modeJWT: modePlainJWT, modeOpaque: modePlainOpaque, modePassword: modePlainBasic, modeAPI401: modePlainAPI,
}

func isFloor(m string) bool { _, mode := floorOf[m]; return !mode }

var modeTitles = map[string]string{
	modePlain:       "plain httputil.ReverseProxy",
	modePlainAPI:    "plain, API request",
	modePlainJWT:    "plain, same bearer JWT",
	modePlainOpaque: "plain, same opaque token",
	modePlainBasic:  "plain, same Basic credentials",
	modeCookie:      "cookie session",
	modeRedis:       "Redis session",
	modeRedisTTL0:   "Redis session, no local cache (--session-cache-ttl=0)",
	modeJWT:         "bearer JWT",
	modeOpaque:      "opaque token (cached introspection)",
	modePassword:    "password grant (cached)",
	modeRedirect:    "unauthenticated browser (302)",
	modeAPI401:      "unauthenticated API (401)",
}

var modeStatus = map[string]int{
	modePlain: 200, modePlainAPI: 200, modePlainJWT: 200, modePlainOpaque: 200, modePlainBasic: 200, modeCookie: 200, modeRedis: 200, modeRedisTTL0: 200, modeJWT: 200, modeOpaque: 200, modePassword: 200,
	modeRedirect: 302, modeAPI401: 401,
}

const (
	clientSecret = "bench-client-secret"
	userName     = "alice"
	userPassword = "pw-alice"
	// appCookies are the application's own cookies a browser sends along.
	appCookies = "theme=dark; _ga=GA1.1.1234567890.1700000000"
)

// point is one measured (layout, mode, connections) cell.
type point struct {
	Layout string
	Mode   string
	Conns  int
	Res    loadResult
	Round  int
	// ProxyCPU is the CPU time of the proxy under test (plain or
	// gatehouse) during the measured part.
	ProxyCPU time.Duration
	// Background is the CPU used by processes other than the bench's
	// during the measured part, in CPUs (0.5 = half a core).
	Background float64
}

// cpuPerReq is the proxy's CPU per request.
func (p point) cpuPerReq() time.Duration {
	if p.Res.Requests == 0 {
		return 0
	}
	return p.ProxyCPU / time.Duration(p.Res.Requests)
}

type extras struct {
	BinarySize, BinarySizeDebug int64
	Startups                    []time.Duration
	IdleRSS                     int64
	Tokens                      int64
	TokensRPS                   float64
	TokenStatuses               map[string]int64
	RSSBeforeTokens             int64
	RSSAfterTokens              int64
	RSSAfterTokensIdle          int64
	HWMAfterTokens              int64
}

type env struct {
	o                 options
	root, tmp, self   string
	ghBin             string
	iss               *devissuer.Issuer
	issURL            string
	gwAddr, adminAddr string
	gwRedisAddr       string
	adminRedisAddr    string
	gwRedis0Addr      string // the Redis gatehouse without a local cache
	adminRedis0Addr   string
	upAddr            string
	cookieKey         string
	points            []point
	ex                *extras
	profiles          []string // perf summaries
	started           time.Time
	logf              io.Writer
}

func run(o options) error {
	e := &env{o: o, started: time.Now(), logf: os.Stderr}
	var err error
	if e.root, err = moduleRoot(); err != nil {
		return err
	}
	if e.self, err = os.Executable(); err != nil {
		return err
	}
	for _, l := range o.layouts {
		if l != "pinned" && l != "shared" {
			return fmt.Errorf("layout %q is not pinned or shared", l)
		}
		if l == "pinned" {
			if _, err := exec.LookPath("taskset"); err != nil {
				return fmt.Errorf("the pinned layout needs taskset (util-linux): %v", err)
			}
		}
	}
	for _, m := range o.modes {
		if _, ok := floorOf[m]; !ok {
			return fmt.Errorf("unknown mode %q (modes: %s)", m, strings.Join(allModes(), ", "))
		}
	}
	if e.tmp, err = os.MkdirTemp("", "gatehouse-bench-"); err != nil {
		return err
	}
	if o.keep {
		e.logf.Write([]byte("bench: keeping " + e.tmp + "\n"))
	} else {
		defer os.RemoveAll(e.tmp)
	}
	if err := e.build(); err != nil {
		return err
	}
	if err := e.startIssuer(); err != nil {
		return err
	}
	k := make([]byte, 32)
	rand.Read(k)
	e.cookieKey = base64.StdEncoding.EncodeToString(k)
	for _, l := range o.layouts {
		if err := e.runLayout(l); err != nil {
			return fmt.Errorf("layout %s: %w", l, err)
		}
	}
	if o.extras {
		if err := e.runExtras(); err != nil {
			return fmt.Errorf("extras: %w", err)
		}
	}
	md := e.report()
	fmt.Print(md)
	if o.out != "" {
		path := o.out
		if !filepath.IsAbs(path) {
			path = filepath.Join(e.root, path)
		}
		if err := writeGenerated(path, md); err != nil {
			return err
		}
		e.logf.Write([]byte("bench: wrote " + path + "\n"))
	}
	return nil
}

func (e *env) logln(a ...any) { fmt.Fprintln(e.logf, append([]any{"bench:"}, a...)...) }

// build compiles gatehouse twice: as released (-trimpath -ldflags "-s -w",
// as the Dockerfile does) for the binary size, and with symbols, which is
// the one that runs (the same code; perf needs the symbols).
func (e *env) build() error {
	e.ghBin = filepath.Join(e.tmp, "gatehouse")
	stripped := filepath.Join(e.tmp, "gatehouse-release")
	for _, b := range []struct {
		out   string
		flags []string
	}{
		{stripped, []string{"-trimpath", "-ldflags=-s -w"}},
		{e.ghBin, []string{"-trimpath"}},
	} {
		args := append([]string{"build"}, b.flags...)
		args = append(args, "-o", b.out, "./cmd/gatehouse")
		cmd := exec.Command("go", args...)
		cmd.Dir = e.root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	e.ex = &extras{}
	if fi, err := os.Stat(stripped); err == nil {
		e.ex.BinarySize = fi.Size()
	}
	if fi, err := os.Stat(e.ghBin); err == nil {
		e.ex.BinarySizeDebug = fi.Size()
	}
	return nil
}

// startIssuer runs the development issuer inside this process. Its tokens
// live long enough that no session is refreshed during a run.
func (e *env) startIssuer() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if e.gwAddr, err = freeAddr(); err != nil {
		return err
	}
	if e.adminAddr, err = freeAddr(); err != nil {
		return err
	}
	if e.gwRedisAddr, err = freeAddr(); err != nil {
		return err
	}
	if e.adminRedisAddr, err = freeAddr(); err != nil {
		return err
	}
	if e.gwRedis0Addr, err = freeAddr(); err != nil {
		return err
	}
	if e.adminRedis0Addr, err = freeAddr(); err != nil {
		return err
	}
	e.issURL = "http://" + ln.Addr().String()
	gw, gwr, gwr0 := "http://"+e.gwAddr, "http://"+e.gwRedisAddr, "http://"+e.gwRedis0Addr
	e.iss, err = devissuer.New(devissuer.Config{
		Issuer: e.issURL,
		Clients: []devissuer.Client{
			{ID: "gw", Secret: clientSecret, RedirectURIs: []string{gw + "/oauth2/callback", gwr + "/oauth2/callback", gwr0 + "/oauth2/callback"}},
			{ID: "svc", Secret: "svc-secret", Audience: []string{"gw"}, Groups: []string{"robots"}},
			{ID: "svc-opaque", Secret: "opaque-secret", Audience: []string{"gw"}, AccessTokenFormat: "opaque"},
		},
		Users: []devissuer.User{{Username: userName, Password: userPassword, Subject: "alice-sub", Email: "alice@corp.test",
			EmailVerified: true, Name: "Alice Example", Groups: []string{"dev", "staff"}}},
		AccessTokenTTL: 12 * time.Hour,
		IDTokenTTL:     12 * time.Hour,
	})
	if err != nil {
		return err
	}
	go (&http.Server{Handler: e.iss}).Serve(ln)
	return nil
}

// cpus returns where the proxy under test and everything else run.
func cpus(layout string) (proxy, other string) {
	if layout == "pinned" {
		return "0", "1"
	}
	return "", ""
}

func (e *env) startUpstream(cpu string) (*proc, error) {
	var err error
	if e.upAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	p, err := startProc(e.tmp, "upstream", cpu, nil, e.self, "-role=upstream", "-addr="+e.upAddr, "-kind="+e.o.upstream)
	if err != nil {
		return nil, err
	}
	return p, waitTCP(e.upAddr, p, 10*time.Second)
}

// startGatehouse runs the gatehouse binary on cpu and waits for /readyz.
func (e *env) startGatehouse(name, cpu, addr, redisAddr string, extra ...string) (*proc, time.Duration, error) {
	admin := e.adminAddr
	switch addr {
	case e.gwRedisAddr:
		admin = e.adminRedisAddr
	case e.gwRedis0Addr:
		admin = e.adminRedis0Addr
	}
	args := []string{
		"--listen=" + addr, "--admin-listen=" + admin,
		"--public-url=http://" + addr, "--issuer=" + e.issURL, "--client-id=gw",
		"--upstream=/=http://" + e.upAddr, "--scope=openid email profile offline_access",
		"--password-grant",
	}
	if redisAddr != "" {
		args = append(args, "--session-store=redis", "--redis-url=redis://"+redisAddr+"/0")
	}
	args = append(append(args, e.o.gatehouseFlags...), extra...)
	envv := []string{"GATEHOUSE_CLIENT_SECRET=" + clientSecret, "GATEHOUSE_COOKIE_SECRET=" + e.cookieKey}
	t0 := time.Now()
	p, err := startProc(e.tmp, name, cpu, envv, e.ghBin, args...)
	if err != nil {
		return nil, 0, err
	}
	client := &http.Client{Timeout: time.Second}
	for time.Since(t0) < 20*time.Second {
		if p.exited() {
			return nil, 0, fmt.Errorf("gatehouse exited: %s", p.tail(3000))
		}
		resp, err := client.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, time.Since(t0), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	p.stop()
	return nil, 0, fmt.Errorf("gatehouse not ready after 20s: %s", p.tail(3000))
}

func (e *env) startRedis(cpu string) (*proc, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", fmt.Errorf("the redis mode needs redis-server on PATH: %v", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	p, err := startProc(e.tmp, "redis", cpu, nil, bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", e.tmp)
	if err != nil {
		return nil, "", err
	}
	return p, addr, waitTCP(addr, p, 10*time.Second)
}

// request builds a raw HTTP/1.1 request as a browser or an API client
// would send it.
func request(host, path string, browser bool, cookie, auth string) []byte {
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n")
	b.WriteString("User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 gatehouse-bench\r\n")
	if browser {
		b.WriteString("Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n")
		b.WriteString("Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n")
		b.WriteString("Sec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Site: none\r\n")
	} else {
		b.WriteString("Accept: application/json\r\nAccept-Encoding: gzip\r\n")
	}
	if cookie != "" {
		b.WriteString("Cookie: " + cookie + "\r\n")
	}
	if auth != "" {
		b.WriteString("Authorization: " + auth + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// probe sends req once and returns the response status.
func probe(addr string, req []byte) (int, http.Header, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

// target is a process under test and the request each of its modes
// sends.
type target struct {
	proc *proc
	addr string
}

// modeRun is one mode ready to be measured.
type modeRun struct {
	mode  string
	t     *target
	req   []byte
	floor []byte // the request its floor (floorOf) gets
}

// sampler reads the CPU counters around a measured part.
type sampler struct {
	pids         []int // the proxy under test first, then upstream and Redis
	cpu0, cpu1   []time.Duration
	busy0, busy1 time.Duration
	sw0, sw1     int64 // the proxy's switches onto a CPU
}

func (s *sampler) start() {
	s.cpu0 = s.read()
	s.busy0 = systemBusy()
	s.sw0 = procSwitches(s.pids[0])
}

func (s *sampler) stop() {
	s.sw1 = procSwitches(s.pids[0])
	s.cpu1 = s.read()
	s.busy1 = systemBusy()
}

func (s *sampler) read() []time.Duration {
	out := make([]time.Duration, len(s.pids))
	for i, pid := range s.pids {
		out[i] = procCPU(pid)
	}
	return out
}

// measure runs one point.
func (e *env) measure(layout string, round int, mr modeRun, conns int, loadCPU string, others []int) (point, error) {
	pt := point{Layout: layout, Mode: mr.mode, Conns: conns, Round: round}
	s := &sampler{pids: append([]int{mr.t.proc.pid()}, others...)}
	spec := loadSpec{Addr: mr.t.addr, Conns: conns, Warmup: e.o.warmup, Duration: e.o.duration, Request: mr.req, Status: modeStatus[mr.mode]}
	res, err := runLoadProc(e.self, loadCPU, spec, s.start, s.stop)
	if err != nil {
		return pt, fmt.Errorf("%s at %d connections: %w", mr.mode, conns, err)
	}
	pt.Res, pt.ProxyCPU = res, s.cpu1[0]-s.cpu0[0]
	ours := res.CPU
	for i := range s.pids {
		ours += s.cpu1[i] - s.cpu0[i]
	}
	if busy := s.busy1 - s.busy0; busy > ours && res.Elapsed > 0 {
		pt.Background = float64(busy-ours) / float64(res.Elapsed)
	}
	var switches float64
	if res.Requests > 0 {
		switches = float64(s.sw1-s.sw0) / float64(res.Requests)
	}
	e.logln(fmt.Sprintf("%-7s r%d %-9s %3d conns: %7.0f req/s  p50 %-8v p99 %-8v proxy CPU %6.1f µs/req  %.2f switches/req  background %3.0f%%  errors %d %s",
		layout, round, mr.mode, conns, res.RPS, res.P50, res.P99, float64(pt.cpuPerReq())/1e3, switches, pt.Background*100, res.Errors, res.FirstError))
	if mr.t.proc.log != nil {
		mr.t.proc.truncateLog()
	}
	return pt, nil
}

// profile records a perf profile of p while it is under load, in a run of
// its own (perf slows the process down; the table does not use it).
func (e *env) profile(layout string, mr modeRun, loadCPU string) error {
	if _, err := exec.LookPath("perf"); err != nil {
		return err
	}
	if err := os.MkdirAll(e.o.perfDir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(e.o.perfDir, layout+"-"+mr.mode)
	var perf *exec.Cmd
	spec := loadSpec{Addr: mr.t.addr, Conns: e.o.perfConns, Warmup: e.o.warmup, Duration: e.o.duration, Request: mr.req, Status: modeStatus[mr.mode]}
	res, err := runLoadProc(e.self, loadCPU, spec, func() {
		perf = exec.Command("perf", "record", "-F", "1999", "-g", "-p", fmt.Sprint(mr.t.proc.pid()), "-o", base+".data", "--",
			"sleep", fmt.Sprintf("%.1f", e.o.duration.Seconds()))
		perf.Stdout, perf.Stderr = io.Discard, io.Discard
		perf.Start()
	}, nil)
	if perf != nil {
		perf.Wait()
	}
	mr.t.proc.truncateLog()
	if err != nil {
		return err
	}
	// With the requests, a profile's event count (CPU ns) and samples
	// become per-request figures.
	e.logln(fmt.Sprintf("perf %s-%s: %d requests in %v while recorded", layout, mr.mode, res.Requests, res.Elapsed.Round(time.Millisecond)))
	return e.perfReports(base)
}

// perfAttach starts recording p with perf when -perf-dir is set and
// "name" is among -perf-modes; the returned function stops it and writes
// the reports.
func (e *env) perfAttach(p *proc, name string) func() {
	if e.o.perfDir == "" || !slices.Contains(e.o.perfModes, name) {
		return func() {}
	}
	if _, err := exec.LookPath("perf"); err != nil {
		return func() {}
	}
	os.MkdirAll(e.o.perfDir, 0o755)
	base := filepath.Join(e.o.perfDir, name)
	perf := exec.Command("perf", "record", "-F", "1999", "-g", "-p", fmt.Sprint(p.pid()), "-o", base+".data")
	perf.Stdout, perf.Stderr = io.Discard, io.Discard
	if perf.Start() != nil {
		return func() {}
	}
	return func() {
		perf.Process.Signal(os.Interrupt)
		perf.Wait()
		if err := e.perfReports(base); err != nil {
			e.logln("perf:", err)
		}
	}
}

// perfReports writes the flat and cumulative reports of base.data.
func (e *env) perfReports(base string) error {
	for _, r := range []struct {
		suffix string
		args   []string
	}{
		{".flat.txt", []string{"--no-children", "--percent-limit", "0.5"}},
		{".cum.txt", []string{"--children", "--percent-limit", "1.5"}},
	} {
		args := append([]string{"report", "-i", base + ".data", "--stdio", "--sort", "symbol", "-g", "none"}, r.args...)
		out, err := exec.Command("perf", args...).Output()
		if err != nil {
			return fmt.Errorf("perf report: %v", err)
		}
		if err := os.WriteFile(base+r.suffix, out, 0o644); err != nil {
			return err
		}
	}
	e.profiles = append(e.profiles, base)
	e.logln("perf profile:", base+".flat.txt", base+".cum.txt")
	return nil
}

func (e *env) want(mode string) bool { return slices.Contains(e.o.modes, mode) }

// runLayout starts every process of the layout at once, then measures the
// rounds: in each, for each connection count, the plain proxy and then
// every mode, so that each ratio compares runs minutes apart at most.
func (e *env) runLayout(layout string) error {
	proxyCPU, otherCPU := cpus(layout)
	up, err := e.startUpstream(otherCPU)
	if err != nil {
		return err
	}
	defer up.stop()
	others := []int{up.pid()}

	plainAddr, err := freeAddr()
	if err != nil {
		return err
	}
	plain, err := startProc(e.tmp, "plain", proxyCPU, nil, e.self, "-role=plain", "-addr="+plainAddr, "-target=http://"+e.upAddr)
	if err != nil {
		return err
	}
	defer plain.stop()
	if err := waitTCP(plainAddr, plain, 10*time.Second); err != nil {
		return err
	}
	var runs []modeRun

	var gh *target
	for _, m := range e.o.modes {
		if m == modeRedis || m == modeRedisTTL0 {
			continue
		}
		if gh == nil {
			p, _, err := e.startGatehouse("gatehouse", proxyCPU, e.gwAddr, "")
			if err != nil {
				return err
			}
			defer p.stop()
			gh = &target{p, e.gwAddr}
		}
		req, floor, err := e.modeRequest(m, gh, plainAddr)
		if err != nil {
			return err
		}
		runs = append(runs, modeRun{mode: m, t: gh, req: req, floor: floor})
	}
	if e.want(modeRedis) || e.want(modeRedisTTL0) {
		rd, raddr, err := e.startRedis(otherCPU)
		if err != nil {
			return err
		}
		defer rd.stop()
		others = append(others, rd.pid())
		for _, v := range []struct {
			mode, name, addr string
			extra            []string
		}{
			{modeRedis, "gatehouse-redis", e.gwRedisAddr, nil},
			{modeRedisTTL0, "gatehouse-redis-ttl0", e.gwRedis0Addr, []string{"--session-cache-ttl=0"}},
		} {
			if !e.want(v.mode) {
				continue
			}
			p, _, err := e.startGatehouse(v.name, proxyCPU, v.addr, raddr, v.extra...)
			if err != nil {
				return err
			}
			defer p.stop()
			t := &target{p, v.addr}
			req, floor, err := e.modeRequest(v.mode, t, plainAddr)
			if err != nil {
				return err
			}
			runs = append(runs, modeRun{mode: v.mode, t: t, req: req, floor: floor})
		}
	}
	// Each floor runs just before the first mode measured against it.
	floored := make([]modeRun, 0, 2*len(runs))
	seen := make(map[string]bool)
	for _, mr := range runs {
		if f := floorOf[mr.mode]; !seen[f] {
			seen[f] = true
			floored = append(floored, modeRun{mode: f, t: &target{plain, plainAddr}, req: mr.floor})
		}
		floored = append(floored, mr)
	}
	runs = floored
	for _, mr := range runs {
		// One request first: it checks the setup and fills the caches a
		// real client would have filled (introspection, password grant).
		if status, _, err := probe(mr.t.addr, mr.req); err != nil || status != modeStatus[mr.mode] {
			return fmt.Errorf("%s: first request: status %d, %v (want %d); log: %s", mr.mode, status, err, modeStatus[mr.mode], mr.t.proc.tail(2000))
		}
	}
	for round := 1; round <= e.o.rounds; round++ {
		for _, n := range e.o.conns {
			for _, mr := range runs {
				pt, err := e.measure(layout, round, mr, n, otherCPU, others)
				if err != nil {
					return err
				}
				e.points = append(e.points, pt)
			}
		}
	}
	if e.o.perfDir != "" {
		for _, mr := range runs {
			if slices.Contains(e.o.perfModes, mr.mode) {
				if err := e.profile(layout, mr, otherCPU); err != nil {
					e.logln("perf:", err)
				}
			}
		}
	}
	return nil
}

// modeRequest prepares the request mode sends to t, signing in first
// where the mode needs a session, and the one its floor sends to the plain
// proxy at plainAddr: the same, without gatehouse's session cookie.
func (e *env) modeRequest(m string, t *target, plainAddr string) (req, floor []byte, err error) {
	page := func(host, cookies string) []byte { return request(host, "/app/page?id=42", true, cookies, "") }
	api := func(host, auth string) []byte { return request(host, "/api/items?page=2", false, "", auth) }
	switch m {
	case modeCookie, modeRedis, modeRedisTTL0:
		c, err := e.browserLogin(newBrowserClient(), t.addr)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: login: %w (log: %s)", m, err, t.proc.tail(2000))
		}
		e.logln(fmt.Sprintf("%s: the browser sends %d bytes of session cookie", m, len(c)))
		return page(t.addr, appCookies+"; "+c), page(plainAddr, appCookies), nil
	case modeJWT, modeOpaque:
		id, secret := "svc", "svc-secret"
		if m == modeOpaque {
			id, secret = "svc-opaque", "opaque-secret"
		}
		tok, err := e.clientToken(id, secret)
		if err != nil {
			return nil, nil, err
		}
		return api(t.addr, "Bearer "+tok), api(plainAddr, "Bearer "+tok), nil
	case modePassword:
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(userName+":"+userPassword))
		return api(t.addr, basic), api(plainAddr, basic), nil
	case modeRedirect:
		return page(t.addr, appCookies), page(plainAddr, appCookies), nil
	case modeAPI401:
		return api(t.addr, ""), api(plainAddr, ""), nil
	}
	return nil, nil, fmt.Errorf("unknown mode %q", m)
}

func newBrowserClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// browserLogin signs alice in through gatehouse the way a browser does:
// a page without a session (302 to the issuer and a flow cookie), the
// issuer's login form (in-process), the callback with the flow cookie (302
// and the session cookie). It returns the session cookie(s) a browser
// sends to /app/page as a Cookie header value.
func (e *env) browserLogin(c *http.Client, addr string) (string, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+"/app/page?id=42", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("start: status %d", resp.StatusCode)
	}
	flow := resp.Cookies()
	cb, err := e.iss.Authorize(resp.Header.Get("Location"), userName, userPassword)
	if err != nil {
		return "", err
	}
	req, _ = http.NewRequest("GET", cb.String(), nil)
	req.Header.Set("Accept", "text/html")
	for _, f := range flow {
		req.AddCookie(f)
	}
	resp, err = c.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("callback: status %d", resp.StatusCode)
	}
	var parts []string
	for _, ck := range resp.Cookies() {
		// Path-scoped cookies (the sign-out hint) do not go to the page.
		sent := ck.Path == "" || ck.Path == "/" || strings.HasPrefix("/app/page", strings.TrimSuffix(ck.Path, "/")+"/")
		if sent && ck.MaxAge >= 0 && ck.Value != "" && !strings.Contains(ck.Name, "flow") {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("callback set no session cookie")
	}
	return strings.Join(parts, "; "), nil
}

// clientToken gets a client-credentials access token from the issuer.
func (e *env) clientToken(id, secret string) (string, error) {
	req, _ := http.NewRequest("POST", e.issURL+"/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(resp.Body, &body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("token for %s: status %d, %v", id, resp.StatusCode, err)
	}
	return body.AccessToken, nil
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// runExtras measures startup, idle RSS, the login round trip and memory
// after many distinct invalid bearer tokens, on one gatehouse with nothing
// pinned.
func (e *env) runExtras() error {
	up, err := e.startUpstream("")
	if err != nil {
		return err
	}
	defer up.stop()

	var gh *proc
	for i := range max(e.o.startups, 1) {
		p, d, err := e.startGatehouse("gatehouse-extras", "", e.gwAddr, "")
		if err != nil {
			return err
		}
		e.ex.Startups = append(e.ex.Startups, d)
		if i < e.o.startups-1 {
			p.stop()
			continue
		}
		gh = p
	}
	defer gh.stop()
	time.Sleep(3 * time.Second)
	e.ex.IdleRSS = procStatus(gh.pid(), "VmRSS")
	e.logln(fmt.Sprintf("startup %v, idle RSS %.1f MB", median(e.ex.Startups), mb(e.ex.IdleRSS)))

	if e.o.logins > 0 {
		if err := e.measureLogins(gh); err != nil {
			return err
		}
		gh.truncateLog()
	}

	if e.o.invalidTokens > 0 {
		if err := e.invalidTokens(gh); err != nil {
			return err
		}
	}
	return nil
}

// modeLogin names the login measurements among e.points. They are not a
// mode of the main table (nothing is pinned for them, and their Layout is
// ""): one point per run, its Conns the number of browsers signing in at
// once, Res.Requests the logins, ProxyCPU gatehouse's CPU over all of them.
const modeLogin = "login"

// measureLogins measures browser logins twice on gh: one browser signing
// in after another, then e.o.loginConns browsers at once (the same number
// of logins in all). A strictly sequential client lets gatehouse go idle
// and be woken up several times per login (the page, the callback, the
// token endpoint's answer); on a small VM those wake-ups (scheduler,
// futex, sysmon's sleeps, halted vCPUs) cost about as much CPU as the
// login's own work. A gateway that signs users in concurrently pays for
// far fewer of them: the concurrent figure is the one to plan capacity
// with, the sequential one the worst case per login.
func (e *env) measureLogins(gh *proc) error {
	runs := []int{1}
	if e.o.loginConns > 1 {
		runs = append(runs, e.o.loginConns)
	}
	for _, conns := range runs {
		name := modeLogin
		if conns > 1 {
			name += "-concurrent"
		}
		pt, cookie, err := e.loginRun(gh, conns, name)
		if err != nil {
			return err
		}
		// The report reads both login runs from e.points (loginPoints).
		e.points = append(e.points, pt)
		if status, _, err := probe(e.gwAddr, request(e.gwAddr, "/app/page", true, cookie, "")); err != nil || status != 200 {
			return fmt.Errorf("the last login's cookie: status %d, %v", status, err)
		}
		e.logln(fmt.Sprintf("login, %d at once: %v gatehouse CPU per login, round trip p50 %v, %.0f logins/s, background %.0f%%",
			conns, pt.cpuPerReq(), pt.Res.P50, pt.Res.RPS, pt.Background*100))
	}
	return nil
}

// loginPoints returns the login measurements, sequential first.
func (e *env) loginPoints() []point {
	var out []point
	for _, p := range e.points {
		if p.Mode == modeLogin {
			out = append(out, p)
		}
	}
	return out
}

// loginRun signs in e.o.logins times from conns browsers at once, each
// with its own client (connections) and cookies, after one warm-up login
// per browser. It returns the measurement and the last session cookie.
func (e *env) loginRun(gh *proc, conns int, perfName string) (point, string, error) {
	clients := make([]*http.Client, conns)
	for i := range clients {
		clients[i] = newBrowserClient()
		if _, err := e.browserLogin(clients[i], e.gwAddr); err != nil { // connections, JWKS
			return point{}, "", fmt.Errorf("login: %w (log: %s)", err, gh.tail(2000))
		}
	}
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		walls  = make([][]time.Duration, conns)
		errs   = make([]error, conns)
		cookie = make([]string, conns)
	)
	stopPerf := e.perfAttach(gh, perfName)
	self := os.Getpid() // the browsers and the issuer
	busy0, self0 := systemBusy(), procCPU(self)
	c0, t0 := procCPU(gh.pid()), time.Now()
	for i, c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(e.o.logins) {
				t := time.Now()
				ck, err := e.browserLogin(c, e.gwAddr)
				if err != nil {
					errs[i] = err
					return
				}
				walls[i], cookie[i] = append(walls[i], time.Since(t)), ck
			}
		})
	}
	wg.Wait()
	elapsed, c1 := time.Since(t0), procCPU(gh.pid())
	busy1, self1 := systemBusy(), procCPU(self)
	stopPerf()
	if err := errors.Join(errs...); err != nil {
		return point{}, "", fmt.Errorf("login (%d at once): %w", conns, err)
	}
	all := slices.Sorted(slices.Values(slices.Concat(walls...)))
	last := cookie[slices.IndexFunc(cookie, func(c string) bool { return c != "" })]
	pt := point{
		Mode: modeLogin, Conns: conns, ProxyCPU: c1 - c0,
		Res: loadResult{Requests: int64(len(all)), Elapsed: elapsed, RPS: float64(len(all)) / elapsed.Seconds(),
			P50: all[len(all)/2], P99: all[len(all)*99/100], Max: all[len(all)-1]},
	}
	if other := (busy1 - busy0) - (c1 - c0) - (self1 - self0); other > 0 {
		pt.Background = float64(other) / float64(elapsed)
	}
	return pt, last, nil
}

// invalidTokens sends distinct bearer JWTs that are well formed, name the
// issuer and a known key, and whose signatures do not verify: each one is
// parsed, checked and refused (and remembered by the negative cache).
func (e *env) invalidTokens(gh *proc) error {
	tok, err := e.clientToken("svc", "svc-secret")
	if err != nil {
		return err
	}
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if len(sig) < 40 {
		return fmt.Errorf("unexpected token shape")
	}
	req := request(e.gwAddr, "/api/items?page=2", false, "", "Bearer "+tok)
	at := bytes.Index(req, []byte(sig)) + 10
	bad := bytes.Clone(req)
	putCounter(bad[at:at+12], 0)
	if status, _, err := probe(e.gwAddr, bad); err != nil || status != 401 {
		return fmt.Errorf("an invalid token: status %d, %v", status, err)
	}
	time.Sleep(time.Second)
	e.ex.RSSBeforeTokens = procStatus(gh.pid(), "VmRSS")
	done := make(chan struct{})
	go func() { // the refusals are logged; keep the log small
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Second):
				gh.truncateLog()
			}
		}
	}()
	spec := loadSpec{Addr: e.gwAddr, Conns: 16, Total: e.o.invalidTokens, Request: req, Distinct: true, DistinctAt: at, Status: 401}
	res, err := runLoadProc(e.self, "", spec, nil, nil)
	close(done)
	gh.truncateLog()
	if err != nil {
		return err
	}
	e.ex.Tokens, e.ex.TokensRPS, e.ex.TokenStatuses = res.Requests, res.RPS, res.Statuses
	e.ex.RSSAfterTokens = procStatus(gh.pid(), "VmRSS")
	e.ex.HWMAfterTokens = procStatus(gh.pid(), "VmHWM")
	time.Sleep(10 * time.Second)
	e.ex.RSSAfterTokensIdle = procStatus(gh.pid(), "VmRSS")
	e.logln(fmt.Sprintf("%d invalid tokens at %.0f/s: RSS %.1f → %.1f MB (peak %.1f, %.1f after 10 s idle), statuses %v",
		res.Requests, res.RPS, mb(e.ex.RSSBeforeTokens), mb(e.ex.RSSAfterTokens), mb(e.ex.HWMAfterTokens), mb(e.ex.RSSAfterTokensIdle), res.Statuses))
	return nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

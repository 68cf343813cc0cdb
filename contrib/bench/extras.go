package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
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
		c := newBrowserClient()
		if _, err := e.browserLogin(c, e.gwAddr); err != nil { // connections, JWKS
			return fmt.Errorf("login: %w (log: %s)", err, gh.tail(2000))
		}
		var walls []time.Duration
		var cookie string
		stopPerf := e.perfAttach(gh, "login")
		c0 := procCPU(gh.pid())
		for range e.o.logins {
			t0 := time.Now()
			if cookie, err = e.browserLogin(c, e.gwAddr); err != nil {
				return fmt.Errorf("login: %w", err)
			}
			walls = append(walls, time.Since(t0))
		}
		c1 := procCPU(gh.pid())
		stopPerf()
		e.ex.Logins = e.o.logins
		e.ex.LoginCPU = (c1 - c0) / time.Duration(e.o.logins)
		slices.Sort(walls)
		e.ex.LoginWall = walls[len(walls)/2]
		e.ex.LoginWallP99 = walls[len(walls)*99/100]
		if status, _, err := probe(e.gwAddr, request(e.gwAddr, "/app/page", true, cookie, "")); err != nil || status != 200 {
			return fmt.Errorf("the last login's cookie: status %d, %v", status, err)
		}
		e.logln(fmt.Sprintf("login: %v gatehouse CPU per login, round trip p50 %v", e.ex.LoginCPU, e.ex.LoginWall))
		gh.truncateLog()
	}

	if e.o.invalidTokens > 0 {
		if err := e.invalidTokens(gh); err != nil {
			return err
		}
	}
	return nil
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

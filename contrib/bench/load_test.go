package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The harness's own logic; no timing is judged here.

func TestReadResponse(t *testing.T) {
	for _, tt := range []struct {
		name, raw  string
		status     int
		closeAfter bool
		rest       string // what must remain unread
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhelloNEXT", 200, false, "NEXT"},
		{"chunked", "HTTP/1.1 302 Found\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nTrailer: t\r\n\r\nNEXT", 302, false, "NEXT"},
		{"close", "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}NEXT", 401, true, "NEXT"},
		{"no body", "HTTP/1.1 204 No Content\r\n\r\nNEXT", 204, false, "NEXT"},
	} {
		br := bufio.NewReader(strings.NewReader(tt.raw))
		status, closeAfter, err := readResponse(br)
		if err != nil || status != tt.status || closeAfter != tt.closeAfter {
			t.Errorf("%s: readResponse = %d, %v, %v; want %d, %v", tt.name, status, closeAfter, err, tt.status, tt.closeAfter)
			continue
		}
		rest, _ := br.ReadString(0)
		if rest != tt.rest {
			t.Errorf("%s: left %q unread, want %q", tt.name, rest, tt.rest)
		}
	}
	for _, bad := range []string{"", "garbage\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\nbody"} {
		if _, _, err := readResponse(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("readResponse(%q) succeeded", bad)
		}
	}
}

// The load generator against a real server: every request counted, the
// right statuses, distinct requests really distinct.
func TestRunLoad(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("Authorization")] = true
		mu.Unlock()
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-AAAAAAAAAAAA\r\n\r\n")
	at := strings.Index(string(req), "AAAA")
	res, err := runLoad(loadSpec{Addr: addr, Conns: 1, Total: 200, Request: req, Distinct: true, DistinctAt: at, Status: 200}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 200 || res.Errors != 0 || res.Statuses["200"] != res.Requests {
		t.Errorf("result %+v", res)
	}
	mu.Lock()
	distinct := len(seen)
	mu.Unlock()
	if distinct < 200 {
		t.Errorf("%d distinct tokens for %d requests", distinct, res.Requests)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99-time.Microsecond {
		t.Errorf("quantiles p50 %v p99 %v max %v", res.P50, res.P99, res.Max)
	}
	// Connection: close answers are followed by a new connection, and a
	// wrong status is an error.
	res, err = runLoad(loadSpec{Addr: addr, Conns: 2, Total: 50, Request: []byte("GET /close HTTP/1.1\r\nHost: x\r\n\r\n"), Status: 401}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 50 || res.Errors < res.Requests {
		t.Errorf("close/wrong status: %+v", res)
	}
}

func TestHist(t *testing.T) {
	var h hist
	for i := 1; i <= 100; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	h.add(50 * time.Millisecond)
	h.add(2 * time.Second)
	if q := h.quantile(0.5); q < 50*time.Microsecond || q > 52*time.Microsecond {
		t.Errorf("p50 = %v", q)
	}
	if q := h.quantile(1); q != 2*time.Second {
		t.Errorf("p100 = %v", q)
	}
	var o hist
	o.merge(&h)
	if o.n != h.n || o.quantile(0.9) != h.quantile(0.9) {
		t.Error("merge lost counts")
	}
}

func TestPutCounter(t *testing.T) {
	a, b := make([]byte, 12), make([]byte, 12)
	putCounter(a, 1)
	putCounter(b, 64)
	if string(a) != "AAAAAAAAAAAB" || string(b) != "AAAAAAAAAABA" {
		t.Errorf("putCounter: %q %q", a, b)
	}
}

func TestWriteGenerated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	if err := writeGenerated(path, beginMarker+"\none\n"+endMarker+"\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	hand := strings.Replace(string(b), "# Benchmarks\n", "# Benchmarks\n\nHand-written notes.\n", 1) + "\nMore notes.\n"
	os.WriteFile(path, []byte(hand), 0o644)
	if err := writeGenerated(path, beginMarker+"\ntwo\n"+endMarker+"\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	got := string(b)
	if !strings.Contains(got, "Hand-written notes.") || !strings.Contains(got, "\nMore notes.") || !strings.Contains(got, "two") || strings.Contains(got, "one") {
		t.Errorf("generated section not replaced in place:\n%s", got)
	}
}

func TestSystemCounters(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if procCPU(os.Getpid()) <= 0 || selfCPU() <= 0 || systemBusy() <= 0 {
		t.Error("CPU counters read zero")
	}
	if procStatus(os.Getpid(), "VmRSS") <= 0 {
		t.Error("VmRSS read zero")
	}
}

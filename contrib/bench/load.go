package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator speaks HTTP/1.1 over plain keep-alive TCP connections:
// each connection writes a ready-made request and reads the response (status
// line, headers, a Content-Length or chunked body), one request at a time
// (closed loop, no pipelining). It skips net/http's client on purpose: that
// costs about as much CPU per request as the server side it measures, and on
// two cores every microsecond the generator spends is taken from the proxy.

// loadSpec is what one load run does. It travels as JSON to the load
// process (role "load").
type loadSpec struct {
	Addr     string        `json:"addr"`
	Conns    int           `json:"conns"`
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
	// Total, when positive, stops the run after that many requests
	// (counted after the warm-up) instead of after Duration.
	Total int64 `json:"total"`
	// Request is the raw request, sent as is.
	Request []byte `json:"request"`
	// Distinct, when set, makes every request unique: the 12 bytes of
	// Request at DistinctAt are replaced by a base64url counter.
	Distinct   bool `json:"distinct"`
	DistinctAt int  `json:"distinct_at"`
	// Status is the status every response must have; others count as
	// errors.
	Status int `json:"status"`
}

// loadResult is what a load run measured.
type loadResult struct {
	Requests int64            `json:"requests"`
	Errors   int64            `json:"errors"`
	Statuses map[string]int64 `json:"statuses"`
	Elapsed  time.Duration    `json:"elapsed"`
	RPS      float64          `json:"rps"`
	P50      time.Duration    `json:"p50"`
	P90      time.Duration    `json:"p90"`
	P99      time.Duration    `json:"p99"`
	Max      time.Duration    `json:"max"`
	Mean     time.Duration    `json:"mean"`
	// CPU is the load process's own CPU time during the measured part.
	CPU time.Duration `json:"cpu"`
	// FirstError describes the first failure, if any.
	FirstError string `json:"first_error,omitempty"`
}

// hist is a latency histogram: 1 µs buckets up to 10 ms, 100 µs buckets up
// to 1 s, one overflow bucket.
type hist struct {
	fine   [10000]uint32
	coarse [9900]uint32
	over   uint32
	n      uint64
	sum    time.Duration
	max    time.Duration
}

func (h *hist) add(d time.Duration) {
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
	us := d / time.Microsecond
	switch {
	case us < 10000:
		h.fine[us]++
	case us < 1000000:
		h.coarse[(us-10000)/100]++
	default:
		h.over++
	}
}

func (h *hist) merge(o *hist) {
	for i := range h.fine {
		h.fine[i] += o.fine[i]
	}
	for i := range h.coarse {
		h.coarse[i] += o.coarse[i]
	}
	h.over += o.over
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the upper edge of the bucket holding quantile q, so a
// p50 of "42µs" means half the requests took less than 42 µs.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.fine {
		if seen += uint64(c); seen >= rank {
			return time.Duration(i+1) * time.Microsecond
		}
	}
	for i, c := range h.coarse {
		if seen += uint64(c); seen >= rank {
			return 10*time.Millisecond + time.Duration(i+1)*100*time.Microsecond
		}
	}
	return h.max
}

// runLoad drives spec.Addr and returns what it measured.
func runLoad(spec loadSpec, onStart, onStop func()) (loadResult, error) {
	if spec.Conns < 1 {
		return loadResult{}, errors.New("load: at least one connection")
	}
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		sent      atomic.Int64 // requests started while measuring (Total)
		counter   atomic.Uint64
		wg        sync.WaitGroup
		mu        sync.Mutex
		total     hist
		res       = loadResult{Statuses: map[string]int64{}}
	)
	workers := make([]*worker, spec.Conns)
	for i := range workers {
		w := &worker{spec: &spec, counter: &counter, statuses: map[int]int64{}}
		if err := w.dial(); err != nil {
			return res, err
		}
		workers[i] = w
	}
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(&measuring, &stop, &sent)
			mu.Lock()
			defer mu.Unlock()
			total.merge(&w.h)
			res.Requests += int64(w.h.n)
			res.Errors += w.errors
			for s, n := range w.statuses {
				res.Statuses[strconv.Itoa(s)] += n
			}
			if w.firstErr != nil && res.FirstError == "" {
				res.FirstError = w.firstErr.Error()
			}
			w.close()
		}()
	}
	time.Sleep(spec.Warmup)
	if onStart != nil {
		onStart()
	}
	cpu0 := selfCPU()
	start := time.Now()
	measuring.Store(true)
	if spec.Total > 0 {
		for sent.Load() < spec.Total && !allDone(workers) {
			time.Sleep(20 * time.Millisecond)
		}
	} else {
		time.Sleep(spec.Duration)
	}
	stop.Store(true)
	res.Elapsed = time.Since(start)
	if onStop != nil {
		onStop()
	}
	wg.Wait()
	res.CPU = selfCPU() - cpu0
	res.RPS = float64(res.Requests) / res.Elapsed.Seconds()
	res.P50, res.P90, res.P99 = total.quantile(0.50), total.quantile(0.90), total.quantile(0.99)
	res.Max = total.max
	if total.n > 0 {
		res.Mean = total.sum / time.Duration(total.n)
	}
	return res, nil
}

func allDone(ws []*worker) bool {
	for _, w := range ws {
		if !w.done.Load() {
			return false
		}
	}
	return true
}

// worker is one connection.
type worker struct {
	spec     *loadSpec
	counter  *atomic.Uint64
	conn     net.Conn
	br       *bufio.Reader
	req      []byte // private copy when Distinct
	h        hist
	errors   int64
	statuses map[int]int64
	firstErr error
	done     atomic.Bool
}

func (w *worker) dial() error {
	c, err := net.Dial("tcp", w.spec.Addr)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	w.conn = c
	if w.br == nil {
		w.br = bufio.NewReaderSize(c, 64<<10)
	} else {
		w.br.Reset(c)
	}
	return nil
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
	}
}

func (w *worker) loop(measuring, stop *atomic.Bool, sent *atomic.Int64) {
	defer w.done.Store(true)
	req := w.spec.Request
	if w.spec.Distinct {
		w.req = bytes.Clone(req)
		req = w.req
	}
	for !stop.Load() {
		m := measuring.Load()
		if m && w.spec.Total > 0 && sent.Add(1) > w.spec.Total {
			return
		}
		if w.spec.Distinct {
			putCounter(w.req[w.spec.DistinctAt:w.spec.DistinctAt+12], w.counter.Add(1))
		}
		t0 := time.Now()
		status, closeAfter, err := w.roundTrip(req)
		d := time.Since(t0)
		if err != nil {
			if m {
				w.errors++
				if w.firstErr == nil {
					w.firstErr = err
				}
			}
			w.close()
			if stop.Load() {
				return
			}
			if derr := w.dial(); derr != nil {
				if w.firstErr == nil {
					w.firstErr = derr
				}
				w.errors++
				return
			}
			continue
		}
		if m {
			w.h.add(d)
			w.statuses[status]++
			if w.spec.Status != 0 && status != w.spec.Status {
				w.errors++
				if w.firstErr == nil {
					w.firstErr = fmt.Errorf("status %d, want %d", status, w.spec.Status)
				}
			}
		}
		if closeAfter {
			w.close()
			if err := w.dial(); err != nil {
				w.errors++
				return
			}
		}
	}
}

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// putCounter writes n in base64url, most significant first, over dst.
func putCounter(dst []byte, n uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = b64url[n&63]
		n >>= 6
	}
}

// roundTrip sends req and reads one response. closeAfter reports a
// "Connection: close" response.
func (w *worker) roundTrip(req []byte) (status int, closeAfter bool, err error) {
	if _, err := w.conn.Write(req); err != nil {
		return 0, false, err
	}
	return readResponse(w.br)
}

// readResponse reads an HTTP/1.1 response from br and discards its body.
func readResponse(br *bufio.Reader) (status int, closeAfter bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) <= 2 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "Connection"):
			closeAfter = asciiEqualFold(value, "close")
		}
	}
	switch {
	case chunked:
		err = discardChunked(br)
	case length > 0:
		_, err = br.Discard(length)
	case length < 0 && status != 204 && status != 304:
		return status, true, fmt.Errorf("response without length")
	}
	return status, closeAfter, err
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		sz, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
		n, err := strconv.ParseInt(string(sz), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, then the empty line
				line, err = br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(line) <= 2 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// loadMain is the "load" role: a spec as JSON on stdin, the result as
// JSON on stdout.
func loadMain() error {
	var spec loadSpec
	if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
		return fmt.Errorf("load: reading the spec: %w", err)
	}
	res, err := runLoad(spec, func() { os.Stdout.WriteString("M\n") }, func() { os.Stdout.WriteString("E\n") })
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

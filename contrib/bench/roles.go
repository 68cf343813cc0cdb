package main

import (
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-proxy/gatehouse/contrib/echo"
)

// upstreamBody is what the static upstream answers: small, like an API
// response, so that the proxies, not the upstream, are what is measured.
const upstreamBody = `{"ok":true,"items":[1,2,3],"note":"static bench upstream"}` + "\n"

// upstreamMain is the "upstream" role: the static handler or, with
// kind "echo", contrib/echo (which describes every request as JSON and
// costs the upstream much more).
func upstreamMain(addr, kind string) error {
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, upstreamBody)
	})
	if kind == "echo" {
		h = echo.New()
	}
	return serveUntilSignal(addr, h)
}

// plainMain is the "plain" role: the floor. A plain httputil.ReverseProxy
// tuned like gatehouse's own: its transport as upstream.NewTransport (256
// idle connections per host, no compression, no environment proxy) and a
// pool of copy buffers (without one, ReverseProxy allocates 32 KB per
// request); no logging, the Host header passed through, X-Forwarded-* set.
func plainMain(addr, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:  tr,
		ErrorLog:   log.New(io.Discard, "", 0),
		BufferPool: &bufferPool{},
	}
	return serveUntilSignal(addr, rp)
}

// bufferPool is httputil.BufferPool over sync.Pool.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }

// serveUntilSignal serves h on addr until SIGTERM or SIGINT.
func serveUntilSignal(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func jsonBytes(v any) ([]byte, error)     { return json.Marshal(v) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

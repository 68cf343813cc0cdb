package upstream

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNonWebSocketUpgradeRefused(t *testing.T) {
	switch101 := func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
		brw.Flush()
	}
	h2c := "GET /x HTTP/1.1\r\nHost: app\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"

	t.Run("forwarded as ordinary request", func(t *testing.T) {
		backend, got := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") != "" {
				switch101(w, r)
				return
			}
			io.WriteString(w, "plain")
		})
		front := newFront(t, backend, Config{}, nil)
		for _, raw := range []string{h2c, strings.Replace(h2c, "h2c", "websocket, h2c", 1)} {
			res, body := rawRequest(t, front, raw)
			if res.StatusCode != 200 || body != "plain" {
				t.Errorf("status %d body %q, want 200 plain", res.StatusCode, body)
			}
			h := receive(t, got).Header
			if h["Upgrade"] != nil || h["Connection"] != nil || h["Http2-Settings"] != nil {
				t.Errorf("backend saw upgrade headers: %q", h)
			}
		}
	})
	t.Run("backend switching anyway", func(t *testing.T) {
		backend, _ := newBackend(t, switch101)
		front := newFront(t, backend, Config{}, nil)
		if res, _ := rawRequest(t, front, h2c); res.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d, want 502", res.StatusCode)
		}
	})
}

func wsAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestWebSocketTunnel(t *testing.T) {
	backend, got := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not an upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + wsAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\nhello\n")
		brw.Flush()
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		brw.WriteString("echo: " + line)
		brw.Flush()
	})
	front := newFront(t, backend, Config{}, http.Header{"X-Forwarded-User": {"alice"}})

	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+key+"\r\nX-Forwarded-User: mallory\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", res.StatusCode)
	}
	if a := res.Header.Get("Sec-WebSocket-Accept"); a != wsAccept(key) || a != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("Sec-WebSocket-Accept = %q", a)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("from backend: %q, %v", line, err)
	}
	io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo: ping\n" {
		t.Fatalf("echo: %q, %v", line, err)
	}
	if h := receive(t, got).Header; !slices.Equal(h["X-Forwarded-User"], []string{"alice"}) {
		t.Errorf("backend X-Forwarded-User = %q", h["X-Forwarded-User"])
	}
}

func TestEventStreamFlushedImmediately(t *testing.T) {
	ev1, ev2 := "data: one\n\n", "data: two\n\n"
	release := make(chan struct{})
	var released bool
	defer func() {
		if !released {
			close(release)
		}
	}()
	backend, _ := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		// A known length: without the text/event-stream rule the proxy
		// would buffer this response (FlushInterval is 0).
		w.Header().Set("Content-Length", "22")
		io.WriteString(w, ev1)
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, ev2)
	})
	front := newFront(t, backend, Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // guard only
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+"/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	first := make([]byte, len(ev1))
	if _, err := io.ReadFull(res.Body, first); err != nil || string(first) != ev1 {
		t.Fatalf("first event %q, %v (backend has not sent the second yet)", first, err)
	}
	released = true
	close(release)
	rest, err := io.ReadAll(res.Body)
	if err != nil || string(rest) != ev2 {
		t.Fatalf("second event %q, %v", rest, err)
	}
}

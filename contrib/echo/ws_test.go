package echo

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// clientFrame builds a masked client frame.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	if len(payload) <= 125 {
		out = append(out, 0x80|byte(len(payload)))
	} else {
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(len(payload)))
	}
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	return out
}

// readServerFrame reads one unmasked server frame.
func readServerFrame(t *testing.T, r *bufio.Reader) (fin bool, op byte, payload []byte) {
	t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if hdr[1]&0x80 != 0 {
		t.Fatal("server frame is masked")
	}
	n := int(hdr[1] & 0x7F)
	if n == 126 {
		var ext [2]byte
		io.ReadFull(r, ext[:])
		n = int(binary.BigEndian.Uint16(ext[:]))
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatal(err)
	}
	return hdr[0]&0x80 != 0, hdr[0] & 0x0F, payload
}

func dialWS(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: app\r\nConnection: keep-alive, Upgrade\r\n"+
		"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+key+"\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", res.StatusCode)
	}
	if a := res.Header.Get("Sec-WebSocket-Accept"); a != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Sec-WebSocket-Accept = %q", a)
	}
	return conn, br
}

func TestWebSocketEcho(t *testing.T) {
	srv := newServer(t, Options{})
	conn, br := dialWS(t, srv.Listener.Addr().String())

	conn.Write(clientFrame(true, opText, []byte("hello, gatehouse")))
	if fin, op, p := readServerFrame(t, br); !fin || op != opText || string(p) != "hello, gatehouse" {
		t.Errorf("echo: fin %v op %d payload %q", fin, op, p)
	}
	big := make([]byte, 300)
	for i := range big {
		big[i] = byte(i)
	}
	conn.Write(clientFrame(true, opBinary, big))
	if _, op, p := readServerFrame(t, br); op != opBinary || string(p) != string(big) {
		t.Errorf("binary echo: op %d, %d bytes", op, len(p))
	}
	conn.Write(clientFrame(true, opPing, []byte("p")))
	if _, op, p := readServerFrame(t, br); op != opPong || string(p) != "p" {
		t.Errorf("ping: op %d payload %q", op, p)
	}
	conn.Write(clientFrame(true, opClose, []byte{0x03, 0xE8}))
	if _, op, p := readServerFrame(t, br); op != opClose || binary.BigEndian.Uint16(p) != 1000 {
		t.Errorf("close: op %d payload %v", op, p)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("connection not closed after close frame: %v", err)
	}
}

func TestWebSocketProtocolError(t *testing.T) {
	srv := newServer(t, Options{})
	conn, br := dialWS(t, srv.Listener.Addr().String())
	conn.Write([]byte{0x81, 0x01, 'x'}) // unmasked client frame
	if _, op, p := readServerFrame(t, br); op != opClose || binary.BigEndian.Uint16(p) != closeProtocolError {
		t.Errorf("op %d payload %v, want close 1002", op, p)
	}
}

func TestWebSocketBadHandshake(t *testing.T) {
	srv := newServer(t, Options{})
	tests := []struct {
		req  string
		want int
	}{
		{"GET /ws HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusUpgradeRequired},
		{"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", http.StatusBadRequest},
		{"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n", http.StatusBadRequest},
	}
	for _, tt := range tests {
		if res, _ := raw(t, srv, tt.req); res.StatusCode != tt.want {
			t.Errorf("%q: status %d, want %d", tt.req, res.StatusCode, tt.want)
		}
	}
	if AcceptKey("dGhlIHNhbXBsZSBub25jZQ==") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Error("AcceptKey does not match RFC 6455's example")
	}
}

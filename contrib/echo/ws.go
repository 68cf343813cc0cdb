package echo

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// WebSocket (RFC 6455) constants used by the echo endpoint.
const (
	wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA

	closeProtocolError = 1002
	closeTooBig        = 1009

	// wsMaxPayload is the largest frame the demo accepts: 16-bit lengths
	// only, which is plenty for a test or a demo.
	wsMaxPayload = 1<<16 - 1

	// wsIdleTimeout closes a connection on which nothing arrives for this
	// long.
	wsIdleTimeout = 5 * time.Minute
)

// AcceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// serveWebSocket performs the opening handshake by hand and then echoes
// every data frame back, unmasked, with the same opcode and FIN bit, answers
// pings, and closes when the client sends a close frame.
func serveWebSocket(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	switch {
	case r.Method != http.MethodGet,
		!headerHasToken(r.Header, "Connection", "upgrade"),
		!headerHasToken(r.Header, "Upgrade", "websocket"):
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "expected a WebSocket upgrade", http.StatusUpgradeRequired)
		return
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported WebSocket version", http.StatusBadRequest)
		return
	}
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		http.Error(w, "bad Sec-WebSocket-Key", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "WebSocket needs HTTP/1.1", http.StatusHTTPVersionNotSupported)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Time{})
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + AcceptKey(key) + "\r\n\r\n")
	if brw.Flush() != nil {
		return
	}
	for {
		conn.SetReadDeadline(time.Now().Add(wsIdleTimeout))
		f, err := readFrame(brw.Reader)
		if err != nil {
			var fe frameError
			if errors.As(err, &fe) {
				writeFrame(brw.Writer, true, opClose, closePayload(fe.code))
				brw.Flush()
			}
			return
		}
		switch f.op {
		case opText, opBinary, opContinuation:
			err = writeFrame(brw.Writer, f.fin, f.op, f.payload)
		case opPing:
			err = writeFrame(brw.Writer, true, opPong, f.payload)
		case opPong:
			continue
		case opClose:
			code := f.payload
			if len(code) > 2 {
				code = code[:2]
			}
			writeFrame(brw.Writer, true, opClose, code)
			brw.Flush()
			return
		}
		if err != nil || brw.Flush() != nil {
			return
		}
	}
}

// frame is one received WebSocket frame, already unmasked.
type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// frameError is a protocol violation, answered with a close frame.
type frameError struct {
	code uint16
	msg  string
}

func (e frameError) Error() string { return "echo: websocket: " + e.msg }

func readFrame(r *bufio.Reader) (frame, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	f := frame{fin: hdr[0]&0x80 != 0, op: hdr[0] & 0x0F}
	if hdr[0]&0x70 != 0 {
		return frame{}, frameError{closeProtocolError, "reserved bits set"}
	}
	if hdr[1]&0x80 == 0 {
		return frame{}, frameError{closeProtocolError, "client frame not masked"}
	}
	switch f.op {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
	default:
		return frame{}, frameError{closeProtocolError, "unknown opcode"}
	}
	n := uint64(hdr[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		return frame{}, frameError{closeTooBig, "frame too large for the demo"}
	}
	if f.op >= opClose && (n > 125 || !f.fin) {
		return frame{}, frameError{closeProtocolError, "bad control frame"}
	}
	if n > wsMaxPayload {
		return frame{}, frameError{closeTooBig, "frame too large for the demo"}
	}
	var mask [4]byte
	if _, err := io.ReadFull(r, mask[:]); err != nil {
		return frame{}, err
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return frame{}, err
	}
	for i := range f.payload {
		f.payload[i] ^= mask[i%4]
	}
	return f, nil
}

// writeFrame writes one unmasked server frame.
func writeFrame(w *bufio.Writer, fin bool, op byte, payload []byte) error {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	w.WriteByte(b0)
	switch n := len(payload); {
	case n <= 125:
		w.WriteByte(byte(n))
	case n <= 0xFFFF:
		w.WriteByte(126)
		w.Write(binary.BigEndian.AppendUint16(nil, uint16(n)))
	default:
		w.WriteByte(127)
		w.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	_, err := w.Write(payload)
	return err
}

func closePayload(code uint16) []byte {
	return binary.BigEndian.AppendUint16(nil, code)
}

// headerHasToken reports whether the comma-separated values of header name
// contain token, case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

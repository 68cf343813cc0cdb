package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBufferSize is how many bytes of log lines logWriter holds before it
// writes them, whatever the interval.
const logBufferSize = 64 << 10

// logWriter holds log lines for at most an interval before it writes them
// to w, so that a busy gateway makes one write per interval (or per 64 KiB
// of lines) instead of one system call per request: on a small machine that
// system call costs as much as a few percent of proxying the request.
// Warnings and errors are written at once (see flushingHandler), and Close
// writes what is left. With an interval of zero every line is written as it
// comes. It is safe for concurrent use.
//
// What a crash loses is bounded: lines younger than the interval. A panic
// in a handler is recovered by net/http and logged as a warning, which
// writes everything before it.
type logWriter struct {
	mu       sync.Mutex
	w        io.Writer
	interval time.Duration
	buf      []byte
	timer    *time.Timer // armed while buf holds lines; nil with no interval
	closed   bool
}

func newLogWriter(w io.Writer, interval time.Duration) *logWriter {
	l := &logWriter{w: w, interval: interval}
	if interval > 0 {
		l.timer = time.AfterFunc(time.Hour, func() { _ = l.Flush() })
		l.timer.Stop()
	}
	return l
}

// Write takes one log line (slog handlers write a record in one call).
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer == nil || l.closed {
		return l.w.Write(p)
	}
	if len(l.buf) == 0 {
		l.timer.Reset(l.interval)
	}
	l.buf = append(l.buf, p...)
	if len(l.buf) >= logBufferSize {
		if err := l.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes the lines held.
func (l *logWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

func (l *logWriter) flushLocked() error {
	if len(l.buf) == 0 {
		return nil
	}
	if l.timer != nil {
		l.timer.Stop()
	}
	_, err := l.w.Write(l.buf)
	if cap(l.buf) > 4*logBufferSize {
		l.buf = nil // one burst of huge lines should not pin memory
	} else {
		l.buf = l.buf[:0]
	}
	return err
}

// Close writes the lines held; later lines are written as they come.
func (l *logWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return l.flushLocked()
}

// flushingHandler writes a logWriter's lines out after every record at
// warning level or above, so that problems reach the log at once.
type flushingHandler struct {
	slog.Handler
	w *logWriter
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(attrs), h.w}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.w}
}

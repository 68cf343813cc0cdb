package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter counts the writes it gets.
type countingWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	err    error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	if c.err != nil {
		return 0, c.err
	}
	return c.b.Write(p)
}

func (c *countingWriter) state() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String(), c.writes
}

func TestLogWriterBatchesInfoLines(t *testing.T) {
	out := &countingWriter{}
	w := newLogWriter(out, time.Hour) // only Flush, Close and size write
	log := newLogger(w, "text", slog.LevelInfo)
	for i := range 100 {
		log.Info("request", "n", i)
	}
	if s, n := out.state(); n != 0 || s != "" {
		t.Fatalf("info lines were written before the interval: %d writes", n)
	}
	log.Warn("upstream failed")
	s, n := out.state()
	if n != 1 {
		t.Errorf("a warning after 100 held lines made %d writes, want 1", n)
	}
	if lines := strings.Count(s, "\n"); lines != 101 || !strings.HasSuffix(s, "msg=\"upstream failed\"\n") || !strings.Contains(s, " n=0\n") {
		t.Errorf("got %d lines, in this order:\n%s", lines, s)
	}
	log.Info("after")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.state(); !strings.HasSuffix(s, "msg=after\n") {
		t.Errorf("Close did not write the held line: %q", s[max(0, len(s)-80):])
	}
	log.Info("after close")
	if s, _ := out.state(); !strings.HasSuffix(s, "msg=\"after close\"\n") {
		t.Errorf("a line after Close was held")
	}
}

func TestLogWriterInterval(t *testing.T) {
	out := &countingWriter{}
	w := newLogWriter(out, 20*time.Millisecond)
	defer w.Close()
	log := newLogger(w, "json", slog.LevelInfo)
	log.Info("one")
	log.Info("two")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, n := out.state(); n > 0 {
			if n != 1 || strings.Count(s, "\n") != 2 {
				t.Errorf("the interval wrote %d times: %q", n, s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("held lines were never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The timer is armed again by the next line.
	log.Info("three")
	for {
		if s, _ := out.state(); strings.Contains(s, `"msg":"three"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a line after the first interval was never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLogWriterSizeBound(t *testing.T) {
	out := &countingWriter{}
	w := newLogWriter(out, time.Hour)
	line := strings.Repeat("x", 999) + "\n"
	for range logBufferSize/len(line) + 1 {
		w.Write([]byte(line))
	}
	if s, n := out.state(); n != 1 || len(s) < logBufferSize {
		t.Errorf("past %d bytes: %d writes of %d bytes in all", logBufferSize, n, len(s))
	}
}

func TestLogWriterUnbuffered(t *testing.T) {
	out := &countingWriter{}
	log := newLogger(newLogWriter(out, 0), "text", slog.LevelInfo)
	log.Info("a")
	log.Info("b")
	if s, n := out.state(); n != 2 || strings.Count(s, "\n") != 2 {
		t.Errorf("--log-flush-interval=0: %d writes: %q", n, s)
	}
}

func TestLogWriterReportsErrors(t *testing.T) {
	out := &countingWriter{err: errors.New("disk full")}
	w := newLogWriter(out, time.Hour)
	w.Write([]byte("line\n"))
	if err := w.Flush(); err == nil {
		t.Error("Flush hid the write error")
	}
}

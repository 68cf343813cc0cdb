package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// slogLine is what log/slog's own handler writes for r.
func slogLine(t testing.TB, r slog.Record, json bool) string {
	t.Helper()
	var buf bytes.Buffer
	var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug - 8})
	if json {
		h = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug - 8})
	}
	if err := h.Handle(context.Background(), r); err != nil {
		// slog writes a line with an error marker; the fast path must
		// have declined such a record.
		return "error: " + err.Error()
	}
	return buf.String()
}

func accessRecord(user string) slog.Record {
	r := slog.NewRecord(time.Date(2026, 11, 27, 17, 4, 5, 123456789, time.UTC), slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("id", "gh1x-2f"), slog.String("method", "GET"), slog.String("host", "app.example.com"),
		slog.String("path", "/app/page"), slog.Int("status", 200), slog.String("outcome", "proxied"),
		slog.String("user", user), slog.String("client", "192.0.2.7"), slog.Duration("duration", 1234567*time.Nanosecond))
	return r
}

// The access line, the record written once per request, must take the fast
// path in both formats, signed in or not, and come out as slog writes it.
func TestFastHandlerWritesTheAccessLine(t *testing.T) {
	for _, json := range []bool{false, true} {
		for _, user := range []string{"alice@example.com", ""} {
			r := accessRecord(user)
			got, ok := appendRecord(nil, r, json)
			if !ok {
				t.Fatalf("json=%v user=%q: the access line was left to slog", json, user)
			}
			if want := slogLine(t, r, json); string(got) != want {
				t.Errorf("json=%v user=%q:\n got %s\nwant %s", json, user, got, want)
			}
		}
	}
}

// Records the fast path cannot write as slog would are left to slog, and
// what the logger writes for them is slog's line.
func TestFastHandlerLeavesTheRestToSlog(t *testing.T) {
	at := time.Date(2026, 11, 27, 17, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name string
		attr slog.Attr
	}{
		{"space", slog.String("user", "Alice Smith")},
		{"quote", slog.String("path", `/a"b`)},
		{"equals", slog.String("q", "a=b")},
		{"newline", slog.String("path", "/a\nforged=line")},
		{"unicode", slog.String("user", "zoë")},
		{"float", slog.Float64("ratio", 0.5)},
		{"group", slog.Group("g", slog.Int("a", 1))},
		{"any", slog.Any("err", context.Canceled)},
		{"time", slog.Time("at", at)},
		{"key with space", slog.Int("a b", 1)},
	} {
		for _, json := range []bool{false, true} {
			r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
			r.AddAttrs(c.attr)
			if _, ok := appendRecord(nil, r, json); ok {
				t.Errorf("%s, json=%v: the fast path took a record it should leave to slog", c.name, json)
			}
			out := &countingWriter{}
			w := newLogWriter(out, 0)
			format := "text"
			if json {
				format = "json"
			}
			newLogger(w, format, slog.LevelInfo).Handler().Handle(context.Background(), r)
			if got, _ := out.state(); got != slogLine(t, r, json) {
				t.Errorf("%s, json=%v: the logger wrote %q, slog writes %q", c.name, json, got, slogLine(t, r, json))
			}
		}
	}
}

// A handler with attributes or a group writes them, through slog.
func TestFastHandlerWithAttrs(t *testing.T) {
	out := &countingWriter{}
	log := newLogger(newLogWriter(out, 0), "text", slog.LevelInfo).With("component", "store").WithGroup("g")
	log.Info("hello", "n", 1)
	if got, _ := out.state(); !strings.Contains(got, " msg=hello component=store g.n=1\n") {
		t.Errorf("got %q", got)
	}
}

// FuzzFastHandler holds the fast path to slog's output: whatever record it
// takes, it writes byte for byte what slog's handler writes.
func FuzzFastHandler(f *testing.F) {
	f.Add("request", "user", "alice", int64(200), uint64(7), true, int64(1234567), int64(1795000000), int64(5), 0, false)
	f.Add("request", "user", "", int64(-1), uint64(0), false, int64(-5), int64(0), int64(0), 4, true)
	f.Add("m", "k", "a=b", int64(0), uint64(0), false, int64(0), int64(-62135596800), int64(0), -4, false)
	f.Add("m", "k", "/p?x", int64(0), uint64(0), false, int64(0), int64(253402300800), int64(999999999), 2, true)
	f.Fuzz(func(t *testing.T, msg, key, s string, i int64, u uint64, bo bool, d, sec, nsec int64, level int, json bool) {
		var at time.Time
		if sec != 0 || nsec != 0 {
			at = time.Unix(sec, nsec).UTC()
		}
		r := slog.NewRecord(at, slog.Level(level), msg, 0)
		r.AddAttrs(slog.String(key, s), slog.Int64("i", i), slog.Uint64("u", u), slog.Bool("b", bo),
			slog.Duration("d", time.Duration(d)), slog.String("e", ""))
		got, ok := appendRecord(nil, r, json)
		if !ok {
			return
		}
		if want := slogLine(t, r, json); string(got) != want {
			t.Fatalf("json=%v:\n got %q\nwant %q", json, got, want)
		}
	})
}

// BenchmarkAccessLine compares writing the access line through the logger
// gatehouse builds with writing it through slog's handler alone.
//
//	go test ./cmd/gatehouse -run '^$' -bench AccessLine -benchmem
func BenchmarkAccessLine(b *testing.B) {
	r := accessRecord("alice@example.com")
	for _, c := range []struct {
		name string
		h    slog.Handler
	}{
		{"gatehouse", newLogger(newLogWriter(discard{}, 0), "text", slog.LevelInfo).Handler()},
		{"slog", slog.NewTextHandler(discard{}, nil)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.h.Handle(context.Background(), r)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

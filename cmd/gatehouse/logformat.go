package main

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// fastHandler formats the common record, one line per request, itself:
// log/slog's handlers are general (groups, ReplaceAttr, LogValuers) and
// spend about 1.2 µs on the access line, as much as gatehouse's whole
// session check. fastHandler writes the same bytes as the slog handler it
// wraps, for records whose attributes are all strings, integers, booleans
// or durations and whose strings need no quoting or escaping; every other
// record, and every record of a handler derived with WithAttrs or
// WithGroup, goes to the slog handler. FuzzFastHandler holds it to the
// same output.
type fastHandler struct {
	slog.Handler // the slog handler: Enabled, and every record it declines
	w            *logWriter
	json         bool
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h fastHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		bp := lineBufs.Get().(*[]byte)
		line, ok := appendRecord((*bp)[:0], r, h.json)
		var err error
		if ok {
			_, err = h.w.Write(line)
		}
		if cap(line) <= 4<<10 {
			*bp = line
			lineBufs.Put(bp)
		}
		if ok {
			return err
		}
	}
	return flushingHandler{h.Handler, h.w}.Handle(ctx, r)
}

func (h fastHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(attrs), h.w}
}

func (h fastHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.w}
}

// appendRecord appends r as slog's text (or JSON) handler without options
// writes it, or reports false if r has anything it leaves to slog.
func appendRecord(b []byte, r slog.Record, json bool) ([]byte, bool) {
	if !plain(r.Message) {
		return b, false
	}
	if json {
		b = append(b, '{')
	}
	if !r.Time.IsZero() {
		t := r.Time.Round(0)
		b = appendKey(b, "time", json, true)
		if json {
			if y := t.Year(); y < 0 || y >= 10000 {
				return b, false
			}
			b = append(b, '"')
			b = t.AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		} else {
			b = appendRFC3339Millis(b, t)
		}
		b = appendKey(b, "level", json, false)
	} else {
		b = appendKey(b, "level", json, true)
	}
	b = appendPlain(b, r.Level.String(), json)
	b = appendKey(b, "msg", json, false)
	b = appendPlain(b, r.Message, json)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		if !plain(a.Key) {
			ok = false
			return false
		}
		v := a.Value
		switch v.Kind() {
		case slog.KindString:
			s := v.String()
			if s != "" && !plain(s) {
				ok = false
				return false
			}
			b = appendKey(b, a.Key, json, false)
			if s == "" {
				b = append(b, `""`...) // quoted by both
			} else {
				b = appendPlain(b, s, json)
			}
		case slog.KindInt64:
			b = appendKey(b, a.Key, json, false)
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = appendKey(b, a.Key, json, false)
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindBool:
			b = appendKey(b, a.Key, json, false)
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindDuration:
			b = appendKey(b, a.Key, json, false)
			if json {
				b = strconv.AppendInt(b, int64(v.Duration()), 10)
			} else {
				b = append(b, v.Duration().String()...)
			}
		default:
			ok = false
			return false
		}
		return true
	})
	if !ok {
		return b, false
	}
	if json {
		b = append(b, '}')
	}
	return append(b, '\n'), true
}

func appendKey(b []byte, key string, json, first bool) []byte {
	if !first {
		if json {
			b = append(b, ',')
		} else {
			b = append(b, ' ')
		}
	}
	b = appendPlain(b, key, json)
	if json {
		return append(b, ':')
	}
	return append(b, '=')
}

// appendPlain appends a string plain reports true for: as it is in text,
// between quotes in JSON.
func appendPlain(b []byte, s string, json bool) []byte {
	if json {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return append(b, s...)
}

// plain reports whether s is written the same, unquoted and unescaped, by
// both slog handlers: it is not empty and has only printable ASCII other
// than space, '=', '"' and '\'.
func plain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !plainByte[s[i]] {
			return false
		}
	}
	return true
}

var plainByte = func() (t [256]bool) {
	for c := '!'; c < 0x7f; c++ {
		t[c] = c != '=' && c != '"' && c != '\\'
	}
	return t
}()

// appendRFC3339Millis writes t as slog's text handler does: RFC 3339 with
// exactly three digits of fraction, truncated.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}

// Package echo is the demo and test upstream for gatehouse: an HTTP handler
// that shows each request exactly as it arrived, so one can see what the
// gateway passed on (identity headers, forwarding headers, cookies, the
// request-target) and what it kept back.
//
// Any path answers with a description of the request: an HTML page when the
// client prefers text/html (a browser), JSON otherwise. Two paths are
// special: /events streams three server-sent events and /ws is a minimal
// WebSocket echo, for checking streaming and protocol upgrades through the
// gateway.
package echo

import (
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options configures the handler returned by [NewWithOptions]. The zero
// value gives the defaults.
type Options struct {
	// SignOutPath is where the sign-out form on the HTML page is POSTed.
	// Default (""): "/oauth2/sign_out".
	SignOutPath string

	// EventInterval is the pause between the events sent on /events.
	// Default (0): 500ms.
	EventInterval time.Duration
}

// Report is the JSON description of a request.
type Report struct {
	// Method is the request method.
	Method string `json:"method"`
	// URI is the request-target exactly as received (Request.RequestURI).
	URI string `json:"uri"`
	// Proto is the protocol version, such as "HTTP/1.1".
	Proto string `json:"proto"`
	// Host is the Host header (or :authority) the request arrived with.
	Host string `json:"host"`
	// Headers holds every header, keyed as Go stores it (canonical form
	// for ordinary names, so "x_forwarded_user" appears as
	// "X_forwarded_user"), with all values in order.
	Headers map[string][]string `json:"headers"`
	// Cookies maps each cookie name Go could parse to its values, in order.
	Cookies map[string][]string `json:"cookies"`
	// RemoteAddr is the address of the peer that sent the request: the
	// gateway, when there is one.
	RemoteAddr string `json:"remote_addr"`
}

// handler is the http.Handler returned by New and NewWithOptions.
type handler struct {
	signOut  string
	interval time.Duration
	page     *template.Template
}

// New returns the echo handler with default [Options].
func New() http.Handler {
	return NewWithOptions(Options{})
}

// NewWithOptions returns the echo handler configured by o.
func NewWithOptions(o Options) http.Handler {
	h := &handler{
		signOut:  o.SignOutPath,
		interval: o.EventInterval,
		page:     template.Must(template.New("page").Parse(pageHTML)),
	}
	if h.signOut == "" {
		h.signOut = "/oauth2/sign_out"
	}
	if h.interval <= 0 {
		h.interval = 500 * time.Millisecond
	}
	return h
}

// ServeHTTP dispatches on the path: /events, /ws, or a description of the
// request for anything else.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/events":
		h.serveEvents(w, r)
	case "/ws":
		serveWebSocket(w, r)
	default:
		h.serveEcho(w, r)
	}
}

// NewReport describes r.
func NewReport(r *http.Request) Report {
	rep := Report{
		Method:     r.Method,
		URI:        r.RequestURI,
		Proto:      r.Proto,
		Host:       r.Host,
		Headers:    make(map[string][]string, len(r.Header)),
		Cookies:    map[string][]string{},
		RemoteAddr: r.RemoteAddr,
	}
	for k, vv := range r.Header {
		rep.Headers[k] = slices.Clone(vv)
	}
	for _, c := range r.Cookies() {
		rep.Cookies[c.Name] = append(rep.Cookies[c.Name], c.Value)
	}
	return rep
}

func (h *handler) serveEcho(w http.ResponseWriter, r *http.Request) {
	rep := NewReport(r)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Add("Vary", "Accept")
	if !prefersHTML(r.Header.Values("Accept")) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy",
		"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'")
	h.page.Execute(w, newPageData(rep, h.signOut))
}

func (h *handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	timer := time.NewTimer(h.interval)
	defer timer.Stop()
	for i := 1; i <= 3; i++ {
		if i > 1 {
			timer.Reset(h.interval)
			select {
			case <-timer.C:
			case <-r.Context().Done():
				return
			}
		}
		if _, err := fmt.Fprintf(w, "id: %d\ndata: tick %d\n\n", i, i); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// prefersHTML reports whether an Accept header ranks text/html strictly
// above application/json, so browsers get HTML and tools sending "*/*" (or
// nothing) get JSON.
func prefersHTML(accept []string) bool {
	return quality(accept, "text", "html") > quality(accept, "application", "json")
}

// quality returns the q-value accept gives typ/sub, using the most specific
// matching range (RFC 9110, section 12.5.1). No Accept header accepts
// everything.
func quality(accept []string, typ, sub string) float64 {
	if len(accept) == 0 {
		return 1
	}
	best, q := -1, 0.0
	for _, line := range accept {
		for r := range strings.SplitSeq(line, ",") {
			mediaRange, params, _ := strings.Cut(r, ";")
			t, s, _ := strings.Cut(strings.TrimSpace(mediaRange), "/")
			spec := 0
			switch {
			case strings.EqualFold(t, typ) && strings.EqualFold(s, sub):
				spec = 2
			case strings.EqualFold(t, typ) && s == "*":
				spec = 1
			case t == "*" && s == "*":
				spec = 0
			default:
				continue
			}
			if spec <= best {
				continue
			}
			best, q = spec, 1
			for p := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
						q = f
					}
				}
			}
		}
	}
	return q
}

// pageData is what the HTML template shows.
type pageData struct {
	Report
	Identity    []headerRow // X-Forwarded-* and other identity headers
	Rows        []headerRow // every header, sorted
	CookieRows  []headerRow
	SignOutPath string
}

type headerRow struct {
	Name     string
	Values   []string
	Identity bool
}

func newPageData(rep Report, signOut string) pageData {
	d := pageData{Report: rep, SignOutPath: signOut}
	for _, k := range slices.Sorted(maps.Keys(rep.Headers)) {
		row := headerRow{Name: k, Values: rep.Headers[k], Identity: isIdentityHeader(k)}
		d.Rows = append(d.Rows, row)
		if row.Identity {
			d.Identity = append(d.Identity, row)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(rep.Cookies)) {
		d.CookieRows = append(d.CookieRows, headerRow{Name: k, Values: rep.Cookies[k]})
	}
	return d
}

// isIdentityHeader reports whether a header is one the page highlights:
// X-Forwarded-* (spelt with '-' or '_', any case) and X-Auth-Request-*.
func isIdentityHeader(name string) bool {
	n := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	return strings.HasPrefix(n, "x-forwarded-") || strings.HasPrefix(n, "x-auth-request-")
}

const pageHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gatehouse demo upstream</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; }
h2 { font-size: 1.1rem; margin-top: 2rem; }
code, td { font-family: ui-monospace, monospace; font-size: 13px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .25rem .5rem; border-bottom: 1px solid #ddd; word-break: break-all; }
th { width: 30%; }
tr.identity { background: #fff6cc; }
.box { background: #f4f4f4; padding: .5rem 1rem; border-radius: 4px; }
button { font: inherit; padding: .3rem 1rem; }
</style>
</head>
<body>
<h1>gatehouse demo upstream</h1>
<p class="box"><code>{{.Method}} {{.URI}} {{.Proto}}</code><br>
Host: <code>{{.Host}}</code> &middot; from <code>{{.RemoteAddr}}</code></p>

<h2>Identity</h2>
{{if .Identity}}<table>
{{range .Identity}}<tr class="identity"><th>{{.Name}}</th><td>{{range $i, $v := .Values}}{{if $i}}<br>{{end}}{{$v}}{{end}}</td></tr>
{{end}}</table>
{{else}}<p>No X-Forwarded-* identity headers: this request did not come through gatehouse, or gatehouse sends none.</p>
{{end}}
<form method="post" action="{{.SignOutPath}}"><button type="submit">Sign out</button></form>

<h2>Headers</h2>
<table>
{{range .Rows}}<tr{{if .Identity}} class="identity"{{end}}><th>{{.Name}}</th><td>{{range $i, $v := .Values}}{{if $i}}<br>{{end}}{{$v}}{{end}}</td></tr>
{{end}}</table>

<h2>Cookies</h2>
{{if .CookieRows}}<table>
{{range .CookieRows}}<tr><th>{{.Name}}</th><td>{{range $i, $v := .Values}}{{if $i}}<br>{{end}}{{$v}}{{end}}</td></tr>
{{end}}</table>
{{else}}<p>None.</p>
{{end}}
</body>
</html>
`

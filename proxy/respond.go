package proxy

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
)

// pageStyle is the only style on gatehouse's pages. The Content-Security-
// Policy allows exactly this block by hash, so pages need no
// 'unsafe-inline' and allow no script at all.
const pageStyle = `body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}` +
	`h1{font-size:1.4rem}.id{color:#777;font-size:.8rem}button,a.button{font-size:1rem;padding:.5rem 1.2rem;` +
	`border:1px solid #345;border-radius:4px;background:#345;color:#fff;text-decoration:none;cursor:pointer}`

var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'"
}()

var pages = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}}</title><style>` + pageStyle + `</style></head><body>
<h1>{{.Title}}</h1>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .Form}}<form method="post" action="{{.Form}}"><button type="submit">{{.Button}}</button></form>{{end}}
{{if .Link}}<p><a class="button" href="{{.Link}}">{{.Button}}</a></p>{{end}}
{{if .RequestID}}<p class="id">Request ID: {{.RequestID}}</p>{{end}}
</body></html>
`))

// page is the data for gatehouse's one HTML template.
type page struct {
	Title, Message string
	Form           string // POST target for a single-button form
	Link           string // GET target for a single button link (always a gatehouse path)
	Button         string
	RequestID      string
}

// securityHeaders are set on every response gatehouse itself writes.
func securityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func writePage(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	w.WriteHeader(status)
	_ = pages.Execute(w, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// wantsHTML reports whether the response should be a page rather than JSON.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// isNavigation reports whether r is a browser navigating to a page: the
// only kind of request that is redirected to sign in. Everything else gets
// 401, so API clients and XHR never follow a login redirect.
func isNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.Header.Get("Authorization") != "" || r.Header.Get("X-Requested-With") != "" {
		return false
	}
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" && m != "navigate" {
		return false
	}
	return wantsHTML(r)
}

// writeError writes an error in the form the client wants: a page for
// browsers, JSON otherwise. msg must be safe to show; it never contains
// internals.
func writeError(w http.ResponseWriter, r *http.Request, id string, status int, msg string) {
	if wantsHTML(r) {
		writePage(w, status, page{Title: http.StatusText(status), Message: msg, RequestID: id})
		return
	}
	writeJSON(w, status, map[string]string{"error": errorCode(status), "error_description": msg, "request_id": id})
}

func errorCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}

// validRequestID accepts an upstream proxy's X-Request-Id when it is short
// and printable.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

package echo

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func newServer(t *testing.T, o Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewWithOptions(o))
	t.Cleanup(srv.Close)
	return srv
}

// raw sends raw bytes to srv and returns the response with its body read.
func raw(t *testing.T, srv *httptest.Server, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, req)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

func TestJSON(t *testing.T) {
	srv := newServer(t, Options{})
	res, body := raw(t, srv, "POST /p/%7Bx%7D/{y}?b=2;a=1&b=1 HTTP/1.1\r\nHost: app.example\r\n"+
		"x_forwarded_user: alice\r\nX-Multi: one\r\nX-Multi: two\r\n"+
		"Cookie: theme=dark; _gh=1\r\nCookie: theme=light\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &shape); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(shape))
	if want := []string{"cookies", "headers", "host", "method", "proto", "remote_addr", "uri"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Method != "POST" || rep.URI != "/p/%7Bx%7D/{y}?b=2;a=1&b=1" || rep.Proto != "HTTP/1.1" || rep.Host != "app.example" {
		t.Errorf("request line %+v", rep)
	}
	if !slices.Equal(rep.Headers["X_forwarded_user"], []string{"alice"}) {
		t.Errorf("X_forwarded_user = %q (headers %q)", rep.Headers["X_forwarded_user"], rep.Headers)
	}
	if !slices.Equal(rep.Headers["X-Multi"], []string{"one", "two"}) {
		t.Errorf("X-Multi = %q", rep.Headers["X-Multi"])
	}
	if !slices.Equal(rep.Cookies["theme"], []string{"dark", "light"}) || !slices.Equal(rep.Cookies["_gh"], []string{"1"}) {
		t.Errorf("cookies %q", rep.Cookies)
	}
	if host, _, err := net.SplitHostPort(rep.RemoteAddr); err != nil || host != "127.0.0.1" {
		t.Errorf("remote_addr %q", rep.RemoteAddr)
	}
	// Headers are sorted by name: encoding/json sorts map keys.
	if i, j := strings.Index(body, `"X-Multi"`), strings.Index(body, `"X_forwarded_user"`); i < 0 || j < 0 || i > j {
		t.Errorf("headers not sorted in %s", body)
	}
}

func TestHTML(t *testing.T) {
	for _, signOut := range []string{"", "/auth/logout"} {
		srv := newServer(t, Options{SignOutPath: signOut})
		req, _ := http.NewRequest("GET", srv.URL+"/page", nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		req.Header.Set("X-Forwarded-User", "alice")
		req.Header.Set("X-Evil", `<script>alert("x")</script>`)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body := string(b)
		if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Fatalf("Content-Type %q", ct)
		}
		want := signOut
		if want == "" {
			want = "/oauth2/sign_out"
		}
		for _, s := range []string{
			"<title>gatehouse demo upstream</title>",
			`<form method="post" action="` + want + `">`,
			`<tr class="identity"><th>X-Forwarded-User</th><td>alice</td></tr>`,
			"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;",
			"<code>GET /page HTTP/1.1</code>",
		} {
			if !strings.Contains(body, s) {
				t.Errorf("page lacks %q:\n%s", s, body)
			}
		}
		if strings.Contains(body, "<script>") {
			t.Errorf("unescaped header value in page")
		}
		if res.Header.Get("Content-Security-Policy") == "" {
			t.Error("no Content-Security-Policy")
		}
	}
}

func TestPrefersHTML(t *testing.T) {
	tests := []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"*/*"}, false},
		{[]string{"application/json"}, false},
		{[]string{"text/html"}, true},
		{[]string{"TEXT/HTML; charset=utf-8"}, true},
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, true},
		{[]string{"text/html;q=0.5, application/json"}, false},
		{[]string{"application/json;q=0.5", "text/*"}, true},
		{[]string{"text/html;q=0, */*"}, false},
		{[]string{"text/plain"}, false},
	}
	for _, tt := range tests {
		if got := prefersHTML(tt.accept); got != tt.want {
			t.Errorf("prefersHTML(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestEvents(t *testing.T) {
	srv := newServer(t, Options{EventInterval: time.Millisecond})
	res, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := "id: 1\ndata: tick 1\n\nid: 2\ndata: tick 2\n\nid: 3\ndata: tick 3\n\n"
	if string(b) != want {
		t.Errorf("stream %q, want %q", b, want)
	}
}

// Package upstream forwards authenticated requests to the protected
// application.
//
// The gateway authenticates a request, attaches the headers it wants the
// backend to see with [WithHeaders], and hands the request to
// [Proxy.ServeHTTP]. The package knows nothing about identities: it receives
// an [http.Header] and makes sure that, upstream, those values are the only
// ones a backend can find under those names, that a client can never supply
// identity or forwarding headers of its own (under any spelling), and that
// the gateway's own cookies never leave it.
//
// Proxy is built on [httputil.ReverseProxy] with a Rewrite function, so
// hop-by-hop headers, including any the client names in Connection, are
// removed before gatehouse adds its own, and a client cannot use Connection
// to remove them.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Config configures a [Proxy]. Only Target is required.
type Config struct {
	// Target is the backend every request is sent to. Its scheme must be
	// "http" or "https" and it must have a host. Its path is joined with the
	// request path as [httputil.ProxyRequest.SetURL] does: for a Target path
	// of "/base", a request for "/dir" goes to "/base/dir". A query in Target
	// is prepended to the request's query. Required; there is no default.
	Target *url.URL

	// Transport performs the requests to Target.
	// Default (nil): NewTransport(30*time.Second, 0), a transport of its own
	// per Proxy, with no response header timeout.
	Transport http.RoundTripper

	// FlushInterval is how often the response body is flushed to the client
	// while it is copied; a negative value flushes after every write.
	// Default (0): no periodic flushing. Whatever the value, responses of
	// type text/event-stream and responses of unknown length are flushed
	// after every write, as httputil.ReverseProxy does.
	FlushInterval time.Duration

	// PassHostHeader sends the client's Host header upstream when true;
	// when false the backend sees Target's host.
	// Default (false): Target's host. The gateway sets it to true by
	// default in its own configuration.
	PassHostHeader bool

	// StripHeaders lists header names, in any spelling, that a client may
	// never send upstream, in addition to the built-in list (see
	// [IsReservedHeader]). Names are compared after [NormalizeHeaderName].
	// Default (nil): only the built-in list.
	StripHeaders []string

	// StripCookiePrefix removes from the Cookie header sent upstream every
	// cookie whose name starts with it, and drops from the response every
	// Set-Cookie line for such a name, so the backend neither sees nor sets
	// the gateway's own cookies. Browsers' cookie prefixes do not count:
	// with "__Host-gh" or "gh", the cookies gh_1, __Host-gh and
	// __Secure-gh_hint are all stripped (a gateway may need "__Secure-"
	// for a cookie with a Path, which "__Host-" forbids). The comparison
	// is case-sensitive, as cookie names are, except for those prefixes,
	// which browsers compare without case.
	// Default (""): cookies pass unchanged in both directions.
	StripCookiePrefix string

	// ErrorHandler is called when the backend cannot be reached or its
	// response cannot be used (for example a refused protocol switch). The
	// request it receives is the outbound request when the round trip
	// failed, the inbound one otherwise; both carry the inbound context.
	// Default (nil): a 502 Bad Gateway with Cache-Control: no-store and a
	// short fixed plain-text body that reveals neither the error, the
	// target nor anything from the request.
	ErrorHandler func(http.ResponseWriter, *http.Request, error)

	// ErrorLog receives the few messages httputil.ReverseProxy logs itself,
	// such as errors while copying a response body.
	// Default (nil): they are discarded; the global logger is never used.
	ErrorLog *log.Logger
}

// defaultDialTimeout is the dial timeout of the default transport and of
// NewTransport when given a non-positive one.
const defaultDialTimeout = 30 * time.Second

// Proxy forwards requests to one backend. Create one with [New]; it is safe
// for concurrent use and is not modified after New returns.
type Proxy struct {
	target       *url.URL
	targetPath   string          // target.EscapedPath()
	passHost     bool            // Config.PassHostHeader
	extra        map[string]bool // normalised Config.StripHeaders
	cookiePrefix string          // Config.StripCookiePrefix
	rp           *httputil.ReverseProxy
}

// New checks cfg and returns a Proxy for it. It has no side effects: no
// connection is made until the first request.
func New(cfg Config) (*Proxy, error) {
	t := cfg.Target
	switch {
	case t == nil:
		return nil, errors.New("upstream: Target is required")
	case t.Scheme != "http" && t.Scheme != "https":
		return nil, errors.New("upstream: Target scheme must be http or https")
	case t.Host == "":
		return nil, errors.New("upstream: Target has no host")
	case t.Opaque != "":
		return nil, errors.New("upstream: Target must not be an opaque URL")
	case t.User != nil:
		return nil, errors.New("upstream: Target must not contain user information")
	case t.Fragment != "":
		return nil, errors.New("upstream: Target must not have a fragment")
	}
	target := *t
	p := &Proxy{
		target:       &target,
		targetPath:   target.EscapedPath(),
		passHost:     cfg.PassHostHeader,
		cookiePrefix: trimCookiePrefix(cfg.StripCookiePrefix),
	}
	if cfg.StripCookiePrefix != "" && p.cookiePrefix == "" {
		return nil, fmt.Errorf("upstream: StripCookiePrefix %q is only a browser cookie prefix", cfg.StripCookiePrefix)
	}
	for _, name := range cfg.StripHeaders {
		n := NormalizeHeaderName(strings.TrimSpace(name))
		if n == "" {
			return nil, errors.New("upstream: empty name in StripHeaders")
		}
		if p.extra == nil {
			p.extra = make(map[string]bool, len(cfg.StripHeaders))
		}
		p.extra[n] = true
	}

	transport := cfg.Transport
	if transport == nil {
		transport = NewTransport(defaultDialTimeout, 0)
	}
	errorHandler := cfg.ErrorHandler
	if errorHandler == nil {
		errorHandler = defaultErrorHandler
	}
	errorLog := cfg.ErrorLog
	if errorLog == nil {
		errorLog = log.New(io.Discard, "", 0)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:       p.rewrite,
		Transport:     transport,
		FlushInterval: cfg.FlushInterval,
		ErrorLog:      errorLog,
		ErrorHandler:  errorHandler,
		BufferPool:    &bufferPool{},
	}
	if p.cookiePrefix != "" {
		p.rp.ModifyResponse = p.modifyResponse
	}
	return p, nil
}

// headersKey is the context key of the headers attached by WithHeaders.
type headersKey struct{}

// WithHeaders returns a copy of ctx carrying h, the headers [Proxy.ServeHTTP]
// sets on the outbound request after removing everything the client may not
// send. Each header replaces any header of the same normalised name (see
// [NormalizeHeaderName]), so the backend sees exactly the values in h under
// that name; a name with no values only removes the header. The headers
// may override the X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto
// values the proxy computes itself. Names in h should be distinct once
// normalised. h is not copied and must not be modified after the call.
func WithHeaders(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, headersKey{}, h)
}

// ServeHTTP forwards r to the target and copies the response back to w.
//
// A request asking to switch to a protocol other than WebSocket (h2c, for
// example) is forwarded as an ordinary request, without its Upgrade header
// and without the "upgrade" Connection token.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// httputil.ReverseProxy decides about upgrades from the inbound headers,
	// before Rewrite runs, so refusing one has to happen here. Cloning is
	// only needed on this rare path.
	if up := upgradeType(r.Header); up != "" && !asciiEqualFold(up, "websocket") {
		r = withoutUpgrade(r)
	}
	p.rp.ServeHTTP(w, r)
}

// rewrite builds the outbound request. httputil.ReverseProxy has already
// removed hop-by-hop headers (including any the client named in Connection)
// and the canonical spellings of Forwarded and X-Forwarded-For/Host/Proto.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	out := pr.Out
	// ReverseProxy re-encodes a query it considers unparsable (one with ';',
	// for instance); send the client's query byte for byte instead.
	out.URL.RawQuery = pr.In.URL.RawQuery
	pr.SetURL(p.target)
	p.keepRawPath(pr)

	// Trailers would let a client add headers after the checks; never send
	// any.
	out.Trailer = nil

	// Strip first, then compute the forwarding headers, so that nothing the
	// client sent survives and the proxy's values do.
	stripHeaders(out.Header, p.extra)
	pr.SetXForwarded()
	if p.passHost {
		out.Host = pr.In.Host
	}
	stripCookies(out.Header, p.cookiePrefix)
	if h, ok := pr.In.Context().Value(headersKey{}).(http.Header); ok {
		setHeaders(out.Header, h)
	}
}

// keepRawPath makes the outbound request-target carry the inbound path
// exactly as the client sent it. SetURL goes through url.URL.EscapedPath,
// which re-encodes a path whose raw form Go does not consider canonical
// (one containing '{', '|' or '"', say).
func (p *Proxy) keepRawPath(pr *httputil.ProxyRequest) {
	ruri := pr.In.RequestURI
	if ruri == "" || ruri[0] != '/' {
		// Not origin-form (absolute-form, "*", or a request not read by a
		// server): keep SetURL's result.
		return
	}
	path, _, _ := strings.Cut(ruri, "?")
	joined := singleJoiningSlash(p.targetPath, path)
	// An Opaque starting with "//" would be sent as an absolute URL.
	if strings.HasPrefix(joined, "//") || joined == pr.Out.URL.EscapedPath() {
		return
	}
	pr.Out.URL.Opaque = joined
}

// singleJoiningSlash joins a and b with exactly one slash between them, as
// httputil does for SetURL.
func singleJoiningSlash(a, b string) string {
	aslash := strings.HasSuffix(a, "/")
	bslash := strings.HasPrefix(b, "/")
	switch {
	case aslash && bslash:
		return a + b[1:]
	case !aslash && !bslash:
		return a + "/" + b
	}
	return a + b
}

// modifyResponse drops the backend's Set-Cookie lines for the gateway's
// cookies.
func (p *Proxy) modifyResponse(res *http.Response) error {
	stripSetCookies(res.Header, p.cookiePrefix)
	return nil
}

// bufferPool reuses the 32 KiB buffers ReverseProxy copies response bodies
// with; without it every request allocates one. Each Proxy has its own.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.pool.Get().([]byte); ok {
		return buf
	}
	return make([]byte, 32*1024)
}

func (b *bufferPool) Put(buf []byte) {
	// Boxing the slice header costs a small allocation per Put, far less
	// than a fresh 32 KiB buffer per request; httputil.BufferPool hands
	// out []byte, so there is no pointer to keep instead.
	b.pool.Put(buf) //lint:ignore SA6002 see above

}

// defaultErrorHandler answers 502 without any detail: the error, the target
// and the request stay out of the response.
func defaultErrorHandler(w http.ResponseWriter, _ *http.Request, _ error) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(http.StatusBadGateway), http.StatusBadGateway)
}

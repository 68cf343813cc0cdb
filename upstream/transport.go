package upstream

import (
	"net"
	"net/http"
	"time"
)

// NewTransport returns an [http.Transport] tuned for forwarding to a single
// backend:
//
//   - dials time out after dialTimeout (30s when dialTimeout is not
//     positive), with TCP keep-alives every 30s;
//   - a response's headers must arrive within responseHeaderTimeout after
//     the request is written (no limit when it is not positive);
//   - up to 256 idle connections are kept per host (no overall limit) and
//     closed after 90s idle;
//   - TLS handshakes time out after 10s and Expect: 100-continue waits 1s;
//   - HTTP/2 is attempted for https targets (ForceAttemptHTTP2; it has no
//     effect on plain http);
//   - no proxy is taken from the environment (Proxy is nil), so
//     HTTP_PROXY cannot divert traffic meant for the backend;
//   - compression is left to the client and backend (DisableCompression):
//     the transport neither adds Accept-Encoding nor decompresses, so the
//     backend sees the client's Accept-Encoding as it was sent.
func NewTransport(dialTimeout, responseHeaderTimeout time.Duration) *http.Transport {
	if dialTimeout <= 0 {
		dialTimeout = defaultDialTimeout
	}
	if responseHeaderTimeout < 0 {
		responseHeaderTimeout = 0
	}
	dialer := &net.Dialer{
		Timeout:   dialTimeout,
		KeepAlive: 30 * time.Second,
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		DisableCompression:    true,
	}
}

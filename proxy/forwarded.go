package proxy

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// client is what gatehouse believes about where a request came from.
type client struct {
	ip      netip.Addr // the client's address: the peer, or from X-Forwarded-For when the peer is trusted
	proto   string     // "http" or "https" as the client used it
	host    string     // the host the client asked for
	xff     string     // X-Forwarded-For to send upstream; set for trusted peers only
	trusted bool       // the peer is a trusted proxy
}

var errBadForwarded = errors.New("proxy: malformed X-Forwarded-* header from a trusted proxy")

// clientOf works out the client. X-Forwarded-* headers are believed only
// when the socket peer is inside one of the trusted prefixes; otherwise
// they are ignored (and stripped before forwarding).
func clientOf(r *http.Request, trusted []netip.Prefix) (client, error) {
	peer := peerAddr(r)
	c := client{ip: peer, proto: "http", host: r.Host}
	if r.TLS != nil {
		c.proto = "https"
	}
	if !peer.IsValid() || !inPrefixes(peer, trusted) {
		return c, nil
	}
	c.trusted, c.xff = true, peer.String()
	if v := r.Header.Values("X-Forwarded-Proto"); len(v) > 0 {
		if len(v) > 1 || (v[0] != "http" && v[0] != "https") {
			return c, errBadForwarded
		}
		c.proto = v[0]
	}
	if v := r.Header.Values("X-Forwarded-Host"); len(v) > 0 {
		if len(v) > 1 || !validHost(v[0]) {
			return c, errBadForwarded
		}
		c.host = v[0]
	}
	if chain := strings.Join(r.Header.Values("X-Forwarded-For"), ","); chain != "" {
		// Walk from the right: the first address that is not a trusted
		// proxy is the client.
		hops := strings.Split(chain, ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				return c, errBadForwarded
			}
			c.ip = a.Unmap()
			if !inPrefixes(c.ip, trusted) {
				break
			}
		}
		c.xff = chain + ", " + c.xff
	}
	return c, nil
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// validHost accepts "name", "name:port", "[v6]:port": letters, digits, '.',
// '-', and a numeric port. Anything else (userinfo, slashes, spaces) is not
// a host.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		if _, err := netip.ParseAddr(h[1:end]); err != nil {
			return false
		}
		rest := h[end+1:]
		return rest == "" || (rest[0] == ':' && validPort(rest[1:]))
	}
	name, port, hasPort := strings.Cut(h, ":")
	if hasPort && !validPort(port) {
		return false
	}
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n > 0 && n <= 65535
}

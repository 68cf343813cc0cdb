package proxy

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Route sends requests for a host and path prefix to an upstream.
type Route struct {
	// Host matches the request's host (case-insensitive, port ignored);
	// "" matches any host.
	Host string
	// Prefix is the path prefix, starting with "/". "/app/" matches
	// "/app/…" and "/app" itself.
	Prefix string
	// Target is the upstream base URL.
	Target *url.URL
}

// String returns the route in flag syntax.
func (r Route) String() string { return r.Host + r.Prefix + "=" + r.Target.String() }

// ParseRoute parses "[host]/path/=URL", as the --upstream flag takes it.
func ParseRoute(spec string) (Route, error) {
	match, target, ok := strings.Cut(spec, "=")
	if !ok || match == "" || target == "" {
		return Route{}, fmt.Errorf("%q: want [host]/path/=URL, e.g. /=http://127.0.0.1:8080", spec)
	}
	slash := strings.IndexByte(match, '/')
	if slash < 0 {
		return Route{}, fmt.Errorf("%q: the path must start with /", spec)
	}
	host, prefix := strings.ToLower(match[:slash]), match[slash:]
	if strings.ContainsAny(host, ":@*") || strings.ContainsAny(prefix, "?#%\\") {
		return Route{}, fmt.Errorf("%q: host must be a plain name and the path a plain prefix", spec)
	}
	if _, err := canonicalPath(prefix); err != nil {
		return Route{}, fmt.Errorf("%q: path prefix %q is not canonical", spec, prefix)
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Route{}, fmt.Errorf("%q: upstream must be an http(s) URL without credentials, query or fragment", spec)
	}
	return Route{Host: host, Prefix: prefix, Target: u}, nil
}

// routeTable picks the route for a request: the longest matching prefix,
// and on a tie the one naming the host.
type routeTable[T any] struct {
	entries []routeEntry[T]
}

type routeEntry[T any] struct {
	host, prefix string
	v            T
}

func (t *routeTable[T]) add(host, prefix string, v T) error {
	for _, e := range t.entries {
		if e.host == host && e.prefix == prefix {
			return fmt.Errorf("route %s%s is given twice", host, prefix)
		}
	}
	t.entries = append(t.entries, routeEntry[T]{host: host, prefix: prefix, v: v})
	sort.SliceStable(t.entries, func(i, j int) bool {
		a, b := t.entries[i], t.entries[j]
		if len(a.prefix) != len(b.prefix) {
			return len(a.prefix) > len(b.prefix)
		}
		return a.host != "" && b.host == ""
	})
	return nil
}

// lookup returns the value for host (lower-case, no port) and path.
func (t *routeTable[T]) lookup(host, path string) (T, bool) {
	for _, e := range t.entries {
		if e.host != "" && e.host != host {
			continue
		}
		if prefixMatch(e.prefix, path) {
			return e.v, true
		}
	}
	var zero T
	return zero, false
}

// prefixMatch matches whole segments: "/app/" and "/app" both match "/app"
// and "/app/x", never "/apple".
func prefixMatch(prefix, path string) bool {
	if prefix == "/" {
		return true
	}
	p := strings.TrimSuffix(prefix, "/")
	return path == p || strings.HasPrefix(path, p+"/")
}

// hostOnly lower-cases host and drops a port.
func hostOnly(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return strings.ToLower(host)
}

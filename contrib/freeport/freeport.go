// Package freeport hands out loopback ports to tests that must name a port
// before the process that listens on it starts (a public URL registered at
// an issuer, a fixture's admin listener).
package freeport

import (
	"net"
	"sync"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Get returns a port on 127.0.0.1 that was free a moment ago. The kernel
// may hand a just-closed port out again, and two processes told to use the
// same one would have one of them fail, or be taken for the other; so Get
// never returns a port twice in a process.
func Get() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
}

// Package redistest runs a throwaway redis-server for tests.
//
// The server listens on a free port of 127.0.0.1, keeps nothing on disk
// and is killed when the test ends. Without a redis-server binary the
// test is skipped, or fails when the environment variable CI is "true",
// so that CI never silently drops the Redis tests.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// server is one redis-server process, restartable on its port.
type server struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when cmd has been waited for
}

// Start runs a redis-server on a free port of 127.0.0.1 and waits until
// it answers PING. It returns the server's address ("127.0.0.1:port"),
// stop, which kills the server (like a crash: no shutdown, no save), and
// restart, which starts a new, empty server on the same port after stop.
// The server is killed when the test and its subtests end.
func Start(t testing.TB) (addr string, stop func(), restart func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: redis-server not found on PATH (CI=true; install it, e.g. apt-get install redis-server): %v", err)
		}
		t.Skipf("redistest: redis-server not found on PATH; skipping the Redis tests (install it, e.g. apt-get install redis-server): %v", err)
	}
	s := &server{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(s.stop)
	var lastErr error
	for range 5 { // another process may take the free port before redis does
		s.port, err = freePort()
		if err != nil {
			t.Fatalf("redistest: finding a free port: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s.addr(), s.stop, s.restart
		}
		s.stop()
	}
	t.Fatalf("redistest: %v", lastErr)
	return "", nil, nil
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// start runs the server and waits for it to answer PING.
func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("redis-server on port %d is already running", s.port)
	}
	out := new(syncBuffer)
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--protected-mode", "yes",
		"--loglevel", "warning",
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.out, s.done = cmd, out, done
	deadline := time.Now().Add(startTimeout)
	for {
		// The port was free a moment ago; another test's server may have
		// taken it since (ours then exits), so only our own process counts.
		if pid, err := serverPID(s.addr()); err == nil && pid == cmd.Process.Pid {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited: %s", s.port, bytes.TrimSpace(out.Bytes()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d did not answer PING within %v: %s", s.port, startTimeout, bytes.TrimSpace(out.Bytes()))
		}
	}
}

// stop kills the server, if it runs, and waits for it to exit.
func (s *server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// restart starts a new server on the same port; the old one must have
// been stopped.
func (s *server) restart() {
	s.t.Helper()
	var err error
	for range 50 { // the port may linger for a moment after the kill
		if err = s.start(); err == nil {
			return
		}
		s.stop()
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restarting: %v", err)
}

// serverPID asks the Redis server on addr for its process ID (INFO server).
func serverPID(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("INFO server\r\n")); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil || n < 0 || n > 1<<20 {
		return 0, fmt.Errorf("INFO answered %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server has no process_id")
}

// syncBuffer is a bytes.Buffer safe for the writes of a process and the
// reads of a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process the bench started.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// pinPrefix returns the command prefix that runs a program on cpus, or
// nothing when cpus is empty.
func pinPrefix(cpus string) []string {
	if cpus == "" {
		return nil
	}
	return []string{"taskset", "-c", cpus}
}

// startProc starts bin with args on cpus ("" = anywhere), its standard
// error going to a log file in dir.
func startProc(dir, name, cpus string, env []string, bin string, args ...string) (*proc, error) {
	argv := append(pinPrefix(cpus), bin)
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to 10 s, then kills.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// truncateLog empties the process's log (it writes with O_APPEND), so
// long runs do not fill the disk with access logs.
func (p *proc) truncateLog() { p.log.Truncate(0) }

// tail returns the last n bytes of the process's log.
func (p *proc) tail(n int64) string {
	b, _ := os.ReadFile(p.log.Name())
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

// procCPU is the CPU time (user and system) of every thread of pid, from
// /proc/<pid>/task/*/schedstat (nanoseconds). It falls back to the
// clock-tick counters of /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	if sum := schedstat(pid, 0); sum > 0 {
		return time.Duration(sum)
	}
	return statCPU(fmt.Sprintf("/proc/%d/stat", pid))
}

// procSwitches is how many times the threads of pid have been switched
// onto a CPU: each one is a wake-up or a preemption, which on a VM costs
// more than most of a request's work.
func procSwitches(pid int) int64 { return schedstat(pid, 2) }

// schedstat sums field i of /proc/<pid>/task/*/schedstat over the threads
// of pid: 0 is the time on a CPU (ns), 2 the number of times run.
func schedstat(pid, i int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > i {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			sum += n
		}
	}
	return sum
}

// statCPU reads utime+stime from a /proc stat file.
func statCPU(path string) time.Duration {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * (time.Second / 100)
}

// selfCPU is this process's CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus returns a field of /proc/<pid>/status in bytes (the kB
// fields: VmRSS, VmHWM, …).
func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		return n << 10
	}
	return 0
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitTCP waits until addr accepts connections.
func waitTCP(addr string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %s", p.name, p.tail(2000))
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s never listened on %s", p.name, addr)
}

// runLoadProc runs one load in a child process on cpus. onStart and
// onStop are called when the measured part begins and ends (the child
// says so on its standard output), so the caller can sample other
// processes' counters exactly around it.
func runLoadProc(self, cpus string, spec loadSpec, onStart, onStop func()) (loadResult, error) {
	argv := append(pinPrefix(cpus), self, "-role=load")
	cmd := exec.Command(argv[0], argv[1:]...)
	in, err := jsonBytes(spec)
	if err != nil {
		return loadResult{}, err
	}
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return loadResult{}, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return loadResult{}, err
	}
	br := bufio.NewReader(out)
	var res loadResult
	var perr error
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			switch t := strings.TrimSpace(string(line)); {
			case t == "M":
				if onStart != nil {
					onStart()
				}
			case t == "E":
				if onStop != nil {
					onStop()
				}
			case strings.HasPrefix(t, "{"):
				perr = jsonUnmarshal([]byte(t), &res)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				perr = err
			}
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		return res, fmt.Errorf("load: %v: %s", err, stderr.String())
	}
	return res, perr
}

// systemBusy is the CPU time all CPUs spent outside idle and iowait, from
// /proc/stat (clock ticks).
func systemBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is in user already
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * (time.Second / 100)
}

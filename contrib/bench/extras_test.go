package main

import (
	"strings"
	"testing"
	"time"
)

// TestLoginReport checks that the report shows both login measurements
// and judges the target on the concurrent one, keeping the sequential one
// in view.
func TestLoginReport(t *testing.T) {
	login := func(conns int, cpu time.Duration) point {
		return point{Mode: modeLogin, Conns: conns, ProxyCPU: 300 * cpu, Res: loadResult{Requests: 300, P50: time.Millisecond, P99: 2 * time.Millisecond}}
	}
	e := &env{o: options{extras: true, layouts: []string{"shared"}}, ex: &extras{},
		points: []point{login(1, 1200*time.Microsecond), login(8, 350*time.Microsecond)}}
	got := e.report()
	for _, want := range []string{
		"300 logins, one after another: gatehouse CPU per login | 1.200 ms |",
		"300 logins, 8 browsers at once: gatehouse CPU per login | 0.350 ms |",
		"| gatehouse CPU per browser login ≤ 0.4 ms | 0.350 ms met (8 browsers at once; one after another: 1.200 ms",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the report lacks %q:\n%s", want, got)
		}
	}
}

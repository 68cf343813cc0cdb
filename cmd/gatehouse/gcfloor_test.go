package main

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 400},         // 16 MiB of headroom is the minimum heap at 400 %
		{1 * mib, 430},   // goal 17 MiB: 4 MiB × 4.25, rounded up
		{4 * mib, 400},   // goal 20 MiB: the live heap's multiple (4 × 5); the minimum heap's (4 × 4) falls short
		{8 * mib, 200},   // goal 24 MiB: the live heap's multiple (8 × 3) is smaller than the minimum heap's (4 × 6)
		{16 * mib, 100},  // goal 32 MiB: twice the live heap, Go's default
		{200 * mib, 100}, // a large heap keeps the default
		{17 * mib, 100},  // just over the headroom
		{15 * mib, 110},  // goal 31 MiB: 15 × 2.07, rounded to 110
		{1, 410},         // a byte over 16 MiB: the minimum heap governs, rounded up
	} {
		got := gcPercentFor(c.live)
		if got != c.want {
			t.Errorf("gcPercentFor(%d) = %d, want %d", c.live, got, c.want)
		}
		// Whatever the rounding, the goal reaches live + max(live, headroom).
		p := uint64(got)
		goal := max(4*mib*p/100, c.live+c.live*p/100)
		if want := c.live + max(c.live, gcHeadroom); goal < want {
			t.Errorf("live %d: goal %d at %d %%, below %d", c.live, goal, got, want)
		}
	}
}

func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestGCFloor runs the floor in this process: after a collection, the
// percentage is what gcPercentFor gives for the live heap; with GOGC set
// by the operator, nothing changes.
func TestGCFloor(t *testing.T) {
	if gogc() != 100 {
		t.Skip("GOGC is set for the test process")
	}
	if stop := startGCFloor(func(k string) string { return map[string]string{"GOGC": "100"}[k] }); gogc() != 100 {
		stop()
		t.Fatal("the floor ran although GOGC was set")
	}
	stop := startGCFloor(func(string) string { return "" })
	defer func() {
		stop()
		if gogc() != 100 {
			t.Errorf("after stop, GOGC is %d", gogc())
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for gogc() == 100 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := gogc(); got <= 100 {
		t.Fatalf("GOGC stayed at %d after collections", got)
	}
}

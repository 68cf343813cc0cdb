package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// gcHeadroom is how much garbage gatehouse lets accumulate between
// collections at least, on top of its live heap.
//
// gatehouse's live heap is small (about 1 MiB serving requests), so with
// Go's defaults (GOGC=100, a 4 MiB minimum goal) it collects every 3 MiB
// of allocation: about 50 times a second at 14 000 requests a second on
// one core, each collection costing a fixed 0.5–1 ms of CPU whatever
// little it finds. That was 3–4 µs of every request. A floor of 16 MiB of
// headroom makes collections five times rarer under load; a larger live
// heap (a big session cache, the bearer negative cache) keeps Go's usual
// goal of twice the live heap. Idle memory does not change: an idle
// process allocates next to nothing, and the 2-minute forced collection
// and the scavenger still return what is free.
const gcHeadroom = 16 << 20

// startGCFloor keeps the heap goal at the live heap plus the larger of the
// live heap and gcHeadroom, by adjusting the GC percentage after every
// collection. It does nothing when the operator set GOGC: their setting
// stands as given. GOMEMLIMIT applies either way. stop ends the
// adjustments and puts the percentage back to 100.
func startGCFloor(getenv func(string) string) (stop func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	f := &gcFloor{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, percent: 100}
	f.arm()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.stopped = true
		debug.SetGCPercent(100)
	}
}

type gcFloor struct {
	mu      sync.Mutex
	sample  []metrics.Sample
	percent int
	stopped bool
}

// arm schedules f.adjust for the end of the next collection: the cleanup
// of an object nothing refers to runs after the cycle that frees it. The
// object holds a pointer so that it is not batched with others by the
// tiny allocator, which would delay the cleanup.
func (f *gcFloor) arm() {
	runtime.AddCleanup(new(*byte), func(f *gcFloor) { f.adjust() }, f)
}

func (f *gcFloor) adjust() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	defer f.arm()
	metrics.Read(f.sample)
	if f.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	if p := gcPercentFor(f.sample[0].Value.Uint64()); p != f.percent {
		f.percent = p
		debug.SetGCPercent(p)
	}
}

// gcPercentFor is the GC percentage that puts the heap goal at live +
// max(live, gcHeadroom). Go's goal for a percentage p is the larger of
// live·(1+p/100) and its minimum heap, 4 MiB·p/100; the result is the
// smallest p reaching the target, never below Go's default of 100, and
// rounded to 10 so that small changes of the live heap do not touch the
// pacer after every cycle.
func gcPercentFor(live uint64) int {
	const minHeap = 4 << 20
	target := live + max(live, gcHeadroom)
	p := ceilDiv(target*100, minHeap) // the minimum heap reaches the target
	if live > 0 {
		p = min(p, ceilDiv((target-live)*100, live)) // the live heap's multiple does
	}
	p = (p + 9) / 10 * 10
	return int(max(p, 100))
}

func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }

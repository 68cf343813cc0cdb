package session_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
)

func TestMemoryOnce(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	o := session.NewMemoryOnce(10, clk.Now)
	first := func(key string, ttl time.Duration) bool {
		t.Helper()
		ok, err := o.First(ctx, key, ttl)
		if err != nil {
			t.Fatalf("First(%q): %v", key, err)
		}
		return ok
	}
	if !first("a", time.Minute) {
		t.Error("first a: false")
	}
	if first("a", time.Minute) {
		t.Error("second a: true")
	}
	if !first("b", time.Minute) {
		t.Error("first b: false")
	}
	clk.Advance(59 * time.Second)
	if first("a", time.Minute) {
		t.Error("a after 59s: true")
	}
	clk.Advance(time.Second)
	if !first("a", time.Minute) {
		t.Error("a after ttl: false")
	}
	if first("a", time.Minute) {
		t.Error("a again after ttl: true")
	}

	if _, err := o.First(ctx, "c", 0); err == nil {
		t.Error("ttl 0: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := o.First(cctx, "d", time.Minute); err == nil {
		t.Error("canceled context: no error")
	}
}

func TestMemoryOnceBounded(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	o := session.NewMemoryOnce(3, clk.Now)
	for i := range 3 {
		clk.Advance(time.Second)
		o.First(ctx, fmt.Sprint(i), time.Minute)
	}
	// Full: the oldest (0) is forgotten for 3.
	if ok, _ := o.First(ctx, "3", time.Minute); !ok {
		t.Fatal("3: false")
	}
	for key, want := range map[string]bool{"1": false, "2": false, "3": false} {
		if ok, _ := o.First(ctx, key, time.Minute); ok != want {
			t.Errorf("%s: %v, want %v", key, ok, want)
		}
	}
	if ok, _ := o.First(ctx, "0", time.Minute); !ok {
		t.Error("0 is still remembered in a full MemoryOnce")
	}
	// Expired keys go before live ones.
	o = session.NewMemoryOnce(3, clk.Now)
	o.First(ctx, "short", time.Second)
	o.First(ctx, "long1", time.Hour)
	o.First(ctx, "long2", time.Hour)
	clk.Advance(2 * time.Second)
	o.First(ctx, "new", time.Hour)
	for _, key := range []string{"long1", "long2", "new"} {
		if ok, _ := o.First(ctx, key, time.Hour); ok {
			t.Errorf("%s forgotten; want the expired key forgotten instead", key)
		}
	}
}

func TestMemoryOnceConcurrent(t *testing.T) {
	o := session.NewMemoryOnce(0, nil)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range 100 {
				if ok, _ := o.First(context.Background(), fmt.Sprint("k", i), time.Minute); ok {
					wins.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if wins.Load() != 100 {
		t.Errorf("%d firsts for 100 keys", wins.Load())
	}
}

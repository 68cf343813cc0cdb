package session

import (
	"context"
	"testing"
	"time"
)

// TestMemoryLockerCleanup checks that a MemoryLocker forgets keys nobody
// holds or waits for, also after a cancelled wait.
func TestMemoryLockerCleanup(t *testing.T) {
	m := NewMemoryLocker()
	for i := range 100 {
		unlock, err := m.Lock(t.Context(), string(rune('a'+i%26))+"key")
		if err != nil {
			t.Fatal(err)
		}
		unlock()
	}
	unlock, err := m.Lock(t.Context(), "held")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := m.Lock(ctx, "held"); err == nil {
		t.Fatal("second Lock of a held key succeeded")
	}
	if n := m.size(); n != 1 {
		t.Errorf("%d entries while one key is held; want 1", n)
	}
	unlock()
	if n := m.size(); n != 0 {
		t.Errorf("%d entries after every unlock; want 0", n)
	}
}

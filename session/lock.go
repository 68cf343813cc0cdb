package session

import (
	"context"
	"fmt"
	"sync"
)

// Locker serialises work on one key across replicas, such as refreshing
// one session's tokens: of all callers that Lock the same key, one at a
// time holds it until it calls unlock.
type Locker interface {
	// Lock waits until it holds key, or ctx is done, or (for shared
	// stores) the store fails. On success the caller must call unlock
	// exactly once when done; calling it again does nothing. On error the
	// lock is not held.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// MemoryLocker is a Locker for one process, for deployments whose
// sessions live in cookies. It keeps an entry only for keys that are held
// or waited for, so its memory is bounded by the callers in flight.
//
// The zero MemoryLocker is not usable; use NewMemoryLocker. It is safe
// for concurrent use.
type MemoryLocker struct {
	mu    sync.Mutex
	locks map[string]*memoryLock
}

// memoryLock is one key's lock: a semaphore of one, and how many callers
// hold it or wait for it.
type memoryLock struct {
	sem  chan struct{}
	refs int // guarded by MemoryLocker.mu
}

// NewMemoryLocker returns an empty MemoryLocker.
func NewMemoryLocker() *MemoryLocker {
	return &MemoryLocker{locks: make(map[string]*memoryLock)}
}

// Lock implements Locker. It fails only when ctx is done before the lock
// is free.
func (m *MemoryLocker) Lock(ctx context.Context, key string) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("session: waiting for lock: %w", err)
	}
	m.mu.Lock()
	l := m.locks[key]
	if l == nil {
		l = &memoryLock{sem: make(chan struct{}, 1)}
		m.locks[key] = l
	}
	l.refs++
	m.mu.Unlock()

	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		m.release(key, l)
		return nil, fmt.Errorf("session: waiting for lock: %w", ctx.Err())
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.sem
			m.release(key, l)
		})
	}, nil
}

// release drops a reference to key's lock, and the entry with the last.
func (m *MemoryLocker) release(key string, l *memoryLock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l.refs--
	if l.refs == 0 {
		delete(m.locks, key)
	}
}

// size returns how many keys have an entry, for tests.
func (m *MemoryLocker) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.locks)
}

var _ Locker = (*MemoryLocker)(nil)

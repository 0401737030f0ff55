package cache

import "sync"

// group is a group commit: items that gather while the cache's writer is
// busy are written together, in one transaction, by whichever of their
// callers gets the writer first; every caller returns once its item is
// written. It serves both answers (Put) and claims (Acquire).
type group[T any] struct {
	mu   sync.Mutex // guards open
	open *gathered[T]
}

// gathered is the items of one transaction, and its outcome (set before
// done is closed).
type gathered[T any] struct {
	items []T
	done  chan struct{}
	err   error
}

// join adds item to the gathering that the next write takes.
func (g *group[T]) join(item T) *gathered[T] {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open = &gathered[T]{done: make(chan struct{})}
	}
	g.open.items = append(g.open.items, item)
	return g.open
}

// pending returns the gathering not written yet, nil when none.
func (g *group[T]) pending() *gathered[T] {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// commit writes b with write, holding writer, unless a concurrent commit
// already has; it returns once b is written, with write's error. One
// writer of the process at a time: writers of one process that met in
// SQLite's busy handler would sleep there, or fail "locked".
func (g *group[T]) commit(writer *sync.Mutex, b *gathered[T], write func([]T) error) error {
	writer.Lock()
	defer writer.Unlock()
	select {
	case <-b.done:
		return b.err
	default:
	}
	g.mu.Lock()
	if g.open == b {
		g.open = nil // later items gather for the next write
	}
	g.mu.Unlock()
	b.err = write(b.items)
	close(b.done)
	return b.err
}

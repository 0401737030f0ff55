package pipeline

import "sync"

// budget enforces --max-charged, counting in-flight calls as if charged.
type budget struct {
	limit   int64 // < 0: unlimited
	mu      sync.Mutex
	charged int64
	flight  int64
}

// newBudget returns a budget of limit charged calls of which already were
// made by earlier attempts (their in-doubt calls counted as charged).
func newBudget(limit, already int64) *budget { return &budget{limit: limit, charged: already} }

// reserve takes one call from the budget, false when it would exceed it.
func (b *budget) reserve() bool {
	if b.limit < 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.charged+b.flight+1 > b.limit {
		return false
	}
	b.flight++
	return true
}

// release ends a reserved call, charged or not.
func (b *budget) release(charged bool) {
	if b.limit < 0 {
		return
	}
	b.mu.Lock()
	b.flight--
	if charged {
		b.charged++
	}
	b.mu.Unlock()
}

package pipeline

import (
	"context"
	"math"
	"sync"
	"time"
)

// gate bounds the workers that are waiting for a rate token or have a call
// in flight to what the rate needs by Little's law: rate × observed latency,
// doubled for headroom, plus two; never more than the configured maximum,
// never fewer than two. A slow API raises the bound (the rate is not
// starved); a fast one lowers it (no crowd of workers holding reservations
// at a rate that a 429 has just cut). The latency is an exponentially
// weighted mean of the calls' latencies.
type gate struct {
	rate func() float64 // the current rate
	max  int

	mu     sync.Mutex
	held   int
	limit  int
	ewma   float64 // seconds
	notify chan struct{}
}

const ewmaWeight = 0.1

func newGate(rate func() float64, max int) *gate {
	return &gate{rate: rate, max: max, limit: max, notify: make(chan struct{})}
}

// acquire waits for a place; it returns ctx's error if ctx ends first.
func (g *gate) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.held < g.limit {
			g.held++
			g.mu.Unlock()
			return nil
		}
		ch := g.notify
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release gives the place back; latency > 0 updates the estimate.
func (g *gate) release(latency time.Duration) {
	g.mu.Lock()
	g.held--
	if latency > 0 {
		if g.ewma == 0 {
			g.ewma = latency.Seconds()
		} else {
			g.ewma += ewmaWeight * (latency.Seconds() - g.ewma)
		}
		need := int(math.Ceil(g.rate()*g.ewma*2)) + 2
		g.limit = min(max(need, 2), g.max)
	}
	close(g.notify)
	g.notify = make(chan struct{})
	g.mu.Unlock()
}

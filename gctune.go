package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcHeapGoal is the heap size `run` lets the garbage collector grow to
// before it collects, while the live heap is small: a run allocates a few
// kilobytes per card and keeps little, so collecting at twice a small live
// heap (Go's default, GOGC=100) spends CPU for nothing. The goal keeps a
// million-row run's peak RSS where it is with the default.
const gcHeapGoal = 64 << 20

// tuneGC raises GOGC while the live heap is small, so that the heap may
// grow to about gcHeapGoal between collections, and never sets it below
// Go's default: with a live heap past the goal (very large inputs) the
// collector behaves as it would untuned. It does nothing when the user set
// GOGC or GOMEMLIMIT. It adjusts every 100 ms until ctx ends, then restores
// the setting it found.
func tuneGC(ctx context.Context, getenv func(string) string) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() {
		metrics.Read(sample)
		live := uint64(0)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		debug.SetGCPercent(gcPercentFor(live))
	}
	old := debug.SetGCPercent(gcPercentFor(0))
	go func() {
		defer debug.SetGCPercent(old)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				set()
			}
		}
	}()
}

// gcPercentFor returns the GOGC that lets a live heap of live bytes grow
// to gcHeapGoal, between Go's default (100) and 400.
func gcPercentFor(live uint64) int {
	if live < 4<<20 {
		live = 4 << 20 // the runtime's own minimum heap
	}
	p := int((gcHeapGoal - int64(live)) * 100 / int64(live))
	return min(max(p, 100), 400)
}

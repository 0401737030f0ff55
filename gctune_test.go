package main

import (
	"context"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 400}, {8 << 20, 400}, {12 << 20, 400}, {16 << 20, 300}, {32 << 20, 100}, {48 << 20, 100}, {1 << 30, 100},
	} {
		if got := gcPercentFor(tc.live); got != tc.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// TestTuneGCLeavesUserSettings: GOGC or GOMEMLIMIT set by the user wins; a
// tuning ends with the setting it found.
func TestTuneGCLeavesUserSettings(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		ctx, cancel := context.WithCancel(context.Background())
		tuneGC(ctx, func(k string) string {
			if k == env {
				return "50"
			}
			return ""
		})
		if got := debug.SetGCPercent(100); got != 100 {
			t.Errorf("with %s set, GOGC became %d", env, got)
		}
		cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	tuneGC(ctx, func(string) string { return "" })
	if got := debug.SetGCPercent(-2); got != 400 { // -2: read without a lasting change below
		t.Errorf("tuned GOGC %d, want 400 for a small heap", got)
	}
	debug.SetGCPercent(400)
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if p := debug.SetGCPercent(100); p == 100 {
			return
		} else {
			debug.SetGCPercent(p)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("GOGC not restored after the run")
}

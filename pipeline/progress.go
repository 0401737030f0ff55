package pipeline

import (
	"sync/atomic"
	"time"
)

// Progress is a snapshot of a run's counters for display.
type Progress struct {
	Total   int64 // data rows, -1 when not known up front
	Done    int64 // rows with a settled state in this attempt plus rows final before it
	Calls   int64 // API calls sent by this attempt
	Charged int64 // charged calls, all attempts
	Elapsed time.Duration
	Final   bool // the last snapshot of the attempt
}

// Reporter displays progress. Update is called from one goroutine, about
// four times a second and once more with Final set; it must not block long.
type Reporter interface {
	Update(p Progress)
}

// Stats are the counters the workers bump: atomics only, no locks and no
// display code in the hot path.
type Stats struct {
	total, read, finished, doneBefore, calls, charged atomic.Int64
	latency                                           atomic.Int64 // summed call latency, ns
	start                                             time.Time
}

func (s *Stats) snapshot(final bool) Progress {
	return Progress{Total: s.total.Load(), Done: s.finished.Load() + s.doneBefore.Load(),
		Calls: s.calls.Load(), Charged: s.charged.Load(), Elapsed: time.Since(s.start), Final: final}
}

// startProgress runs the reporter until the returned function is called.
func (r *runner) startProgress() (stop func()) {
	rep := r.cfg.Progress
	if rep == nil {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				rep.Update(r.stats.snapshot(false))
			case <-quit:
				rep.Update(r.stats.snapshot(true))
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}

package pipeline

import (
	"context"
	"sync/atomic"
	"time"

	"cardbatch/billing"
	"cardbatch/cardapi"
)

// Progress is a snapshot of a run's counters for display.
type Progress struct {
	Total   int64 // data rows, -1 when not known yet
	Done    int64 // rows settled in this attempt plus rows final before it
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

// Stats are the counters the stages bump: atomics only, no locks and no
// display code in the hot path.
type Stats struct {
	total, read, finished, before, calls, charged atomic.Int64
	start                                         time.Time
}

// countCall counts one call that was sent (or may have been).
func (s *Stats) countCall(o cardapi.Outcome) {
	if o.Billing == billing.None {
		return // never sent
	}
	s.calls.Add(1)
	if o.Kind == cardapi.KindAnswer && o.Billing.CountsAsCharged() {
		s.charged.Add(1)
	}
}

func (s *Stats) snapshot(final bool) Progress {
	return Progress{Total: s.total.Load(), Done: s.finished.Load() + s.before.Load(),
		Calls: s.calls.Load(), Charged: s.charged.Load(), Elapsed: time.Since(s.start), Final: final}
}

// report runs rep until ctx ends, then gives it the final snapshot.
func report(ctx context.Context, rep Reporter, st *Stats) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			rep.Update(st.snapshot(false))
		case <-ctx.Done():
			rep.Update(st.snapshot(true))
			return
		}
	}
}

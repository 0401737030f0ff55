package pipeline

import (
	"context"
	"fmt"
	"os"

	"cardbatch/checkpoint"
)

// attemptOutput is what an attempt leaves for finish: the output to commit
// (nil when none is to be written) and the rows it holds.
type attemptOutput struct {
	sink       Sink
	tally      *checkpoint.Tally
	stopReason Outcome
}

// runAttempt runs the pipeline for one attempt. It sets res.Outcome when the
// attempt ends without an output to write (interrupted, fatal, nothing to
// do); otherwise finish decides it from the rows written.
func runAttempt(ctx context.Context, cfg *Config, attempt int, recorded string, res *Result) (*attemptOutput, error) {
	done, err := cfg.Store.Done(ctx)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if upToDate, err := nothingToDo(ctx, cfg, done); err != nil || upToDate {
		res.Outcome = Finished
		return &attemptOutput{}, err
	}
	prior, err := cfg.Store.Calls(ctx)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	w, err := cfg.Store.NewWriter(ctx, attempt)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	r := newRunner(cfg, checkpointRecorder{w}, prior.ChargedCalls+prior.InDoubt)
	out, err := r.attempt(ctx, done, recorded)
	if werr := w.Close(); err == nil && werr != nil {
		err = fmt.Errorf("checkpoint: %w", werr)
	}
	if err != nil && out != nil && out.sink != nil {
		out.sink.Abort()
	}
	if err != nil {
		return nil, err
	}
	return settleOutcome(ctx, r, out, res), nil
}

// attempt opens the input and the output and runs the stages.
func (r *runner) attempt(ctx context.Context, done *checkpoint.Bitset, recorded string) (*attemptOutput, error) {
	cfg := r.cfg
	src := cfg.Source
	sink, err := cfg.CreateSink()
	if err != nil {
		return nil, err
	}
	// Counted after the sink is made: an XLSX sink that keeps the workbook
	// reads the card sheet once, and the two would share the cores.
	stopCount, err := r.countTotal(ctx, src)
	if err != nil {
		sink.Abort()
		return nil, err
	}
	defer stopCount()
	out := &attemptOutput{sink: sink}
	var prior *priorRows
	if done.Len() > 0 {
		prior = openPrior(ctx, cfg.Store, done)
		defer prior.close()
	}
	p := newPreparer(r, done, r.cacheLookups(ctx))
	c, err := r.execute(ctx, src, sink, p, prior, func(ctx context.Context) error {
		return checkInput(ctx, cfg, recorded)
	})
	r.flushCache(ctx)
	if err != nil {
		return out, err
	}
	out.tally, out.stopReason = c.tally, r.stopReason()
	if r.readAll.Load() && out.stopReason != Interrupted && out.stopReason != Fatal && ctx.Err() == nil {
		return out, cfg.Store.SetTotalRows(ctx, c.rows)
	}
	return out, nil
}

// countTotal records the input's row count, for the progress and for
// status, as soon as it is known: at once when the source can tell, else
// from a counting pass beside the run (the end of the input sets it again).
func (r *runner) countTotal(ctx context.Context, src Source) (stop func(), err error) {
	cfg := r.cfg
	r.stats.total.Store(int64(src.TotalHint()))
	if n := src.TotalHint(); n >= 0 {
		if err := cfg.Store.SetTotalRows(ctx, n); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		return func() {}, nil
	}
	cctx, cancel := context.WithCancel(ctx)
	if cfg.CountRows != nil {
		go func() {
			if n, err := cfg.CountRows(cctx); err == nil && r.stats.total.CompareAndSwap(-1, int64(n)) {
				_ = cfg.Store.SetTotalRows(cctx, n) // status shows "unknown" until the end instead
			}
		}()
	}
	return cancel, nil
}

// settleOutcome decides how an attempt that ran the stages ended: an output
// to commit, or none (interrupted, fatal: an earlier output stays as it was).
func settleOutcome(ctx context.Context, r *runner, out *attemptOutput, res *Result) *attemptOutput {
	switch {
	case out.stopReason == Fatal:
		res.Outcome, res.Fatal = Fatal, r.fatal
	case ctx.Err() != nil || out.stopReason == Interrupted || !r.readAll.Load():
		res.Outcome = Interrupted
	default:
		return out
	}
	out.sink.Abort()
	return &attemptOutput{}
}

// nothingToDo reports whether every row is final and the output is as last
// written: such a run sends nothing and reads nothing.
func nothingToDo(ctx context.Context, cfg *Config, done *checkpoint.Bitset) (bool, error) {
	run, err := cfg.Store.LoadRun(ctx)
	if err != nil || run == nil || run.TotalRows < 0 || done.Len() != run.TotalRows {
		return false, err
	}
	stamp, err := cfg.Store.Meta(ctx, outputStampKey)
	if err != nil || stamp == "" || stamp != cfg.outputStamp() {
		return false, err
	}
	cfg.Logger.Info("every row was already answered and the output is as last written: nothing to do", "output", cfg.OutputPath)
	return true, nil
}

// cacheLookups reports whether cards are looked up in the answer cache. A
// cache that is empty now can only come to hold this run's own answers
// (and those of runs sharing it concurrently), for cards it has seen.
func (r *runner) cacheLookups(ctx context.Context) bool {
	if r.cfg.Cache == nil {
		return false
	}
	empty, err := r.cfg.Cache.Empty(ctx)
	if err != nil {
		r.cfg.Logger.Warn("answer cache unreadable; sending the calls", "error", err)
		return false
	}
	return !empty
}

// flushCache makes the answers this attempt stored visible to other runs.
func (r *runner) flushCache(ctx context.Context) {
	if r.cfg.Cache == nil {
		return
	}
	if err := r.cfg.Cache.Flush(context.WithoutCancel(ctx)); err != nil {
		r.cfg.Logger.Warn("could not save answers to the cache", "error", err)
	}
}

// unsettled counts the rows without a final answer: failed, busy or skipped.
func unsettled(t *checkpoint.Tally) int {
	n := 0
	for st, c := range t.ByState {
		if !st.Final() {
			n += c
		}
	}
	return n
}

const outputStampKey = "output_stamp"

// outputStamp identifies the output file as written (path, size, time) and
// what it was written with; "" when there is none.
func (c *Config) outputStamp() string {
	if c.OutputPath == "" {
		return ""
	}
	st, err := os.Stat(c.OutputPath)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s|%d|%d|mask=%v|price=%g", c.OutputPath, st.Size(), st.ModTime().UnixNano(), c.MaskOutput, c.Price)
}

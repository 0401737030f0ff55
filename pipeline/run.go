package pipeline

import (
	"cardbatch/cardnum"
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// runner holds the state of one attempt (or of a dry run).
type runner struct {
	cfg    *Config
	rec    recorder
	pacer  *Pacer
	budget *budget
	stats  *Stats
	pool   *pool // the workers' rows (claim.go)

	// dctx ends when dispatch stops (a fatal answer, the budget, a graceful
	// stop, or the run's end); calls in flight finish unless ctx ends.
	dctx           context.Context
	cancelDispatch context.CancelFunc
	stopOnce       sync.Once
	reason         atomic.Value // Outcome
	fatalMu        sync.Mutex
	fatal          *FatalError
	readAll        atomic.Bool // the input was read to its end
}

func newRunner(cfg *Config, rec recorder, already int64) *runner {
	p := NewPacer(cfg.Rate, cfg.Burst)
	p.RetryBase, p.RetryMax = cfg.RetryBase, cfg.RetryMax
	return &runner{cfg: cfg, rec: rec, pacer: p, budget: newBudget(cfg.MaxCharged, already),
		stats: &Stats{start: time.Now()}}
}

// stop ends dispatch for reason; the first reason wins.
func (r *runner) stop(reason Outcome) {
	r.stopOnce.Do(func() {
		r.reason.Store(reason)
		r.cancelDispatch()
	})
}

func (r *runner) stopped() bool { return r.dctx.Err() != nil }

// stopReason is why dispatch stopped, "" when it did not.
func (r *runner) stopReason() Outcome {
	v, _ := r.reason.Load().(Outcome)
	return v
}

func (r *runner) budgetStopped() bool { return r.stopReason() == Budget }

// finishesOutput reports whether a stopped run still writes its output
// (rows not sent are then skipped): only a stop at the budget does.
func (r *runner) finishesOutput() bool { return r.budgetStopped() }

// fail records the API's fatal answer and stops dispatch.
func (r *runner) fail(f *FatalError) {
	r.fatalMu.Lock()
	if r.fatal == nil {
		r.fatal = f
	}
	r.fatalMu.Unlock()
	r.stop(Fatal)
}

// execute runs the stages over src into sink until the input ends, the run
// stops, or a stage fails; prior holds the rows answered before. It returns
// the collector (what was written) and the first stage error.
func (r *runner) execute(ctx context.Context, src Source, sink Sink, p *preparer, prior *priorRows, extra func(context.Context) error) (*collector, error) {
	g, gctx := errgroup.WithContext(ctx)
	r.dctx, r.cancelDispatch = context.WithCancel(gctx)
	defer r.cancelDispatch()
	r.pacer.WatchOutages(r.dctx, r.cfg.MaxWait, r.cfg.Logger, r.fail)
	rctx, stopRead := context.WithCancel(gctx)
	defer stopRead()
	if r.cfg.Stop != nil {
		go func() {
			select {
			case <-r.cfg.Stop:
				r.stop(Interrupted)
			case <-r.dctx.Done():
			}
		}()
	}
	rows := make(chan *item, 64)
	ordered := make(chan *item, outputWindow)
	r.pool = newPool(r.cfg.Concurrency, gctx.Done())
	jobs := r.pool.jobs
	c := newCollector(r.rec, sink, prior, r.stats)
	g.Go(guard("read", func() error { return r.read(rctx, src, rows) }))
	g.Go(guard("prepare", func() error { return p.run(gctx, rows, ordered, jobs, stopRead) }))
	// Calls in flight finish even when a stage fails (they are recorded, not
	// left in doubt); only ctx, a hard stop, ends them.
	for i := range r.cfg.Concurrency {
		g.Go(guard("call", func() error { return r.work(ctx, i, jobs) }))
	}
	g.Go(guard("collect", func() error { return c.run(gctx, ordered) }))
	g.Go(guard("defer", func() error { return r.deferrer(gctx) }))
	if extra != nil {
		g.Go(guard("check input", func() error { return extra(gctx) }))
	}
	if r.cfg.Progress != nil {
		pctx, stopProgress := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { defer close(done); report(pctx, r.cfg.Progress, r.stats) }()
		defer func() { stopProgress(); <-done }()
	}
	return c, g.Wait()
}

// outputWindow is how many rows may wait, in input order, for an earlier
// row's call to settle before reading pauses.
const outputWindow = 8192

// read runs the read stage and notes whether it reached the input's end.
func (r *runner) read(ctx context.Context, src Source, out chan<- *item) error {
	err := read(ctx, src, out, r.stats)
	if err == nil && ctx.Err() == nil {
		r.readAll.Store(true)
	}
	return err
}

// PanicError is a panic inside a stage of the run, turned into a fatal
// error. Its text has every card-like number masked.
type PanicError struct {
	Stage string
	Value string
	Stack string
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error in the %s stage: %s (the checkpoint is saved; please report this with the stack below)\n%s",
		e.Stage, e.Value, e.Stack)
}

// guard runs a stage, turning a panic into a *PanicError.
func guard(stage string, fn func() error) func() error {
	return func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = &PanicError{Stage: stage, Value: cardnum.Scrub(fmt.Sprint(p)), Stack: cardnum.Scrub(string(debug.Stack()))}
			}
		}()
		return fn()
	}
}

// Run enriches the input. It returns a Result for every run that got as far
// as the checkpoint (whatever its outcome) and an error for what prevented
// that: a UsageError (exit 2), a *sources.InputError (exit 2) or an I/O or
// database error (exit 1).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	recorded, err := prepareRun(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	attempt, inDoubt, err := cfg.Store.BeginAttempt(ctx, cfg.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if inDoubt > 0 {
		cfg.Logger.Warn("an earlier run died with calls in flight: they may have been charged and will be re-sent",
			"in_doubt", inDoubt)
	}
	res := &Result{InDoubtRecovered: inDoubt}
	end := context.WithoutCancel(ctx)
	out, err := runAttempt(ctx, &cfg, attempt, recorded, res)
	if err == nil {
		err = finish(end, &cfg, attempt, res, out)
	}
	if err != nil {
		_ = cfg.Store.EndAttempt(end, attempt, "error")
		return nil, err
	}
	return res, nil
}

// finish closes the attempt, computes the summary over every attempt, and
// commits the output with it (so the output's summary shows this attempt
// ended); it decides the outcome of a run that wrote its output.
func finish(ctx context.Context, cfg *Config, attempt int, res *Result, out *attemptOutput) error {
	var err error
	if res.Outcome == "" { // the output was written: its rows decide
		if res.Outcome = Finished; out.stopReason == Budget {
			res.Outcome = Budget
		} else if unsettled(out.tally) > 0 {
			res.Outcome = FailedRows
		}
	}
	if err := cfg.Store.EndAttempt(ctx, attempt, string(res.Outcome)); err != nil {
		return err
	}
	if out.tally != nil {
		res.Summary, err = cfg.Store.SummaryFrom(ctx, out.tally)
	} else {
		res.Summary, err = cfg.Store.Summary(ctx)
	}
	if err != nil {
		return err
	}
	res.Summary = cfg.decorate(res.Summary)
	if out.sink != nil {
		if err := out.sink.Commit(res.Summary); err != nil {
			return fmt.Errorf("write the output: %w", err)
		}
		res.OutputWritten = true
		if err := cfg.Store.SetMeta(ctx, outputStampKey, cfg.outputStamp()); err != nil {
			return err
		}
	}
	if res.Outcome == Finished {
		now := time.Now()
		return cfg.Store.SetFinished(ctx, &now)
	}
	return nil
}

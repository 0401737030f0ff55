package pipeline

import (
	"context"
	"sync/atomic"
	"time"

	"cardbatch/billing"
	"cardbatch/cache"
	"cardbatch/cardapi"
	"cardbatch/checkpoint"
	"cardbatch/sinks"
	"cardbatch/sources"
)

// Estimate is what a run would do, computed without sending anything.
type Estimate struct {
	Rows        int           `json:"rows"`
	Invalid     int           `json:"invalid"`
	Duplicates  int           `json:"duplicates"`
	AlreadyDone int           `json:"already_done"` // distinct cards the checkpoint already answered
	CacheHits   int           `json:"cache_hits"`
	Calls       int           `json:"calls_to_send"` // one per distinct, valid card not answered yet (retries not counted)
	MaxCharged  int           `json:"max_charged_calls"`
	Duration    time.Duration `json:"-"`
	Seconds     float64       `json:"estimated_seconds"` // Calls ÷ rate; 0 when the rate is unlimited
	Price       float64       `json:"price,omitempty"`
	Cost        float64       `json:"estimated_cost,omitempty"` // MaxCharged × Price
	Note        string        `json:"note,omitempty"`
}

// DryRun is the run's own pipeline with a caller that sends nothing, a
// checkpoint that keeps nothing and no output: it reads and validates the
// whole input, dedupes it, consults the checkpoint (when Store holds a run
// of the same input and settings) and the answer cache, and counts the
// calls a run would make.
func DryRun(ctx context.Context, cfg Config, price float64) (*Estimate, error) {
	cfg.defaults()
	rate := cfg.Rate
	caller := &dryCaller{}
	cfg.Caller, cfg.Rate, cfg.MaxCharged, cfg.Progress, cfg.Stop = caller, 0, -1, nil, nil
	if cfg.Cache != nil {
		cfg.Cache = readOnlyCache{cfg.Cache}
	}
	est := &Estimate{Price: price}
	done, note, err := dryRunDone(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	est.Note = note
	r := newRunner(&cfg, nopRecorder{}, 0)
	src := cfg.Source
	var prior *priorRows
	if done.Len() > 0 {
		prior = openPrior(ctx, cfg.Store, done)
		defer prior.close()
	}
	c, err := r.execute(ctx, src, nopSink{}, newPreparer(r, done, r.cacheLookups(ctx)), prior, nil)
	if err != nil {
		return nil, err
	}
	t := c.tally.ByState
	est.Rows, est.Invalid, est.Duplicates = c.rows, t[checkpoint.Invalid], t[checkpoint.Duplicate]
	est.AlreadyDone, est.CacheHits = int(r.stats.before.Load()), t[checkpoint.Cached]
	est.Calls = int(caller.calls.Load())
	est.MaxCharged = est.Calls
	if rate > 0 {
		est.Duration = time.Duration(float64(est.Calls) / rate * float64(time.Second))
		est.Seconds = est.Duration.Seconds()
	}
	est.Cost = float64(est.MaxCharged) * price
	return est, nil
}

// dryRunDone returns the rows the checkpoint already answered, when it
// holds a run of this input and these settings.
func dryRunDone(ctx context.Context, cfg *Config) (*checkpoint.Bitset, string, error) {
	if cfg.Store == nil {
		return nil, "", nil
	}
	run, err := cfg.Store.LoadRun(ctx)
	if err != nil || run == nil {
		return nil, "", err
	}
	fp, err := QuickFingerprint(cfg.InputPath)
	if err != nil {
		return nil, "", err
	}
	if sameRun(ctx, cfg, run, fp) != nil {
		return nil, "the checkpoint holds a run over another input or settings: a run would need --restart", nil
	}
	done, err := cfg.Store.Done(ctx)
	return done, "", err
}

// dryCaller sends nothing; it counts the calls a run would make.
type dryCaller struct{ calls atomic.Int64 }

func (d *dryCaller) Check(context.Context, string) cardapi.Outcome {
	d.calls.Add(1)
	return cardapi.Outcome{Kind: cardapi.KindAnswer, Billing: billing.None}
}

// readOnlyCache is a cache that is looked up but keeps nothing.
type readOnlyCache struct{ AnswerCache }

func (readOnlyCache) Put(context.Context, cache.Entry) error { return nil }
func (readOnlyCache) Flush(context.Context) error            { return nil }

// Acquire takes no claim: a dry run calls nobody.
func (readOnlyCache) Acquire(context.Context, []byte, time.Duration, time.Duration) (cache.Claim, error) {
	return cache.Claim{}, nil
}
func (readOnlyCache) Release(context.Context, []byte) error { return nil }

// nopSink writes nothing.
type nopSink struct{}

func (nopSink) Write(sources.Row, sinks.Answer) error { return nil }
func (nopSink) Commit(*billing.Summary) error         { return nil }
func (nopSink) Abort() error                          { return nil }

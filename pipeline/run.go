package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"cardbatch/billing"
	"cardbatch/cache"
	"cardbatch/cardapi"
	"cardbatch/cardnum"
	"cardbatch/checkpoint"
	"cardbatch/internal/cardkey"
	"cardbatch/sources"
)

// Fingerprint identifies an input file's content.
type Fingerprint struct {
	Size    int64
	ModTime time.Time
	Hash    string // hex SHA-256
}

// FingerprintFile reads the whole file once to hash it.
func FingerprintFile(path string) (Fingerprint, error) {
	f, err := os.Open(path)
	if err != nil {
		return Fingerprint{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Fingerprint{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Fingerprint{}, fmt.Errorf("read %s: %w", path, err)
	}
	return Fingerprint{Size: st.Size(), ModTime: st.ModTime(), Hash: hex.EncodeToString(h.Sum(nil))}, nil
}

// SettingsJSON renders settings deterministically, with their hash.
func SettingsJSON(settings map[string]string) (string, string) {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ordered := make([][2]string, 0, len(keys))
	for _, k := range keys {
		ordered = append(ordered, [2]string{k, settings[k]})
	}
	b, _ := json.Marshal(ordered)
	sum := sha256.Sum256(b)
	return string(b), hex.EncodeToString(sum[:8])
}

// prepareRun matches the checkpoint's run to this input and these settings:
// same -> resume; none or --restart -> start a new run; different -> a
// UsageError that says what changed and how to start over.
func prepareRun(ctx context.Context, cfg *Config) error {
	fp, err := FingerprintFile(cfg.InputPath)
	if err != nil {
		return &UsageError{Msg: fmt.Sprintf("cannot read %s: %v", cfg.InputPath, err)}
	}
	settings, settingsHash := SettingsJSON(cfg.Settings)
	keyCheck := cardkey.KeyCheck(cfg.Key)
	run, err := cfg.Store.LoadRun(ctx)
	if err != nil {
		return err
	}
	if run != nil && !cfg.Restart {
		switch {
		case run.InputHash != fp.Hash:
			return &UsageError{Msg: fmt.Sprintf("the checkpoint %s belongs to a run over a different input "+
				"(%s, %d bytes, modified %s); %s has changed since (%d bytes, modified %s). "+
				"Use the original file to resume, another --checkpoint, or --restart to start over (rows already paid for will be sent again)",
				cfg.Store.Path(), run.InputPath, run.InputSize, run.InputModTime.Format(time.RFC3339),
				cfg.InputPath, fp.Size, fp.ModTime.Format(time.RFC3339))}
		case run.SettingsHash != settingsHash:
			return &UsageError{Msg: fmt.Sprintf("the checkpoint %s was made with other settings (%s; now %s). "+
				"Run with the same settings to resume, or --restart to start over", cfg.Store.Path(), run.Settings, settings)}
		case run.KeyCheck != keyCheck:
			return &UsageError{Msg: fmt.Sprintf("the checkpoint %s was made with another row key (%s or $%s): "+
				"restore that key to resume, or --restart to start over", cfg.Store.Path(),
				checkpoint.KeyPath(cfg.Store.Path()), cardkey.KeyEnv)}
		}
		if run.InputPath != cfg.InputPath || !run.InputModTime.Equal(fp.ModTime) {
			if err := cfg.Store.UpdateInput(ctx, cfg.InputPath, fp.ModTime); err != nil {
				return err
			}
		}
		cfg.Logger.Info("resuming run from checkpoint", "checkpoint", cfg.Store.Path(), "started", run.CreatedAt.Format(time.RFC3339))
		return nil
	}
	if run != nil {
		cfg.Logger.Warn("--restart: discarding the checkpoint's earlier run", "checkpoint", cfg.Store.Path())
	}
	return cfg.Store.StartRun(ctx, checkpoint.Run{InputPath: cfg.InputPath, InputSize: fp.Size,
		InputModTime: fp.ModTime, InputHash: fp.Hash, Settings: settings, SettingsHash: settingsHash,
		KeyCheck: keyCheck, TotalRows: -1})
}

const outputStampKey = "output_stamp"

// RunningPIDKey names the checkpoint meta value that holds the process id
// of the run in progress ("" when none).
const RunningPIDKey = "running_pid"

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

// emptySource is the input of a run with nothing left to send.
type emptySource struct{}

func (emptySource) Header() []string                          { return nil }
func (emptySource) CardColumn() int                           { return 0 }
func (emptySource) TotalHint() int                            { return 0 }
func (emptySource) Next(context.Context) (sources.Row, error) { return sources.Row{}, io.EOF }
func (emptySource) Close() error                              { return nil }

// cacheBatch is how many cards are looked up in the answer cache at once.
const cacheBatch = cache.GetManyBatch

// job is one distinct card to send.
type job struct {
	idx      int
	card     string
	mac      []byte // row key in the checkpoint
	cacheMAC []byte // key in the answer cache (nil when the cache is off)
}

// runner holds the state of one attempt.
type runner struct {
	cfg    *Config
	w      *checkpoint.Writer
	pacer  *Pacer
	gate   *gate // nil when the rate is unlimited
	budget *budget
	stats  *Stats

	// dctx ends when dispatch stops (fatal answer, budget, graceful stop,
	// or the run's ctx); calls in flight use the run's ctx and finish.
	dctx           context.Context
	cancelDispatch context.CancelFunc
	stopOnce       sync.Once
	stopReason     atomic.Value // Outcome
	fatalMu        sync.Mutex
	fatal          *FatalError
	res            *Result
	live           *liveOutput // the output written as rows settle; nil if not used
}

func (r *runner) stop(reason Outcome) {
	r.stopOnce.Do(func() {
		// Rows left unsent: the output is the final pass's.
		r.live.abandon()
		r.stopReason.Store(reason)
		r.cancelDispatch()
	})
}

func (r *runner) stopped() bool { return r.dctx.Err() != nil }

// recordRow queues rec through the worker's journal slot sl (nil: directly)
// and, when it is the row's last record of the attempt, hands it to the
// live output.
func (r *runner) recordRow(sl *checkpoint.Slot, rec checkpoint.RowRecord, call *checkpoint.CallRecord) error {
	var err error
	if sl != nil {
		err = sl.Record(rec, call)
	} else {
		err = r.w.Record(rec, call)
	}
	if err == nil && settles(rec.State) {
		r.live.settle(&rec)
	}
	return err
}

// Run enriches the input. It returns a Result for every run that got as far
// as the checkpoint (whatever its outcome) and an error for what prevented
// that: a UsageError (exit 2), a *sources.InputError (exit 2) or an I/O or
// database error (exit 1).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	if err := prepareRun(ctx, &cfg); err != nil {
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
	// Tell `status` which process runs this attempt (cleared when it ends;
	// a killed run leaves a pid that is no longer alive).
	if err := cfg.Store.SetMeta(ctx, RunningPIDKey, strconv.Itoa(os.Getpid())); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	defer cfg.Store.SetMeta(context.WithoutCancel(ctx), RunningPIDKey, "")
	res := &Result{InDoubtRecovered: inDoubt}
	// The answers are stored in the cache while the rest of the run's end
	// (output, summaries) goes on; Run returns once they are.
	defer func() {
		if res.cacheFlushed != nil {
			<-res.cacheFlushed
		}
	}()
	outcome, err := runAttempt(ctx, &cfg, attempt, res)
	if err != nil {
		// Record what we can; the checkpoint stays consistent either way.
		_ = cfg.Store.EndAttempt(context.WithoutCancel(ctx), attempt, "error")
		return nil, err
	}
	res.Outcome = outcome
	if err := cfg.Store.EndAttempt(context.WithoutCancel(ctx), attempt, string(outcome)); err != nil {
		return nil, err
	}
	var sum *billing.Summary
	if res.tally != nil {
		sum, err = cfg.Store.SummaryFrom(context.WithoutCancel(ctx), res.tally)
	} else {
		sum, err = cfg.Store.Summary(context.WithoutCancel(ctx))
	}
	if err != nil {
		return nil, err
	}
	res.Summary = cfg.decorate(sum)
	return res, nil
}

func runAttempt(ctx context.Context, cfg *Config, attempt int, res *Result) (Outcome, error) {
	done, err := cfg.Store.Done(ctx)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	prior, err := cfg.Store.Calls(ctx)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	w, err := cfg.Store.NewWriter(ctx, attempt)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	r := &runner{cfg: cfg, w: w, pacer: NewPacer(cfg.Rate, cfg.Burst),
		budget: newBudget(cfg.MaxCharged, prior.ChargedCalls+prior.InDoubt),
		stats:  &Stats{}, res: res}
	if cfg.Rate > 0 {
		r.gate = newGate(r.pacer.Rate, cfg.Concurrency)
	}
	r.dctx, r.cancelDispatch = context.WithCancel(ctx)
	defer r.cancelDispatch()
	r.stats.doneBefore.Store(int64(done.Len()))
	r.stats.charged.Store(prior.ChargedCalls)
	r.stats.start = time.Now()

	// A run whose every row is final sends nothing: it does not read the
	// input, and rewrites the output only if it is not as last written.
	run, err := cfg.Store.LoadRun(ctx)
	if err != nil {
		w.Close()
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	allDone := run != nil && run.TotalRows >= 0 && done.Len() == run.TotalRows
	var src Source = emptySource{}
	if !allDone {
		if src, err = cfg.OpenSource(ctx); err != nil {
			w.Close()
			return "", err
		}
		r.stats.total.Store(int64(src.TotalHint()))
	} else {
		r.stats.total.Store(int64(run.TotalRows))
	}
	stopProgress := r.startProgress()

	// A graceful stop (first SIGINT) stops dispatch; ctx ends everything.
	watchDone := make(chan struct{})
	go func() {
		select {
		case <-cfg.Stop:
			r.stop(Interrupted)
		case <-ctx.Done():
			r.stop(Interrupted)
		case <-watchDone:
		}
	}()

	var readBusy time.Duration
	var readErr error
	liveUsed := false
	if !allDone {
		if done.Len() == 0 {
			// Every row gets its record in this attempt: the output can be
			// written as they settle.
			r.live = startLiveOutput(ctx, cfg)
		}
		readBusy, readErr = r.dispatch(ctx, src, done)
	}
	defer func() {
		if !liveUsed {
			r.live.discard()
		}
	}()
	close(watchDone)
	src.Close()
	werr := w.Close()
	stopProgress()
	res.Timings.Read = readBusy
	res.Timings.Checkpoint, res.Timings.Commits = w.Busy()
	res.Timings.HTTP = time.Duration(r.stats.latency.Load() / int64(cfg.Concurrency))
	defer func() { res.Timings.Total = time.Since(r.stats.start) }()
	if werr != nil {
		return "", werr
	}
	if readErr != nil {
		return "", readErr
	}
	if ctx.Err() != nil {
		return Interrupted, nil
	}
	if v := r.stopReason.Load(); v != nil {
		switch v.(Outcome) {
		case Interrupted:
			return Interrupted, nil
		case Fatal:
			res.Fatal = r.fatal
			return Fatal, nil
		}
	}
	// Finished dispatching (or stopped at the budget): write the output.
	t0 := time.Now()
	var tally *checkpoint.Tally // of the output written now; nil if none
	var outErr error
	if r.live != nil && r.stopReason.Load() == nil {
		tally, outErr = r.commitLive(ctx)
		liveUsed = tally != nil
	}
	switch {
	case outErr != nil:
	case liveUsed:
		cfg.Logger.Debug("output written as the rows settled")
	case !allDone:
		tally, outErr = writeOutput(ctx, cfg)
	default:
		if stamp, err := cfg.Store.Meta(ctx, outputStampKey); err != nil || stamp == "" || stamp != cfg.outputStamp() {
			tally, outErr = writeOutput(ctx, cfg)
		} else {
			cfg.Logger.Info("every row was already answered and the output is as last written: nothing to do", "output", cfg.OutputPath)
		}
	}
	if outErr != nil {
		return "", outErr
	}
	if tally != nil {
		res.tally = tally
		res.OutputWritten, res.OutputLive = true, liveUsed
		if err := cfg.Store.SetMeta(ctx, outputStampKey, cfg.outputStamp()); err != nil {
			return "", err
		}
	}
	res.Timings.Output = time.Since(t0)
	if res.tally == nil {
		if res.tally, err = cfg.Store.Tally(ctx); err != nil {
			return "", err
		}
	}
	sum, err := cfg.Store.SummaryFrom(ctx, res.tally)
	if err != nil {
		return "", err
	}
	if v := r.stopReason.Load(); v != nil && v.(Outcome) == Budget {
		return Budget, nil
	}
	if sum.Failed > 0 || sum.Skipped > 0 {
		return FailedRows, nil
	}
	now := time.Now()
	if err := cfg.Store.SetFinished(ctx, &now); err != nil {
		return "", err
	}
	return Finished, nil
}

// dispatch reads the input, records rows that need no call, and hands each
// distinct card that is not done yet to the bounded pool. It returns the
// first fatal error (input, checkpoint); API fatals stop it through r.stop.
func (r *runner) dispatch(ctx context.Context, src Source, done *checkpoint.Bitset) (busy time.Duration, err error) {
	cfg := r.cfg
	hasher := cardkey.NewHasher(cfg.Key)
	var cacheHasher *cardkey.Hasher
	if cfg.Cache != nil {
		cacheHasher = cardkey.NewHasher(cfg.Cache.Key())
	}
	// lookup: whether cards are looked up in the cache. A cache that is
	// empty now can only come to hold this run's own answers (and those of
	// runs sharing it concurrently): this run's are for cards it has already
	// seen, so there is nothing to look up.
	lookup := cfg.Cache != nil
	if lookup {
		if empty, err := cfg.Cache.Empty(ctx); err != nil {
			cfg.Logger.Warn("answer cache unreadable; sending the calls", "error", err)
			lookup = false
		} else if empty {
			lookup = false
			cfg.Logger.Debug("answer cache is empty: no lookups this run")
		}
	}
	seen := make(map[uint64]int32, 1024)
	// busy is the dispatcher's own time: everything but waiting for a free
	// worker (submit blocks while the queue is full).
	mark := time.Now()
	defer func() { busy += time.Since(mark) }()
	// The pool: cfg.Concurrency long-lived workers started through errgroup,
	// fed through a channel that holds at most one card per worker, so the
	// dispatcher stays a little ahead without waking for every card. A card
	// still queued when the run stops is dropped unrecorded by process, as
	// if it had not been read.
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan job, cfg.Concurrency)
	for i := range cfg.Concurrency {
		g.Go(func() error {
			// Worker i owns journal slot i.
			sl := r.w.Slot(i)
			for j := range jobs {
				if ctx.Err() != nil {
					// Hard stop: the slot may hold a row whose call has no
					// answer; it must stay in the journal.
					return nil
				}
				if err := r.process(ctx, j, sl); err != nil {
					return err
				}
			}
			return sl.End(context.WithoutCancel(ctx))
		})
	}
	// submit hands j to a free worker; false when a worker failed.
	submit := func(j job) bool {
		busy += time.Since(mark)
		defer func() { mark = time.Now() }()
		select {
		case jobs <- j:
			return true
		case <-gctx.Done():
			return false
		}
	}
	var batch []job
	// dispatchBatch answers the batch's cached cards from the cache and
	// hands the others to the pool.
	dispatchBatch := func() error {
		if len(batch) == 0 {
			return nil
		}
		macs := make([][]byte, len(batch))
		for i, j := range batch {
			macs[i] = j.cacheMAC
		}
		hits, err := cfg.Cache.GetMany(ctx, macs, cfg.CacheTTL)
		if err != nil {
			cfg.Logger.Warn("answer cache lookup failed; sending the calls", "error", err)
		}
		for _, j := range batch {
			if r.stopped() {
				break
			}
			if e, ok := hits[string(j.cacheMAC)]; ok {
				if err := r.recordRow(nil, checkpoint.RowRecord{Idx: j.idx, CardHMAC: j.mac, State: checkpoint.Cached,
					Result: e.Result, Description: e.Description, AccountBank: e.AccountBank, AccountType: e.AccountType,
					Billing: billing.None, Error: "answered from the cache (obtained " + e.At.UTC().Format(time.RFC3339) + ")"}, nil); err != nil {
					return err
				}
				r.stats.finished.Add(1)
				continue
			}
			if !submit(j) {
				break
			}
		}
		batch = batch[:0]
		return nil
	}
	var readErr error
	rows := 0
loop:
	for {
		if r.stopped() {
			break
		}
		row, err := src.Next(gctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			if gctx.Err() != nil {
				break
			}
			readErr = err
			break
		}
		rows++
		r.stats.read.Add(1)
		digits, verr := validateRow(row, !cfg.NoLuhn)
		if verr != nil {
			if !done.Has(row.Index) {
				if err := r.recordRow(nil, checkpoint.RowRecord{Idx: row.Index, State: checkpoint.Invalid,
					Description: "not sent: " + invalidReason(verr), Billing: billing.None, Error: verr.Error()}, nil); err != nil {
					readErr = err
					break loop
				}
				r.stats.finished.Add(1)
			}
			continue
		}
		key, _ := cardnum.Key(digits)
		if first, dup := seen[key]; dup {
			if !done.Has(row.Index) {
				if err := r.recordRow(nil, checkpoint.RowRecord{Idx: row.Index, State: checkpoint.Duplicate,
					DupOf: int(first), Billing: billing.None}, nil); err != nil {
					readErr = err
					break loop
				}
				r.stats.finished.Add(1)
			}
			continue
		}
		seen[key] = int32(row.Index)
		if done.Has(row.Index) {
			continue // answered by an earlier attempt
		}
		j := job{idx: row.Index, card: digits, mac: hasher.Sum(digits)}
		if cacheHasher != nil {
			j.cacheMAC = cacheHasher.Sum(cfg.CacheNamespace + "\x00" + digits)
		}
		if r.stopped() {
			break
		}
		if !lookup {
			if !submit(j) {
				break
			}
			continue
		}
		// With the cache, look cards up in batches: one query per batch.
		batch = append(batch, j)
		if len(batch) == cacheBatch {
			if readErr = dispatchBatch(); readErr != nil {
				break
			}
		}
	}
	if readErr == nil && !r.stopped() {
		readErr = dispatchBatch()
	}
	busy += time.Since(mark)
	close(jobs)
	if err := g.Wait(); err != nil && readErr == nil {
		readErr = err
	}
	if cfg.Cache != nil {
		// Storing this run's answers overlaps the end of the run; Run waits
		// for it before it returns.
		flushed := make(chan struct{})
		r.res.cacheFlushed = flushed
		go func() {
			defer close(flushed)
			if err := cfg.Cache.Flush(context.WithoutCancel(ctx)); err != nil {
				cfg.Logger.Warn("could not save answers to the cache", "error", err)
			}
		}()
	}
	mark = time.Now()
	if readErr == nil && !r.stopped() {
		if err := r.cfg.Store.SetTotalRows(context.WithoutCancel(ctx), rows); err != nil {
			return busy, err
		}
	}
	return busy, readErr
}

// validateRow normalises a row's card and says why it cannot be sent, if so.
func validateRow(row sources.Row, luhn bool) (string, error) {
	if row.CardNumericUnsafe {
		return "", errNumericCell
	}
	digits := cardnum.Normalize(row.Card)
	return digits, cardnum.Validate(digits, luhn)
}

var errNumericCell = errors.New("the card is stored in a numeric spreadsheet cell, which keeps only 15 significant digits: " +
	"the number may already be damaged. Format the column as text and restore the numbers from the source")

func invalidReason(err error) string {
	switch {
	case errors.Is(err, errNumericCell):
		return "numeric cell cannot hold the card number exactly"
	case errors.Is(err, cardnum.ErrEmpty):
		return "no card number"
	case errors.Is(err, cardnum.ErrLength):
		return "wrong length"
	case errors.Is(err, cardnum.ErrLuhn):
		return "fails the Luhn check"
	case errors.Is(err, cardnum.ErrNonDigit):
		return "not a card number"
	}
	return "invalid card number"
}

// process sends one card until it gets a final answer, runs out of retries,
// or the run stops. It returns an error only for a checkpoint failure; every
// API outcome is recorded as data.
func (r *runner) process(ctx context.Context, j job, sl *checkpoint.Slot) error {
	cfg := r.cfg
	rec := checkpoint.RowRecord{Idx: j.idx, CardHMAC: j.mac, State: checkpoint.Retrying, Billing: billing.None}
	marked := false // a call may have been sent: the row is in the checkpoint
	var last cardapi.Outcome
	// stopRow records why a row that had calls did not get another one.
	stopRow := func(state checkpoint.State, why string) error {
		if !marked {
			return nil // never sent: stays unrecorded, the next run sends it
		}
		rec.State, rec.Error = state, why
		if state != checkpoint.Skipped {
			if last.Kind == cardapi.KindRetryable && last.Answer.Result == billing.ResultBusy {
				rec.State = checkpoint.Busy
			} else {
				rec.State = checkpoint.Failed
			}
		}
		return r.recordRow(sl, rec, nil)
	}
	for {
		if r.stopped() {
			return stopRow(checkpoint.Failed, "the run stopped before this row's next call")
		}
		if r.gate != nil {
			if err := r.gate.acquire(r.dctx); err != nil {
				return stopRow(checkpoint.Failed, "the run stopped before this row's next call")
			}
		}
		if err := r.pacer.Wait(r.dctx); err != nil {
			r.releaseGate(0)
			return stopRow(checkpoint.Failed, "the run stopped before this row's next call")
		}
		if !r.budget.reserve() {
			r.releaseGate(0)
			r.stop(Budget)
			return stopRow(checkpoint.Skipped, "stopped at --max-charged before this row's next call")
		}
		// The row is in the in-flight journal before its call can leave.
		if err := sl.Begin(ctx, j.idx); err != nil {
			r.releaseGate(0)
			r.budget.release(false)
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		marked = true
		out := cfg.Caller.Check(ctx, j.card)
		r.releaseGate(out.Latency)
		if ctx.Err() != nil {
			// Hard stop: the row stays in the journal and is counted in doubt
			// next time.
			r.budget.release(true)
			return nil
		}
		last = out
		r.stats.latency.Add(int64(out.Latency))
		r.budget.release(out.Billing.CountsAsCharged())
		rec.Attempts++
		rec.HTTPStatus = out.HTTPStatus
		var call *checkpoint.CallRecord
		if out.Billing != billing.None {
			call = &checkpoint.CallRecord{Billing: out.Billing, Result: out.Answer.Result, HTTPStatus: out.HTTPStatus}
			r.stats.calls.Add(1)
			if out.Billing.CountsAsCharged() && (out.Kind == cardapi.KindAnswer) {
				r.stats.charged.Add(1)
			}
		}
		switch out.Kind {
		case cardapi.KindAnswer:
			r.pacer.Success()
			a := out.Answer
			rec.State = stateFor(a.Result)
			rec.Result, rec.Description, rec.AccountBank, rec.AccountType = a.Result, a.Description, a.AccountBank, a.AccountType
			rec.Billing = out.Billing
			if out.Billing == billing.Unknown {
				rec.Billing = billing.Charged
				rec.Error = "undocumented result code " + a.Result + ": counted as charged"
			} else {
				rec.Error = ""
			}
			r.stats.finished.Add(1)
			if cfg.Cache != nil && j.cacheMAC != nil && cache.Cacheable(a.Result) {
				if err := cfg.Cache.Put(ctx, cache.Entry{MAC: j.cacheMAC, Result: a.Result, Description: a.Description,
					AccountBank: a.AccountBank, AccountType: a.AccountType, At: time.Now()}); err != nil {
					cfg.Logger.Warn("could not save an answer to the cache", "error", err)
				}
			}
			return r.recordRow(sl, rec, call)
		case cardapi.KindFatal:
			rec.State, rec.Error = checkpoint.Failed, describe(out)
			if err := r.recordRow(sl, rec, call); err != nil {
				return err
			}
			r.fatalMu.Lock()
			if r.fatal == nil {
				r.fatal = &FatalError{HTTPStatus: out.HTTPStatus, Code: out.Code, Message: out.Message}
			}
			r.fatalMu.Unlock()
			r.stop(Fatal)
			return nil
		case cardapi.KindProtocol:
			rec.State, rec.Error = checkpoint.Failed, describe(out)
			rec.Billing = billing.Free
			if out.Billing == billing.Unknown {
				rec.Billing = billing.Unknown
			}
			return r.recordRow(sl, rec, call)
		}
		// Retryable.
		// The row shows its last call: a busy answer, or no answer at all.
		rec.Error = describe(out)
		rec.Result, rec.Description, rec.Billing = "", "", out.Billing
		if out.Answer.Result == billing.ResultBusy {
			rec.Result, rec.Description = out.Answer.Result, out.Answer.Description
			rec.Billing = billing.Free
		}
		delay := backoff(cfg.RetryBase, cfg.RetryMax, rec.Attempts)
		if out.HTTPStatus == 429 {
			delay = r.pacer.TooMany(out.RetryAfter)
		} else {
			r.pacer.Success()
			if out.RetryAfter > delay {
				delay = out.RetryAfter
			}
		}
		if rec.Attempts > cfg.Retries {
			if out.Answer.Result == billing.ResultBusy {
				rec.State = checkpoint.Busy
			} else {
				rec.State = checkpoint.Failed
			}
			r.stats.finished.Add(1)
			return r.recordRow(sl, rec, call)
		}
		rec.State = checkpoint.Retrying
		if err := r.recordRow(sl, rec, call); err != nil {
			return err
		}
		// Not in flight while it waits: out of the journal once recorded.
		if err := sl.End(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.dctx.Done():
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// commitLive waits for the live output's last row and commits it, as
// writeOutput commits its own, returning the rows' Tally; nil if the live
// output was abandoned (writeOutput then writes the output).
func (r *runner) commitLive(ctx context.Context) (*checkpoint.Tally, error) {
	total, tally, ok := r.live.finish()
	if !ok {
		return nil, nil
	}
	if err := commitOutput(ctx, r.cfg, r.live.rw.sink, total, tally); err != nil {
		return nil, err // the deferred discard aborts the sink
	}
	return tally, nil
}

func (r *runner) releaseGate(latency time.Duration) {
	if r.gate != nil {
		r.gate.release(latency)
	}
}

// backoff returns the delay before retry n (n >= 1): base·2^(n-1), capped,
// plus up to one base of jitter.
func backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d + time.Duration(rand.Int64N(int64(base)+1))
}

// describe says why a call did not give a final answer, without the card.
func describe(o cardapi.Outcome) string {
	switch {
	case o.Kind == cardapi.KindRetryable && o.Answer.Result == billing.ResultBusy:
		return "verification center busy (result -2)"
	case o.HTTPStatus == 0 && o.Err != nil:
		return "no answer: " + o.Err.Error()
	case o.Code != "":
		s := fmt.Sprintf("HTTP %d %s", o.HTTPStatus, o.Code)
		if o.Message != "" {
			s += ": " + o.Message
		}
		return s
	case o.Excerpt != "":
		return fmt.Sprintf("HTTP %d unexpected answer: %q", o.HTTPStatus, o.Excerpt)
	case o.Err != nil:
		return fmt.Sprintf("HTTP %d: %v", o.HTTPStatus, o.Err)
	}
	return fmt.Sprintf("HTTP %d", o.HTTPStatus)
}

// budget enforces --max-charged, counting in-flight calls as if charged.
type budget struct {
	limit   int64 // < 0: unlimited
	mu      sync.Mutex
	charged int64
	flight  int64
}

func newBudget(limit, already int64) *budget { return &budget{limit: limit, charged: already} }

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

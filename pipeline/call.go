package pipeline

import (
	"context"
	"fmt"
	"log/slog"

	"cardbatch/billing"
	"cardbatch/cache"
	"cardbatch/cardapi"
	"cardbatch/cardnum"
	"cardbatch/checkpoint"
)

// work is one worker of the pool: it calls for the rows it takes from jobs
// until jobs is closed (every row handed to the pool is settled), or
// nothing is queued once a stage has failed, or ctx ends. Worker i owns
// journal slot i.
func (r *runner) work(ctx context.Context, i int, jobs <-chan *item) error {
	sl := r.rec.Slot(i)
	for {
		var it *item
		var ok bool
		select {
		case it, ok = <-jobs:
		case <-r.pool.failed:
			select {
			case it, ok = <-jobs:
			default:
			}
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			// Hard stop: the slot may hold a row whose call has no answer;
			// it must stay in the journal.
			return nil
		}
		if !ok {
			return sl.End(context.WithoutCancel(ctx))
		}
		if !r.claim(it) {
			continue // settled from the cache, or deferred
		}
		err := r.callRow(ctx, sl, it)
		r.unclaim(ctx, it)
		r.pool.settle(it)
		if err != nil {
			return err
		}
	}
}

// rowCall is one row's calls: its record as it goes, and the last outcome.
type rowCall struct {
	r      *runner
	it     *item
	sl     slot
	ctx    context.Context // calls in flight finish unless it ends
	marked bool            // a call may have been sent: the row is in the checkpoint
	last   cardapi.Outcome
	halted string // why the row got no further call ("" when it did)
	err    error  // a checkpoint failure
}

// callRow sends one row's card until it gets a final answer, runs out of
// retries, or the run stops, and leaves its settled state in it.rec. It
// returns an error only for a checkpoint failure; every API outcome is
// recorded as data.
func (r *runner) callRow(ctx context.Context, sl slot, it *item) error {
	c := &rowCall{r: r, it: it, sl: sl, ctx: ctx}
	// The slot's last record is made durable before the turn at the rate
	// limit is taken, so nothing waits on the checkpoint between the turn
	// and the call (calls that waited would leave together).
	if err := sl.Ready(r.dctx); err != nil && r.dctx.Err() == nil {
		return err
	}
	err := r.pacer.Call(r.dctx, r.cfg.Retries, c.attempt)
	switch {
	case c.err != nil:
		return c.err
	case ctx.Err() != nil:
		return nil // hard stop: the row stays in the journal if it was sent
	case err != nil && c.halted == "":
		c.halted = "the run stopped before this row's next call"
	}
	if c.halted == "" {
		return nil
	}
	if !c.marked {
		it.how = settledUnsent // never sent: the next run sends it
		return nil
	}
	it.rec.Error = c.halted
	it.rec.State = checkpoint.Failed
	if r.budgetStopped() {
		it.rec.State = checkpoint.Skipped
	} else if c.last.Answer.Result == billing.ResultBusy {
		it.rec.State = checkpoint.Busy
	}
	return sl.Record(it.rec, nil)
}

// attempt makes one call; last says no retry will follow.
func (c *rowCall) attempt(last bool) Verdict {
	r := c.r
	if !r.budget.reserve() {
		r.stop(Budget)
		c.halted = "stopped at --max-charged before this row's next call"
		return Verdict{}
	}
	r.renew(c.it)
	// The row is in the in-flight journal before its call can leave.
	if err := c.sl.Begin(c.ctx, c.it.rec.Idx); err != nil {
		r.budget.release(false)
		if c.ctx.Err() == nil {
			c.err = err
		}
		return Verdict{}
	}
	c.marked = true
	out := scrubOutcome(r.cfg.Caller.Check(c.ctx, c.it.card))
	if c.ctx.Err() != nil {
		r.budget.release(true) // in doubt: the next run counts it
		return Verdict{}
	}
	c.last = out
	r.budget.release(out.Billing.CountsAsCharged())
	r.stats.countCall(out)
	v := c.settle(out, last)
	v.Answered, v.NoAnswer, v.What = heardFrom(out)
	if v.Retry && r.cfg.Logger.Enabled(c.ctx, slog.LevelDebug) {
		r.cfg.Logger.Debug("retrying", "line", c.it.row.Line, "card", cardnum.Mask(c.it.card),
			"attempt", c.it.rec.Attempts, "reason", c.it.rec.Error)
	}
	if err := c.record(out, v.Retry); err != nil {
		c.err = err
		return Verdict{}
	}
	return v
}

// settle updates the row's record from one call's outcome and says whether
// and how to retry.
func (c *rowCall) settle(out cardapi.Outcome, last bool) Verdict {
	rec := &c.it.rec
	rec.Attempts++
	rec.HTTPStatus = out.HTTPStatus
	switch out.Kind {
	case cardapi.KindAnswer:
		a := out.Answer
		rec.State, rec.Billing, rec.Error = stateFor(a.Result), out.Billing, ""
		rec.Result, rec.Description, rec.AccountBank, rec.AccountType = a.Result, a.Description, a.AccountBank, a.AccountType
		rec.At = answeredNow()
		if out.Billing == billing.Unknown {
			rec.Billing, rec.Error = billing.Charged, "undocumented result code "+a.Result+": counted as charged"
		}
		c.r.stats.finished.Add(1)
		c.r.cacheAnswer(c.ctx, c.it, a)
		return Verdict{}
	case cardapi.KindFatal:
		rec.State, rec.Error = checkpoint.Failed, describe(out)
		c.r.fail(&FatalError{HTTPStatus: out.HTTPStatus, Code: out.Code, Message: out.Message})
		return Verdict{}
	case cardapi.KindProtocol:
		rec.State, rec.Error, rec.Billing = checkpoint.Failed, describe(out), billing.Free
		if out.Billing == billing.Unknown {
			rec.Billing = billing.Unknown
		}
		return Verdict{}
	}
	// Retryable: the row shows its last call, a busy answer or none at all.
	rec.Error, rec.Result, rec.Description, rec.Billing = describe(out), "", "", out.Billing
	if out.Answer.Result == billing.ResultBusy {
		rec.Result, rec.Description, rec.Billing = out.Answer.Result, out.Answer.Description, billing.Free
	}
	if last {
		rec.State = checkpoint.Failed
		if out.Answer.Result == billing.ResultBusy {
			rec.State = checkpoint.Busy
		}
		c.r.stats.finished.Add(1)
		return Verdict{TooMany: out.HTTPStatus == 429}
	}
	rec.State = checkpoint.Retrying
	return Verdict{Retry: true, TooMany: out.HTTPStatus == 429, RetryAfter: out.RetryAfter}
}

// record commits the row's state and the call's billing through the
// journal slot; a row about to wait for its retry leaves the journal.
func (c *rowCall) record(out cardapi.Outcome, retry bool) error {
	var call *checkpoint.CallRecord
	if out.Billing != billing.None {
		call = &checkpoint.CallRecord{Billing: out.Billing, Result: out.Answer.Result, HTTPStatus: out.HTTPStatus}
	}
	if err := c.sl.Record(c.it.rec, call); err != nil {
		return err
	}
	if !retry {
		return nil
	}
	if err := c.sl.End(c.ctx); err != nil && c.ctx.Err() == nil {
		return err
	}
	return nil
}

// cacheAnswer stores a final answer in the shared cache as it arrives,
// before the row is recorded: a run killed in between has the row in its
// in-flight journal (in doubt), so no recorded answer is missing from the
// cache.
func (r *runner) cacheAnswer(ctx context.Context, it *item, a cardapi.Answer) {
	if r.cfg.Cache == nil || it.cacheMAC == nil || !cache.Cacheable(a.Result) {
		return
	}
	e := cache.Entry{MAC: it.cacheMAC, Result: a.Result, Description: a.Description,
		AccountBank: a.AccountBank, AccountType: a.AccountType, At: it.rec.At}
	if err := r.cfg.Cache.Put(ctx, e); err != nil {
		r.cfg.Logger.Warn("could not save an answer to the cache", "error", err)
		return
	}
	if it.claim == claimHeld {
		it.claim = claimStored // storing the answer releases the claim
	}
}

// heardFrom says whether a call got an answer of any kind; when it did not
// (HTTP 429, a 5xx, no connection or a timeout), how, in short and in full.
// A busy answer ("-2") is an answer: the API is there.
func heardFrom(out cardapi.Outcome) (answered bool, noAnswer, what string) {
	if out.Kind != cardapi.KindRetryable || out.Answer.Result == billing.ResultBusy {
		return true, "", ""
	}
	if out.HTTPStatus == 0 {
		return false, "no connection or no answer in time", describe(out)
	}
	return false, fmt.Sprintf("HTTP %d", out.HTTPStatus), describe(out)
}

// scrubOutcome masks every card-like number in the texts of a server's
// answer (in any spelling: spaced, dotted, full-width...) before they are
// stored, counted or written: an API that echoes the card never gets it
// into the checkpoint, the cache, the summary or the output.
func scrubOutcome(o cardapi.Outcome) cardapi.Outcome {
	a := &o.Answer
	a.Result, a.Description, a.AccountBank = cardnum.Scrub(a.Result), cardnum.Scrub(a.Description), cardnum.Scrub(a.AccountBank)
	o.Code, o.Message, o.TraceID, o.Excerpt = cardnum.Scrub(o.Code), cardnum.Scrub(o.Message), cardnum.Scrub(o.TraceID), cardnum.Scrub(o.Excerpt)
	return o
}

// describe says why a call did not give a final answer, without the card
// (server texts and transport errors are scrubbed).
func describe(o cardapi.Outcome) string { return cardnum.Scrub(describeRaw(o)) }

func describeRaw(o cardapi.Outcome) string {
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

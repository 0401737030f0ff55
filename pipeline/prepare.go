package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cardbatch/billing"
	"cardbatch/cache"
	"cardbatch/cardnum"
	"cardbatch/checkpoint"
	"cardbatch/internal/cardkey"
	"cardbatch/sources"
)

// cacheBatch is how many rows are looked up in the answer cache at once.
const cacheBatch = cache.GetManyBatch

// preparer is the second stage: it decides for each row whether it needs a
// call. Rows that do not (invalid, duplicate, cached, answered by an earlier
// attempt) are settled here; the others go to the pool. Every row goes on
// to the collector in input order.
type preparer struct {
	r           *runner
	hasher      *cardkey.Hasher
	cacheHasher *cardkey.Hasher // nil when the cache is off
	lookup      bool            // look cards up in the cache
	done        *checkpoint.Bitset
	seen        map[uint64]int32 // card key -> first row with that card
	batch       []*item
}

func newPreparer(r *runner, done *checkpoint.Bitset, lookup bool) *preparer {
	p := &preparer{r: r, hasher: cardkey.NewHasher(r.cfg.Key), done: done, lookup: lookup,
		seen: make(map[uint64]int32, 1024)}
	if r.cfg.Cache != nil {
		p.cacheHasher = cardkey.NewHasher(r.cfg.Cache.Key())
	}
	return p
}

// run classifies the rows from in and hands them on; it closes ordered and
// jobs when it returns. stopRead ends the read stage when the run stops
// before the end of the input and the rest of it is not needed.
func (p *preparer) run(ctx context.Context, in <-chan *item, ordered, jobs chan<- *item, stopRead func()) error {
	defer p.r.pool.done()
	defer close(ordered)
	for {
		var it *item
		var ok bool
		select {
		case it, ok = <-in:
		default:
			// Nothing is ready: hand over what is batched before waiting.
			if err := p.flush(ctx, ordered, jobs); err != nil {
				return err
			}
			select {
			case it, ok = <-in:
			case <-ctx.Done():
				return nil
			}
		}
		if !ok {
			return p.flush(ctx, ordered, jobs)
		}
		if p.r.stopped() && !p.r.finishesOutput() {
			stopRead()
			return nil
		}
		if err := p.checkRow(it); err != nil {
			return err
		}
		p.classify(it)
		if p.batch = append(p.batch, it); len(p.batch) == cacheBatch {
			if err := p.flush(ctx, ordered, jobs); err != nil {
				return err
			}
		}
	}
}

// checkRow refuses a row the output cannot hold, before its call is paid.
func (p *preparer) checkRow(it *item) error {
	if p.r.cfg.CheckRow == nil {
		return nil
	}
	if err := p.r.cfg.CheckRow(it.row); err != nil {
		msg := fmt.Sprintf("the output %s cannot hold the input: %v. The run stopped before this row's call", p.r.cfg.OutputPath, err)
		if st := p.r.cfg.Store; st != nil {
			msg += fmt.Sprintf("; to keep the answers already paid for, run again with a .csv --output and --checkpoint %s", st.Path())
		}
		return &UsageError{Msg: msg}
	}
	return nil
}

// classify settles the rows that need no call and marks the others.
func (p *preparer) classify(it *item) {
	idx := it.row.Index
	before := p.done.Has(idx)
	digits, err := validateRow(it.row, !p.r.cfg.NoLuhn)
	if p.elsewhere(it, validDigits(digits, err), before) {
		return
	}
	if err != nil {
		it.rec = checkpoint.RowRecord{Idx: idx, State: checkpoint.Invalid,
			Description: "not sent: " + invalidReason(err), Billing: billing.None, Error: err.Error()}
		it.how = settledHere
		if before {
			it.how = settledNoRecord
		}
		p.r.stats.finished.Add(1)
		return
	}
	key, _ := cardnum.Key(digits)
	if first, dup := p.seen[key]; dup {
		it.rec = checkpoint.RowRecord{Idx: idx, State: checkpoint.Duplicate, DupOf: int(first), Billing: billing.None}
		it.how = settledHere
		if before {
			it.how = settledNoRecord
		}
		p.r.stats.finished.Add(1)
		return
	}
	p.seen[key] = int32(idx)
	it.card, it.key = digits, key
	if before {
		it.how = settledBefore
		p.r.stats.before.Add(1)
		return
	}
	it.rec = checkpoint.RowRecord{Idx: idx, CardHMAC: p.hasher.Sum(digits), State: checkpoint.Retrying, Billing: billing.None}
	it.how = settledByCall
	if p.cacheHasher != nil {
		it.cacheMAC = p.cacheHasher.Sum(p.r.cfg.CacheNamespace + "\x00" + digits)
	}
}

// flush answers the batch's cached cards, sends the rest to the pool (or
// marks them unsent once the run has stopped), and hands the whole batch to
// the collector in order.
func (p *preparer) flush(ctx context.Context, ordered, jobs chan<- *item) error {
	if len(p.batch) == 0 {
		return nil
	}
	hits := p.cacheHits(ctx)
	for _, it := range p.batch {
		if it.how == settledByCall {
			p.dispatch(ctx, it, hits, jobs)
		}
		select {
		case ordered <- it:
		case <-ctx.Done():
			return nil
		}
	}
	p.batch = p.batch[:0]
	return nil
}

// dispatch settles it from the cache hits, or sends it to the pool.
func (p *preparer) dispatch(ctx context.Context, it *item, hits map[string]cache.Entry, jobs chan<- *item) {
	if e, ok := hits[string(it.cacheMAC)]; ok {
		p.r.settleCached(it, e)
		return
	}
	if p.r.stopped() {
		it.how = settledUnsent
		return
	}
	it.settled = make(chan struct{})
	p.r.pool.add()
	select {
	case jobs <- it:
	case <-ctx.Done():
		it.how = settledUnsent
		p.r.pool.settle(it)
	}
}

// cacheHits looks the batch's cards up in the answer cache. A failed lookup
// only costs calls: it is logged, and the cards are sent.
func (p *preparer) cacheHits(ctx context.Context) map[string]cache.Entry {
	if !p.lookup {
		return nil
	}
	var macs [][]byte
	for _, it := range p.batch {
		if it.how == settledByCall {
			macs = append(macs, it.cacheMAC)
		}
	}
	if len(macs) == 0 {
		return nil
	}
	hits, err := p.r.cfg.Cache.GetMany(ctx, macs, p.r.cfg.CacheTTL)
	if err != nil {
		p.r.cfg.Logger.Warn("answer cache lookup failed; sending the calls", "error", err)
	}
	return hits
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

// answeredNow is the time an answer obtained now is stamped with.
func answeredNow() time.Time { return time.Now().UTC().Truncate(time.Second) }

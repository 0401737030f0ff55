package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"cardbatch/cache"
	"cardbatch/checkpoint"
)

// Claims: one payment per card across runs that share an answer cache.
//
// Before a worker calls for a card it claims the card in the cache
// (AnswerCache.Acquire: a lease naming this run, renewed before every
// retry). What Acquire finds decides the row:
//
//   - an answer already stored: the row settles as cached, with the
//     answer's time, and nothing is sent;
//   - this run's claim: the worker calls; storing the answer releases the
//     claim, and a failed call releases it explicitly;
//   - another run's live claim: the row is deferred. The worker goes on
//     with the next row, and the deferrer asks the cache again every
//     deferPoll.
//
// A deferral always ends, in one of three ways: the answer lands in the
// cache (the row settles as cached); the claim becomes free, because its
// holder released it (its call failed) or its lease expired (its holder
// died), and this run takes it and calls; or deferBound passes, and the
// card is called anyway (its holder is alive but has been retrying for
// longer than two leases: one more charge is cheaper than holding the
// output any longer). While a row is deferred, the collector (which writes
// in input order) holds the rows after it, and reading pauses once
// outputWindow rows wait; the workers meanwhile go on calling for the rows
// behind it, so a deferral holds the output for at most deferBound and the
// calls not at all.

// Claim timing.
const (
	deferPoll  = 250 * time.Millisecond // how often deferred cards are asked for again
	renewAfter = time.Second            // a claim older than this is renewed before a call
)

// claimKind says where a row stands with its card's claim.
type claimKind int

const (
	claimNone   claimKind = iota // not claimed (or the cache is off)
	claimHeld                    // this run holds the claim: release it unless the answer is stored
	claimStored                  // the answer was put in the cache, which releases the claim
	claimForce                   // call without a claim (deferBound passed, or the cache failed)
)

// claimLease is how long a claim lasts unless renewed: twice the request
// timeout, and at least a call plus the longest backoff (the claim is
// renewed before every retry).
func (c *Config) claimLease() time.Duration {
	t := c.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return max(2*t, t+c.RetryMax+c.RetryBase)
}

// deferBound is how long a card waits for another run's live claim before
// it is called anyway.
func (c *Config) deferBound() time.Duration { return 2 * c.claimLease() }

// pool hands rows to the workers and knows when every row handed over is
// settled: jobs is closed then (not when the preparer ends), because a
// deferred row may come back to the workers once its claim is won.
type pool struct {
	jobs      chan *item
	open      atomic.Int64 // rows handed over and not settled, plus one until the preparer ends
	closeOnce sync.Once
	drained   chan struct{}   // closed with jobs
	failed    <-chan struct{} // closed when a stage failed: workers take what is queued, then end

	mu       sync.Mutex
	deferred []deferral
	ended    bool // the deferrer has stopped: a row deferred now is settled unsent
	told     bool // the first deferral was logged
}

// deferral is a row waiting for another run's claim on its card.
type deferral struct {
	it    *item
	since time.Time
}

func newPool(size int, failed <-chan struct{}) *pool {
	p := &pool{jobs: make(chan *item, size), drained: make(chan struct{}), failed: failed}
	p.open.Store(1)
	return p
}

// add counts a row the preparer is about to hand to the workers.
func (p *pool) add() { p.open.Add(1) }

// done is the preparer's end: no row will be added.
func (p *pool) done() { p.release() }

// settle marks a handed-over row settled: the collector may take it.
func (p *pool) settle(it *item) {
	close(it.settled)
	p.release()
}

func (p *pool) release() {
	if p.open.Add(-1) == 0 {
		p.closeOnce.Do(func() { close(p.jobs); close(p.drained) })
	}
}

// settleCached settles a row with the cache's answer for its card.
func (r *runner) settleCached(it *item, e cache.Entry) {
	it.rec.State, it.rec.Result, it.rec.Description = checkpoint.Cached, e.Result, e.Description
	it.rec.AccountBank, it.rec.AccountType = e.AccountBank, e.AccountType
	it.rec.At = e.At
	it.how = settledHere
	r.stats.finished.Add(1)
}

// claim claims a row's card before its call. It reports whether the worker
// is to call now; otherwise the row was settled from the cache or deferred.
// A cache that fails only costs calls: the row is called.
func (r *runner) claim(it *item) bool {
	if r.cfg.Cache == nil || it.cacheMAC == nil || it.claim != claimNone || r.stopped() {
		return true
	}
	cl, err := r.cfg.Cache.Acquire(r.dctx, it.cacheMAC, r.cfg.claimLease(), r.cfg.CacheTTL)
	switch {
	case err != nil:
		if !r.stopped() {
			r.cfg.Logger.Warn("could not claim a card in the answer cache; calling for it", "error", err)
			it.claim = claimForce
		}
		return true
	case cl.Answered:
		r.settleCached(it, cl.Answer)
		r.pool.settle(it)
		return false
	case cl.Holder != "":
		r.deferRow(it, cl.Holder)
		return false
	}
	it.claim, it.claimedAt = claimHeld, time.Now()
	return true
}

// renew extends the lease of a claim older than renewAfter, before a call.
func (r *runner) renew(it *item) {
	if it.claim != claimHeld || time.Since(it.claimedAt) < renewAfter {
		return
	}
	if _, err := r.cfg.Cache.Acquire(r.dctx, it.cacheMAC, r.cfg.claimLease(), r.cfg.CacheTTL); err == nil {
		it.claimedAt = time.Now()
	}
}

// unclaim releases the claim of a row whose call is over, unless storing
// its answer releases it.
func (r *runner) unclaim(ctx context.Context, it *item) {
	if it.claim != claimHeld {
		return
	}
	if err := r.cfg.Cache.Release(context.WithoutCancel(ctx), it.cacheMAC); err != nil {
		r.cfg.Logger.Warn("could not release a claim in the answer cache (it expires by itself)", "error", err)
	}
}

// deferRow hands a row whose card another run holds to the deferrer.
func (r *runner) deferRow(it *item, holder string) {
	p := r.pool
	p.mu.Lock()
	ended, tell := p.ended, !p.told
	if !ended {
		p.deferred = append(p.deferred, deferral{it: it, since: time.Now()})
		p.told = true
	}
	p.mu.Unlock()
	if ended {
		it.how = settledUnsent
		p.settle(it)
		return
	}
	if tell {
		r.cfg.Logger.Info("another run sharing the answer cache is calling for cards of this input: "+
			"waiting for its answers instead of paying twice", "holder", holder)
	}
}

// deferrer asks the cache for the deferred rows every deferPoll until every
// row handed to the workers is settled. When it ends early (a stage
// failed), the rows still deferred are settled unsent.
func (r *runner) deferrer(ctx context.Context) error {
	t := time.NewTicker(deferPoll)
	defer t.Stop()
	defer r.endDeferrals()
	for {
		select {
		case <-r.pool.drained:
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		r.pool.mu.Lock()
		batch := r.pool.deferred
		r.pool.deferred = nil
		r.pool.mu.Unlock()
		for _, d := range batch {
			r.revisit(ctx, d)
		}
	}
}

// revisit asks the cache again for a deferred row and settles it, sends it
// back to the workers, or keeps it deferred.
func (r *runner) revisit(ctx context.Context, d deferral) {
	it := d.it
	if r.stopped() {
		it.how = settledUnsent
		r.pool.settle(it)
		return
	}
	cl, err := r.cfg.Cache.Acquire(r.dctx, it.cacheMAC, r.cfg.claimLease(), r.cfg.CacheTTL)
	switch {
	case err != nil && r.stopped():
		it.how = settledUnsent
		r.pool.settle(it)
		return
	case err != nil:
		r.cfg.Logger.Warn("could not ask the answer cache for a deferred card; calling for it", "error", err)
		it.claim = claimForce
	case cl.Answered:
		r.settleCached(it, cl.Answer)
		r.pool.settle(it)
		return
	case cl.Holder == "":
		it.claim, it.claimedAt = claimHeld, time.Now()
	case time.Since(d.since) >= r.cfg.deferBound():
		r.cfg.Logger.Warn("another run has held a card's claim too long; calling for it anyway",
			"holder", cl.Holder, "waited", time.Since(d.since).Round(time.Second).String())
		it.claim = claimForce
	default:
		r.pool.mu.Lock()
		r.pool.deferred = append(r.pool.deferred, d)
		r.pool.mu.Unlock()
		return
	}
	select {
	case r.pool.jobs <- it:
	case <-ctx.Done():
		r.unclaim(ctx, it)
		it.how = settledUnsent
		r.pool.settle(it)
	}
}

// endDeferrals settles the rows still deferred as unsent, and every row
// deferred from now on.
func (r *runner) endDeferrals() {
	r.pool.mu.Lock()
	left := r.pool.deferred
	r.pool.deferred, r.pool.ended = nil, true
	r.pool.mu.Unlock()
	for _, d := range left {
		d.it.how = settledUnsent
		r.pool.settle(d.it)
	}
}

package pipeline

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacer paces calls: a token bucket at the configured rate (waited on once
// per call, retries included), a pause shared by every worker when the API
// keeps answering 429, and an adaptive rate that is cut multiplicatively
// under a sustained stream of 429s and climbs back additively while calls
// succeed, never above the configured maximum.
//
// An isolated 429 delays only its own retry (the worker sleeps its
// Retry-After): real gateways send the odd 429 below the limit, and halving
// the rate on each of them collapses a run to a crawl.
type Pacer struct {
	lim   *rate.Limiter // nil when unlimited
	max   float64       // configured rate, 0 = unlimited
	floor float64

	mu         sync.Mutex
	cur        float64   // current rate
	pauseUntil time.Time // shared pause (overlapping pauses extend, never stack)
	recent     []time.Time
	lastCut    time.Time
	now        func() time.Time
	cuts       int
}

// Pacer tuning. A "stream" is at least streamCount 429s within streamWindow.
const (
	streamWindow = time.Second
	streamCount  = 3
	cutFactor    = 0.8
	minCutGap    = time.Second
)

// NewPacer returns a pacer at ratePerSec calls per second with the given
// burst; ratePerSec <= 0 means unlimited (no bucket, no pauses).
func NewPacer(ratePerSec float64, burst int) *Pacer {
	p := &Pacer{max: ratePerSec, cur: ratePerSec, now: time.Now}
	if ratePerSec > 0 {
		if burst < 1 {
			burst = 1
		}
		p.lim = rate.NewLimiter(rate.Limit(ratePerSec), burst)
		p.floor = ratePerSec / 50
		if p.floor < 0.2 {
			p.floor = 0.2
		}
	}
	return p
}

// Wait blocks until the shared pause (if any) is over and the bucket has a
// token. It returns ctx's error if ctx ends first.
func (p *Pacer) Wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		until := p.pauseUntil
		p.mu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if p.lim == nil {
		return ctx.Err()
	}
	return p.lim.Wait(ctx)
}

// Success is called after a call that was not a 429; it raises the rate
// additively (by about 2% of the maximum per second of successes) up to the
// maximum.
func (p *Pacer) Success() {
	if p.lim == nil {
		return
	}
	p.mu.Lock()
	if p.cur < p.max {
		// Each success adds step/cur, so the rate climbs by `step` per second.
		step := p.max * 0.02
		if step < 0.1 {
			step = 0.1
		}
		p.cur += step / p.cur
		if p.cur > p.max {
			p.cur = p.max
		}
		p.lim.SetLimit(rate.Limit(p.cur))
	}
	p.mu.Unlock()
}

// TooMany is called after a 429 with its Retry-After (0 when absent). It
// returns how long the caller should wait before retrying this call.
func (p *Pacer) TooMany(retryAfter time.Duration) time.Duration {
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	if p.lim == nil {
		return retryAfter
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := p.recent[:0]
	for _, t := range p.recent {
		if now.Sub(t) < streamWindow {
			keep = append(keep, t)
		}
	}
	p.recent = append(keep, now)
	if len(p.recent) >= streamCount {
		// A stream: one shared pause, one cut per window.
		if until := now.Add(retryAfter); until.After(p.pauseUntil) {
			p.pauseUntil = until
		}
		if now.Sub(p.lastCut) >= minCutGap && now.After(p.lastCut.Add(retryAfter)) {
			p.cur *= cutFactor
			if p.cur < p.floor {
				p.cur = p.floor
			}
			p.lim.SetLimit(rate.Limit(p.cur))
			p.lastCut = now
			p.cuts++
		}
	}
	return retryAfter
}

// Rate returns the current rate (0 when unlimited).
func (p *Pacer) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacer paces calls: a token bucket at the configured rate, waited on once
// per call (retries included); a rate that adapts to the API's own limit;
// and a pause shared by every worker when the API is flooded.
//
// 429 handling tells sporadic from sustained: an isolated 429 delays only
// its own retry (the worker sleeps its Retry-After), since real gateways
// send the odd 429 below their limit. When 429s keep arriving (streamCount
// within streamWindow), the rate is cut to just below what the API accepted
// over the last window (multiplicatively, by at least cutFactor), at most
// once per pause window; when they make up more than heavyShare of recent
// answers, every worker also pauses for the Retry-After (pauses overlap,
// never stack). While calls succeed the rate climbs back additively, never
// above the configured maximum.
type Pacer struct {
	// RetryBase and RetryMax shape the backoff between attempts of one
	// call: RetryBase·2^(n-1), capped at RetryMax, plus up to RetryBase of
	// jitter.
	RetryBase, RetryMax time.Duration

	lim   *rate.Limiter // nil when unlimited
	max   float64       // configured rate, 0 = unlimited
	floor float64
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error // between attempts

	mu         sync.Mutex
	cur        float64   // current rate
	pauseUntil time.Time // shared pause
	lastCut    time.Time
	lastClimb  time.Time
	win        window // answers of the last second: accepted and 429
	cuts       int
	// The current stream of 429s: when its first 429 came, the last one,
	// and how many calls the API accepted since the first. While the API is
	// saturated, accepted ÷ elapsed is its own limit.
	streamStart, streamLast time.Time
	streamOK                int

	out *outage      // nil until WatchOutages
	log *slog.Logger // for outage lines
}

// Pacer tuning.
const (
	streamWindow = time.Second            // 429s this close together form a stream
	streamCount  = 3                      // ... when there are at least this many
	heavyShare   = 0.2                    // a stream this dense also pauses every worker
	cutFactor    = 0.9                    // a cut takes at least 10% off
	acceptMargin = 0.97                   // aim just below what the API accepted
	climbPerSec  = 0.015                  // climb by 1.5% of the maximum per second of success
	measureFor   = 250 * time.Millisecond // watch a stream this long before the first cut
	streamQuiet  = 2 * time.Second        // a stream ends after this long without a 429
)

// NewPacer returns a pacer at ratePerSec calls per second with the given
// burst; ratePerSec <= 0 means unlimited (no bucket, no pauses).
func NewPacer(ratePerSec float64, burst int) *Pacer {
	p := &Pacer{max: ratePerSec, cur: ratePerSec, now: time.Now, sleep: sleepCtx, RetryBase: time.Second, RetryMax: 16 * time.Second}
	if ratePerSec > 0 {
		if burst < 1 {
			burst = 1
		}
		p.lim = rate.NewLimiter(rate.Limit(ratePerSec), burst)
		p.floor = math.Max(ratePerSec/50, 0.2)
	}
	return p
}

// Verdict is what one attempt of a call says about the next.
type Verdict struct {
	Retry      bool          // the outcome is worth another attempt
	TooMany    bool          // the API answered 429: pace every caller
	RetryAfter time.Duration // the server's Retry-After, 0 when none
	// Answered: the API answered (anything but what NoAnswer covers).
	// NoAnswer: it did not (a 429, a 5xx, no connection, a timeout); says
	// how, in short ("HTTP 500"), and What in full. Neither: nothing was
	// learnt (no call was made).
	Answered bool
	NoAnswer string
	What     string
}

// Call is the one entry point for pacing and retries: it runs attempt until
// a Verdict says not to retry or retries more attempts have followed the
// first. Before every attempt it waits for the shared pause and a token;
// between attempts it sleeps the backoff, or what a 429 asks. attempt's
// argument says that no retry will follow, whatever it returns. Call
// returns ctx's error if ctx ends before an attempt could start, else nil.
func (p *Pacer) Call(ctx context.Context, retries int, attempt func(last bool) Verdict) error {
	for n := 1; ; n++ {
		if err := p.Wait(ctx); err != nil {
			return err
		}
		v := attempt(n > retries)
		p.heard(v)
		if !v.Retry || n > retries {
			if v.TooMany {
				p.TooMany(v.RetryAfter)
			} else {
				p.Success()
			}
			return nil
		}
		delay := p.backoff(n)
		if v.TooMany {
			delay = p.TooMany(v.RetryAfter)
		} else {
			p.Success()
			delay = max(delay, v.RetryAfter)
		}
		if err := p.sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// sleepCtx sleeps d, or returns ctx's error if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff returns the delay before retry n (n >= 1).
func (p *Pacer) backoff(n int) time.Duration {
	d := p.RetryBase
	for i := 1; i < n && d < p.RetryMax; i++ {
		d *= 2
	}
	d = min(d, p.RetryMax)
	return d + time.Duration(rand.Int64N(int64(p.RetryBase)+1))
}

// Wait blocks until the shared pause (if any) is over and the bucket has a
// token. It returns ctx's error if ctx ends first.
func (p *Pacer) Wait(ctx context.Context) error {
	if p.lim == nil {
		return ctx.Err()
	}
	for {
		p.mu.Lock()
		d := p.pauseUntil.Sub(p.now())
		p.mu.Unlock()
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
	return p.lim.Wait(ctx)
}

// Success records an answer that was not a 429 and climbs the rate back
// towards the maximum.
func (p *Pacer) Success() {
	if p.lim == nil {
		return
	}
	p.mu.Lock()
	now := p.now()
	p.win.add(now, false)
	if !p.streamStart.IsZero() {
		p.streamOK++
	}
	if p.cur < p.max {
		dt := now.Sub(p.lastClimb).Seconds()
		if dt > 1 {
			dt = 1
		}
		if dt > 0 {
			p.setRate(math.Min(p.max, p.cur+p.max*climbPerSec*dt), now)
		}
	}
	p.lastClimb = now
	p.mu.Unlock()
}

// TooMany records a 429 with its Retry-After (0 when absent) and returns
// how long the caller should wait before retrying this call.
func (p *Pacer) TooMany(retryAfter time.Duration) time.Duration {
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	if p.lim == nil {
		return retryAfter
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.win.add(now, true)
	if p.streamStart.IsZero() || now.Sub(p.streamLast) > streamQuiet {
		p.streamStart, p.streamOK = now, 0
	}
	p.streamLast = now
	accepted, limited := p.win.counts(now)
	if limited < streamCount {
		return retryAfter // sporadic: only this call waits
	}
	// A stream: cut to just below what the API accepts, measured since the
	// stream began, once it has been watched long enough; one cut per pause
	// window.
	elapsed := now.Sub(p.streamStart)
	if elapsed >= measureFor && now.Sub(p.lastCut) >= max(retryAfter, streamWindow) {
		target := p.cur * cutFactor
		if est := float64(p.streamOK) / elapsed.Seconds() * acceptMargin; est < target {
			target = est
		}
		p.setRate(math.Max(target, p.floor), now)
		p.lastCut = now
		p.lastClimb = now
		p.cuts++
	}
	if float64(limited) >= heavyShare*float64(accepted+limited) {
		if until := now.Add(retryAfter); until.After(p.pauseUntil) {
			p.pauseUntil = until
		}
	}
	return retryAfter
}

func (p *Pacer) setRate(r float64, now time.Time) {
	p.cur = r
	p.lim.SetLimitAt(now, rate.Limit(r))
}

// Rate returns the current rate (0 when unlimited).
func (p *Pacer) Rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// window counts answers over the last streamWindow in 10 buckets.
type window struct {
	start    time.Time // start of bucket 0
	ok, lim  [10]int
	firstIdx int
}

const bucket = streamWindow / 10

func (w *window) advance(now time.Time) {
	if w.start.IsZero() {
		w.start = now.Truncate(bucket)
	}
	for now.Sub(w.start) >= streamWindow {
		// Drop the oldest bucket.
		w.ok[w.firstIdx], w.lim[w.firstIdx] = 0, 0
		w.firstIdx = (w.firstIdx + 1) % len(w.ok)
		w.start = w.start.Add(bucket)
		if now.Sub(w.start) > 2*streamWindow { // long idle: reset
			w.ok, w.lim, w.firstIdx = [10]int{}, [10]int{}, 0
			w.start = now.Truncate(bucket)
		}
	}
}

func (w *window) add(now time.Time, limited bool) {
	w.advance(now)
	i := (w.firstIdx + int(now.Sub(w.start)/bucket)) % len(w.ok)
	if limited {
		w.lim[i]++
	} else {
		w.ok[i]++
	}
}

func (w *window) counts(now time.Time) (ok, limited int) {
	w.advance(now)
	for i := range w.ok {
		ok += w.ok[i]
		limited += w.lim[i]
	}
	return ok, limited
}

// outage tracks how long the API has given no answer of any kind (only
// 429s, 5xx answers, failed connections or timeouts): the one place that
// decides when to warn and when to give up. Its methods are safe for
// concurrent use; they take the time so tests can pass their own.
type outage struct {
	maxWait   time.Duration // give up after this long; <= 0: never
	warnAfter time.Duration // the first warning
	warnEvery time.Duration // the ones after it

	mu     sync.Mutex
	since  time.Time      // the first unanswered call; zero while the API answers
	warned time.Time      // the last warning of this outage; zero: none yet
	counts map[string]int // what the API did during this outage
	last   string         // the last unanswered call, described
}

// Outage timing: the first warning comes 30 s into an outage (sooner when
// --max-wait is shorter than a minute), then one every 5 minutes.
const (
	outageWarnAfter = 30 * time.Second
	outageWarnEvery = 5 * time.Minute
)

func newOutage(maxWait time.Duration) *outage {
	o := &outage{maxWait: maxWait, warnAfter: outageWarnAfter, warnEvery: outageWarnEvery, counts: map[string]int{}}
	if maxWait > 0 && maxWait < 2*outageWarnAfter {
		o.warnAfter = maxWait / 2
	}
	return o
}

// observe records one call's outcome: answered (any answer, a busy one or
// an error the run cannot retry included) or not (label says how, what in
// full). When an answer ends an outage that was warned about, it returns
// how long the outage lasted (else 0).
func (o *outage) observe(now time.Time, answered bool, label, what string) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if answered {
		var lasted time.Duration
		if !o.since.IsZero() && !o.warned.IsZero() {
			lasted = now.Sub(o.since)
		}
		o.since, o.warned, o.last = time.Time{}, time.Time{}, ""
		clear(o.counts)
		return lasted
	}
	if o.since.IsZero() {
		o.since = now
	}
	o.counts[label]++
	o.last = what
	return 0
}

// due says what an outage calls for at now: a warning line to log, or the
// error to give up with (or neither).
func (o *outage) due(now time.Time) (warn string, giveUp *FatalError) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return "", nil
	}
	lasted := now.Sub(o.since)
	if o.maxWait > 0 && lasted >= o.maxWait {
		return "", &FatalError{Outage: fmt.Sprintf("no answer from the API for %s (%s; last: %s): giving up after --max-wait %s. "+
			"The checkpoint is saved: run the same command again to resume once the API answers (finished rows will not be re-sent)",
			lasted.Round(time.Second), o.tally(), o.last, o.maxWait)}
	}
	if lasted < o.warnAfter || (!o.warned.IsZero() && now.Sub(o.warned) < o.warnEvery) {
		return "", nil
	}
	o.warned = now
	msg := fmt.Sprintf("no answer from the API for %s: %s; last: %s; still retrying", lasted.Round(time.Second), o.tally(), o.last)
	if o.maxWait > 0 {
		msg += fmt.Sprintf(" (giving up after --max-wait %s)", o.maxWait)
	}
	return msg, nil
}

// tally lists what the API did during the outage, most frequent first.
func (o *outage) tally() string {
	labels := make([]string, 0, len(o.counts))
	for l := range o.counts {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool {
		if o.counts[labels[i]] != o.counts[labels[j]] {
			return o.counts[labels[i]] > o.counts[labels[j]]
		}
		return labels[i] < labels[j]
	})
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = fmt.Sprintf("%d× %s", o.counts[l], l)
	}
	return strings.Join(parts, ", ")
}

// WatchOutages makes the pacer track outages (see outage) until ctx ends:
// it logs a warning 30 s into one, a line when answers come back, and calls
// giveUp once maxWait has passed with no answer (maxWait <= 0: never).
// Call it before the first Call.
func (p *Pacer) WatchOutages(ctx context.Context, maxWait time.Duration, log *slog.Logger, giveUp func(*FatalError)) {
	p.out, p.log = newOutage(maxWait), log
	tick := time.Second
	if p.out.warnAfter < 4*tick {
		tick = max(p.out.warnAfter/4, 10*time.Millisecond)
	}
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			warn, fatal := p.out.due(p.now())
			if warn != "" {
				log.Warn(warn)
			}
			if fatal != nil {
				giveUp(fatal)
				return
			}
		}
	}()
}

// heard records what a call's verdict says about the API being there.
func (p *Pacer) heard(v Verdict) {
	if p.out == nil || (!v.Answered && v.NoAnswer == "") {
		return
	}
	if lasted := p.out.observe(p.now(), v.Answered, v.NoAnswer, v.What); lasted > 0 {
		p.log.Info(fmt.Sprintf("the API answers again after %s without an answer", lasted.Round(time.Second)))
	}
}

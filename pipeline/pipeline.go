// Package pipeline runs an enrichment as one pipeline of stages joined by
// channels (read.go -> prepare.go -> call.go -> collect.go):
//
//	read     rows from the Source, in input order, each carrying its cells
//	prepare  normalise, validate, dedupe, skip what the checkpoint already
//	         answered, look the rest up in the answer cache
//	call     a bounded pool of workers; pacing and retries are one concern
//	         with one entry point (Pacer.Call) over x/time/rate
//	collect  one goroutine takes the rows back in input order as they
//	         settle, records them in the checkpoint and writes the output
//
// A dry run is the same pipeline with a caller that sends nothing and a
// checkpoint and output that keep nothing. Per-row failures are data: they
// are recorded and written out. Only fatal errors (the API refusing the
// token or the balance, the checkpoint, the sink, the input) end a run;
// then dispatch stops, calls in flight finish, and the checkpoint is
// flushed so that the same command resumes.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"cardbatch/billing"
	"cardbatch/cache"
	"cardbatch/cardapi"
	"cardbatch/checkpoint"
	"cardbatch/sinks"
	"cardbatch/sources"
)

// Source is the input, read in order. Next blocks until the next row is
// read; it returns io.EOF after the last row and never a row and an error
// together. TotalHint is the number of data rows when known cheaply, else
// a value < 0.
type Source interface {
	Header() []string
	CardColumn() int
	TotalHint() int
	Next(ctx context.Context) (sources.Row, error)
	Close() error
}

// Sink receives the output rows in input order; nothing is visible until
// Commit, and Abort leaves any earlier output untouched.
type Sink interface {
	Write(row sources.Row, a sinks.Answer) error
	Commit(sum *billing.Summary) error
	Abort() error
}

// AnswerCache is the answer cache shared across runs. GetMany never
// returns an answer older than maxAge (hits are keyed by string(mac)); Put
// returns once the answer is stored (and this run's claim on the card
// released), and Flush once every answer Put by other goroutines is. Acquire and
// Release are the claims that make concurrent runs pay once per card
// (claim.go). All methods are safe for concurrent use.
type AnswerCache interface {
	Key() []byte
	// Empty reports whether the cache holds no answer: a run that starts on
	// an empty cache skips its lookups (only answers this run puts could
	// hit, and those are for cards it has already seen).
	Empty(ctx context.Context) (bool, error)
	GetMany(ctx context.Context, macs [][]byte, maxAge time.Duration) (map[string]cache.Entry, error)
	Put(ctx context.Context, e cache.Entry) error
	Flush(ctx context.Context) error
	// Acquire claims the card for this run for lease (or renews this run's
	// claim), unless an answer younger than maxAge is stored (returned in
	// the Claim, no claim held) or another run's claim is live (its holder
	// is returned). It blocks for one short transaction.
	Acquire(ctx context.Context, mac []byte, lease, maxAge time.Duration) (cache.Claim, error)
	// Release drops this run's claim on the card (its call gave no answer
	// to store).
	Release(ctx context.Context, mac []byte) error
}

// Config is everything a run needs. The zero value of optional fields means
// the documented default.
type Config struct {
	InputPath  string               // the input file (for its fingerprint)
	Source     Source               // the input, open and unread (the caller closes it)
	CreateSink func() (Sink, error) // creates the output
	// CountRows counts the input's rows beside the run, for the progress
	// total when the source cannot tell it cheaply (may be nil).
	CountRows  func(ctx context.Context) (int, error)
	OutputPath string            // the output file, to tell whether it is still as written
	Store      *checkpoint.Store // the checkpoint, open read-write (read only by a dry run; may be nil there)
	Key        []byte            // the HMAC key for row keys
	Caller     cardapi.Caller    // makes one API call
	Settings   map[string]string // settings that change answers (a change refuses to resume)
	Restart    bool              // discard the checkpoint's run and start over
	// Shard limits the run to shard K of N (cards split by their keyed
	// digest under Key); the zero value processes every row. The caller
	// puts Shard.String() in Settings under ShardSetting.
	Shard Shard

	Rate        float64       // calls per second, at most; 0 = unlimited
	Burst       int           // token bucket burst; 0 = 1
	Concurrency int           // calls in flight, at most; 0 = 32
	Retries     int           // attempts after the first for retryable outcomes
	RetryBase   time.Duration // first backoff; 0 = 1s (then 2s, 4s, ... plus jitter)
	RetryMax    time.Duration // backoff cap; 0 = 16s
	Timeout     time.Duration // the Caller's per-request timeout, for claims' leases; 0 = 30s
	NoLuhn      bool          // send Luhn failures anyway
	MaxCharged  int64         // stop before charged calls exceed this; < 0 = unlimited
	MaskOutput  bool          // mask the card column in the output
	Price       float64       // price of one charged call, for the summary's estimated_cost (0 = not given)

	Cache    AnswerCache   // the cross-run answer cache; nil = off
	CacheTTL time.Duration // how old a cached answer may be
	// CacheNamespace separates answers of different APIs (the simulator's
	// from the provider's) inside one cache: it is part of every cache key.
	CacheNamespace string

	// CheckRow, when set, says whether a row can be written to the output
	// (sinks.Options.FitsRow); a row it refuses stops the run with a
	// UsageError before that row's call is made. May be nil.
	CheckRow func(sources.Row) error
	// MaxWait is how long the API may give nothing but 429s, 5xx answers or
	// no connection before the run gives up (a FatalError with Outage set;
	// resumable); 0 = 15 minutes, < 0 = never.
	MaxWait time.Duration

	Stop     <-chan struct{} // closed to stop gracefully (first SIGINT); ctx ends a run at once
	Logger   *slog.Logger
	Progress Reporter // may be nil
}

// Outcome says how a run ended.
type Outcome string

// Run outcomes, recorded with each attempt.
const (
	Finished    Outcome = "finished"    // every row has a final answer
	FailedRows  Outcome = "failed_rows" // finished, some rows still failed or busy
	Fatal       Outcome = "fatal"       // the API refused the run (token, balance, ...)
	Interrupted Outcome = "interrupted" // stopped by a signal
	Budget      Outcome = "budget"      // stopped at --max-charged
)

// Result is what a run did.
type Result struct {
	Outcome Outcome
	Summary *billing.Summary
	// InDoubtRecovered is the number of rows an earlier, killed attempt left
	// in flight (they were re-sent by this one).
	InDoubtRecovered int64
	// Fatal is the API's fatal answer when Outcome is Fatal.
	Fatal *FatalError
	// OutputWritten reports whether the output was (re)written.
	OutputWritten bool
}

// FatalError is a fatal API answer: the run stops and resumes later.
type FatalError struct {
	HTTPStatus int
	Code       string
	Message    string
	// Outage, when set, is why the run gave up: the API gave no answer
	// for --max-wait. It is the whole message.
	Outage string
}

func (e *FatalError) Error() string {
	if e.Outage != "" {
		return e.Outage
	}
	msg := fmt.Sprintf("the API refused the run: HTTP %d", e.HTTPStatus)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += " (" + e.Message + ")"
	}
	return msg + ": " + e.Hint()
}

// Hint says what the user should do next.
func (e *FatalError) Hint() string {
	switch e.Code {
	case "used_up":
		return "top up the balance, then run the same command again; finished rows will not be re-sent"
	case "invalid_token", "token_expired", "no_token":
		return "check ACEDATA_TOKEN (or --token-file), then run the same command again"
	case "token_mismatched":
		return "the token is not valid for this API: use a token for Bank Card Basic Information Query, then run the same command again"
	case "disabled", "forbidden":
		return "the account or the API is disabled: contact the provider, then run the same command again"
	case "no_api", "api_not_implemented":
		return "the endpoint does not serve this API: check --endpoint"
	case "bad_request":
		return "the API rejected the request as malformed: check --endpoint; if it persists, report it as a cardbatch bug"
	}
	switch e.HTTPStatus {
	case 401:
		return "check ACEDATA_TOKEN (or --token-file), then run the same command again"
	case 403:
		return "the account may be out of balance or disabled: check it, then run the same command again"
	case 404:
		return "check --endpoint"
	}
	return "fix the cause, then run the same command again; finished rows will not be re-sent"
}

// UsageError is a problem the user must fix before anything is sent (exit 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func (c *Config) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 16 * time.Second
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Burst <= 0 {
		c.Burst = 1
	}
	if c.MaxWait == 0 {
		c.MaxWait = 15 * time.Minute
	}
}

// decorate adds what the checkpoint does not know to a summary: the price.
func (c *Config) decorate(sum *billing.Summary) *billing.Summary {
	if sum != nil && c.Price > 0 {
		sum.Price = c.Price
		sum.EstimatedCost = float64(sum.ChargedCalls) * c.Price
	}
	return sum
}

func stateFor(result string) checkpoint.State {
	switch result {
	case billing.ResultOK:
		return checkpoint.OK
	case billing.ResultNotFound:
		return checkpoint.NotFound
	case billing.ResultNotExist:
		return checkpoint.CardNotExist
	case billing.ResultBusy:
		return checkpoint.Busy
	}
	return checkpoint.Unknown
}

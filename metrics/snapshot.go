package metrics

import (
	"maps"
	"time"
)

// Snapshot holds a run's figures at one moment, as the pipeline counts them
// over the whole run (resumed attempts included). The Exporter keeps its own
// copy of the maps, so the caller may reuse them after Update returns.
type Snapshot struct {
	CallsByResult  map[string]int64 // result label (see the package doc) -> calls
	CallsByBilling map[string]int64 // charged, free, unknown, none -> calls
	RowsByStatus   map[string]int64 // the output's status column -> rows
	RetriesByCause map[string]int64 // busy, http_429, http_5xx, network -> retries
	InDoubt        int64            // calls that may have been charged, answer lost
	ChargedCalls   int64            // the summary's charged_calls
	EstimatedCost  float64          // 0 when no price was given
	RateLimit      float64          // --rate, calls per second
	AchievedRate   float64          // calls per second over the run
	Start          time.Time        // when the run began; the duration is Now - Start
	Now            time.Time        // when the figures were taken
	Success        bool             // the run finished with every row answered: sets the last-success time to Now
}

// Label values of cardbatch_calls_total{result} for calls that got no result
// code; an answer's own code ("0", "-1", ...) is its label value.
const (
	ResultHTTP429  = "http_429"  // HTTP 429 Too Many Requests
	ResultHTTP4xx  = "http_4xx"  // any other HTTP 4xx
	ResultHTTP5xx  = "http_5xx"  // any HTTP 5xx
	ResultNoAnswer = "no_answer" // network error or timeout: no HTTP answer
)

// Label values of cardbatch_calls_by_billing_total{billing}.
const (
	BillingCharged = "charged" // result 0 or -1
	BillingFree    = "free"    // result -2 or -3, and HTTP errors
	BillingUnknown = "unknown" // an undocumented result code
	BillingNone    = "none"    // no answer came back
)

// Label values of cardbatch_retries_total{cause}.
const (
	RetryBusy    = "busy"     // result -2, the verification centre was busy
	RetryHTTP429 = "http_429" // HTTP 429
	RetryHTTP5xx = "http_5xx" // HTTP 5xx
	RetryNetwork = "network"  // network error or timeout
)

// knownResults are the result labels always exported, zero when absent.
func knownResults() []string {
	return []string{"0", "-1", "-2", "-3", ResultHTTP429, ResultHTTP4xx, ResultHTTP5xx, ResultNoAnswer}
}

func knownBilling() []string {
	return []string{BillingCharged, BillingFree, BillingUnknown, BillingNone}
}

// knownStatuses are the output's status values (the CLI contract).
func knownStatuses() []string {
	return []string{"ok", "not_found", "card_not_exist", "busy", "invalid", "duplicate", "cached", "failed", "skipped"}
}

func knownCauses() []string {
	return []string{RetryBusy, RetryHTTP429, RetryHTTP5xx, RetryNetwork}
}

// clone returns s with its own copies of the maps.
func (s Snapshot) clone() Snapshot {
	s.CallsByResult = maps.Clone(s.CallsByResult)
	s.CallsByBilling = maps.Clone(s.CallsByBilling)
	s.RowsByStatus = maps.Clone(s.RowsByStatus)
	s.RetriesByCause = maps.Clone(s.RetriesByCause)
	return s
}

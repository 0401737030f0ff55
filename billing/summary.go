package billing

import "time"

// Summary is the billing summary of a run, counted over every attempt of it
// (a resumed run adds to the counts of the attempts before it). Its JSON keys
// are part of the command-line contract.
//
// Invariant: APICalls == ChargedCalls + FreeCalls + InDoubt for calls that
// were sent; ChargedCalls counts answers whose class is Charged or Unknown
// (UnknownCalls says how many of them were Unknown).
type Summary struct {
	Rows          int              `json:"rows"`                     // data rows read
	APICalls      int64            `json:"api_calls"`                // HTTP requests sent, retries included
	ChargedCalls  int64            `json:"charged_calls"`            // answers with a charged (or undocumented) result code
	FreeCalls     int64            `json:"free_calls"`               // answers with a free result code, plus HTTP errors
	ByResult      map[string]int64 `json:"by_result"`                // answers by result code
	Invalid       int              `json:"invalid"`                  // rows not sent: no valid card number
	Duplicates    int              `json:"duplicates"`               // rows answered from an earlier row of the run
	Failed        int              `json:"failed"`                   // rows with no final answer (still resumable)
	InDoubt       int64            `json:"in_doubt"`                 // calls that may have been charged but whose answer was lost
	UnknownCalls  int64            `json:"unknown_result_calls"`     // answers with an undocumented result code (counted as charged)
	ByHTTPStatus  map[string]int64 `json:"by_http_status,omitempty"` // non-200 answers by HTTP status
	CacheHits     int              `json:"cache_hits"`               // rows answered from the answer cache
	Skipped       int              `json:"skipped"`                  // rows not sent because the run stopped early
	Done          int              `json:"done"`                     // rows with a final answer
	ByStatus      map[string]int   `json:"by_status"`                // rows by output status
	Attempts      []Attempt        `json:"attempts"`                 // one entry per run or resume of this checkpoint
	Price         float64          `json:"price,omitempty"`          // per charged call, when --price is given
	EstimatedCost float64          `json:"estimated_cost,omitempty"` // ChargedCalls × Price
	ByBank        map[string]int   `json:"by_bank,omitempty"`        // answered rows by issuing bank
	ByCardType    map[string]int   `json:"by_card_type,omitempty"`   // answered rows by card nature
	// OtherShard counts the rows of a `run --shard K/N` that belong to
	// another shard: neither sent nor counted in any other row count.
	OtherShard int `json:"other_shard,omitempty"`
	// Shards lists the bill of every shard in a merged summary (`merge`);
	// the calls above are their sums, the rows are counted over the whole file.
	Shards []ShardBill `json:"shards,omitempty"`
}

// ShardBill is what one shard of a sharded run sent and was charged, with
// its attempts (each shard has its own token, so its own provider statement).
type ShardBill struct {
	Shard        int              `json:"shard"`  // K of `--shard K/N`
	Shards       int              `json:"shards"` // N
	Checkpoint   string           `json:"checkpoint"`
	APICalls     int64            `json:"api_calls"`
	ChargedCalls int64            `json:"charged_calls"`
	FreeCalls    int64            `json:"free_calls"`
	InDoubt      int64            `json:"in_doubt"`
	ByResult     map[string]int64 `json:"by_result"`
	Attempts     []Attempt        `json:"attempts"`
}

// Attempt is one invocation of `run` on a checkpoint: what it sent and what
// it was charged, so that a resumed run can be reconciled call by call
// against the provider's statement.
type Attempt struct {
	Number       int              `json:"attempt"`
	StartedAt    time.Time        `json:"started_at"`
	FinishedAt   *time.Time       `json:"finished_at,omitempty"`
	APICalls     int64            `json:"api_calls"`
	ChargedCalls int64            `json:"charged_calls"`
	FreeCalls    int64            `json:"free_calls"`
	InDoubt      int64            `json:"in_doubt"`
	ByResult     map[string]int64 `json:"by_result"`
	Outcome      string           `json:"outcome,omitempty"` // finished, failed_rows, fatal, interrupted, budget, killed
	// Shard is the shard the attempt ran (in a merged summary only).
	Shard *int `json:"shard,omitempty"`
}

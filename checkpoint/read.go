package checkpoint

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"cardbatch/billing"
)

// Answered is a row as the output shows it: a Duplicate row carries the
// answer of the row it repeats (Source is that row's index).
type Answered struct {
	RowRecord
	// OrigState is the state of the row whose answer this is (the row itself,
	// or for a Duplicate, the first row with the same card).
	OrigState State
}

// Scan calls fn for every recorded row in index order. Rows that were never
// recorded are simply absent; the caller merges by index. fn's error stops
// the scan and is returned.
func (s *Store) Scan(ctx context.Context, fn func(a *Answered) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT r.idx, r.state, COALESCE(r.dup_of, -1),
		COALESCE(o.state, r.state), COALESCE(o.result, r.result), COALESCE(o.description, r.description),
		COALESCE(o.account_bank, r.account_bank), COALESCE(o.account_type, r.account_type),
		r.billing, r.attempts, r.http_status, r.error, COALESCE(o.error, ''), COALESCE(o.answered_at, r.answered_at)
		FROM rows r LEFT JOIN rows o ON r.state = 'duplicate' AND o.idx = r.dup_of
		ORDER BY r.idx`)
	if err != nil {
		return fmt.Errorf("read checkpoint rows: %w", err)
	}
	defer rows.Close()
	var a Answered
	var st, ost, bill, origErr string
	var at int64
	for rows.Next() {
		if err := rows.Scan(intCol{&a.Idx}, &st, intCol{&a.DupOf}, &ost, &a.Result, &a.Description, &a.AccountBank,
			intCol{&a.AccountType}, &bill, intCol{&a.Attempts}, intCol{&a.HTTPStatus}, &a.Error, &origErr, &at); err != nil {
			return err
		}
		a.At = time.Time{}
		if at != 0 {
			a.At = time.Unix(at, 0).UTC()
		}
		a.State, a.OrigState, a.Billing = State(st), State(ost), billing.Class(bill)
		if a.State == Duplicate && a.Error == "" && !a.OrigState.Final() {
			a.Error = origErr
		}
		if err := fn(&a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Tally counts a run's rows: by state, and the answered ones (result "0",
// duplicates with their original's answer) by bank and by card type. Fill
// it with Add while scanning, or get it from Store.Tally.
type Tally struct {
	ByState    map[State]int
	ByBank     map[string]int
	ByCardType map[int]int
}

// NewTally returns an empty Tally.
func NewTally() *Tally {
	return &Tally{ByState: map[State]int{}, ByBank: map[string]int{}, ByCardType: map[int]int{}}
}

// Add counts one row as Scan delivers it.
func (t *Tally) Add(a *Answered) {
	t.ByState[a.State]++
	if (a.OrigState == OK || a.OrigState == Cached) && a.Result == billing.ResultOK {
		t.ByBank[a.AccountBank]++
		t.ByCardType[a.AccountType]++
	}
}

// Tally counts the recorded rows with two grouped queries (no row is read
// into Go): what Summary reports about rows.
func (s *Store) Tally(ctx context.Context) (*Tally, error) {
	t := NewTally()
	srows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM rows GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer srows.Close()
	for srows.Next() {
		var st string
		var n int
		if err := srows.Scan(&st, &n); err != nil {
			return nil, err
		}
		t.ByState[State(st)] += n
	}
	if err := srows.Err(); err != nil {
		return nil, err
	}
	// Answered rows (duplicates count with their original's answer).
	brows, err := s.db.QueryContext(ctx, `SELECT COALESCE(o.account_bank, r.account_bank), COALESCE(o.account_type, r.account_type), COUNT(*)
		FROM rows r LEFT JOIN rows o ON r.state = 'duplicate' AND o.idx = r.dup_of
		WHERE COALESCE(o.state, r.state) IN ('ok', 'cached') AND COALESCE(o.result, r.result) = '0'
		GROUP BY 1, 2`)
	if err != nil {
		return nil, err
	}
	defer brows.Close()
	for brows.Next() {
		var bank string
		var typ, n int
		if err := brows.Scan(&bank, &typ, &n); err != nil {
			return nil, err
		}
		t.ByBank[bank] += n
		t.ByCardType[typ] += n
	}
	return t, brows.Err()
}

// Summary computes the billing summary over every attempt of the run.
// Rows is the run's total when known, else the number of rows recorded.
func (s *Store) Summary(ctx context.Context) (*billing.Summary, error) {
	t, err := s.Tally(ctx)
	if err != nil {
		return nil, err
	}
	return s.SummaryFrom(ctx, t)
}

// Calls returns the billing part of the summary only (the attempts and
// their calls), without reading the rows: what a budget needs.
func (s *Store) Calls(ctx context.Context) (*billing.Summary, error) {
	return s.SummaryFrom(ctx, nil)
}

// SummaryFrom is Summary with the rows counted by t (a Tally of every
// recorded row). With t nil, only the attempts and their calls are filled.
func (s *Store) SummaryFrom(ctx context.Context, t *Tally) (*billing.Summary, error) {
	sum := &billing.Summary{ByResult: map[string]int64{}, ByStatus: map[string]int{},
		ByHTTPStatus: map[string]int64{}, ByBank: map[string]int{}, ByCardType: map[string]int{}}
	arows, err := s.db.QueryContext(ctx, `SELECT n, started_at, finished_at, api_calls, charged_calls, free_calls,
		in_doubt, unknown_calls, by_result, by_status, COALESCE(outcome, '') FROM attempts ORDER BY n`)
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		var a billing.Attempt
		var started, br, bs string
		var finished sql.NullString
		var unknown int64
		if err := arows.Scan(&a.Number, &started, &finished, &a.APICalls, &a.ChargedCalls, &a.FreeCalls,
			&a.InDoubt, &unknown, &br, &bs, &a.Outcome); err != nil {
			return nil, err
		}
		a.StartedAt, _ = time.Parse(timeLayout, started)
		if finished.Valid {
			t, _ := time.Parse(timeLayout, finished.String)
			a.FinishedAt = &t
		}
		a.ByResult = map[string]int64{}
		_ = json.Unmarshal([]byte(br), &a.ByResult)
		byStatus := map[string]int64{}
		_ = json.Unmarshal([]byte(bs), &byStatus)
		sum.Attempts = append(sum.Attempts, a)
		sum.APICalls += a.APICalls
		sum.ChargedCalls += a.ChargedCalls
		sum.FreeCalls += a.FreeCalls
		sum.InDoubt += a.InDoubt
		sum.UnknownCalls += unknown
		for k, v := range a.ByResult {
			sum.ByResult[k] += v
		}
		for k, v := range byStatus {
			sum.ByHTTPStatus[k] += v
		}
	}
	if err := arows.Err(); err != nil {
		return nil, err
	}
	if t == nil {
		return sum, nil
	}
	recorded := t.Count(sum)
	run, err := s.LoadRun(ctx)
	if err != nil {
		return nil, err
	}
	sum.Rows = recorded
	if run != nil && run.TotalRows >= 0 {
		sum.Rows = run.TotalRows
		if unrecorded := run.TotalRows - recorded; unrecorded > 0 {
			// Rows the run has not reached yet (stopped early).
			sum.Skipped += unrecorded
			sum.ByStatus[string(Skipped)] += unrecorded
		}
	}
	return sum, nil
}

// Count adds the rows t counted to sum's row counts (invalid, duplicates,
// cache hits, skipped, done, failed, other_shard, by status, bank and card
// type) and returns how many rows it counted. Rows of another shard are
// counted only as other_shard.
func (t *Tally) Count(sum *billing.Summary) (recorded int) {
	for state, n := range t.ByState {
		recorded += n
		if state == OtherShard {
			sum.OtherShard += n
			continue
		}
		switch state {
		case Invalid:
			sum.Invalid += n
		case Duplicate:
			sum.Duplicates += n
		case Cached:
			sum.CacheHits += n
		case Skipped:
			sum.Skipped += n
		}
		if state.Final() {
			sum.Done += n
		} else if state != Skipped {
			sum.Failed += n // busy, failed, pending, in_doubt: no final answer yet
		}
		sum.ByStatus[string(state.OutputStatus())] += n
	}
	for bank, n := range t.ByBank {
		if bank == "" {
			bank = "(unknown)"
		}
		sum.ByBank[bank] += n
	}
	for typ, n := range t.ByCardType {
		name := billing.AccountTypeName(typ)
		if name == "" {
			name = "(unknown)"
		}
		sum.ByCardType[name] += n
	}
	return recorded
}

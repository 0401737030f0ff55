package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cardbatch/billing"
	"cardbatch/internal/cardkey"
	"cardbatch/internal/sqlitedb"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.checkpoint.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// journalRows returns the rows j's slots hold now.
func journalRows(t *testing.T, j *journal) []int {
	t.Helper()
	rows, err := j.used()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func startRun(t *testing.T, s *Store) {
	t.Helper()
	err := s.StartRun(context.Background(), Run{InputPath: "in.csv", InputSize: 10, InputModTime: time.Unix(100, 5),
		InputHash: "abc", Settings: "[]", SettingsHash: "h", KeyCheck: "k", TotalRows: -1})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenWALModeAndFileMode(t *testing.T) {
	s, path := openTemp(t)
	var jm string
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&jm); err != nil || jm != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", jm, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint mode %o, want 600", st.Mode().Perm())
	}
	// Reopening an existing checkpoint keeps the schema and works.
	s2, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "missing", "x.db")); err == nil ||
		!strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing folder: %v", err)
	}
}

func TestRunRoundTripAndRestart(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	if r, err := s.LoadRun(ctx); err != nil || r != nil {
		t.Fatalf("empty checkpoint: %v %v", r, err)
	}
	startRun(t, s)
	r, err := s.LoadRun(ctx)
	if err != nil || r == nil {
		t.Fatal(r, err)
	}
	if r.InputHash != "abc" || r.InputSize != 10 || !r.InputModTime.Equal(time.Unix(100, 5)) || r.TotalRows != -1 {
		t.Fatalf("run = %+v", r)
	}
	n, _, err := s.BeginAttempt(ctx, 4)
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
	w, _ := s.NewWriter(ctx, n)
	w.Record(RowRecord{Idx: 0, State: OK, Result: "0"}, &CallRecord{Billing: billing.Charged, Result: "0", HTTPStatus: 200})
	if err := w.Slot(1).Begin(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// StartRun again wipes rows, attempts and the in-flight journal.
	startRun(t, s)
	if _, err := os.Stat(s.JournalPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the journal of the earlier run is still there (%v)", err)
	}
	sum, err := s.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.APICalls != 0 || sum.Done != 0 || len(sum.Attempts) != 0 {
		t.Fatalf("after restart: %+v", sum)
	}
}

func TestWriterCountsAndSummary(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	startRun(t, s)
	n, _, _ := s.BeginAttempt(ctx, 4)
	w, err := s.NewWriter(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	h := cardkey.NewHasher([]byte("0123456789abcdef0123"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	sl := w.Slot(0)
	must(sl.Begin(ctx, 0))
	// Row 0: busy, then 429, then ok.
	must(sl.Record(RowRecord{Idx: 0, CardHMAC: h.Sum("6222020200112233445"), State: Retrying, Attempts: 1}, &CallRecord{Billing: billing.Free, Result: "-2", HTTPStatus: 200}))
	must(w.Record(RowRecord{Idx: 0, State: Retrying, Attempts: 2}, &CallRecord{Billing: billing.Free, HTTPStatus: 429}))
	must(w.Record(RowRecord{Idx: 0, State: OK, Result: "0", Description: "Query successful",
		AccountBank: "Industrial and Commercial Bank of China", AccountType: 1, Billing: billing.Charged, Attempts: 3},
		&CallRecord{Billing: billing.Charged, Result: "0", HTTPStatus: 200}))
	// Row 1: a duplicate of row 0; row 2 invalid; row 3 not found; row 4 timeout then failed; row 5 unknown code.
	must(w.Record(RowRecord{Idx: 1, State: Duplicate, DupOf: 0}, nil))
	must(w.Record(RowRecord{Idx: 2, State: Invalid, Error: "fails the Luhn check"}, nil))
	must(w.Record(RowRecord{Idx: 3, State: NotFound, Result: "-1", Billing: billing.Charged, Attempts: 1},
		&CallRecord{Billing: billing.Charged, Result: "-1", HTTPStatus: 200}))
	must(w.Record(RowRecord{Idx: 4, State: Failed, Attempts: 1, Error: "timeout"}, &CallRecord{Billing: billing.Unknown}))
	must(w.Record(RowRecord{Idx: 5, State: Unknown, Result: "-5", Billing: billing.Charged, Attempts: 1},
		&CallRecord{Billing: billing.Unknown, Result: "-5", HTTPStatus: 200}))
	// A call that never left (connection refused) is not counted.
	must(w.Record(RowRecord{Idx: 6, State: Failed, Attempts: 1}, &CallRecord{Billing: billing.None}))
	must(w.Close())
	must(s.SetTotalRows(ctx, 8))

	sum, err := s.Summary(ctx)
	must(err)
	checks := []struct {
		name      string
		got, want int64
	}{
		{"rows", int64(sum.Rows), 8},
		{"api_calls", sum.APICalls, 6},
		{"charged_calls", sum.ChargedCalls, 3}, // 0, -1 and the undocumented -5
		{"free_calls", sum.FreeCalls, 2},       // -2 and 429
		{"in_doubt", sum.InDoubt, 1},           // the timeout
		{"unknown_result_calls", sum.UnknownCalls, 1},
		{"invalid", int64(sum.Invalid), 1},
		{"duplicates", int64(sum.Duplicates), 1},
		{"failed", int64(sum.Failed), 2},   // rows 4 and 6
		{"skipped", int64(sum.Skipped), 1}, // row 7 never recorded
		{"done", int64(sum.Done), 5},
		{"by_result 0", sum.ByResult["0"], 1},
		{"by_result -2", sum.ByResult["-2"], 1},
		{"by_result -5", sum.ByResult["-5"], 1},
		{"by_http_status 429", sum.ByHTTPStatus["429"], 1},
		{"by_bank ICBC", int64(sum.ByBank["Industrial and Commercial Bank of China"]), 2}, // row 0 and its duplicate
		{"by_card_type debit", int64(sum.ByCardType["debit"]), 2},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if len(sum.Attempts) != 1 || sum.Attempts[0].ChargedCalls != 3 {
		t.Errorf("attempts = %+v", sum.Attempts)
	}

	// Scan gives rows in order with the duplicate carrying row 0's answer;
	// a Tally filled from it gives the same summary as the grouped queries.
	var got []string
	tally := NewTally()
	must(s.Scan(ctx, func(a *Answered) error {
		tally.Add(a)
		got = append(got, string(a.State)+":"+a.Result+":"+a.AccountBank)
		if a.Idx == 1 && (a.DupOf != 0 || a.OrigState != OK || a.Billing != billing.None) {
			t.Errorf("duplicate row: %+v", a)
		}
		return nil
	}))
	want := []string{"ok:0:Industrial and Commercial Bank of China", "duplicate:0:Industrial and Commercial Bank of China",
		"invalid::", "not_found:-1:", "failed::", "unknown_result:-5:", "failed::"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("scan:\n got %v\nwant %v", got, want)
	}
	fromScan, err := s.SummaryFrom(ctx, tally)
	must(err)
	if !reflect.DeepEqual(sum, fromScan) {
		t.Errorf("summary from a scanned tally differs from the grouped one:\n%+v\n%+v", *fromScan, *sum)
	}
	calls, err := s.Calls(ctx)
	must(err)
	if calls.ChargedCalls != sum.ChargedCalls || calls.InDoubt != sum.InDoubt || calls.APICalls != sum.APICalls || calls.Rows != 0 {
		t.Errorf("Calls = %+v, want the calls of %+v and no rows", calls, sum)
	}

	done, err := s.Done(ctx)
	must(err)
	for i, want := range []bool{true, true, true, true, false, true, false, false} {
		if done.Has(i) != want {
			t.Errorf("done[%d] = %v, want %v", i, done.Has(i), want)
		}
	}
}

func TestInFlightRowsBecomeInDoubt(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	startRun(t, s)
	n, _, _ := s.BeginAttempt(ctx, 4)
	w, _ := s.NewWriter(ctx, n)
	// Worker 0: row 0 answered and committed, then row 3 in flight.
	// Worker 1: row 1 in flight. Worker 2: row 2 answered (retrying), ended.
	// Worker 3: row 4 answered, queued, its slot never reused.
	s0, s1, s2, s3 := w.Slot(0), w.Slot(1), w.Slot(2), w.Slot(3)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s0.Begin(ctx, 0))
	must(s0.Record(RowRecord{Idx: 0, State: OK, Result: "0", Billing: billing.Charged}, &CallRecord{Billing: billing.Charged, Result: "0", HTTPStatus: 200}))
	must(s0.Begin(ctx, 3))
	must(s1.Begin(ctx, 1))
	must(s2.Begin(ctx, 2))
	must(s2.Record(RowRecord{Idx: 2, State: Retrying, Result: "-2", Attempts: 1}, &CallRecord{Billing: billing.Free, Result: "-2", HTTPStatus: 200}))
	must(s2.End(ctx))
	must(s3.Begin(ctx, 4))
	must(s3.Record(RowRecord{Idx: 4, State: NotFound, Result: "-1", Billing: billing.Charged}, &CallRecord{Billing: billing.Charged, Result: "-1", HTTPStatus: 200}))
	if err := s1.Begin(ctx, 5); err == nil {
		t.Error("Begin on a slot whose row has no record must fail")
	}
	must(w.Close())
	if got := journalRows(t, s.journal); fmt.Sprint(got) != "[3 1 4]" {
		t.Fatalf("journal holds %v, want [3 1 4]", got)
	}
	s.Close() // the process "dies" with rows 3 and 1 in flight

	st2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	n2, inDoubt, err := st2.BeginAttempt(ctx, 2)
	// Row 4 is in the journal but its answer was committed: not in doubt.
	if err != nil || n2 != 2 || inDoubt != 2 {
		t.Fatalf("BeginAttempt = %d, %d, %v; want 2, 2", n2, inDoubt, err)
	}
	sum, _ := st2.Summary(ctx)
	if sum.InDoubt != 2 || sum.Attempts[0].Outcome != "killed" || sum.Attempts[0].InDoubt != 2 ||
		sum.ByStatus[string(Failed)] != 3 || sum.ByStatus[string(InDoubt)] != 0 || sum.ByStatus[string(Retrying)] != 0 {
		t.Fatalf("summary after crash: in_doubt %d, by status %v, attempts %+v", sum.InDoubt, sum.ByStatus, sum.Attempts)
	}
	done, _ := st2.Done(ctx)
	for i, want := range []bool{true, false, false, false, true} {
		if done.Has(i) != want {
			t.Errorf("done[%d] = %v, want %v (in-doubt and retrying rows are re-sent)", i, done.Has(i), want)
		}
	}
	if got := journalRows(t, st2.journal); len(got) != 0 || st2.journal.slots != 2 {
		t.Fatalf("journal after BeginAttempt: %v in %d slots, want empty, 2 slots", got, st2.journal.slots)
	}
	st2.Close()
	// A later attempt finds nothing in flight any more.
	st3, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st3.Close()
	if _, again, _ := st3.BeginAttempt(ctx, 2); again != 0 {
		t.Fatalf("in doubt counted twice: %d", again)
	}
}

// TestPendingRowsOfEarlierVersions: rows an earlier version left "pending"
// are in doubt too.
func TestPendingRowsOfEarlierVersions(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	startRun(t, s)
	n, _, _ := s.BeginAttempt(ctx, 1)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO rows (idx, state, attempt_n) VALUES (0, 'pending', ?), (1, 'ok', ?)`, n, n); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, inDoubt, err := s2.BeginAttempt(ctx, 1); err != nil || inDoubt != 1 {
		t.Fatalf("BeginAttempt: in doubt %d, %v; want 1", inDoubt, err)
	}
}

func TestWriterConcurrentAndDurable(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	startRun(t, s)
	n, _, _ := s.BeginAttempt(ctx, 32)
	w, _ := s.NewWriter(ctx, n)
	var wg sync.WaitGroup
	const workers, per = 32, 200
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			sl := w.Slot(g)
			defer sl.End(ctx)
			for i := 0; i < per; i++ {
				idx := g*per + i
				if err := sl.Begin(ctx, idx); err != nil {
					t.Error(err)
					return
				}
				// Begin waited for the previous row's record: another
				// connection sees it committed.
				if i > 0 {
					var st string
					if err := s.db.QueryRowContext(ctx, `SELECT state FROM rows WHERE idx = ?`, idx-1).Scan(&st); err != nil || st != "ok" {
						t.Errorf("row %d: state %q, %v after the slot moved on", idx-1, st, err)
						return
					}
				}
				if rows, err := s.journal.used(); err != nil || !slices.Contains(rows, idx) {
					t.Errorf("row %d not in the journal", idx)
				}
				sl.Record(RowRecord{Idx: idx, State: OK, Result: "0", Billing: billing.Charged},
					&CallRecord{Billing: billing.Charged, Result: "0", HTTPStatus: 200})
			}
		}(g)
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	sum, err := ro.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ChargedCalls != workers*per || sum.Done != workers*per {
		t.Fatalf("charged %d done %d, want %d", sum.ChargedCalls, sum.Done, workers*per)
	}
	if err := w.Record(RowRecord{Idx: 1}, nil); err == nil {
		t.Fatal("Record after Close must fail")
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.db.key")
	t.Setenv(cardkey.KeyEnv, "")
	if _, err := cardkey.LoadKey(p, false); err == nil {
		t.Fatal("missing key without create must fail")
	}
	k1, err := cardkey.LoadKey(p, true)
	if err != nil || len(k1) != 32 {
		t.Fatal(k1, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %o", st.Mode().Perm())
	}
	k2, err := cardkey.LoadKey(p, true)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("key must be stable", err)
	}
	os.Chmod(p, 0o644)
	if _, err := cardkey.LoadKey(p, true); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("readable key must be refused: %v", err)
	}
	t.Setenv(cardkey.KeyEnv, "a-long-enough-secret-value")
	k3, err := cardkey.LoadKey(p, true)
	if err != nil || string(k3) != "a-long-enough-secret-value" {
		t.Fatal(k3, err)
	}
	if cardkey.KeyCheck(k1) == cardkey.KeyCheck(k3) {
		t.Fatal("different keys must have different checks")
	}
}

func TestBitset(t *testing.T) {
	var b Bitset
	for _, i := range []int{0, 63, 64, 1000} {
		b.Set(i)
	}
	if !b.Has(63) || !b.Has(64) || b.Has(65) || !b.Has(1000) || b.Has(-1) || b.Len() != 4 {
		t.Fatal("bitset")
	}
	var nilSet *Bitset
	if nilSet.Has(3) {
		t.Fatal("nil set has nothing")
	}
}

// TestFinalStatesSQL: the SQL list of final states is State.Final.
func TestFinalStatesSQL(t *testing.T) {
	for _, st := range []State{Pending, Retrying, InDoubt, OK, NotFound, CardNotExist, Unknown, Busy, Failed, Skipped, Invalid, Duplicate, Cached} {
		if inSQL := strings.Contains(finalStates, "'"+string(st)+"'"); inSQL != st.Final() {
			t.Errorf("%s: in finalStates %v, Final() %v", st, inSQL, st.Final())
		}
	}
}

// TestOpenReadOnlyWhileBeingCreated: a checkpoint file a run has created but
// not yet filled with its tables is "not ready", not "not a checkpoint";
// a database with tables of its own is not a checkpoint.
func TestOpenReadOnlyWhileBeingCreated(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(ctx, empty); !errors.Is(err, ErrNotReady) {
		t.Errorf("empty file: %v, want ErrNotReady", err)
	}
	partial := filepath.Join(dir, "partial.db")
	db, err := sqlitedb.Open(ctx, partial, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(ctx, partial); !errors.Is(err, ErrNotReady) {
		t.Errorf("meta without the schema row: %v, want ErrNotReady", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE customers (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenReadOnly(ctx, partial); err == nil || errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "not a cardbatch checkpoint") {
		t.Errorf("a database of something else: %v, want not a cardbatch checkpoint", err)
	}
}

package pipeline_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"cardbatch/billing"
	"cardbatch/cache"
	"cardbatch/cardapi"
	"cardbatch/cardapi/sim"
	"cardbatch/cardnum"
	"cardbatch/checkpoint"
	"cardbatch/internal/cardkey"
	"cardbatch/internal/testcards"
	"cardbatch/pipeline"
	"cardbatch/sinks"
	"cardbatch/sources"
)

// fixture is an input file with what each row is expected to be.
type fixture struct {
	path  string
	cards []string // normalised card per row ("" for rows without one)
	raw   []string // the card cell as written
}

// writeCSV writes n rows: names, amounts, and cards written with spaces or
// dashes, about 5% invalid and 20% repeats of an earlier row's card.
func writeCSV(t *testing.T, dir string, n int, seed uint64) fixture {
	t.Helper()
	fx, err := testcards.WriteCSV(filepath.Join(dir, "cards.csv"), n, seed, testcards.Mix{InvalidPct: 5, RepeatPct: 20, Stream: 7})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{path: fx.Path, cards: fx.Cards, raw: fx.Raw}
}

// env is a simulator behind an httptest server plus a client for it.
type env struct {
	sim    *sim.Server
	srv    *httptest.Server
	client *cardapi.Client
	seed   int64
}

func newEnv(t *testing.T, cfg sim.Config) *env {
	t.Helper()
	s := sim.New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := cardapi.New(cardapi.Config{Endpoint: srv.URL, Token: "test-token", Timeout: 5 * time.Second, MaxConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &env{sim: s, srv: srv, client: c, seed: cfg.Seed}
}

type runOpts struct {
	output     string
	checkpoint string
	restart    bool
	maxCharged int64
	stop       chan struct{}
	caller     cardapi.Caller
	retries    int
	column     string
	cache      *cache.Cache
}

func runOnce(t *testing.T, e *env, input string, o runOpts) (*pipeline.Result, error) {
	t.Helper()
	ctx := context.Background()
	if o.checkpoint == "" {
		o.checkpoint = o.output + ".checkpoint.db"
	}
	store, err := checkpoint.Open(ctx, o.checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	key, err := cardkey.LoadKey(checkpoint.KeyPath(o.checkpoint), true)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if o.retries == 0 {
		o.retries = 8
	}
	if o.maxCharged == 0 {
		o.maxCharged = -1
	}
	caller := cardapi.Caller(e.client)
	if o.caller != nil {
		caller = o.caller
	}
	var answers pipeline.AnswerCache
	if o.cache != nil {
		answers = o.cache
	}
	src, err := sources.Open(ctx, sources.Options{Path: input, TmpDir: tmp, Column: o.column})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	cfg := pipeline.Config{
		InputPath: input,
		Source:    src,
		CreateSink: func() (pipeline.Sink, error) {
			return sinks.Create(sinks.Options{Path: o.output, Header: src.Header(), CardColumn: src.CardColumn(), TmpDir: tmp})
		},
		OutputPath: o.output,
		Store:      store, Key: key, Caller: caller, Settings: map[string]string{"endpoint": "test simulator"},
		Restart: o.restart, Rate: 0, Concurrency: 16, Retries: o.retries,
		RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, MaxCharged: o.maxCharged, Stop: o.stop,
		Cache: answers, CacheTTL: time.Hour, CacheNamespace: "test simulator",
	}
	res, err := pipeline.Run(ctx, cfg)
	return res, err
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// colIndex maps the output header to column positions.
func colIndex(t *testing.T, header []string) map[string]int {
	m := map[string]int{}
	for i, h := range header {
		m[h] = i
	}
	for _, want := range append([]string{"name", "amount", "card_no"}, sinks.AddedColumns("en", "")...) {
		if _, ok := m[want]; !ok {
			t.Fatalf("output header %v lacks %q", header, want)
		}
	}
	return m
}

// checkOutput verifies every output row against the fixture and the
// simulator: order, original cells, and the answer cells equal what the
// simulator answers for that card.
func checkOutput(t *testing.T, e *env, fx fixture, recs [][]string) {
	t.Helper()
	if len(recs) != len(fx.cards)+1 {
		t.Fatalf("output has %d rows, want %d + header", len(recs)-1, len(fx.cards))
	}
	col := colIndex(t, recs[0])
	seen := map[string]bool{}
	for i, rec := range recs[1:] {
		if rec[col["name"]] != fmt.Sprintf("Customer %d", i) || rec[col["card_no"]] != fx.raw[i] {
			t.Fatalf("row %d out of order or changed: %v", i, rec)
		}
		card := fx.cards[i]
		status := rec[col["status"]]
		if cardnum.Validate(card, true) != nil {
			if status != "invalid" || rec[col["billing"]] != "none" || rec[col["error"]] == "" {
				t.Fatalf("row %d: invalid card got %v", i, rec)
			}
			continue
		}
		want := sim.Answer(e.seed, card)
		answers := e.sim.AnswersFor(card)
		if len(answers) == 0 {
			t.Fatalf("row %d: the simulator never saw this card", i)
		}
		if last := answers[len(answers)-1]; last.Result == sim.ResultInvalidCard {
			// The simulator's undocumented code: recorded, billed as charged.
			if rec[col["result"]] != last.Result || (status != "unknown_result" && status != "duplicate") ||
				(status == "unknown_result" && rec[col["billing"]] != "charged") {
				t.Fatalf("row %d: undocumented answer rendered as %v", i, rec)
			}
			seen[card] = true
			continue
		}
		if rec[col["result"]] != want.Result || rec[col["account_bank"]] != want.AccountBank ||
			rec[col["description"]] != want.Description {
			t.Fatalf("row %d: got result %q bank %q desc %q, simulator answers %+v", i,
				rec[col["result"]], rec[col["account_bank"]], rec[col["description"]], want)
		}
		if want.AccountType != 0 && rec[col["account_type"]] != strconv.Itoa(want.AccountType) {
			t.Fatalf("row %d: account_type %q, want %d", i, rec[col["account_type"]], want.AccountType)
		}
		if rec[col["account_type_name"]] != docTypeName(want.AccountType) {
			t.Fatalf("row %d: account_type_name %q", i, rec[col["account_type_name"]])
		}
		if seen[card] {
			if status != "duplicate" || rec[col["billing"]] != "none" {
				t.Fatalf("row %d repeats a card but is %q/%q", i, status, rec[col["billing"]])
			}
			continue
		}
		seen[card] = true
		wantStatus := map[string]string{"0": "ok", "-1": "not_found", "-3": "card_not_exist"}[want.Result]
		if status != wantStatus {
			t.Fatalf("row %d: status %q, want %q", i, status, wantStatus)
		}
		wantBilling := docBilling(want.Result)
		if rec[col["billing"]] != wantBilling {
			t.Fatalf("row %d: billing %q, want %q", i, rec[col["billing"]], wantBilling)
		}
		if n := e.sim.ChargedCount(card); n > 1 {
			t.Fatalf("row %d: card charged %d times", i, n)
		}
	}
}

// checkLedger: the summary's billing equals the simulator's ledger exactly.
func checkLedger(t *testing.T, e *env, sum *billing.Summary) {
	t.Helper()
	l := e.sim.Ledger()
	if sum.ChargedCalls != l.Charged {
		t.Errorf("charged_calls %d, ledger charged %d", sum.ChargedCalls, l.Charged)
	}
	if sum.APICalls != l.Calls {
		t.Errorf("api_calls %d, ledger calls %d", sum.APICalls, l.Calls)
	}
	for code, n := range l.ByResult {
		if sum.ByResult[code] != n {
			t.Errorf("by_result[%s] = %d, ledger %d", code, sum.ByResult[code], n)
		}
	}
	for code, n := range sum.ByResult {
		if l.ByResult[code] != n {
			t.Errorf("by_result[%s] = %d, ledger %d", code, n, l.ByResult[code])
		}
	}
	if l.CardsChargedMoreThanOnce != 0 {
		t.Errorf("ledger: %d cards charged more than once", l.CardsChargedMoreThanOnce)
	}
	if sum.APICalls != sum.ChargedCalls+sum.FreeCalls+sum.InDoubt {
		t.Errorf("api_calls %d != charged %d + free %d + in_doubt %d", sum.APICalls, sum.ChargedCalls, sum.FreeCalls, sum.InDoubt)
	}
}

func TestEndToEndCSVWithFaults(t *testing.T) {
	faults := []struct {
		name string
		cfg  sim.Config
	}{
		{"healthy", sim.Config{Seed: 3}},
		{"busy", sim.Config{Seed: 4, BusyProb: 0.2}},
		{"429", sim.Config{Seed: 5, RateLimitedProb: 0.1}},
		{"5xx", sim.Config{Seed: 6, ServerErrorProb: 0.05, BadGatewayProb: 0.05}},
		{"drops", sim.Config{Seed: 7, DropProb: 0.05}},
		{"unknown result codes", sim.Config{Seed: 9, UnknownResultProb: 0.05, BusyProb: 0.05}},
		{"mixed", sim.Config{Seed: 8, BusyProb: 0.05, RateLimitedProb: 0.05, ServerErrorProb: 0.03, BadGatewayProb: 0.03, DropProb: 0.02}},
	}
	for _, tc := range faults {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fx := writeCSV(t, dir, 400, uint64(tc.cfg.Seed))
			e := newEnv(t, tc.cfg)
			out := filepath.Join(dir, "out.csv")
			res, err := runOnce(t, e, fx.path, runOpts{output: out, retries: 12})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != pipeline.Finished {
				t.Fatalf("outcome %s, summary %+v", res.Outcome, res.Summary)
			}
			checkOutput(t, e, fx, readCSV(t, out))
			checkLedger(t, e, res.Summary)
			if res.Summary.Rows != 400 {
				t.Errorf("rows %d", res.Summary.Rows)
			}
			wantInvalid, wantDup := 0, 0
			seen := map[string]bool{}
			for _, c := range fx.cards {
				switch {
				case cardnum.Validate(c, true) != nil:
					wantInvalid++
				case seen[c]:
					wantDup++
				}
				seen[c] = true
			}
			if res.Summary.Invalid != wantInvalid || res.Summary.Duplicates != wantDup {
				t.Errorf("invalid %d duplicates %d, want %d %d", res.Summary.Invalid, res.Summary.Duplicates, wantInvalid, wantDup)
			}
		})
	}
}

func TestEndToEndXLSX(t *testing.T) {
	dir := t.TempDir()
	fx := writeCSV(t, dir, 300, 11)
	// The same rows as an XLSX with text cells.
	in := filepath.Join(dir, "cards.xlsx")
	f := excelize.NewFile()
	recs := readCSV(t, fx.path)
	for i, rec := range recs {
		for j, v := range rec {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
			f.SetCellStr("Sheet1", cell, v)
		}
	}
	if err := f.SaveAs(in); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e := newEnv(t, sim.Config{Seed: 11, BusyProb: 0.1, RateLimitedProb: 0.05})
	out := filepath.Join(dir, "out.xlsx")
	res, err := runOnce(t, e, in, runOpts{output: out, retries: 12})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != pipeline.Finished {
		t.Fatalf("outcome %s", res.Outcome)
	}
	x, err := excelize.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	sheets := x.GetSheetList()
	if len(sheets) != 2 || sheets[1] != "Summary" {
		t.Fatalf("sheets %v", sheets)
	}
	rows, err := x.GetRows(sheets[0])
	if err != nil {
		t.Fatal(err)
	}
	checkOutput(t, e, fx, rows)
	checkLedger(t, e, res.Summary)
}

// countingCaller stops the run after n calls, like a SIGINT would.
type countingCaller struct {
	inner cardapi.Caller
	n     atomic.Int64
	after int64
	stop  chan struct{}
	once  atomic.Bool
}

func (c *countingCaller) Check(ctx context.Context, card string) cardapi.Outcome {
	if c.n.Add(1) == c.after && c.once.CompareAndSwap(false, true) {
		close(c.stop)
	}
	return c.inner.Check(ctx, card)
}

func TestResumeAfterStop(t *testing.T) {
	dir := t.TempDir()
	fx := writeCSV(t, dir, 500, 21)
	cfg := sim.Config{Seed: 21, BusyProb: 0.05, ServerErrorProb: 0.03}

	// The reference: one uninterrupted run.
	ref := newEnv(t, cfg)
	refOut := filepath.Join(dir, "ref.csv")
	if res, err := runOnce(t, ref, fx.path, runOpts{output: refOut}); err != nil || res.Outcome != pipeline.Finished {
		t.Fatal(res, err)
	}

	e := newEnv(t, cfg)
	out := filepath.Join(dir, "out.csv")
	for i, stopAfter := range []int64{40, 150} {
		cc := &countingCaller{inner: e.client, after: stopAfter, stop: make(chan struct{})}
		res, err := runOnce(t, e, fx.path, runOpts{output: out, caller: cc, stop: cc.stop})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != pipeline.Interrupted {
			t.Fatalf("attempt %d: outcome %s", i, res.Outcome)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("an interrupted run must not write the output")
		}
	}
	res, err := runOnce(t, e, fx.path, runOpts{output: out})
	if err != nil || res.Outcome != pipeline.Finished {
		t.Fatal(res, err)
	}
	got, want := withoutAnsweredAt(readCSV(t, out)), withoutAnsweredAt(readCSV(t, refOut))
	if len(got) != len(want) {
		t.Fatalf("resumed output has %d rows, reference %d", len(got), len(want))
	}
	for i := range want {
		if strings.Join(got[i], "\x1f") != strings.Join(want[i], "\x1f") {
			t.Fatalf("row %d differs:\n resumed %v\n     ref %v", i, got[i], want[i])
		}
	}
	checkLedger(t, e, res.Summary)
	if len(res.Summary.Attempts) != 3 {
		t.Fatalf("attempts %d, want 3", len(res.Summary.Attempts))
	}
	// A run over a finished checkpoint sends nothing, and leaves an output
	// that is as it wrote it alone; a removed or changed output is rewritten.
	calls := e.sim.Ledger().Calls
	for again := 0; again < 2; again++ {
		res, err = runOnce(t, e, fx.path, runOpts{output: out})
		if err != nil || res.Outcome != pipeline.Finished || res.OutputWritten || res.Summary.Rows != 500 || res.Summary.Done != 500 {
			t.Fatalf("finished run again (%d): %+v %v", again, res, err)
		}
	}
	os.Remove(out)
	res, err = runOnce(t, e, fx.path, runOpts{output: out})
	if err != nil || res.Outcome != pipeline.Finished || !res.OutputWritten {
		t.Fatalf("finished run with its output removed: %+v %v", res, err)
	}
	os.WriteFile(out, []byte("edited by hand\n"), 0o600)
	res, err = runOnce(t, e, fx.path, runOpts{output: out})
	if err != nil || !res.OutputWritten {
		t.Fatalf("finished run with its output edited: %+v %v", res, err)
	}
	if got := withoutAnsweredAt(readCSV(t, out)); len(got) != len(want) || strings.Join(got[5], ",") != strings.Join(want[5], ",") {
		t.Fatalf("the rewritten output differs from the reference")
	}
	if e.sim.Ledger().Calls != calls {
		t.Fatalf("a finished run sent %d calls", e.sim.Ledger().Calls-calls)
	}
}

func TestChangedInputRefused(t *testing.T) {
	dir := t.TempDir()
	fx := writeCSV(t, dir, 50, 31)
	e := newEnv(t, sim.Config{Seed: 31})
	out := filepath.Join(dir, "out.csv")
	if res, err := runOnce(t, e, fx.path, runOpts{output: out}); err != nil || res.Outcome != pipeline.Finished {
		t.Fatal(res, err)
	}
	b, _ := os.ReadFile(fx.path)
	os.WriteFile(fx.path, append(b, []byte("Extra,1.00,6222020200112233445\n")...), 0o600)
	_, err := runOnce(t, e, fx.path, runOpts{output: out})
	var ue *pipeline.UsageError
	if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), "--restart") {
		t.Fatalf("changed input: %v", err)
	}
	// --restart starts over.
	res, err := runOnce(t, e, fx.path, runOpts{output: out, restart: true})
	if err != nil || res.Outcome != pipeline.Finished || res.Summary.Rows != 51 {
		t.Fatal(res, err)
	}
}

func TestFatalAnswersStopTheRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  sim.Config
		code string
	}{
		{"401 after 60 calls", sim.Config{Seed: 41, FailAuthAfter: 60}, "invalid_token"},
		{"403 used_up after 50 charged", sim.Config{Seed: 42, UsedUpAfterCharged: 50}, "used_up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fx := writeCSV(t, dir, 400, uint64(tc.cfg.Seed))
			e := newEnv(t, tc.cfg)
			out := filepath.Join(dir, "out.csv")
			res, err := runOnce(t, e, fx.path, runOpts{output: out})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != pipeline.Fatal || res.Fatal == nil || res.Fatal.Code != tc.code {
				t.Fatalf("outcome %s fatal %+v", res.Outcome, res.Fatal)
			}
			if !strings.Contains(res.Fatal.Error(), "run the same command again") {
				t.Errorf("fatal message lacks the next step: %s", res.Fatal.Error())
			}
			l := e.sim.Ledger()
			fatalStatus := map[string]string{"invalid_token": "401", "used_up": "403"}[tc.code]
			if after := l.ByStatus[fatalStatus]; after > 16 {
				t.Errorf("%d calls answered %s after the first fatal one; concurrency is 16", after, fatalStatus)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a fatal run must not write the output")
			}
			// The same command on a healthy API finishes without re-paying.
			healthy := newEnv(t, sim.Config{Seed: tc.cfg.Seed})
			res2, err := runOnce(t, healthy, fx.path, runOpts{output: out})
			if err != nil || res2.Outcome != pipeline.Finished {
				t.Fatal(res2, err)
			}
			for card := range distinct(fx.cards) {
				if e.sim.ChargedCount(card)+healthy.sim.ChargedCount(card) > 1 {
					t.Fatalf("a card was charged twice across the two runs")
				}
			}
			if res2.Summary.ChargedCalls != l.Charged+healthy.sim.Ledger().Charged {
				t.Errorf("summary charged %d, ledgers %d + %d", res2.Summary.ChargedCalls, l.Charged, healthy.sim.Ledger().Charged)
			}
		})
	}
}

func TestMaxChargedBudget(t *testing.T) {
	dir := t.TempDir()
	fx := writeCSV(t, dir, 1000, 51)
	e := newEnv(t, sim.Config{Seed: 51})
	out := filepath.Join(dir, "out.csv")
	res, err := runOnce(t, e, fx.path, runOpts{output: out, maxCharged: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != pipeline.Budget {
		t.Fatalf("outcome %s", res.Outcome)
	}
	if c := e.sim.Ledger().Charged; c > 100 {
		t.Fatalf("ledger charged %d > 100", c)
	}
	recs := readCSV(t, out)
	col := colIndex(t, recs[0])
	skipped := 0
	for _, r := range recs[1:] {
		if r[col["status"]] == "skipped" {
			skipped++
		}
	}
	if len(recs)-1 != 1000 || skipped == 0 {
		t.Fatalf("budget output: %d rows, %d skipped", len(recs)-1, skipped)
	}
	res, err = runOnce(t, e, fx.path, runOpts{output: out, maxCharged: 100000})
	if err != nil || res.Outcome != pipeline.Finished {
		t.Fatal(res, err)
	}
	checkOutput(t, e, fx, readCSV(t, out))
	checkLedger(t, e, res.Summary)
}

func TestDryRunPredictsCalls(t *testing.T) {
	dir := t.TempDir()
	fx := writeCSV(t, dir, 300, 61)
	e := newEnv(t, sim.Config{Seed: 61})
	est, err := pipeline.DryRun(context.Background(), pipeline.Config{InputPath: fx.path,
		Source: openSource(t, fx.path)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e.sim.Ledger().Calls != 0 {
		t.Fatal("dry run sent calls")
	}
	out := filepath.Join(dir, "out.csv")
	res, err := runOnce(t, e, fx.path, runOpts{output: out})
	if err != nil || res.Outcome != pipeline.Finished {
		t.Fatal(res, err)
	}
	if int64(est.Calls) != e.sim.Ledger().Calls {
		t.Fatalf("dry run predicted %d calls, the run made %d", est.Calls, e.sim.Ledger().Calls)
	}
	if est.Rows != 300 || est.Invalid != res.Summary.Invalid || est.Duplicates != res.Summary.Duplicates {
		t.Fatalf("estimate %+v vs summary %+v", est, res.Summary)
	}
}

func distinct(cards []string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, c := range cards {
		if cardnum.Validate(c, true) == nil {
			m[c] = struct{}{}
		}
	}
	return m
}

func openCache(t *testing.T, path string) *cache.Cache {
	t.Helper()
	c, err := cache.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCacheWarmRunSendsNothing(t *testing.T) {
	dir := t.TempDir()
	fx := writeCSV(t, dir, 300, 71)
	answers := openCache(t, filepath.Join(dir, "cache", "answers.db"))
	e := newEnv(t, sim.Config{Seed: 71, BusyProb: 0.1})
	first := filepath.Join(dir, "first.csv")
	res, err := runOnce(t, e, fx.path, runOpts{output: first, cache: answers})
	if err != nil || res.Outcome != pipeline.Finished {
		t.Fatal(res, err)
	}
	if res.Summary.CacheHits != 0 {
		t.Fatalf("cold cache had %d hits", res.Summary.CacheHits)
	}
	calls, charged := e.sim.Ledger().Calls, e.sim.Ledger().Charged

	// A new run (new checkpoint, new output) over the same file: all answers come from the cache.
	second := filepath.Join(dir, "second.csv")
	res2, err := runOnce(t, e, fx.path, runOpts{output: second, cache: answers})
	if err != nil || res2.Outcome != pipeline.Finished {
		t.Fatal(res2, err)
	}
	if l := e.sim.Ledger(); l.Calls != calls || l.Charged != charged {
		t.Fatalf("warm run sent %d calls, %d charged", l.Calls-calls, l.Charged-charged)
	}
	if res2.Summary.APICalls != 0 || res2.Summary.ChargedCalls != 0 {
		t.Fatalf("warm run summary: %+v", res2.Summary)
	}
	distinctValid := len(distinct(fx.cards))
	if res2.Summary.CacheHits != distinctValid {
		t.Fatalf("cache hits %d, want %d distinct valid cards", res2.Summary.CacheHits, distinctValid)
	}
	// Same answer cells; status cached and billing none for the first occurrence of each card.
	a, b := readCSV(t, first), readCSV(t, second)
	col := colIndex(t, a[0])
	for i := 1; i < len(a); i++ {
		for _, c := range []string{"result", "description", "account_bank", "account_type", "account_type_name"} {
			if a[i][col[c]] != b[i][col[c]] {
				t.Fatalf("row %d %s: %q from the API, %q from the cache", i, c, a[i][col[c]], b[i][col[c]])
			}
		}
		if a[i][col["status"]] == "ok" && (b[i][col["status"]] != "cached" || b[i][col["billing"]] != "none") {
			t.Fatalf("row %d: %s/%s, want cached/none", i, b[i][col["status"]], b[i][col["billing"]])
		}
	}
	// A dry run with the warm cache predicts zero calls.
	est, err := pipeline.DryRun(context.Background(), pipeline.Config{InputPath: fx.path,
		Source: openSource(t, fx.path), Cache: answers, CacheTTL: time.Hour, CacheNamespace: "test simulator"}, 0)
	if err != nil || est.Calls != 0 || est.CacheHits != distinctValid {
		t.Fatalf("dry run with warm cache: %+v %v", est, err)
	}
	// Another namespace (another API) does not see these answers.
	est, err = pipeline.DryRun(context.Background(), pipeline.Config{InputPath: fx.path,
		Source: openSource(t, fx.path), Cache: answers, CacheTTL: time.Hour, CacheNamespace: "https://api.example"}, 0)
	if err != nil || est.CacheHits != 0 {
		t.Fatalf("namespaces leak: %+v %v", est, err)
	}
}

func TestRepeatedCardsChargedOnce(t *testing.T) {
	dir := t.TempDir()
	// 1,000 rows, 30% of them repeats of an earlier card.
	cards := sim.GenerateCards(81, 700)
	rng := rand.New(rand.NewPCG(81, 1))
	var b strings.Builder
	b.WriteString("id,card\n")
	var all []string
	for i := 0; i < 1000; i++ {
		c := ""
		if i < 700 {
			c = cards[i]
		} else {
			c = cards[rng.IntN(700)]
		}
		all = append(all, c)
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for i, c := range all {
		fmt.Fprintf(&b, "%d,%s\n", i, c)
	}
	in := filepath.Join(dir, "repeats.csv")
	os.WriteFile(in, []byte(b.String()), 0o600)
	e := newEnv(t, sim.Config{Seed: 81, BusyProb: 0.1, RateLimitedProb: 0.05})
	res, err := runOnce(t, e, in, runOpts{output: filepath.Join(dir, "out.csv")})
	if err != nil || res.Outcome != pipeline.Finished {
		t.Fatal(res, err)
	}
	l := e.sim.Ledger()
	if l.CardsChargedMoreThanOnce != 0 || res.Summary.Duplicates != 300 {
		t.Fatalf("charged twice: %d; duplicates %d", l.CardsChargedMoreThanOnce, res.Summary.Duplicates)
	}
	chargedCards := 0
	for _, c := range cards {
		chargedCards += e.sim.ChargedCount(c)
	}
	if int64(chargedCards) != l.Charged || l.Charged != res.Summary.ChargedCalls {
		t.Fatalf("charged per card %d, ledger %d, summary %d", chargedCards, l.Charged, res.Summary.ChargedCalls)
	}
}

func TestTwoRunsShareOneCache(t *testing.T) {
	dir := t.TempDir()
	cachePath := filepath.Join(dir, "shared", "answers.db")
	e := newEnv(t, sim.Config{Seed: 91, Latency: time.Millisecond})
	type outcome struct {
		res *pipeline.Result
		err error
	}
	results := make(chan outcome, 2)
	fxs := []fixture{writeCSV(t, filepath.Join(dir), 400, 91)}
	// The second input holds other cards. (Two runs that start at once on
	// the same cards may both pay for a card neither has cached yet.)
	sub := filepath.Join(dir, "b")
	os.Mkdir(sub, 0o700)
	fxs = append(fxs, writeCSV(t, sub, 400, 92))
	for i, fx := range fxs {
		go func(i int, fx fixture) {
			c, err := cache.Open(context.Background(), cachePath) // each run opens the cache itself
			if err != nil {
				results <- outcome{nil, err}
				return
			}
			defer c.Close()
			res, err := runOnce(t, e, fx.path, runOpts{output: filepath.Join(dir, fmt.Sprintf("out%d.csv", i)), cache: c})
			results <- outcome{res, err}
		}(i, fx)
	}
	for range fxs {
		o := <-results
		if o.err != nil || o.res.Outcome != pipeline.Finished {
			t.Fatalf("concurrent run: %+v %v", o.res, o.err)
		}
	}
	for i, fx := range fxs {
		checkOutput(t, e, fx, readCSV(t, filepath.Join(dir, fmt.Sprintf("out%d.csv", i))))
	}
	// Both runs' answers reached the shared cache intact: a third run over
	// both inputs sends nothing.
	c := openCache(t, cachePath)
	calls := e.sim.Ledger().Calls
	for i, fx := range fxs {
		res, err := runOnce(t, e, fx.path, runOpts{output: filepath.Join(dir, fmt.Sprintf("again%d.csv", i)), cache: c})
		if err != nil || res.Outcome != pipeline.Finished || res.Summary.CacheHits != len(distinct(fx.cards)) {
			t.Fatalf("third run: %+v %v", res, err)
		}
	}
	if e.sim.Ledger().Calls != calls {
		t.Fatalf("the third runs sent %d calls", e.sim.Ledger().Calls-calls)
	}
}

func TestRowsStillBusyAreRetriedByTheNextRun(t *testing.T) {
	dir := t.TempDir()
	fx := writeCSV(t, dir, 300, 95)
	// A center that is busy half the time, and one retry: some rows stay busy,
	// a few fail on 500s.
	busy := newEnv(t, sim.Config{Seed: 95, BusyProb: 0.5, ServerErrorProb: 0.1})
	out := filepath.Join(dir, "out.csv")
	res, err := runOnce(t, busy, fx.path, runOpts{output: out, retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != pipeline.FailedRows || res.Summary.Failed == 0 {
		t.Fatalf("outcome %s, failed %d: want failed rows", res.Outcome, res.Summary.Failed)
	}
	recs := readCSV(t, out)
	col := colIndex(t, recs[0])
	unfinished := map[string]bool{}
	for i, r := range recs[1:] {
		switch r[col["status"]] {
		case "busy":
			if r[col["result"]] != "-2" || r[col["billing"]] != "free" {
				t.Fatalf("row %d: busy row rendered as %v", i, r)
			}
			unfinished[fx.cards[i]] = true
		case "failed":
			if r[col["error"]] == "" || r[col["result"]] != "" {
				t.Fatalf("row %d: failed row rendered as %v", i, r)
			}
			unfinished[fx.cards[i]] = true
		}
	}
	if len(unfinished) == 0 {
		t.Fatal("no busy or failed row in the output")
	}
	checkLedger(t, busy, res.Summary)

	// The same command against a healthy center sends exactly those cards.
	healthy := newEnv(t, sim.Config{Seed: 95})
	res2, err := runOnce(t, healthy, fx.path, runOpts{output: out})
	if err != nil || res2.Outcome != pipeline.Finished {
		t.Fatal(res2, err)
	}
	if l := healthy.sim.Ledger(); l.Calls != int64(len(unfinished)) || l.DistinctCards != len(unfinished) {
		t.Fatalf("the rerun sent %d calls for %d cards; %d rows were unfinished", l.Calls, l.DistinctCards, len(unfinished))
	}
	for card := range unfinished {
		if len(healthy.sim.AnswersFor(card)) != 1 {
			t.Fatalf("an unfinished card was not re-sent exactly once")
		}
	}
	// Both simulators together charged each distinct card once.
	for card := range distinct(fx.cards) {
		if busy.sim.ChargedCount(card)+healthy.sim.ChargedCount(card) != 1 && sim.Answer(95, card).Result != "-3" {
			t.Fatalf("a card was charged %d times", busy.sim.ChargedCount(card)+healthy.sim.ChargedCount(card))
		}
	}
	recs = readCSV(t, out)
	for i, r := range recs[1:] {
		if cardnum.Validate(fx.cards[i], true) != nil {
			continue
		}
		want := sim.Answer(95, fx.cards[i])
		if r[col["result"]] != want.Result || r[col["account_bank"]] != want.AccountBank {
			t.Fatalf("row %d after the rerun: %v, want %+v", i, r, want)
		}
		if st := r[col["status"]]; st == "busy" || st == "failed" {
			t.Fatalf("row %d still %s after the rerun", i, st)
		}
	}
}

// withoutAnsweredAt blanks the answered_at column, the one cell that tells
// when an answer was obtained, so outputs of runs made at other times compare.
func withoutAnsweredAt(recs [][]string) [][]string {
	if len(recs) == 0 {
		return recs
	}
	for i, h := range recs[0] {
		if h != "answered_at" {
			continue
		}
		for _, r := range recs[1:] {
			if i < len(r) {
				r[i] = ""
			}
		}
	}
	return recs
}

// openSource opens the input at path for one run or dry run.
func openSource(t *testing.T, path string) pipeline.Source {
	t.Helper()
	src, err := sources.Open(context.Background(), sources.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// panickyCaller panics inside a worker, with a card number in its value.
type panickyCaller struct {
	inner cardapi.Caller
	after int64
	n     atomic.Int64
}

func (p *panickyCaller) Check(ctx context.Context, card string) cardapi.Outcome {
	if p.n.Add(1) > p.after {
		panic("worker blew up on card " + card + " (6222 0202 0011 2233)")
	}
	return p.inner.Check(ctx, card)
}

// A panic in a worker ends the run with a fatal error whose text masks
// every card; what was answered before it stays in the checkpoint, and the
// next run resumes it.
func TestPanicInWorkerIsFatalAndMasked(t *testing.T) {
	dir := t.TempDir()
	fx := writeCSV(t, dir, 200, 71)
	e := newEnv(t, sim.Config{Seed: 71})
	out := filepath.Join(dir, "out.csv")
	_, err := runOnce(t, e, fx.path, runOpts{output: out, caller: &panickyCaller{inner: e.client, after: 40}})
	var pe *pipeline.PanicError
	if !errors.As(err, &pe) || pe.Stage != "call" {
		t.Fatalf("run error %v, want a PanicError from the call stage", err)
	}
	msg := err.Error()
	for _, card := range fx.cards {
		if card != "" && strings.Contains(msg, card) {
			t.Fatalf("the panic's message holds a whole card number")
		}
	}
	if strings.Contains(msg, "6222 0202 0011 2233") || !strings.Contains(msg, "622202******2233") {
		t.Fatalf("the spaced card in the panic's value is not masked: %q", msg[:min(200, len(msg))])
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a run that panicked wrote its output")
	}
	calls := e.sim.Ledger().Calls
	res, err := runOnce(t, e, fx.path, runOpts{output: out})
	if err != nil || res.Outcome != pipeline.Finished {
		t.Fatalf("resume after the panic: %+v %v", res, err)
	}
	if res.Summary.ChargedCalls != e.sim.Ledger().Charged {
		t.Fatalf("charged %d, ledger %d", res.Summary.ChargedCalls, e.sim.Ledger().Charged)
	}
	if resent := e.sim.Ledger().Calls - calls; resent >= int64(len(distinct(fx.cards))) {
		t.Fatalf("the resume sent %d calls: the answers before the panic were not kept", resent)
	}
}

// docBilling is the billing of a result code as the API document states it
// (shared/api/check-1e.md), written here rather than taken from the code
// under test: 0 and -1 charged, -2 and -3 free, any other code charged.
func docBilling(result string) string {
	switch result {
	case "0", "-1":
		return "charged"
	case "-2", "-3":
		return "free"
	}
	return "charged"
}

// docTypeName is the output's account_type_name for the document's
// account_type values (shared/cli.md).
func docTypeName(t int) string {
	return map[int]string{1: "debit", 2: "credit", 3: "prepaid", 4: "quasi-credit"}[t]
}

// lostAnswers is an API whose every answer is lost after the request was
// written: each call may have been charged.
type lostAnswers struct{ calls atomic.Int64 }

func (l *lostAnswers) Check(context.Context, string) cardapi.Outcome {
	l.calls.Add(1)
	return cardapi.Outcome{Kind: cardapi.KindRetryable, Billing: billing.Unknown, Sent: true,
		Err: errors.New("connection reset after the request was written")}
}

// A row whose every call lost its answer says billing in_doubt in the
// output (not charged, not free), and the summary counts every such call in
// doubt.
func TestRowsWithLostAnswersSayInDoubt(t *testing.T) {
	dir := t.TempDir()
	fx := writeCSV(t, dir, 60, 81)
	e := newEnv(t, sim.Config{Seed: 81})
	out := filepath.Join(dir, "out.csv")
	caller := &lostAnswers{}
	res, err := runOnce(t, e, fx.path, runOpts{output: out, caller: caller, retries: 1})
	if err != nil || res.Outcome != pipeline.FailedRows {
		t.Fatalf("%+v %v", res, err)
	}
	recs := readCSV(t, out)
	col := colIndex(t, recs[0])
	inDoubt := 0
	for i, r := range recs[1:] {
		switch r[col["status"]] {
		case "failed":
			if r[col["billing"]] != "in_doubt" || r[col["result"]] != "" {
				t.Fatalf("row %d: billing %q result %q, want in_doubt and no result", i+1, r[col["billing"]], r[col["result"]])
			}
			inDoubt++
		case "duplicate", "invalid":
		default:
			t.Fatalf("row %d: status %q", i+1, r[col["status"]])
		}
	}
	if inDoubt == 0 || res.Summary.InDoubt != caller.calls.Load() || res.Summary.ChargedCalls != 0 {
		t.Fatalf("%d rows in doubt; summary in_doubt %d charged %d, calls made %d",
			inDoubt, res.Summary.InDoubt, res.Summary.ChargedCalls, caller.calls.Load())
	}
}

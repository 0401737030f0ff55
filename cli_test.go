package main

// End-to-end tests of the built binary: TestMain builds cmd cardbatch once,
// and every test runs it as a subprocess (os/exec) against an in-process
// simulator behind httptest, the way a user or a cron job runs it. The
// subprocess can be killed (SIGKILL), interrupted (SIGINT) and rerun, which
// an in-process test cannot do.

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cardbatch/cardapi/sim"
	"cardbatch/cardnum"
	"cardbatch/internal/testcards"
)

// cardbatchBin is the binary under test, built once by TestMain.
var cardbatchBin string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cardbatch-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "the CLI tests build cardbatch with the go command, which is not on PATH:", err)
		return 1
	}
	bin := filepath.Join(dir, "cardbatch")
	// Built with the race detector, like the unit tests: a race in the
	// command's own goroutines fails these tests too.
	cmd := exec.Command(goTool, "build", "-race", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building cardbatch for the CLI tests: %v\n%s", err, out)
		return 1
	}
	cardbatchBin = bin
	return m.Run()
}

// cliEnv is the environment of the binary under test: the test's own without
// any token or cardbatch setting, with a private HOME and cache folder (so
// that no run reads or fills the user's answer cache, and two "users" of one
// test share nothing), and ACEDATA_TOKEN set to token unless it is empty.
func cliEnv(t *testing.T, token string) []string {
	t.Helper()
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "ACEDATA_TOKEN", k == "HOME", k == "XDG_CACHE_HOME", strings.HasPrefix(k, "CARDBATCH_"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	if token != "" {
		env = append(env, "ACEDATA_TOKEN="+token)
	}
	return env
}

// cliResult is how a run of the binary ended.
type cliResult struct {
	code           int  // exit code; -1 when a signal ended the process
	killed         bool // SIGKILL ended the process
	stdout, stderr string
}

// cliProc is a running cardbatch.
type cliProc struct {
	args   []string
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	res    cliResult
}

// startCLI runs cardbatch with args; the test's cleanup kills it if it is
// still running.
func startCLI(t *testing.T, env []string, args ...string) *cliProc {
	t.Helper()
	p := &cliProc{args: args, done: make(chan struct{})}
	p.cmd = exec.Command(cardbatchBin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.res.code = p.cmd.ProcessState.ExitCode()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.res.killed = ws.Signal() == syscall.SIGKILL
		}
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			p.res.stderr = "wait: " + err.Error() + "\n"
		}
		p.res.stdout = p.stdout.String()
		p.res.stderr += p.stderr.String()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *cliProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait returns the run's result; a run that outlives timeout is killed and
// fails the test.
func (p *cliProc) wait(t *testing.T, timeout time.Duration) cliResult {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("cardbatch %s did not end within %v; stderr:\n%s", strings.Join(p.args, " "), timeout, p.res.stderr)
	}
	return p.res
}

// runCLI runs cardbatch to its end.
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	return startCLI(t, env, args...).wait(t, 2*time.Minute)
}

// swapSim serves whichever simulator is current: a run keeps its endpoint
// (part of the run's settings, so a resume must use the same one) while the
// simulator behind it changes, as the real API does after a top-up.
type swapSim struct {
	cur atomic.Pointer[sim.Server]
	url string
}

func (s *swapSim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.cur.Load().ServeHTTP(w, r) }

// set replaces the simulator and returns the new one.
func (s *swapSim) set(cfg sim.Config) *sim.Server {
	srv := sim.New(cfg)
	s.cur.Store(srv)
	return srv
}

func (s *swapSim) sim() *sim.Server { return s.cur.Load() }

// newSim starts a simulator on a loopback port for the test's duration.
func newSim(t *testing.T, cfg sim.Config) *swapSim {
	t.Helper()
	s := &swapSim{}
	s.set(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// cardsFixture is an input file and what each of its rows holds.
type cardsFixture struct {
	path  string
	cards []string // the normalised card of each row
	raw   []string // the card cell as written
}

// writeCards writes n rows (name, amount, card_no): cards written plain, with
// spaces or with dashes, about 4% Luhn failures and 15% repeats of an
// earlier row's card.
func writeCards(t *testing.T, path string, n int, seed uint64) cardsFixture {
	t.Helper()
	fx, err := testcards.WriteCSV(path, n, seed, testcards.Mix{InvalidPct: 4, RepeatPct: 15, Stream: 11})
	if err != nil {
		t.Fatal(err)
	}
	return cardsFixture{path: fx.Path, cards: fx.Cards, raw: fx.Raw}
}

// groupDigits writes a card in groups of four.
func groupDigits(card, sep string) string { return testcards.Group(card, sep) }

// distinctValid returns the distinct cards of fx that pass validation.
func distinctValid(fx cardsFixture) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range fx.cards {
		if cardnum.Validate(c, true) == nil && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// readCSV parses a whole CSV file.
func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	return r.ReadAll()
}

// summaryFile is the part of <output>.summary.json these tests read.
type summaryFile struct {
	Rows         int              `json:"rows"`
	APICalls     int64            `json:"api_calls"`
	ChargedCalls int64            `json:"charged_calls"`
	FreeCalls    int64            `json:"free_calls"`
	InDoubt      int64            `json:"in_doubt"`
	Invalid      int              `json:"invalid"`
	Duplicates   int              `json:"duplicates"`
	Failed       int              `json:"failed"`
	ByHTTPStatus map[string]int64 `json:"by_http_status"`
	ByStatus     map[string]int   `json:"by_status"`
}

func readSummary(t *testing.T, path string) summaryFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("summary: %v", err)
	}
	var s summaryFile
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("summary %s: %v\n%s", path, err, b)
	}
	return s
}

// answerColumns are the columns every output row ends with (cli.md).
var answerColumns = []string{"result", "description", "account_bank", "account_type",
	"account_type_name", "billing", "status", "error", "answered_at"}

// statusOf is the output status of a simulator result code.
var statusOf = map[string]string{"0": "ok", "-1": "not_found", "-3": "card_not_exist"}

// checkFixtureOutput checks a complete output of fx row by row: order and
// original cells kept, and the answer columns equal to the simulator's
// deterministic answer for the card (or invalid / duplicate).
func checkFixtureOutput(t *testing.T, fx cardsFixture, seed int64, recs [][]string) {
	t.Helper()
	wantHeader := append([]string{"name", "amount", "card_no"}, answerColumns...)
	if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(wantHeader, ",") {
		t.Fatalf("output header %q, want %q", recs[0], wantHeader)
	}
	if len(recs) != len(fx.cards)+1 {
		t.Fatalf("output has %d data rows, want %d", len(recs)-1, len(fx.cards))
	}
	seen := map[string]bool{}
	for i, rec := range recs[1:] {
		if len(rec) != len(wantHeader) || rec[0] != fmt.Sprintf("Customer %d", i) || rec[2] != fx.raw[i] {
			t.Fatalf("row %d changed or out of order: %q", i+1, rec)
		}
		status, bill := rec[9], rec[8]
		card := fx.cards[i]
		switch {
		case cardnum.Validate(card, true) != nil:
			if status != "invalid" || bill != "none" || rec[10] == "" {
				t.Fatalf("row %d: invalid card rendered as %q", i+1, rec)
			}
		case seen[card]:
			if status != "duplicate" || bill != "none" {
				t.Fatalf("row %d repeats a card but is %q", i+1, rec)
			}
		default:
			seen[card] = true
			want := sim.Answer(seed, card)
			if status != statusOf[want.Result] || rec[3] != want.Result || rec[4] != want.Description ||
				rec[5] != want.AccountBank || bill != docBilling(want.Result) {
				t.Fatalf("row %d: got %q, the simulator answers %+v", i+1, rec[3:], want)
			}
		}
	}
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// tempOutputs lists the temporary files a sink leaves for output (named
// ".<base>.tmp-*" beside it).
func tempOutputs(dir, output string) []string {
	prefix := "." + filepath.Base(output) + ".tmp-"
	var out []string
	// In the output's folder, or in a run's own temporary folder beside it.
	for _, d := range append([]string{dir}, runTempDirs(dir, output)...) {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) {
				rel, _ := filepath.Rel(dir, filepath.Join(d, e.Name()))
				out = append(out, rel)
			}
		}
	}
	return out
}

// runTempDirs lists the run-owned temporary folders beside output.
func runTempDirs(dir, output string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "."+filepath.Base(output)+".cardbatch-tmp-*"))
	return m
}

// killAtFinalWrite runs cardbatch and SIGKILLs it as soon as the temporary
// file of output appears, that is while the final output is being written.
// It reports whether the kill landed; a run that ended first is returned
// with killed == false.
func killAtFinalWrite(t *testing.T, env []string, output string, args []string) cliResult {
	t.Helper()
	dir := filepath.Dir(output)
	stale := map[string]bool{} // left by an earlier kill
	for _, name := range tempOutputs(dir, output) {
		stale[name] = true
	}
	p := startCLI(t, env, args...)
	for !p.exited() {
		for _, name := range tempOutputs(dir, output) {
			if !stale[name] {
				_ = p.cmd.Process.Signal(syscall.SIGKILL)
				return p.wait(t, time.Minute)
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
	return p.wait(t, time.Minute)
}

// TestCrashKillResume SIGKILLs a run at seeded random moments (one during
// startup, several mid-run, one while the final output is being written),
// reruns the same command after each kill, and then checks that the final
// output equals an uninterrupted run's cell for cell, that the simulator's
// extra charges (Σ max(0, ChargedCount-1)) are covered by in_doubt, and that
// in_doubt is bounded by kills × concurrency. The simulator also drops
// connections, which the run rightly counts in in_doubt too (a dropped call
// may have been charged); those are told apart by the summary's
// by_http_status "none", so the bounds are checked on in_doubt less drops.
func TestCrashKillResume(t *testing.T) {
	const (
		rows        = 3000
		concurrency = 8
		seed        = 20240611
	)
	cfg := sim.Config{Seed: 77, Latency: 3 * time.Millisecond, LatencyJitter: 2 * time.Millisecond,
		BusyProb: 0.05, ServerErrorProb: 0.02, BadGatewayProb: 0.02, DropProb: 0.02}
	dir := t.TempDir()
	fx := writeCards(t, filepath.Join(dir, "cards.csv"), rows, seed)
	args := func(endpoint, output string) []string {
		return []string{"run", "--input", fx.path, "--output", output, "--endpoint", endpoint,
			"--rate", "1000", "--concurrency", strconv.Itoa(concurrency), "--retries", "10",
			"--retry-base", "5ms", "--timeout", "10s", "--no-progress"}
	}

	// The reference: the same input, settings and simulator, uninterrupted.
	refSim := newSim(t, cfg)
	refDir := filepath.Join(dir, "reference")
	noErr(t, os.Mkdir(refDir, 0o700))
	refOut := filepath.Join(refDir, "out.csv")
	if res := runCLI(t, cliEnv(t, "test"), args(refSim.url, refOut)...); res.code != 0 {
		t.Fatalf("reference run: exit %d\n%s", res.code, res.stderr)
	}
	ref, err := readCSV(refOut)
	noErr(t, err)
	checkFixtureOutput(t, fx, cfg.Seed, ref)

	crashSim := newSim(t, cfg)
	crashDir := filepath.Join(dir, "crash")
	noErr(t, os.Mkdir(crashDir, 0o700))
	out := filepath.Join(crashDir, "out.csv")
	crashArgs := args(crashSim.url, out)
	env := cliEnv(t, "test") // one user: every rerun shares its HOME and cache

	// wholeOrAbsent checks that the output is never seen half-written.
	wholeOrAbsent := func(when string) {
		t.Helper()
		recs, err := readCSV(out)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err != nil {
			t.Fatalf("%s: the output exists but does not parse: %v", when, err)
		}
		if len(recs) != rows+1 {
			t.Fatalf("%s: the output exists with %d data rows, want %d", when, len(recs)-1, rows)
		}
		for i, r := range recs {
			if len(r) != 3+len(answerColumns) {
				t.Fatalf("%s: output row %d has %d cells", when, i, len(r))
			}
		}
	}

	rng := rand.New(rand.NewPCG(seed, 2))
	delays := []time.Duration{time.Duration(1+rng.IntN(19)) * time.Millisecond} // during startup
	for range 4 {
		delays = append(delays, time.Duration(80+rng.IntN(420))*time.Millisecond)
	}
	kills := 0
	for i, d := range delays {
		p := startCLI(t, env, crashArgs...)
		time.Sleep(d)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		res := p.wait(t, time.Minute)
		switch {
		case res.killed:
			kills++
			t.Logf("kill %d after %v", i+1, d)
		case res.code == 0:
			t.Logf("run %d finished before its kill at %v", i+1, d)
		default:
			t.Fatalf("run %d (to be killed at %v) exited %d\n%s", i+1, d, res.code, res.stderr)
		}
		wholeOrAbsent(fmt.Sprintf("after kill %d", i+1))
	}
	finalWriteKilled := false
	for try := 0; try < 10 && !finalWriteKilled; try++ {
		res := killAtFinalWrite(t, env, out, crashArgs)
		switch {
		case res.killed:
			kills++
			finalWriteKilled = true
			t.Logf("kill %d while the output was being written", kills)
		case res.code != 0:
			t.Fatalf("run exited %d\n%s", res.code, res.stderr)
		}
		wholeOrAbsent("after the kill during the final write")
	}
	if !finalWriteKilled {
		t.Errorf("never caught the run while it wrote the output")
	}
	if kills < 6 {
		t.Errorf("only %d kills landed, want at least 6", kills)
	}

	res := runCLI(t, env, crashArgs...)
	if res.code != 0 {
		t.Fatalf("final run: exit %d\n%s", res.code, res.stderr)
	}
	got, err := readCSV(out)
	noErr(t, err)
	got, ref = blankAnsweredAt(got), blankAnsweredAt(ref)
	if len(got) != len(ref) {
		t.Fatalf("output has %d records, the uninterrupted run %d", len(got), len(ref))
	}
	// Every rerun shares the user's answer cache, as the same command run
	// again by the same user does. A call answered and cached just before a
	// kill, whose checkpoint record the kill lost, is answered from the
	// cache by the rerun: the same answer, shown as cached with no billing.
	// That is the only difference allowed (and it is counted below).
	diffs, fromCache := 0, 0
	for i := range ref {
		if strings.Join(got[i], "\x00") == strings.Join(ref[i], "\x00") {
			continue
		}
		if sameAnswerFromCache(got[i], ref[i]) {
			fromCache++
			t.Logf("row %d was answered from the answer cache after a kill: %q", i, got[i][3:])
			continue
		}
		if diffs++; diffs <= 5 {
			t.Errorf("row %d differs from the uninterrupted run:\n got %q\nwant %q", i, got[i], ref[i])
		}
	}
	if diffs > 0 {
		t.Fatalf("%d rows differ from the uninterrupted run", diffs)
	}

	// Billing: every extra charge is an in-doubt call, and in-doubt calls
	// come from kills (at most one per call in flight) or dropped
	// connections (counted by the run as HTTP status "none").
	sum := readSummary(t, out+".summary.json")
	l := crashSim.sim().Ledger()
	extra := 0
	for _, c := range distinctValid(fx) {
		if n := crashSim.sim().ChargedCount(c); n > 1 {
			extra += n - 1
		}
	}
	drops := sum.ByHTTPStatus["none"]
	t.Logf("kills %d, in_doubt %d (of which %d dropped connections), extra charges %d, ledger charged %d, summary charged %d",
		kills, sum.InDoubt, drops, extra, l.Charged, sum.ChargedCalls)
	if int64(extra) > sum.InDoubt-drops {
		t.Errorf("the simulator charged %d calls more than once per card, but in_doubt is only %d (%d of them dropped connections, never charged)",
			extra, sum.InDoubt, drops)
	}
	if drops > l.Dropped {
		t.Errorf("the run counts %d calls without an answer, the simulator dropped only %d", drops, l.Dropped)
	}
	if killed := sum.InDoubt - drops; killed > int64(kills*concurrency) {
		t.Errorf("in_doubt from kills is %d (in_doubt %d - %d drops), more than kills × concurrency = %d",
			killed, sum.InDoubt, drops, kills*concurrency)
	}
	if lost := l.Charged - sum.ChargedCalls; lost < 0 || lost > sum.InDoubt-drops {
		t.Errorf("ledger charged %d, summary charged_calls %d: %d charges unaccounted for (in_doubt from kills %d)",
			l.Charged, sum.ChargedCalls, lost, sum.InDoubt-drops)
	}
	if int64(fromCache) > sum.InDoubt-drops {
		t.Errorf("%d rows answered from the cache after kills, more than the %d calls the kills left in doubt",
			fromCache, sum.InDoubt-drops)
	}
	if sum.Rows != rows || sum.Failed != 0 {
		t.Errorf("summary rows %d failed %d, want %d and 0", sum.Rows, sum.Failed, rows)
	}
}

// sameAnswerFromCache reports whether an output row (name, amount, card_no
// and the answer columns) is ref's row answered from the answer cache: the
// same cells but billing none, status cached and an error that says so.
func sameAnswerFromCache(got, ref []string) bool {
	if len(got) != len(ref) || len(got) != 3+len(answerColumns) {
		return false
	}
	for i := 0; i < 8; i++ { // original cells, result … account_type_name
		if got[i] != ref[i] {
			return false
		}
	}
	return got[8] == "none" && got[9] == "cached" && got[10] == "" &&
		(ref[9] == "ok" || ref[9] == "not_found" || ref[9] == "card_not_exist")
}

// TestKillDuringFinalWriteLeavesNoTempFile kills a run while it writes its
// output and checks that the rerun leaves no partial copy of the output (it
// holds whole card numbers) in the output's folder.
func TestKillDuringFinalWriteLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	fx := writeCards(t, filepath.Join(dir, "cards.csv"), 3000, 5)
	outDir := filepath.Join(dir, "out")
	noErr(t, os.Mkdir(outDir, 0o700))
	out := filepath.Join(outDir, "out.csv")
	env := cliEnv(t, "")
	args := []string{"run", "--simulate", "--input", fx.path, "--output", out, "--rate", "0", "--no-progress"}
	killed := false
	for try := 0; try < 30 && !killed; try++ {
		res := killAtFinalWrite(t, env, out, args)
		if !res.killed && res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		killed = res.killed
	}
	if !killed {
		t.Fatal("30 tries never caught the run while it wrote the output: the test cannot check what it is for")
	}
	if left := tempOutputs(outDir, out); len(left) == 0 {
		t.Fatalf("the kill during the final write left no temporary file: the test did not kill where it meant to")
	}
	if res := runCLI(t, env, args...); res.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", res.code, res.stderr)
	}
	if _, err := readCSV(out); err != nil {
		t.Fatal(err)
	}
	if left := tempOutputs(outDir, out); len(left) > 0 {
		t.Errorf("after a successful rerun the output folder still holds %q: a partial copy of the output "+
			"(whole card numbers) left by the killed run, never removed; folder: %q", left, listDir(t, outDir))
	}
}

// TestSIGINTStopsAndResumes interrupts a run: exit 130, no output, nothing
// in doubt; the rerun finishes without paying for any card twice.
func TestSIGINTStopsAndResumes(t *testing.T) {
	const rows = 1500
	cfg := sim.Config{Seed: 31, Latency: 5 * time.Millisecond}
	s := newSim(t, cfg)
	dir := t.TempDir()
	fx := writeCards(t, filepath.Join(dir, "cards.csv"), rows, 31)
	out := filepath.Join(dir, "out.csv")
	env := cliEnv(t, "test")
	args := []string{"run", "--input", fx.path, "--output", out, "--endpoint", s.url, "--rate", "300",
		"--concurrency", "8", "--retry-base", "5ms", "--no-progress"}

	p := startCLI(t, env, args...)
	// Interrupt once calls flow (the signal handler is in place by then).
	for deadline := time.Now().Add(30 * time.Second); s.sim().Ledger().Calls < 100; time.Sleep(5 * time.Millisecond) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the run sent %d calls and ended or stalled:\n%s", s.sim().Ledger().Calls, p.wait(t, time.Second).stderr)
		}
	}
	noErr(t, p.cmd.Process.Signal(os.Interrupt))
	res := p.wait(t, 30*time.Second)
	if res.code != 130 {
		t.Fatalf("interrupted run: exit %d, want 130\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "interrupted") {
		t.Errorf("stderr does not say the run was interrupted:\n%s", res.stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an interrupted run created the output (%v)", err)
	}
	first := s.sim().Ledger()
	if first.Calls == 0 || first.Calls >= rows {
		t.Fatalf("the interrupt came at the wrong time: %d calls before it", first.Calls)
	}
	if sum := readSummary(t, out+".summary.json"); sum.InDoubt != 0 {
		t.Errorf("a graceful stop left %d calls in doubt", sum.InDoubt)
	}

	res = runCLI(t, env, args...)
	if res.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", res.code, res.stderr)
	}
	recs, err := readCSV(out)
	noErr(t, err)
	checkFixtureOutput(t, fx, cfg.Seed, recs)
	l := s.sim().Ledger()
	if l.CardsChargedMoreThanOnce != 0 {
		t.Errorf("%d cards charged more than once", l.CardsChargedMoreThanOnce)
	}
	sum := readSummary(t, out+".summary.json")
	if sum.ChargedCalls != l.Charged || sum.APICalls != l.Calls || sum.InDoubt != 0 {
		t.Errorf("summary charged %d calls %d in_doubt %d; ledger charged %d calls %d",
			sum.ChargedCalls, sum.APICalls, sum.InDoubt, l.Charged, l.Calls)
	}
}

// TestFatalAnswers: a revoked token (401) or an exhausted balance (403
// used_up) mid-run stops the run with exit 1 and a message that names the
// provider's code and what to do; at most --concurrency calls get the fatal
// answer; the same command on the API once healthy again finishes without
// paying for any card twice.
func TestFatalAnswers(t *testing.T) {
	const concurrency = 4
	tests := []struct {
		name   string
		cfg    sim.Config
		status string
		want   []string
	}{
		{"401 after 40 calls", sim.Config{Seed: 41, FailAuthAfter: 40, Latency: 2 * time.Millisecond}, "401",
			[]string{"HTTP 401", "invalid_token", "check ACEDATA_TOKEN", "run the same command again"}},
		{"403 used_up after 50 charged", sim.Config{Seed: 42, UsedUpAfterCharged: 50, Latency: 2 * time.Millisecond}, "403",
			[]string{"HTTP 403", "used_up", "top up the balance", "run the same command again"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, tt.cfg)
			dir := t.TempDir()
			fx := writeCards(t, filepath.Join(dir, "cards.csv"), 400, uint64(tt.cfg.Seed))
			out := filepath.Join(dir, "out.csv")
			env := cliEnv(t, "test")
			args := []string{"run", "--input", fx.path, "--output", out, "--endpoint", s.url, "--rate", "0",
				"--concurrency", strconv.Itoa(concurrency), "--retry-base", "5ms", "--no-progress"}

			res := runCLI(t, env, args...)
			if res.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a fatal run created the output (%v)", err)
			}
			first := s.sim()
			l1 := first.Ledger()
			if n := l1.ByStatus[tt.status]; n < 1 || n > concurrency {
				t.Errorf("%d calls answered %s; want 1 to --concurrency (%d)", n, tt.status, concurrency)
			}
			if tt.cfg.UsedUpAfterCharged > 0 && l1.Charged != int64(tt.cfg.UsedUpAfterCharged) {
				t.Errorf("the simulator charged %d calls, its balance was %d", l1.Charged, tt.cfg.UsedUpAfterCharged)
			}

			// The token is renewed / the balance topped up: same endpoint, same command.
			second := s.set(sim.Config{Seed: tt.cfg.Seed})
			res = runCLI(t, env, args...)
			if res.code != 0 {
				t.Fatalf("rerun on a healthy API: exit %d\n%s", res.code, res.stderr)
			}
			recs, err := readCSV(out)
			noErr(t, err)
			checkFixtureOutput(t, fx, tt.cfg.Seed, recs)
			for _, c := range distinctValid(fx) {
				if n := first.ChargedCount(c) + second.ChargedCount(c); n > 1 {
					t.Fatalf("card %s charged %d times across the two runs", cardnum.Mask(c), n)
				}
			}
			sum := readSummary(t, out+".summary.json")
			if l2 := second.Ledger(); sum.ChargedCalls != l1.Charged+l2.Charged {
				t.Errorf("summary charged_calls %d, ledgers %d + %d", sum.ChargedCalls, l1.Charged, l2.Charged)
			}
		})
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	addr := ln.Addr().String()
	noErr(t, ln.Close())
	return addr
}

// TestSimulateCommand starts `cardbatch simulate` and speaks to it as
// api/check-1e.md describes, with curl when there is one and net/http.
func TestSimulateCommand(t *testing.T) {
	const token, seed = "T0k-sim", 5
	addr := freeAddr(t)
	p := startCLI(t, cliEnv(t, ""), "simulate", "--addr", addr, "--token", token, "--seed", strconv.Itoa(seed))
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the simulator does not listen on %s: %v\n%s", addr, err, p.wait(t, time.Second).stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	base := "http://" + addr
	url := base + "/identity/bankcard/check-1e"
	card := sim.GenerateCards(seed, 1)[0]
	want := sim.Answer(seed, card)
	body := `{"bank_card": "` + card + `"}`

	// checkAnswer checks a 200 answer: flat JSON, result a string.
	checkAnswer := func(t *testing.T, status int, data []byte) {
		t.Helper()
		if status != 200 {
			t.Fatalf("status %d, want 200: %s", status, data)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatalf("answer is not a JSON object: %v: %s", err, data)
		}
		var result, desc, bank string
		if err := json.Unmarshal(raw["result"], &result); err != nil {
			t.Fatalf("result is not a JSON string: %s", raw["result"])
		}
		_ = json.Unmarshal(raw["description"], &desc)
		_ = json.Unmarshal(raw["account_bank"], &bank)
		if result != want.Result || desc != want.Description || bank != want.AccountBank {
			t.Errorf("answer %s, want %+v", data, want)
		}
		if want.AccountType != 0 {
			var typ int
			if err := json.Unmarshal(raw["account_type"], &typ); err != nil || typ != want.AccountType {
				t.Errorf("account_type %s, want the number %d", raw["account_type"], want.AccountType)
			}
		}
	}
	checkRefused := func(t *testing.T, status int, data []byte) {
		t.Helper()
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if status != 401 || json.Unmarshal(data, &eb) != nil || eb.Error.Code != "invalid_token" || eb.Error.Message == "" {
			t.Errorf("wrong token: status %d body %s, want 401 invalid_token", status, data)
		}
	}

	calls, accepted := int64(0), int64(0)
	if curl, err := exec.LookPath("curl"); err != nil {
		t.Log("curl not found: the curl requests are skipped")
	} else {
		curlPost := func(auth string) (int, []byte) {
			out, err := exec.Command(curl, "-sS", "-w", "\n%{http_code}", "-X", "POST", url,
				"-H", "accept: application/json", "-H", "authorization: "+auth,
				"-H", "content-type: application/json", "-d", body).Output()
			if err != nil {
				t.Fatalf("curl: %v", err)
			}
			i := bytes.LastIndexByte(out, '\n')
			status, _ := strconv.Atoi(string(out[i+1:]))
			return status, out[:i]
		}
		t.Run("curl", func(t *testing.T) {
			st, data := curlPost("Bearer " + token)
			checkAnswer(t, st, data)
			st, data = curlPost("Bearer wrong")
			checkRefused(t, st, data)
		})
		calls, accepted = calls+2, accepted+1
	}
	post := func(auth string) (int, []byte) {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		noErr(t, err)
		req.Header.Set("accept", "application/json")
		req.Header.Set("content-type", "application/json")
		if auth != "" {
			req.Header.Set("authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		noErr(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		noErr(t, err)
		return resp.StatusCode, data
	}
	t.Run("net/http", func(t *testing.T) {
		st, data := post("Bearer " + token)
		checkAnswer(t, st, data)
		st, data = post("Bearer wrong")
		checkRefused(t, st, data)
		st, data = post("")
		checkRefused(t, st, data)
	})
	calls, accepted = calls+3, accepted+1

	resp, err := http.Get(base + "/_sim/ledger")
	noErr(t, err)
	var l sim.Ledger
	noErr(t, json.NewDecoder(resp.Body).Decode(&l))
	resp.Body.Close()
	wantCharged := accepted
	if docBilling(want.Result) != "charged" {
		wantCharged = 0
	}
	if l.Calls != calls || l.Charged != wantCharged {
		t.Errorf("ledger calls %d charged %d, want %d and %d", l.Calls, l.Charged, calls, wantCharged)
	}

	noErr(t, p.cmd.Process.Signal(os.Interrupt))
	if res := p.wait(t, 20*time.Second); res.code != 0 {
		t.Errorf("simulate after SIGINT: exit %d\n%s", res.code, res.stderr)
	}
}

// TestRunRefusals: usage errors exit 2, send nothing and create nothing.
func TestRunRefusals(t *testing.T) {
	const secret = "tok-S3CRET-4711"
	tests := []struct {
		name  string
		token string
		args  func(in, out string) []string
		want  []string
	}{
		{"no token and no --simulate", "", func(in, out string) []string {
			return []string{"run", "--input", in, "--output", out}
		}, []string{"ACEDATA_TOKEN", "--simulate"}},
		{"--token VALUE", "", func(in, out string) []string {
			return []string{"run", "--token", secret, "--input", in, "--output", out}
		}, []string{"ACEDATA_TOKEN", "--token-file"}},
		{"--token=VALUE", "test", func(in, out string) []string {
			return []string{"run", "--input", in, "--output", out, "--token=" + secret}
		}, []string{"ACEDATA_TOKEN"}},
		{"-token VALUE", "test", func(in, out string) []string {
			return []string{"run", "-token", secret, "--input", in, "--output", out}
		}, []string{"ACEDATA_TOKEN"}},
		{"--output is --input", "test", func(in, _ string) []string {
			return []string{"run", "--input", in, "--output", in}
		}, []string{"same file as --input"}},
		{"--output is --input by another path", "test", func(in, _ string) []string {
			return []string{"run", "--input", in, "--output", filepath.Dir(in) + "/./sub/../" + filepath.Base(in)}
		}, []string{"same file as --input"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, sim.Config{Seed: 1})
			inDir, outDir := t.TempDir(), t.TempDir()
			noErr(t, os.Mkdir(filepath.Join(inDir, "sub"), 0o700))
			fx := writeCards(t, filepath.Join(inDir, "cards.csv"), 20, 3)
			before, err := os.ReadFile(fx.path)
			noErr(t, err)
			args := append(tt.args(fx.path, filepath.Join(outDir, "out.csv")), "--endpoint", s.url, "--no-progress")
			res := runCLI(t, cliEnv(t, tt.token), args...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
			if strings.Contains(res.stderr+res.stdout, secret) {
				t.Errorf("the token value was echoed:\n%s", res.stderr)
			}
			if l := s.sim().Ledger(); l.Calls != 0 {
				t.Errorf("%d calls sent", l.Calls)
			}
			if names := listDir(t, outDir); len(names) != 0 {
				t.Errorf("the refused run created %q", names)
			}
			if names := listDir(t, inDir); len(names) != 2 {
				t.Errorf("the input folder now holds %q", names)
			}
			after, err := os.ReadFile(fx.path)
			noErr(t, err)
			if !bytes.Equal(before, after) {
				t.Errorf("the input was changed")
			}
		})
	}
}

// noErr fails the test on an error.
func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// blankAnsweredAt blanks the answered_at column, the one cell that says
// when an answer was obtained, so outputs of runs made at other times
// compare cell for cell.
func blankAnsweredAt(recs [][]string) [][]string {
	if len(recs) == 0 {
		return recs
	}
	for i, h := range recs[0] {
		if h == "answered_at" {
			for _, r := range recs[1:] {
				if i < len(r) {
					r[i] = ""
				}
			}
		}
	}
	return recs
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

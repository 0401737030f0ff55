package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Two teams' runs share one answer cache (one SQLite file or one
// PostgreSQL database), each with its own input, output and checkpoint.
// Their inputs share half their cards. Whatever the interleaving, every
// card is paid once: a run claims a card in the cache before calling, the
// other defers it and takes the answer.

// sharedInputs returns two inputs of n cards each that share n/2 cards
// (in another order in the second), and the number of distinct cards.
func sharedInputs(t *testing.T, seed uint64, n int) (a, b []string, distinctCards int) {
	t.Helper()
	cards := makeCards(seed, n+n/2)
	shared, onlyA, onlyB := cards[:n/2], cards[n/2:n], cards[n:]
	a = append(append([]string{}, shared...), onlyA...)
	rng := rand.New(rand.NewPCG(seed, 2))
	b = append([]string{}, shared...)
	rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	for i, c := range onlyB { // interleave: the shared cards meet the other run's
		b = append(b, "")
		copy(b[2*i+1:], b[2*i:])
		b[2*i] = c
	}
	return a, b, len(cards)
}

// team is one of the two runs: its folder, input and output.
type team struct {
	dir, in, out string
	cards        []string
}

func newTeam(t *testing.T, name string, cards []string) team {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return team{dir: dir, in: writeCSV(t, dir, cards), out: filepath.Join(dir, "out.csv"), cards: cards}
}

// checkTeam checks that a team's output has a final answer on every row
// and returns its summary.
func checkTeam(t *testing.T, name string, tm team) summary {
	t.Helper()
	tb := readTable(t, tm.out)
	if len(tb.rows) != len(tm.cards) {
		t.Fatalf("%s: %d output rows, want %d", name, len(tb.rows), len(tm.cards))
	}
	for st, n := range tb.count(t, "status") {
		if st != "ok" && st != "not_found" && st != "cached" {
			t.Errorf("%s: %d rows %q, want every row ok, not_found or cached", name, n, st)
		}
	}
	return readSummary(t, tm.out+".summary.json")
}

// waitCmd starts cmd and returns a function that waits for it.
func waitCmd(t *testing.T, cmd *exec.Cmd, cancel context.CancelFunc) func() result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() result {
		defer cancel()
		_ = cmd.Wait()
		return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
	}
}

// simFlags: every answer charged ("0" or "-1"), a little latency so that
// calls overlap.
var simFlags = []string{"--seed", "61", "--latency", "15ms", "--notexist-prob", "0"}

func TestSharedCacheRunsPayOnce(t *testing.T) {
	t.Parallel()
	s := startSim(t, simFlags...)
	ca, cb, distinctCards := sharedInputs(t, 61, 400)
	a, b := newTeam(t, "a", ca), newTeam(t, "b", cb)
	cacheFile := filepath.Join(t.TempDir(), "team-answers.db")
	args := func(tm team) []string {
		return runArgs(s, tm.in, tm.out, "--cache", cacheFile, "--rate", "150", "--concurrency", "8")
	}
	waitA, waitB := startRun(t, a.dir, args(a)...), startRun(t, b.dir, args(b)...)
	for name, wait := range map[string]func() result{"a": waitA, "b": waitB} {
		if r := wait(); r.code != 0 {
			t.Fatalf("run %s: exit %d\n%s", name, r.code, r.stderr)
		}
	}
	sa, sb := checkTeam(t, "a", a), checkTeam(t, "b", b)
	l := s.ledger(t)
	t.Logf("ledger: %d calls, %d charged for %d distinct cards; a charged %d (cached %d), b charged %d (cached %d)",
		l.Calls, l.Charged, distinctCards, sa.ChargedCalls, sa.CacheHits, sb.ChargedCalls, sb.CacheHits)
	if l.ChargedTwice != 0 || l.Charged != int64(distinctCards) || l.DistinctCards != int64(distinctCards) {
		t.Fatalf("ledger: %d charged for %d distinct cards (%d sent), %d cards charged twice; want each card charged once",
			l.Charged, distinctCards, l.DistinctCards, l.ChargedTwice)
	}
	if sa.ChargedCalls+sb.ChargedCalls != l.Charged || sa.CacheHits+sb.CacheHits != 200 {
		t.Fatalf("summaries: charged %d+%d (ledger %d), cache hits %d+%d (want 200 shared cards)",
			sa.ChargedCalls, sb.ChargedCalls, l.Charged, sa.CacheHits, sb.CacheHits)
	}
}

// The same, with run a killed (SIGKILL) mid-way: b finishes, taking over
// a's claims once their leases expire; then a resumes and finishes. Only
// the calls a had in flight when it died (its in_doubt) may be paid again.
func TestSharedCacheKilledRunPaysOnlyInDoubt(t *testing.T) {
	t.Parallel()
	s := startSim(t, simFlags...)
	ca, cb, distinctCards := sharedInputs(t, 62, 400)
	a, b := newTeam(t, "a", ca), newTeam(t, "b", cb)
	cacheFile := filepath.Join(t.TempDir(), "team-answers.db")
	// --timeout 2s: a dead run's claims expire after 4 s.
	args := func(tm team) []string {
		return runArgs(s, tm.in, tm.out, "--cache", cacheFile, "--rate", "100", "--concurrency", "8", "--timeout", "2s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	killed := cli(ctx, a.dir, args(a)...)
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	waitB := startRun(t, b.dir, args(b)...)
	waitForCalls(t, s, 150)
	_ = killed.Process.Kill() // SIGKILL
	_ = killed.Wait()
	if code := killed.ProcessState.ExitCode(); code != -1 {
		t.Fatalf("run a ended (exit %d) before it was killed: make the inputs longer", code)
	}
	if r := waitB(); r.code != 0 {
		t.Fatalf("run b: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, a.dir, args(a)...); r.code != 0 {
		t.Fatalf("run a resumed: exit %d\n%s", r.code, r.stderr)
	}
	sa, sb := checkTeam(t, "a", a), checkTeam(t, "b", b)
	l := s.ledger(t)
	t.Logf("ledger: %d calls, %d charged for %d distinct cards, %d charged twice; a's in_doubt %d",
		l.Calls, l.Charged, distinctCards, l.ChargedTwice, sa.InDoubt)
	if l.ChargedTwice > sa.InDoubt || l.Charged > int64(distinctCards)+sa.InDoubt || l.DistinctCards != int64(distinctCards) {
		t.Fatalf("ledger: %d charged for %d distinct cards, %d charged twice; want at most a's %d in-doubt calls paid twice",
			l.Charged, distinctCards, l.ChargedTwice, sa.InDoubt)
	}
	if sb.CacheHits == 0 {
		t.Fatalf("run b took no answer from the shared cache")
	}
}

// TestCacheURLNeverPrinted: a postgres:// cache that cannot be reached
// fails the run with a message that masks the password; a URL cache
// without an HMAC key is refused before anything is sent.
func TestCacheURLNeverPrinted(t *testing.T) {
	t.Parallel()
	s := startSim(t, simFlags...)
	const pw = "Pw-never-shown-4411"
	url := fmt.Sprintf("postgres://team:%s@127.0.0.1:1/answers?sslmode=disable&connect_timeout=3", pw)
	dir := t.TempDir()
	in, out := writeCSV(t, dir, makeCards(63, 5)), filepath.Join(dir, "out.csv")
	urlFile := filepath.Join(dir, "cache-url")
	if err := os.WriteFile(urlFile, []byte(url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "team.key")
	if err := os.WriteFile(keyFile, []byte("00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		code  int
		wants string
	}{
		{"no key", []string{"--cache", url}, 2, "CARDBATCH_HMAC_KEY"},
		{"unreachable, from --cache", []string{"--cache", url, "--cache-key-file", keyFile}, 1, "team:xxxxx@127.0.0.1:1"},
		{"unreachable, from --cache-url-file", []string{"--cache-url-file", urlFile, "--cache-key-file", keyFile}, 1, "team:xxxxx@127.0.0.1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, dir, runArgs(s, in, out, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.wants) || strings.Contains(r.stderr+r.stdout, pw) {
				t.Fatalf("exit %d, want %d with %q and no password; stderr:\n%s", r.code, tc.code, tc.wants, r.stderr)
			}
		})
	}
	if l := s.ledger(t); l.Calls != 0 {
		t.Fatalf("%d calls sent without a usable cache", l.Calls)
	}
	// From the environment, as a CronJob would pass it.
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmd := cli(ctx, dir, runArgs(s, in, out, "--cache-key-file", keyFile)...)
	cmd.Env = append(cmd.Env, "CARDBATCH_CACHE="+url)
	b, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || strings.Contains(string(b), pw) || !strings.Contains(string(b), "team:xxxxx@") {
		t.Fatalf("CARDBATCH_CACHE: exit %d, want 1 naming the masked URL; output:\n%s", code, b)
	}
}

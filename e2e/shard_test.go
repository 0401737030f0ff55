package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// shardKey is the row key every shard of a test gets in CARDBATCH_HMAC_KEY.
const shardKey = "e2e-shard-key-5d1f0c93a7b2e468"

// shardToken is shard k's own API token.
func shardToken(k int) string { return fmt.Sprintf("e2e-shard-token-%d", k) }

// labelOf is how the simulator's ledger names a token.
func labelOf(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// cliEnv is cli with more environment (a later entry wins).
func cliEnv(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := cli(ctx, dir, args...)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// shardEnv is shard k's environment: its token and the shared key.
func shardEnv(k int) []string {
	return []string{"ACEDATA_TOKEN=" + shardToken(k), "CARDBATCH_HMAC_KEY=" + shardKey}
}

// shardOut is shard k's output; its checkpoint is beside it.
func shardOut(dir string, k int) string {
	return filepath.Join(dir, fmt.Sprintf("s%d", k), "out.csv")
}

func shardCheckpoint(dir string, k int) string { return shardOut(dir, k) + ".checkpoint.db" }

// runShards runs shards ks of n over in as processes at once, each with
// its own token, and returns their results and the wall time of all.
func runShards(t *testing.T, s *sim, dir, in string, n int, ks []int, extra ...string) ([]result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmds := make([]*exec.Cmd, n)
	outs := make([]*bytes.Buffer, n)
	start := time.Now()
	for _, k := range ks {
		if err := os.MkdirAll(filepath.Dir(shardOut(dir, k)), 0o700); err != nil {
			t.Fatal(err)
		}
		args := runArgs(s, in, shardOut(dir, k), append([]string{"--shard", fmt.Sprintf("%d/%d", k, n)}, extra...)...)
		cmds[k] = cliEnv(ctx, dir, shardEnv(k), args...)
		outs[k] = &bytes.Buffer{}
		cmds[k].Stderr = outs[k]
		if err := cmds[k].Start(); err != nil {
			t.Fatal(err)
		}
	}
	res := make([]result, n)
	for k, cmd := range cmds {
		if cmd == nil {
			continue
		}
		_ = cmd.Wait()
		res[k] = result{code: cmd.ProcessState.ExitCode(), stderr: outs[k].String()}
	}
	wall := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("the shards did not finish within %v", procTimeout)
	}
	return res, wall
}

// merge runs cardbatch merge over the checkpoints of shards ks.
func merge(t *testing.T, dir, out string, ckpts ...string) result {
	t.Helper()
	return run(t, dir, append([]string{"merge", "--output", out}, ckpts...)...)
}

func allCheckpoints(dir string, n int) []string {
	var c []string
	for k := range n {
		c = append(c, shardCheckpoint(dir, k))
	}
	return c
}

// mergedSummary is the merged summary's keys this file checks.
type mergedSummary struct {
	summary
	ByStatus map[string]int64 `json:"by_status"`
	Shards   []struct {
		Shard        int   `json:"shard"`
		Shards       int   `json:"shards"`
		ChargedCalls int64 `json:"charged_calls"`
		APICalls     int64 `json:"api_calls"`
		Attempts     []struct {
			Attempt int `json:"attempt"`
		} `json:"attempts"`
	} `json:"shards"`
}

func readMerged(t *testing.T, path string) mergedSummary {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m mergedSummary
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return m
}

// shardInput is cards with every 20th card repeated further down and an
// invalid row every 40 rows: duplicates and invalid rows cross the split.
func shardInput(t *testing.T, dir string, cards []string) string {
	t.Helper()
	var rows []string
	for i, c := range cards {
		rows = append(rows, c)
		if i%20 == 19 {
			rows = append(rows, cards[i/2])
		}
		if i%40 == 7 {
			rows = append(rows, breakLuhn(c))
		}
	}
	return writeCSV(t, dir, rows)
}

// checkMergedAgainst checks a merged output and summary against a single
// run's output and summary and against the shards' ledger.
func checkMergedAgainst(t *testing.T, merged, single string, l ledger) mergedSummary {
	t.Helper()
	if got, want := stripColumn(t, merged, "answered_at"), stripColumn(t, single, "answered_at"); !bytes.Equal(got, want) {
		t.Errorf("the merged output differs from the single run's (answered_at blanked):\n%s\nwant\n%s", got, want)
	}
	ms, one := readMerged(t, merged+".summary.json"), readMerged(t, single+".summary.json")
	if ms.ChargedCalls != l.Charged || ms.APICalls != l.Calls || !maps.Equal(ms.ByResult, l.ByResult) {
		t.Errorf("merged summary: api_calls %d charged %d by_result %v; the shards' ledger: calls %d charged %d by_result %v",
			ms.APICalls, ms.ChargedCalls, ms.ByResult, l.Calls, l.Charged, l.ByResult)
	}
	if ms.Rows != one.Rows || ms.Invalid != one.Invalid || ms.Duplicates != one.Duplicates || !maps.Equal(ms.ByStatus, one.ByStatus) {
		t.Errorf("merged rows %d invalid %d duplicates %d by_status %v; single run: %d %d %d %v",
			ms.Rows, ms.Invalid, ms.Duplicates, ms.ByStatus, one.Rows, one.Invalid, one.Duplicates, one.ByStatus)
	}
	var charged int64
	for i, sh := range ms.Shards {
		charged += sh.ChargedCalls
		if sh.Shard != i || sh.Shards != len(ms.Shards) || len(sh.Attempts) == 0 {
			t.Errorf("shards[%d] = shard %d of %d with %d attempts", i, sh.Shard, sh.Shards, len(sh.Attempts))
		}
	}
	if charged != ms.ChargedCalls {
		t.Errorf("the shards' charged calls add to %d, the merged summary says %d", charged, ms.ChargedCalls)
	}
	return ms
}

// Guarantee: N shards with their own tokens give the single run's output,
// bill the ledger exactly, pay each card once, and take about 1/N the time.

// TestShardsEqualOneRun runs 800 cards once as one process and once as 4
// shard processes at the same per-token rate (the simulator limits each
// token to that rate), merges the shards and compares. It logs the wall
// times (a figure, not an assertion). Not parallel: it measures time.
func TestShardsEqualOneRun(t *testing.T) {
	const n, rate = 4, 20
	simFlags := []string{"--seed", "16", "--rate-limit", strconv.Itoa(rate), "--notexist-prob", "0.05",
		"--busy-prob", "0.02", "--latency", "20ms", "--latency-jitter", "10ms"}
	common := []string{"--rate", strconv.Itoa(rate), "--concurrency", "8", "--no-cache"}
	cards := makeCards(16, 800)
	dir := t.TempDir()
	in := shardInput(t, dir, cards)

	one := startSim(t, simFlags...)
	single := filepath.Join(dir, "single.csv")
	start := time.Now()
	if r := run(t, dir, runArgs(one, in, single, common...)...); r.code != 0 {
		t.Fatalf("single run: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	oneWall := time.Since(start)

	s := startSim(t, simFlags...)
	res, wall := runShards(t, s, dir, in, n, []int{0, 1, 2, 3}, common...)
	for k, r := range res {
		if r.code != 0 {
			t.Fatalf("shard %d: exit %d; stderr:\n%s", k, r.code, r.stderr)
		}
	}
	merged := filepath.Join(dir, "merged.csv")
	if r := merge(t, dir, merged, allCheckpoints(dir, n)...); r.code != 0 {
		t.Fatalf("merge: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	l := s.ledger(t)
	ms := checkMergedAgainst(t, merged, single, l)
	if l.ChargedTwice != 0 || l.DistinctCards != int64(len(cards)) {
		t.Errorf("ledger: %d cards charged twice, %d distinct cards; want 0 and %d", l.ChargedTwice, l.DistinctCards, len(cards))
	}
	// No shard went past its own token's limit (the simulator answers 429
	// past it), and every shard used its own token.
	if l.ByStatus["429"] != 0 || len(l.MaxByToken) != n {
		t.Errorf("ledger: %d answers 429, tokens seen %v; want none and the %d shard tokens", l.ByStatus["429"], l.MaxByToken, n)
	}
	for k := range n {
		if l.MaxByToken[labelOf(shardToken(k))] == 0 {
			t.Errorf("shard %d's token made no call (ledger %v)", k, l.MaxByToken)
		}
	}
	var perShard []string
	for _, sh := range ms.Shards {
		perShard = append(perShard, fmt.Sprintf("%d:%d calls", sh.Shard, sh.APICalls))
	}
	lone := one.ledger(t)
	oneSpan, span := lone.LastCall.Sub(lone.FirstCall).Seconds(), l.LastCall.Sub(l.FirstCall).Seconds()
	t.Logf("800 cards (%d rows) at --rate %d per token: one process %.1fs (calls over %.1fs), %d shards %.1fs (calls over %.1fs): "+
		"%.2fx faster (%.2fx between first and last call); shards %s; ledger calls %d charged %d; busiest second by token %v",
		ms.Rows, rate, oneWall.Seconds(), oneSpan, n, wall.Seconds(), span, oneWall.Seconds()/wall.Seconds(), oneSpan/span,
		strings.Join(perShard, ", "), l.Calls, l.Charged, l.MaxByToken)
}

// TestShardKilledAndResumed kills one shard with SIGKILL mid-run: the merge
// refuses it (naming the shard to resume), and once it is resumed the
// merged output is the single run's and the bill is the ledger's, up to
// the calls in doubt.
func TestShardKilledAndResumed(t *testing.T) {
	t.Parallel()
	const n, conc = 4, 4
	simFlags := []string{"--seed", "17", "--latency", "15ms", "--latency-jitter", "10ms", "--notexist-prob", "0.05"}
	common := []string{"--rate", "0", "--concurrency", strconv.Itoa(conc), "--no-cache"}
	cards := makeCards(17, 240)
	dir := t.TempDir()
	in := shardInput(t, dir, cards)
	ref := startSim(t, simFlags...)
	single := filepath.Join(dir, "single.csv")
	if r := run(t, dir, runArgs(ref, in, single, common...)...); r.code != 0 {
		t.Fatalf("single run: exit %d; stderr:\n%s", r.code, r.stderr)
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 17))
	for try := 1; ; try++ {
		if try > 20 {
			t.Fatal("20 tries and no kill landed mid-run")
		}
		tdir := t.TempDir()
		s := startSim(t, simFlags...)
		if !killShard(t, s, tdir, in, 2, n, rng, common) {
			t.Logf("try %d: the kill missed; again", try)
			continue
		}
		res, _ := runShards(t, s, tdir, in, n, []int{0, 1, 3}, common...)
		for _, k := range []int{0, 1, 3} {
			if res[k].code != 0 {
				t.Fatalf("shard %d: exit %d; stderr:\n%s", k, res[k].code, res[k].stderr)
			}
		}
		merged := filepath.Join(tdir, "merged.csv")
		r := merge(t, tdir, merged, allCheckpoints(tdir, n)...)
		if r.code != 2 || !strings.Contains(r.stderr, "shard 2/4") || !strings.Contains(r.stderr, "not every shard is finished") {
			t.Fatalf("merge with shard 2 killed: exit %d, stderr %q; want 2 naming shard 2/4 as not finished", r.code, r.stderr)
		}
		if _, err := os.Stat(merged); err == nil {
			t.Fatal("a refused merge wrote the output")
		}
		if res, _ := runShards(t, s, tdir, in, n, []int{2}, common...); res[2].code != 0 {
			t.Fatalf("shard 2 resumed: exit %d; stderr:\n%s", res[2].code, res[2].stderr)
		}
		if r := merge(t, tdir, merged, allCheckpoints(tdir, n)...); r.code != 0 {
			t.Fatalf("merge: exit %d; stderr:\n%s", r.code, r.stderr)
		}
		l := s.ledger(t)
		ms := readMerged(t, merged+".summary.json")
		if got, want := stripColumn(t, merged, "answered_at"), stripColumn(t, single, "answered_at"); !bytes.Equal(got, want) {
			t.Errorf("after a killed shard the merged output differs from the single run's:\n%s\nwant\n%s", got, want)
		}
		if ms.InDoubt > conc || l.Charged < ms.ChargedCalls || l.Charged-ms.ChargedCalls > ms.InDoubt || l.ChargedTwice > ms.InDoubt {
			t.Errorf("ledger charged %d (%d cards twice), merged charged %d in_doubt %d: want 0 <= difference <= in_doubt <= %d",
				l.Charged, l.ChargedTwice, ms.ChargedCalls, ms.InDoubt, conc)
		}
		t.Logf("try %d: ledger calls %d charged %d; merged charged %d in_doubt %d", try, l.Calls, l.Charged, ms.ChargedCalls, ms.InDoubt)
		return
	}
}

// killShard starts shard k of n alone, kills it with SIGKILL once the
// simulator has seen a call of it, a random moment later, and reports
// whether it died mid-run.
func killShard(t *testing.T, s *sim, dir, in string, k, n int, rng *rand.Rand, common []string) bool {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(shardOut(dir, k)), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	args := runArgs(s, in, shardOut(dir, k), append([]string{"--shard", fmt.Sprintf("%d/%d", k, n)}, common...)...)
	cmd := cliEnv(ctx, dir, shardEnv(k), args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	for s.ledger(t).Calls == 0 {
		select {
		case <-done:
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	time.Sleep(time.Duration(rng.Int64N(int64(150 * time.Millisecond))))
	_ = cmd.Process.Kill()
	<-done
	return cmd.ProcessState.ExitCode() == -1 // died by the signal, mid-run
}

// Guarantee: merge refuses, with exit 2, a message that says what to do
// and no output, every set of checkpoints that is not every shard of one
// input exactly once, finished and at rest; and merges again once a
// refused shard is resumed. A sharded run needs the shared key and keeps
// its shard across resumes.

func TestMergeRefuses(t *testing.T) {
	t.Parallel()
	const n = 4
	common := []string{"--rate", "0", "--no-cache"}
	dir := t.TempDir()
	s := startSim(t, "--seed", "24")
	in := shardInput(t, dir, makeCards(24, 40))
	if res, _ := runShards(t, s, dir, in, n, []int{0, 1, 2, 3}, common...); res[0].code+res[1].code+res[2].code+res[3].code != 0 {
		t.Fatalf("shards: %+v", res)
	}
	good := filepath.Join(dir, "good.csv")
	if r := merge(t, dir, good, allCheckpoints(dir, n)...); r.code != 0 {
		t.Fatalf("merge: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	// Odd checkpoints: another input, another key, another split, no split, a copy.
	odd := func(name string, env []string, input string, args ...string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(d, "out.csv")
		cmd := cliEnv(context.Background(), dir, append(shardEnv(1), env...), runArgs(s, input, out, append(args, common...)...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		return out + ".checkpoint.db"
	}
	otherIn := filepath.Join(dir, "other")
	if err := os.MkdirAll(otherIn, 0o700); err != nil {
		t.Fatal(err)
	}
	ck := allCheckpoints(dir, n)
	otherInput := odd("x-input", nil, shardInput(t, otherIn, makeCards(25, 40)), "--shard", "1/4")
	otherKey := odd("x-key", []string{"CARDBATCH_HMAC_KEY=another-key-0123456789abcdef"}, in, "--shard", "1/4")
	otherN := odd("x-n", nil, in, "--shard", "1/3")
	plain := odd("x-plain", nil, in)
	cp := filepath.Join(dir, "copy.db")
	if b, err := os.ReadFile(ck[1]); err != nil || os.WriteFile(cp, b, 0o600) != nil {
		t.Fatal("copy the checkpoint of shard 1", err)
	}
	for _, tc := range []struct {
		name  string
		ckpts []string
		want  string
	}{
		{"missing", []string{ck[0], ck[1], ck[3]}, "shard 2/4 missing"},
		{"copy", []string{ck[0], ck[1], ck[2], ck[3], cp}, "are both shard 1/4"},
		{"twice", []string{ck[0], ck[1], ck[1], ck[2], ck[3]}, "is given twice"},
		{"other input", []string{ck[0], otherInput, ck[2], ck[3]}, "were made from different inputs"},
		{"other key", []string{ck[0], otherKey, ck[2], ck[3]}, "were made with different row keys"},
		{"other split", []string{ck[0], otherN, ck[2], ck[3]}, "is shard 1/3"},
		{"no split", []string{plain, ck[0], ck[1], ck[2], ck[3]}, "is the checkpoint of a run without --shard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "refused-"+strings.ReplaceAll(tc.name, " ", "-")+".csv")
			r := merge(t, dir, out, tc.ckpts...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", r.code, r.stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a refused merge wrote its output")
			}
			t.Logf("%s", r.stderr)
		})
	}

	// run: --shard needs the shared key, and a resume keeps its shard.
	r := run(t, dir, runArgs(s, in, filepath.Join(dir, "nokey.csv"), append([]string{"--shard", "0/4"}, common...)...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "CARDBATCH_HMAC_KEY") {
		t.Errorf("--shard without CARDBATCH_HMAC_KEY: exit %d, stderr %q; want 2 naming it", r.code, r.stderr)
	}
	cmd := cliEnv(context.Background(), dir, shardEnv(1), runArgs(s, in, shardOut(dir, 1), append([]string{"--shard", "2/4"}, common...)...)...)
	if b, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(b), "other settings") {
		t.Errorf("resume with another --shard: exit %d, %s; want 2 and other settings", cmd.ProcessState.ExitCode(), b)
	}
	refuseRunningThenResume(t, s, dir, in, good, common)
}

// refuseRunningThenResume restarts shard 2 against a simulator that never
// answers in time: merge refuses it while it runs, then (killed) as not
// finished; resumed, the merge is the first one again.
func refuseRunningThenResume(t *testing.T, s *sim, dir, in, good string, common []string) {
	t.Helper()
	slow := startSim(t, "--seed", "24", "--latency", "60s")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := cliEnv(ctx, dir, shardEnv(2), runArgs(slow, in, shardOut(dir, 2), append([]string{"--shard", "2/4", "--restart"}, common...)...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for slow.ledger(t).Calls == 0 { // the simulator counts a call when it arrives
		time.Sleep(10 * time.Millisecond)
	}
	out := filepath.Join(dir, "again.csv")
	r := merge(t, dir, out, allCheckpoints(dir, 4)...)
	if r.code != 2 || !strings.Contains(r.stderr, "its shard is still running") || !strings.Contains(r.stderr, fmt.Sprintf("process %d", cmd.Process.Pid)) {
		t.Errorf("merge while shard 2 runs: exit %d, stderr %q; want 2 naming process %d", r.code, r.stderr, cmd.Process.Pid)
	}
	t.Logf("%s", r.stderr)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	r = merge(t, dir, out, allCheckpoints(dir, 4)...)
	if r.code != 2 || !strings.Contains(r.stderr, "shard 2/4") {
		t.Errorf("merge with shard 2 killed: exit %d, stderr %q; want 2 naming shard 2/4", r.code, r.stderr)
	}
	t.Logf("%s", r.stderr)
	if res, _ := runShards(t, s, dir, in, 4, []int{2}, common...); res[2].code != 0 {
		t.Fatalf("shard 2 resumed: exit %d; stderr:\n%s", res[2].code, res[2].stderr)
	}
	if r := merge(t, dir, out, allCheckpoints(dir, 4)...); r.code != 0 {
		t.Fatalf("merge after the resume: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if !bytes.Equal(stripColumn(t, out, "answered_at"), stripColumn(t, good, "answered_at")) {
		t.Error("the merge after shard 2 was restarted and resumed differs from the first merge")
	}
}

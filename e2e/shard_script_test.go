package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Guarantee: deploy/gnu-parallel/run-shards.sh (GNU parallel, local slots)
// runs every shard with its own token, logs each in its joblog, and merges
// them into the single run's output; run again, it pays nothing more.

func TestRunShardsScript(t *testing.T) {
	t.Parallel()
	const n = 3
	script, err := filepath.Abs("../deploy/gnu-parallel/run-shards.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cards := makeCards(23, 90)
	in := shardInput(t, dir, cards)
	ref := startSim(t, "--seed", "23", "--notexist-prob", "0.05")
	single := filepath.Join(dir, "single.csv")
	common := []string{"--endpoint", "", "--rate", "0", "--no-cache", "--retry-base", "50ms"}
	if r := run(t, dir, runArgs(ref, in, single, "--rate", "0", "--no-cache")...); r.code != 0 {
		t.Fatalf("single run: exit %d; stderr:\n%s", r.code, r.stderr)
	}

	s := startSim(t, "--seed", "23", "--notexist-prob", "0.05")
	common[1] = s.url
	work := filepath.Join(dir, "work")
	tokens := filepath.Join(work, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	for k := range n {
		if err := os.WriteFile(filepath.Join(tokens, fmt.Sprintf("token-%d", k)), []byte(shardToken(k)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runScript := func() string {
		t.Helper()
		cmd := exec.CommandContext(context.Background(), "bash", append([]string{script, fmt.Sprint(n), in, work}, common...)...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "CARDBATCH=" + bin, "CARDBATCH_HMAC_KEY=" + shardKey}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("run-shards.sh: %v\n%s", err, out.String())
		}
		return out.String()
	}
	runScript()
	merged := filepath.Join(work, "merged.csv")
	l := s.ledger(t)
	checkMergedAgainst(t, merged, single, l)
	if len(l.MaxByToken) != n {
		t.Errorf("tokens seen by the simulator: %v; want the %d shard tokens", l.MaxByToken, n)
	}
	log, err := os.ReadFile(filepath.Join(work, "joblog"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) != n+1 {
		t.Fatalf("joblog has %d lines, want a header and %d jobs:\n%s", len(lines), n, log)
	}
	for _, line := range lines[1:] {
		if f := strings.Split(line, "\t"); len(f) < 7 || f[6] != "0" {
			t.Errorf("joblog line %q: want exit value 0", line)
		}
	}

	before := stripColumn(t, merged, "answered_at")
	runScript() // every shard finished: nothing is run or paid again; the merge is the same
	if l2 := s.ledger(t); l2.Calls != l.Calls {
		t.Errorf("running the script again made %d more calls", l2.Calls-l.Calls)
	}
	if after := stripColumn(t, merged, "answered_at"); !bytes.Equal(after, before) {
		t.Errorf("the second merge differs from the first")
	}
}

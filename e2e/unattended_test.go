package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startRun starts `cardbatch run` in the background and returns it with its
// stderr; the test waits for it.
func startRun(t *testing.T, dir string, args ...string) (wait func() result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	cmd := cli(ctx, dir, args...)
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

// A cron overlap: the same command started twice on one checkpoint. The
// second exits 5 at once, naming the first, and sends nothing; no card is
// charged twice. With --wait it waits, then finds nothing left to pay.
func TestOverlappingRunsPayOnce(t *testing.T) {
	s := startSim(t, "--latency", "20ms")
	dir := t.TempDir()
	cards := makeCards(501, 300)
	in, out := writeCSV(t, dir, cards), filepath.Join(dir, "out.csv")
	args := runArgs(s, in, out, "--no-cache", "--rate", "100")
	wait := startRun(t, dir, args...)
	waitForCalls(t, s, 1)
	second := run(t, dir, args...)
	if second.code != 5 || !strings.Contains(second.stderr, "locked by process") {
		t.Fatalf("second run: exit %d, want 5 naming the holder; stderr:\n%s", second.code, second.stderr)
	}
	queued := startRun(t, dir, append(args, "--wait")...)
	if first := wait(); first.code != 0 {
		t.Fatalf("first run: exit %d\n%s", first.code, first.stderr)
	}
	if q := queued(); q.code != 0 {
		t.Fatalf("run with --wait: exit %d\n%s", q.code, q.stderr)
	}
	l := s.ledger(t)
	if l.ChargedTwice != 0 || l.Calls != int64(len(distinct(cards))) {
		t.Fatalf("ledger: %d calls for %d distinct cards, %d cards charged twice", l.Calls, len(distinct(cards)), l.ChargedTwice)
	}
}

// waitForCalls returns once the simulator has answered n calls.
func waitForCalls(t *testing.T, s *sim, n int64) {
	t.Helper()
	deadline := time.Now().Add(procTimeout)
	for s.ledger(t).Calls < n {
		if time.Now().After(deadline) {
			t.Fatalf("the run made no call within %v", procTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIGTERM, as Kubernetes and systemd send it, finishes the calls in flight,
// keeps the checkpoint and exits 143; SIGINT exits 130. The next run resumes.
func TestSignalsExitCodes(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGTERM, 143}, {syscall.SIGINT, 130}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			s := startSim(t, "--latency", "20ms")
			dir := t.TempDir()
			cards := makeCards(uint64(tc.code), 400)
			in, out := writeCSV(t, dir, cards), filepath.Join(dir, "out.csv")
			args := runArgs(s, in, out, "--no-cache", "--rate", "50")
			ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
			defer cancel()
			cmd := cli(ctx, dir, args...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitForCalls(t, s, 5)
			_ = cmd.Process.Signal(tc.sig)
			_ = cmd.Wait()
			if got := cmd.ProcessState.ExitCode(); got != tc.code {
				t.Fatalf("exit %d after %v, want %d", got, tc.sig, tc.code)
			}
			if r := run(t, dir, args...); r.code != 0 {
				t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
			}
			if l := s.ledger(t); l.ChargedTwice != 0 {
				t.Fatalf("%d cards charged twice across the stop", l.ChargedTwice)
			}
		})
	}
}

// With --log-format json, stderr holds only JSON lines, and the last one
// carries the summary with numbers as numbers.
func TestJSONLogsOnly(t *testing.T) {
	s := startSim(t)
	dir := t.TempDir()
	cards := makeCards(77, 60)
	in, out := writeCSV(t, dir, cards), filepath.Join(dir, "out.csv")
	r := run(t, dir, runArgs(s, in, out, "--no-cache", "--rate", "0", "--log-format", "json")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	var sum map[string]any
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stderr line %d is not JSON: %q", i+1, line)
		}
		if m, ok := rec["summary"].(map[string]any); ok && rec["msg"] == "summary" {
			sum = m
		}
	}
	if sum == nil {
		t.Fatalf("no record carries the summary:\n%s", r.stderr)
	}
	if calls, ok := sum["charged_calls"].(float64); !ok || int64(calls) != s.ledger(t).Charged {
		t.Fatalf("summary charged_calls %v (%T), ledger %d", sum["charged_calls"], sum["charged_calls"], s.ledger(t).Charged)
	}
}

// distinct returns the set of distinct cards.
func distinct(cards []string) map[string]bool {
	m := map[string]bool{}
	for _, c := range cards {
		m[c] = true
	}
	return m
}

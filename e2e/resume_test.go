package e2e

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// killed is a run killed with SIGKILL (or one that ended before the kill).
type killed struct {
	landed bool // the process died by the signal after the simulator saw a call of it
	result
}

// killMidRun starts `cardbatch args...` in dir, waits until the simulator
// has seen a call beyond callsBefore, waits a random moment more (up to
// maxDelay), and kills the process with SIGKILL.
func killMidRun(t *testing.T, s *sim, dir string, callsBefore int64, rng *rand.Rand, maxDelay time.Duration, args ...string) killed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmd := cli(ctx, dir, args...)
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	exited := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	for s.ledger(t).Calls <= callsBefore && !exited() {
		time.Sleep(5 * time.Millisecond)
	}
	if !exited() {
		time.Sleep(time.Duration(rng.Int64N(int64(maxDelay) + 1)))
		_ = cmd.Process.Kill() // SIGKILL on Unix
	}
	<-done
	code := cmd.ProcessState.ExitCode() // -1: terminated by a signal
	return killed{
		landed: code == -1 && s.ledger(t).Calls > callsBefore,
		result: result{code: code, stdout: out.String(), stderr: errb.String()},
	}
}

// stripColumn removes a column from CSV bytes when the header has it
// (answered_at holds the time of the answer, which no two runs share).
func stripColumn(t *testing.T, path, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tb := readTable(t, path)
	i := -1
	for j, h := range tb.header {
		if h == name {
			i = j
		}
	}
	if i < 0 {
		return b
	}
	var buf bytes.Buffer
	for _, r := range append([][]string{tb.header}, tb.rows...) {
		r = append(append([]string{}, r[:i]...), r[i+1:]...)
		buf.WriteString(strconv.Quote(string(bytes.Join(toBytes(r), []byte{0}))) + "\n")
	}
	return buf.Bytes()
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// Guarantee: resume after SIGKILL gives the same output, in_doubt bounded.

func TestResumeAfterSIGKILL(t *testing.T) {
	t.Parallel()
	const conc = 4
	simFlags := []string{"--seed", "31", "--latency", "15ms", "--latency-jitter", "10ms"}
	cards := makeCards(7, 150)
	common := []string{"--rate", "0", "--concurrency", strconv.Itoa(conc), "--no-cache"}

	refDir := t.TempDir()
	ref := startSim(t, simFlags...)
	refIn := writeCSV(t, refDir, cards)
	refOut := filepath.Join(refDir, "out.csv")
	if r := run(t, refDir, runArgs(ref, refIn, refOut, common...)...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d; stderr:\n%s", r.code, r.stderr)
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for try := 1; ; try++ {
		if try > 20 {
			t.Fatal("20 tries and no kill landed mid-run")
		}
		dir := t.TempDir()
		s := startSim(t, simFlags...)
		in := writeCSV(t, dir, cards)
		out := filepath.Join(dir, "out.csv")
		args := runArgs(s, in, out, common...)
		k := killMidRun(t, s, dir, 0, rng, 400*time.Millisecond, args...)
		if !k.landed {
			t.Logf("try %d: the kill missed (exit %d); again", try, k.code)
			continue
		}
		kills := 1
		k2 := killMidRun(t, s, dir, s.ledger(t).Calls, rng, 200*time.Millisecond, args...)
		switch {
		case k2.landed:
			kills++
		case k2.code != 0:
			t.Fatalf("resumed run: exit %d; stderr:\n%s", k2.code, k2.stderr)
		}
		if r := run(t, dir, args...); r.code != 0 {
			t.Fatalf("final resume: exit %d; stderr:\n%s", r.code, r.stderr)
		}
		got, want := stripColumn(t, out, "answered_at"), stripColumn(t, refOut, "answered_at")
		if !bytes.Equal(got, want) {
			t.Errorf("after %d kill(s) the output differs from the uninterrupted run's:\n%s\nwant\n%s", kills, got, want)
		}
		sum := readSummary(t, out+".summary.json")
		l := s.ledger(t)
		if sum.InDoubt > int64(kills*conc) {
			t.Errorf("in_doubt %d after %d kill(s) at --concurrency %d: over kills x concurrency", sum.InDoubt, kills, conc)
		}
		if l.Charged < sum.ChargedCalls || l.Charged-sum.ChargedCalls > sum.InDoubt {
			t.Errorf("ledger charged %d, summary charged %d, in_doubt %d: want 0 <= difference <= in_doubt",
				l.Charged, sum.ChargedCalls, sum.InDoubt)
		}
		if l.ChargedTwice > sum.InDoubt {
			t.Errorf("%d cards charged twice, in_doubt %d", l.ChargedTwice, sum.InDoubt)
		}
		t.Logf("try %d: %d kill(s); ledger calls %d charged %d; summary charged %d in_doubt %d",
			try, kills, l.Calls, l.Charged, sum.ChargedCalls, sum.InDoubt)
		return
	}
}

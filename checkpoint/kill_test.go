package checkpoint

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"cardbatch/billing"
)

const (
	killChildEnv = "CHECKPOINT_KILL_CHILD" // the checkpoint a child process works on
	killRows     = 3000
	killWorkers  = 4
)

// killChild is the body of the child process of TestKillAtAnyMoment: four
// workers take the rows not done yet and, for each, Begin it on their slot,
// say "sent <idx>" on stdout (the moment its call could leave), then record
// it charged; every third row they End the slot. When no row is left they
// say "idle" and wait to be killed, or with "finish" in the environment
// close everything and exit.
func killChild(path string) {
	ctx := context.Background()
	fail := func(err error) { fmt.Println("error", err); os.Exit(3) }
	s, err := Open(ctx, path)
	if err != nil {
		fail(err)
	}
	n, _, err := s.BeginAttempt(ctx, killWorkers)
	if err != nil {
		fail(err)
	}
	w, err := s.NewWriter(ctx, n)
	if err != nil {
		fail(err)
	}
	done, err := s.Done(ctx)
	if err != nil {
		fail(err)
	}
	var todo []int
	for i := range killRows {
		if !done.Has(i) {
			todo = append(todo, i)
		}
	}
	var next atomic.Int64
	var outMu sync.Mutex
	var wg sync.WaitGroup
	for g := range killWorkers {
		wg.Go(func() {
			sl := w.Slot(g)
			for k := int(next.Add(1) - 1); k < len(todo); k = int(next.Add(1) - 1) {
				idx := todo[k]
				if err := sl.Begin(ctx, idx); err != nil {
					fail(err)
				}
				outMu.Lock()
				fmt.Printf("sent %d\n", idx) // one write(2): in the pipe before the "call"
				outMu.Unlock()
				if err := sl.Record(RowRecord{Idx: idx, State: OK, Result: "0", Billing: billing.Charged, Attempts: 1},
					&CallRecord{Billing: billing.Charged, Result: "0", HTTPStatus: 200}); err != nil {
					fail(err)
				}
				if idx%3 == 0 {
					if err := sl.End(ctx); err != nil {
						fail(err)
					}
				}
			}
			if err := sl.End(ctx); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if os.Getenv("CHECKPOINT_KILL_FINISH") == "" {
		fmt.Println("idle")
		select {}
	}
	if err := w.Close(); err != nil {
		fail(err)
	}
	if err := s.Close(); err != nil {
		fail(err)
	}
	fmt.Println("finished")
	os.Exit(0)
}

// runKillChild starts a child on the checkpoint at path and kills it
// (SIGKILL on Unix) once it has said "sent" killAfter times, or lets it
// finish when killAfter is 0. It returns the rows the child said it sent.
func runKillChild(t *testing.T, path string, killAfter int) map[int]bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillAtAnyMoment$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	if killAfter == 0 {
		cmd.Env = append(cmd.Env, "CHECKPOINT_KILL_FINISH=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sent := map[int]bool{}
	var last string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		last = sc.Text()
		if idx, ok := strings.CutPrefix(last, "sent "); ok {
			i, err := strconv.Atoi(idx)
			if err != nil {
				t.Fatalf("child said %q", last)
			}
			sent[i] = true
			if len(sent) == killAfter {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
		} else if last != "finished" {
			cmd.Process.Kill()
			t.Fatalf("child said %q (after %d rows sent)", last, len(sent))
		}
	}
	werr := cmd.Wait()
	if killAfter == 0 && (werr != nil || last != "finished") {
		t.Fatalf("child: %v, last line %q", werr, last)
	}
	if killAfter > 0 && werr == nil {
		t.Fatal("the child was to be killed, but exited by itself")
	}
	return sent
}

// TestKillAtAnyMoment: a child process writing through the journal's slots
// is killed (SIGKILL) at arbitrary moments. After each kill, BeginAttempt
// counts in doubt every row the child had sent without a committed answer,
// and at most one row per worker; the last run completes every row, and the
// in-doubt calls of the summary are those BeginAttempt counted.
func TestKillAtAnyMoment(t *testing.T) {
	if p := os.Getenv(killChildEnv); p != "" {
		killChild(p)
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kill.checkpoint.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	startRun(t, s)
	s.Close()
	var totalInDoubt int64
	kills := []int{40, 1, 1, 2, 9, 150, 400} // a row in doubt is the first a child re-sends
	for _, killAfter := range kills {
		sent := runKillChild(t, path, killAfter)
		totalInDoubt += checkAfterKill(t, path, sent)
	}
	runKillChild(t, path, 0)
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	sum, err := ro.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != killRows || sum.InDoubt != totalInDoubt || totalInDoubt > int64(len(kills)*killWorkers) {
		t.Fatalf("done %d (want %d), in doubt %d (BeginAttempt counted %d, at most %d)",
			sum.Done, killRows, sum.InDoubt, totalInDoubt, len(kills)*killWorkers)
	}
}

// checkAfterKill resumes the checkpoint at path as the next run would and
// checks its in-doubt rows against the rows the killed child sent.
func checkAfterKill(t *testing.T, path string, sent map[int]bool) int64 {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	committed, err := s.Done(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, inDoubt, err := s.BeginAttempt(ctx, killWorkers)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT idx FROM rows WHERE state = 'in_doubt'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var idx int
		if err := rows.Scan(&idx); err != nil {
			t.Fatal(err)
		}
		got[idx] = true
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	var missed []int
	lost := int64(0) // rows sent without a committed answer
	for idx := range sent {
		if !committed.Has(idx) {
			lost++
			if !got[idx] {
				missed = append(missed, idx)
			}
		}
	}
	if len(missed) > 0 || inDoubt < lost || inDoubt > killWorkers {
		t.Fatalf("after a kill with %d rows sent, %d of them without a committed answer: in doubt %d (want %d..%d; rows now in doubt %v), not in doubt: %v",
			len(sent), lost, inDoubt, lost, killWorkers, got, missed)
	}
	return inDoubt
}

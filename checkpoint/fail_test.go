package checkpoint

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"cardbatch/billing"
)

// TestFullDiskStopsEveryone: the writer's connection is limited to the
// pages the database has (PRAGMA max_page_count), so a commit fails with
// SQLite's "database or disk is full" as it does on a full disk. Every
// worker waiting on its slot, every Record, Flush and Close then returns
// that error, naming the checkpoint; nothing waits forever. A run opened
// afterwards counts in doubt exactly the rows sent without a committed
// answer.
func TestFullDiskStopsEveryone(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	startRun(t, s)
	const workers = 4
	n, _, err := s.BeginAttempt(ctx, workers)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.NewWriter(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := w.conn.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := w.conn.ExecContext(ctx, `PRAGMA max_page_count = `+itoa(pages+12)); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 3000) // about a page per row
	var mu sync.Mutex
	var errs []error
	sent := map[int]bool{}
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			sl := w.Slot(g)
			var err error
			for i := 0; err == nil; i++ {
				idx := i*workers + g
				if err = sl.Begin(ctx, idx); err != nil {
					break
				}
				mu.Lock()
				sent[idx] = true
				mu.Unlock()
				err = sl.Record(RowRecord{Idx: idx, State: OK, Description: long, Billing: billing.Charged},
					&CallRecord{Billing: billing.Charged, Result: "0", HTTPStatus: 200})
			}
			mu.Lock()
			errs = append(errs, err, sl.End(ctx))
			mu.Unlock()
		})
	}
	wg.Wait()
	errs = append(errs, w.Record(RowRecord{Idx: 1 << 20, State: Invalid}, nil), w.Flush(),
		w.Slot(0).Begin(ctx, 1<<20), w.Close())
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "database or disk is full") {
			t.Errorf("call %d: %v; want the checkpoint's name and \"database or disk is full\"", i, err)
		}
	}
	s.Close()
	checkResumeAfterFailure(t, path, sent)
}

// checkResumeAfterFailure opens the checkpoint at path again (the disk has
// room again) and checks the rows sent without a committed answer, one
// per worker at most, are exactly the ones counted in doubt.
func checkResumeAfterFailure(t *testing.T, path string, sent map[int]bool) {
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
	var lost int64
	for idx := range sent {
		if !committed.Has(idx) {
			lost++
		}
	}
	_, inDoubt, err := s.BeginAttempt(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if committed.Len() == 0 || lost == 0 || inDoubt != lost || inDoubt > 4 {
		t.Fatalf("%d rows committed, %d sent without an answer, %d counted in doubt", committed.Len(), lost, inDoubt)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

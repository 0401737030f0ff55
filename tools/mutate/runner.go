package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// workArea is the folder of the copies of one work tree, locked while a
// run uses it.
type workArea struct {
	dir  string
	lock *flock.Flock
}

func openWorkArea(root string) (*workArea, error) {
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "cardbatch-mutate-"+hex.EncodeToString(sum[:4]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("work folder: %w", err)
	}
	lk := flock.New(filepath.Join(dir, "lock"))
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("another mutation run of %s is using %s: wait for it to end", root, dir)
	}
	return &workArea{dir: dir, lock: lk}, nil
}

func (w *workArea) slot(i int) string { return filepath.Join(w.dir, fmt.Sprintf("slot%d", i)) }

func (w *workArea) close() { _ = w.lock.Unlock() }

// runAll runs the baseline and every mutation; results are in list order.
func runAll(ctx context.Context, root string, ms []mutation, skip string, o options) ([]result, *suiteRun, error) {
	area, err := openWorkArea(root)
	if err != nil {
		return nil, nil, err
	}
	defer area.close()
	files, err := treeFiles(root)
	if err != nil {
		return nil, nil, err
	}
	var base *suiteRun
	if o.baseline {
		if base, err = runBaseline(ctx, area, root, files, ms, skip, o.timeout); err != nil {
			return nil, nil, err
		}
	}
	b := newBaseline(base)
	results := make([]result, len(ms))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for w := range o.parallel {
		wg.Go(func() {
			for i := range jobs {
				results[i] = runOne(ctx, area.slot(w), root, files, ms[i], b, o.timeout)
				mu.Lock()
				done++
				progress(done, len(ms), results[i])
				mu.Unlock()
			}
		})
	}
send:
	for i := range ms {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break send
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("interrupted: %w", err)
	}
	return results, base, nil
}

// runBaseline runs the union of the mutations' packages on an unmutated copy.
func runBaseline(ctx context.Context, area *workArea, root string, files []string, ms []mutation, skip string, timeout time.Duration) (*suiteRun, error) {
	var pkgs []string
	for _, m := range ms {
		for _, p := range m.Packages {
			if !slices.Contains(pkgs, p) {
				pkgs = append(pkgs, p)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "baseline: go test -skip '%s' %s on the unmutated tree...\n", skip, strings.Join(pkgs, " "))
	start := time.Now()
	if err := copyTree(root, area.slot(0), files); err != nil {
		return nil, err
	}
	r := goTest(ctx, area.slot(0), pkgs, "", skip, timeout)
	if len(r.buildFailed) > 0 {
		return nil, fmt.Errorf("the unmutated tree does not build: %s", compileDiagnostic(r))
	}
	if r.exitErr != nil && len(r.failed) == 0 && len(r.pkgFailed) == 0 {
		return nil, fmt.Errorf("go test on the unmutated tree: %s", describeErr(r))
	}
	fmt.Fprintf(os.Stderr, "baseline: %d failing tests, %s\n", len(r.failed), time.Since(start).Round(time.Second))
	for _, t := range r.failed {
		fmt.Fprintf(os.Stderr, "  fails without any mutation: %s\n", t)
	}
	return &r, nil
}

// runOne applies m to a fresh copy in dir and runs its packages.
func runOne(ctx context.Context, dir, root string, files []string, m mutation, base baseline, timeout time.Duration) result {
	if why := m.staleness(root); why != "" {
		return result{m: m, outcome: stale, by: why}
	}
	if err := ctx.Err(); err != nil {
		return result{m: m, outcome: errored, by: err.Error()}
	}
	start := time.Now()
	if err := copyTree(root, dir, files); err != nil {
		return result{m: m, outcome: errored, by: err.Error()}
	}
	if err := mutateFile(dir, m); err != nil {
		return result{m: m, outcome: errored, by: err.Error()}
	}
	r := goTest(ctx, dir, m.Packages, m.Run, m.Skip, timeout)
	outcome, by := classify(r, base)
	return result{m: m, outcome: outcome, by: by, took: time.Since(start)}
}

func progress(done, total int, r result) {
	line := fmt.Sprintf("[%d/%d] %s: %s", done, total, r.m.ID, r.outcome)
	if r.by != "" {
		line += " — " + r.by
	}
	if r.took > 0 {
		line += fmt.Sprintf(" (%s)", r.took.Round(time.Second))
	}
	fmt.Fprintln(os.Stderr, line)
}

package metrics

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// readFile parses the text file at path.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFilePassesPromtoolAndReadsBack(t *testing.T) {
	promtool := program(t, "promtool", "prometheus")
	tests := []struct {
		name     string
		grouping map[string]string
	}{
		{"no labels", nil},
		{"grouping labels", map[string]string{"input": "cards \"2026\".csv", "shard": "1/2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "cardbatch.prom")
			e, err := New(Options{File: file, Grouping: tt.grouping})
			if err != nil {
				t.Fatal(err)
			}
			s := fullSnapshot()
			s.CallsByResult["-4"] = 3 // an undocumented code is exported too
			e.Update(s)
			if err := e.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			data := readFile(t, file)
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = bytes.NewReader(data)
			if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
				t.Errorf("promtool check metrics: %v\n%s\nfile:\n%s", err, out, data)
			}
			families := parseText(t, bytes.NewReader(data))
			want := append(fullExpected(), expectation{"cardbatch_calls_total", map[string]string{"result": "-4"}, 3})
			checkSeries(t, families, want, tt.grouping)
			if n := len(families["cardbatch_calls_total"].GetMetric()); n != 9 {
				t.Errorf("cardbatch_calls_total has %d series, want 8 known results and -4", n)
			}
			checkFolderHolds(t, dir, "cardbatch.prom")
		})
	}
}

// checkFolderHolds fails unless dir holds exactly name, with mode 0644.
func checkFolderHolds(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		t.Errorf("folder holds %v, want only %s (no temporary file left)", entries, name)
		return
	}
	info, err := entries[0].Info()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 so node_exporter can read it", info.Mode().Perm())
	}
}

func TestFileKeepsLastSuccess(t *testing.T) {
	run := func(night time.Time, success bool) Snapshot {
		return Snapshot{Start: night, Now: night.Add(90 * time.Second), Success: success}
	}
	tests := []struct {
		name     string
		before   string     // the file's content before the run; "" for no file
		prior    []Snapshot // earlier runs, each its own Exporter
		run      Snapshot
		wantLast float64 // 0: the series is absent
	}{
		{"a success sets Now", "", nil, run(night1, true), 1772330490},
		{"a failure keeps the previous success", "", []Snapshot{run(night1, true)}, run(night2, false), 1772330490},
		{"two failures keep it", "", []Snapshot{run(night1, true), run(night2, false)}, run(night3, false), 1772330490},
		{"a success replaces it", "", []Snapshot{run(night1, true), run(night2, false)}, run(night3, true), 1772503290},
		{"a failure with no file: absent", "", nil, run(night1, false), 0},
		{"a failure over an unreadable file: absent", "not{the text format", nil, run(night1, false), 0},
		{"a failure over a file written by hand", "cardbatch_last_success_timestamp_seconds 1.7e9\n", nil, run(night1, false), 1.7e9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "cardbatch.prom")
			if tt.before != "" {
				if err := os.WriteFile(file, []byte(tt.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range append(tt.prior, tt.run) {
				e, err := New(Options{File: file})
				if err != nil {
					t.Fatal(err)
				}
				e.Update(s)
				if err := e.WriteFile(); err != nil {
					t.Fatal(err)
				}
			}
			families := parseText(t, bytes.NewReader(readFile(t, file)))
			last, ok := value(families, "cardbatch_last_success_timestamp_seconds", nil)
			if tt.wantLast == 0 && ok || tt.wantLast != 0 && last != tt.wantLast {
				t.Errorf("last success = %v (present %v), want %v", last, ok, tt.wantLast)
			}
			if got, _ := value(families, "cardbatch_run_start_timestamp_seconds", nil); got != unixSeconds(tt.run.Start) {
				t.Errorf("run start = %v, want this run's", got)
			}
		})
	}
}

// TestRunWritesPeriodicallyAndAtTheEnd: Run rewrites the file on its clock,
// reports failed pushes to OnError, and ends with the final figures.
func TestRunWritesPeriodicallyAndAtTheEnd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cardbatch.prom")
	failures := make(chan error, 100)
	e, err := New(Options{
		File: file, WriteEvery: 10 * time.Millisecond,
		PushURL: "http://u:s3cret-pw@" + silentServer(t), PushEvery: 10 * time.Millisecond, Timeout: 50 * time.Millisecond,
		OnError: func(err error) {
			select {
			case failures <- err:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	early := fullSnapshot()
	early.ChargedCalls, early.Success = 10, false
	e.Update(early)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	waitFor(t, func() bool {
		data, err := os.ReadFile(file)
		return err == nil && strings.Contains(string(data), "cardbatch_charged_calls_total 10\n")
	})
	first := <-failures
	if !errors.Is(first, context.DeadlineExceeded) {
		t.Errorf("OnError got %v, want the push's deadline", first)
	}
	mustNotLeak(t, first, "s3cret-pw")

	e.Update(fullSnapshot())
	cancel()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run() = %v, want the final push's deadline", err)
	}
	checkSeries(t, parseText(t, bytes.NewReader(readFile(t, file))), fullExpected(), nil)
}

// waitFor polls cond until it holds; it fails the test after a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after a minute")
		}
	}
}

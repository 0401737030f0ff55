package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Guarantee: every fault ends cleanly: a clear message, the documented exit
// code, nothing silently paid again.

// TestLostCacheKeyRefuses: a cache that holds answers whose key file is gone
// or replaced refuses the run (exit 2) before anything is sent, says what
// happened and how to start a fresh cache; a fresh cache (another --cache)
// then works.
func TestLostCacheKeyRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(keyPath string) error
		want   string
	}{
		{"key file deleted", os.Remove, "key file"},
		{"key file replaced", func(p string) error {
			return os.WriteFile(p, []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600)
		}, "another key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := startSim(t, "--seed", "61")
			in := writeCSV(t, dir, makeCards(61, 20))
			cache := filepath.Join(dir, "answers.db")
			args := func(out string, extra ...string) []string {
				return runArgs(s, in, filepath.Join(dir, out), append([]string{"--rate", "0", "--cache", cache}, extra...)...)
			}
			if r := run(t, dir, args("first.csv")...); r.code != 0 {
				t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
			}
			if err := tc.change(cache + ".key"); err != nil {
				t.Fatal(err)
			}
			before := s.ledger(t).Calls
			r := run(t, dir, args("second.csv")...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			for _, want := range []string{tc.want, cache, "delete " + cache, "--cache"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
				}
			}
			if got := s.ledger(t).Calls; got != before {
				t.Errorf("%d calls sent by the refused run", got-before)
			}
			if r := run(t, dir, args("third.csv", "--cache", filepath.Join(dir, "fresh.db"))...); r.code != 0 {
				t.Fatalf("with a fresh cache: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
}

// TestUnfitRowStopsBeforeItsCall: a row an XLSX output cannot hold (a cell
// over 32,767 characters) stops the run with exit 2 and "write a .csv
// output" before that row's call: a first row so is never paid for, nor any
// after it; a later one leaves only the rows before it sent.
func TestUnfitRowStopsBeforeItsCall(t *testing.T) {
	t.Parallel()
	for _, at := range []int{0, 30} {
		t.Run(fmt.Sprintf("long cell in row %d", at+1), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := startSim(t, "--seed", "62")
			cards := makeCards(62, 60)
			var b strings.Builder
			b.WriteString("name,card\n")
			for i, c := range cards {
				name := fmt.Sprintf("row%d", i+1)
				if i == at {
					name = strings.Repeat("n", 40000)
				}
				fmt.Fprintf(&b, "%s,%s\n", name, c)
			}
			in := filepath.Join(dir, "in.csv")
			if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			r := run(t, dir, runArgs(s, in, filepath.Join(dir, "out.xlsx"), "--rate", "0", "--concurrency", "2", "--no-cache")...)
			if r.code != 2 || !strings.Contains(r.stderr, "write a .csv output") {
				t.Fatalf("exit %d, want 2 saying to write a .csv output\n%s", r.code, r.stderr)
			}
			if calls := s.ledger(t).Calls; calls > int64(at) {
				t.Errorf("%d calls, want at most the %d rows before the long one", calls, at)
			}
			if _, err := os.Stat(filepath.Join(dir, "out.xlsx")); err == nil {
				t.Errorf("an output was written")
			}
		})
	}
}

// TestGivesUpAfterMaxWait: when the API answers nothing but 500s, or 429s,
// the run warns while it waits, then gives up after --max-wait with exit 1
// and a message that says what the API did and that the same command
// resumes; the same command against a healthy API then finishes every row.
func TestGivesUpAfterMaxWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault string
		saw   string
	}{
		{"every answer a 500", "--500-prob", "HTTP 500"},
		{"every answer a 429", "--429-prob", "HTTP 429"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			down := startSim(t, "--seed", "63", tc.fault, "1")
			cards := makeCards(63, 10)
			in := writeCSV(t, dir, cards)
			out := filepath.Join(dir, "out.csv")
			flags := []string{"--rate", "0", "--retries", "1000", "--no-cache", "--max-wait", "2s"}
			r := run(t, dir, runArgs(down, in, out, flags...)...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
			}
			for _, want := range []string{"no answer from the API for 1s", "no answer from the API for 2s", tc.saw,
				"--max-wait 2s", "run the same command again to resume"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
				}
			}
			if l := down.ledger(t); l.Charged != 0 || l.Calls < int64(len(cards)) {
				t.Errorf("ledger %+v: want every card tried, none charged", l)
			}
			up := startSim(t, "--seed", "63")
			if r := run(t, dir, runArgs(up, in, out, flags...)...); r.code != 0 {
				t.Fatalf("the same command against a healthy API: exit %d\n%s", r.code, r.stderr)
			}
			if st := readTable(t, out).count(t, "status"); st["ok"]+st["not_found"]+st["card_not_exist"] != int64(len(cards)) {
				t.Errorf("statuses %v, want every row answered", st)
			}
		})
	}
}

// TestFolderAndDamageMessages: paths the run cannot use, and damaged
// checkpoints and caches, are usage errors (exit 2) that name the file and
// say what is wrong and what to do; nothing is sent.
func TestFolderAndDamageMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(dir string) error
		flags func(dir string) []string
		want  []string
	}{
		{"output under a regular file", nil, func(d string) []string {
			return []string{"--output", filepath.Join(d, "in.csv", "out.csv")}
		}, []string{"is a file, not a folder"}},
		{"missing checkpoint folder", nil, func(d string) []string {
			return []string{"--checkpoint", filepath.Join(d, "nope", "run.db")}
		}, []string{"does not exist", "mkdir -p"}},
		{"checkpoint under a regular file", nil, func(d string) []string {
			return []string{"--checkpoint", filepath.Join(d, "in.csv", "run.db")}
		}, []string{"is a file, not a folder"}},
		{"cache under a regular file", nil, func(d string) []string {
			return []string{"--cache", filepath.Join(d, "in.csv", "sub", "answers.db")}
		}, []string{"is a file, not a folder", "--no-cache"}},
		{"damaged checkpoint", garbage("out.csv.checkpoint.db"), func(string) []string { return nil },
			[]string{"out.csv.checkpoint.db is damaged", "--restart"}},
		{"damaged cache", garbage("answers.db"), func(d string) []string {
			return []string{"--cache", filepath.Join(d, "answers.db")}
		}, []string{"answers.db is damaged", "delete it"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := startSim(t, "--seed", "64")
			in := writeCSV(t, dir, makeCards(64, 5))
			if tc.setup != nil {
				if err := tc.setup(dir); err != nil {
					t.Fatal(err)
				}
			}
			args := runArgs(s, in, filepath.Join(dir, "out.csv"), "--rate", "0")
			r := run(t, dir, append(args, tc.flags(dir)...)...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "file is not a database") && !strings.Contains(r.stderr, "damaged") {
				t.Errorf("the raw SQLite error without what to do:\n%s", r.stderr)
			}
			if calls := s.ledger(t).Calls; calls != 0 {
				t.Errorf("%d calls sent", calls)
			}
		})
	}
}

func garbage(name string) func(dir string) error {
	return func(dir string) error {
		return os.WriteFile(filepath.Join(dir, name), []byte(strings.Repeat("not a database\n", 500)), 0o600)
	}
}

// TestRestartMovesDamagedCheckpointAside: --restart gets past a damaged
// checkpoint: it is moved to <checkpoint>.corrupt-<time> (its bytes kept)
// and the run starts over and finishes.
func TestRestartMovesDamagedCheckpointAside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startSim(t, "--seed", "65")
	cards := makeCards(65, 12)
	in := writeCSV(t, dir, cards)
	out := filepath.Join(dir, "out.csv")
	junk := []byte(strings.Repeat("not a database\n", 500))
	if err := os.WriteFile(out+".checkpoint.db", junk, 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, dir, runArgs(s, in, out, "--rate", "0", "--no-cache", "--restart")...)
	if r.code != 0 || !strings.Contains(r.stderr, "moved aside") {
		t.Fatalf("exit %d, want 0 with a line saying the checkpoint was moved aside\n%s", r.code, r.stderr)
	}
	aside, _ := filepath.Glob(out + ".checkpoint.db.corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("damaged checkpoints kept: %v, want 1", aside)
	}
	if b, err := os.ReadFile(aside[0]); err != nil || string(b) != string(junk) {
		t.Errorf("the damaged checkpoint was not kept as it was (%v)", err)
	}
	if got := readSummary(t, out+".summary.json"); got.ChargedCalls+got.FreeCalls != int64(len(cards)) || got.Rows != int64(len(cards)) {
		t.Errorf("summary %+v, want %d rows answered", got, len(cards))
	}
}

// TestStatusShowsTotalWhileRunning: while a first run is still calling,
// `status` already shows the input's total, and `status --json` carries the
// state, the process that holds the run and the total beside the summary's
// keys; once the run is killed the state is "stopped", and after the run
// finishes it is "finished".
func TestStatusShowsTotalWhileRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startSim(t, "--seed", "66")
	cards := makeCards(66, 400)
	in := writeCSV(t, dir, cards)
	out := filepath.Join(dir, "out.csv")
	ckpt := out + ".checkpoint.db"
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmd := cli(ctx, dir, runArgs(s, in, out, "--rate", "20", "--concurrency", "2", "--no-cache")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var st statusJSON
	for st.TotalRows == nil || st.State != "running" {
		if ctx.Err() != nil {
			t.Fatalf("status never showed the running run with its total: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
		st = readStatus(t, dir, ckpt)
	}
	if *st.TotalRows != len(cards) || st.Process == nil || st.Process.PID != cmd.Process.Pid || st.Done >= len(cards) {
		t.Fatalf("status --json while running: %+v (process %+v), want total %d, pid %d, not done", st, st.Process, len(cards), cmd.Process.Pid)
	}
	text := run(t, dir, "status", "--checkpoint", ckpt)
	if !strings.Contains(text.stdout, fmt.Sprintf("done of %d", len(cards))) {
		t.Errorf("status while running does not show the total:\n%s", text.stdout)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if st := readStatus(t, dir, ckpt); st.State != "stopped" || st.Process != nil {
		t.Errorf("after the kill: %+v, want stopped without a process", st)
	}
	if r := run(t, dir, runArgs(s, in, out, "--rate", "0", "--no-cache")...); r.code != 0 {
		t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
	}
	if st := readStatus(t, dir, ckpt); st.State != "finished" || st.Done != len(cards) || st.ChargedCalls == 0 {
		t.Errorf("after the run: %+v, want finished with %d done", st, len(cards))
	}
}

// statusJSON is `status --json`: the summary's keys and the run's.
type statusJSON struct {
	State     string `json:"state"`
	TotalRows *int   `json:"total_rows"`
	Process   *struct {
		Host string `json:"host"`
		PID  int    `json:"pid"`
	} `json:"process"`
	Done         int   `json:"done"`
	ChargedCalls int64 `json:"charged_calls"`
}

func readStatus(t *testing.T, dir, ckpt string) statusJSON {
	t.Helper()
	var st statusJSON
	r := run(t, dir, "status", "--checkpoint", ckpt, "--json")
	if r.code != 0 {
		return st // not created yet
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	return st
}

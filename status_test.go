package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"cardbatch/billing"
	"cardbatch/cardapi/sim"
	"cardbatch/cardnum"
)

// TestStatusWhileRunning reads a run's checkpoint while the run writes it.
func TestStatusWhileRunning(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	cards := sim.GenerateCards(801, 150)
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("card\n"+strings.Join(cards, "\n")+"\n"), 0o600)
	srv := httptest.NewServer(sim.New(sim.Config{Seed: 801, Latency: 10 * time.Millisecond}))
	defer srv.Close()
	out := filepath.Join(dir, "out.csv")
	done := make(chan int, 1)
	go func() {
		code, _, _ := inproc(t, map[string]string{"ACEDATA_TOKEN": "t"}, nil, "run", "--input", in, "--output", out,
			"--endpoint", srv.URL, "--rate", "50", "--no-progress", "--no-cache")
		done <- code
	}()
	ckpt := out + ".checkpoint.db"
	var mid billing.Summary
	sawProgress := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !sawProgress; time.Sleep(200 * time.Millisecond) {
		if _, err := os.Stat(ckpt); err != nil {
			continue
		}
		code, so, se := inproc(t, nil, nil, "status", "--checkpoint", ckpt, "--json")
		if code != exitOK {
			if strings.Contains(se, "holds no run yet") {
				continue
			}
			t.Fatalf("status while running: exit %d: %s", code, se)
		}
		if err := json.Unmarshal([]byte(so), &mid); err != nil {
			t.Fatalf("status --json: %v\n%s", err, so)
		}
		sawProgress = mid.Done > 0 && mid.Done < len(cards) && mid.APICalls > 0
		if sawProgress {
			if _, text, _ := inproc(t, nil, nil, "status", "--checkpoint", ckpt); !strings.Contains(text, "running (process") {
				t.Fatalf("status of a running run does not say it runs:\n%s", text)
			}
		}
	}
	if !sawProgress {
		t.Fatalf("status never showed a run in progress (last: done %d, calls %d)", mid.Done, mid.APICalls)
	}
	if code := <-done; code != exitOK {
		t.Fatalf("run exit %d", code)
	}
	code, so, _ := inproc(t, nil, nil, "status", "--checkpoint", ckpt)
	if code != exitOK || !strings.Contains(so, "finished") || !strings.Contains(so, "150 done of 150") {
		t.Fatalf("status after the run:\n%s", so)
	}
	var final billing.Summary
	_, so, _ = inproc(t, nil, nil, "status", "--checkpoint", ckpt, "--json")
	json.Unmarshal([]byte(so), &final)
	if final.ChargedCalls != 150 || final.Done != 150 || final.APICalls != 150 {
		t.Fatalf("final status %+v", final)
	}
	// status on something that is not a checkpoint is a usage error.
	if code, _, se := inproc(t, nil, nil, "status", "--checkpoint", in); code == exitOK {
		t.Fatalf("status on a CSV: exit 0\n%s", se)
	}
}

// TestMaskOutput: --mask-output leaves no whole card in the output.
func TestMaskOutput(t *testing.T) {
	dir := t.TempDir()
	cards := sim.GenerateCards(802, 40)
	in := filepath.Join(dir, "in.csv")
	var b strings.Builder
	b.WriteString("name,card\n")
	for i, c := range cards {
		if i%2 == 0 {
			c = c[:4] + " " + c[4:]
		}
		b.WriteString("n," + c + "\n")
	}
	os.WriteFile(in, []byte(b.String()), 0o600)
	for _, ext := range []string{".csv", ".xlsx"} {
		out := filepath.Join(dir, "masked"+ext)
		code, _, se := inproc(t, nil, nil, "run", "--simulate", "--input", in, "--output", out, "--rate", "0",
			"--no-progress", "--mask-output")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, se)
		}
		var text string
		if ext == ".csv" {
			body, _ := os.ReadFile(out)
			text = string(body)
		} else {
			x, err := excelize.OpenFile(out)
			if err != nil {
				t.Fatal(err)
			}
			rows, _ := x.GetRows(x.GetSheetList()[0])
			x.Close()
			for _, r := range rows {
				text += strings.Join(r, ",") + "\n"
			}
		}
		for _, c := range cards {
			if strings.Contains(text, c) || !strings.Contains(text, cardnum.Mask(c)) {
				t.Fatalf("%s: card %s not masked", ext, cardnum.Mask(c))
			}
		}
	}
}

// TestExitCodeFailedRows: rows still busy after the retries give exit 3 and
// are the only ones the next run sends.
func TestExitCodeFailedRows(t *testing.T) {
	dir := t.TempDir()
	cards := sim.GenerateCards(803, 80)
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("card\n"+strings.Join(cards, "\n")+"\n"), 0o600)
	out := filepath.Join(dir, "out.csv")
	args := []string{"run", "--simulate", "--simulate-seed", "803", "--input", in, "--output", out, "--rate", "0",
		"--no-progress", "--retries", "0"}
	code, _, se := inproc(t, nil, nil, append(args, "--simulate-faults", "busy-prob=0.5")...)
	if code != exitFailedRows || !strings.Contains(se, "run the same command again") {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailedRows, se)
	}
	var first billing.Summary
	b, _ := os.ReadFile(out + ".summary.json")
	json.Unmarshal(b, &first)
	if first.Failed == 0 || first.ByStatus["busy"] != first.Failed {
		t.Fatalf("first run: failed %d, by status %v", first.Failed, first.ByStatus)
	}
	code, _, se = inproc(t, nil, nil, args...)
	if code != exitOK {
		t.Fatalf("rerun: exit %d\n%s", code, se)
	}
	var second billing.Summary
	b, _ = os.ReadFile(out + ".summary.json")
	json.Unmarshal(b, &second)
	if n := len(second.Attempts); n != 2 || second.Attempts[1].APICalls != int64(first.Failed) {
		t.Fatalf("the rerun sent %d calls for %d busy rows", second.Attempts[n-1].APICalls, first.Failed)
	}
	if second.Failed != 0 || second.Done != len(cards) {
		t.Fatalf("after the rerun: %+v", second)
	}
}

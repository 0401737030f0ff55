package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// jsonLines parses every line of stderr as one JSON object; any other line
// fails the test.
func jsonLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for i, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stderr line %d is not a JSON object: %q", i+1, line)
		}
		recs = append(recs, rec)
	}
	return recs
}

// number returns rec[key] when it is a JSON number; it fails the test for a
// missing key or any other type (a string "12.5" included).
func number(t *testing.T, rec map[string]any, key string) float64 {
	t.Helper()
	v, ok := rec[key].(float64)
	if !ok {
		t.Fatalf("%q is %#v (%T), want a JSON number, in %v", key, rec[key], rec[key], rec)
	}
	return v
}

// With --log-format json, every stderr line is JSON, and the progress
// records' figures are JSON numbers; the last one counts every row and the
// ledger's calls and charges. The simulator answers in 600 ms, so the
// progress ticker (every 250 ms) fires while the calls are out: with
// --progress-every 1ms that is a record before the final one.
func TestJSONProgressRecordsAreNumbers(t *testing.T) {
	t.Parallel()
	s := startSim(t, "--latency", "600ms")
	dir := t.TempDir()
	cards := makeCards(91, 3)
	in, out := writeCSV(t, dir, cards), filepath.Join(dir, "out.csv")
	r := run(t, dir, runArgs(s, in, out, "--no-cache", "--rate", "0", "--log-format", "json", "--progress-every", "1ms")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var progress []map[string]any
	for _, rec := range jsonLines(t, r.stderr) {
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "progress") {
			progress = append(progress, rec)
		}
	}
	if len(progress) < 2 {
		t.Fatalf("%d progress records, want one while the calls were out and the final one:\n%s", len(progress), r.stderr)
	}
	for _, rec := range progress {
		for _, k := range []string{"done", "total", "percent", "calls", "charged", "rows_per_s"} {
			number(t, rec, k)
		}
	}
	last, l := progress[len(progress)-1], s.ledger(t)
	if last["msg"] != "progress (end of dispatch)" {
		t.Fatalf("the last progress record is %v, want the end of dispatch", last)
	}
	want := map[string]float64{"done": 3, "total": 3, "percent": 100, "calls": float64(l.Calls), "charged": float64(l.Charged)}
	for k, w := range want {
		if got := number(t, last, k); got != w {
			t.Errorf("final progress %s = %v, want %v (ledger %+v)", k, got, w, l)
		}
	}
}

// -q leaves one line on stderr: the result, with the ledger's charged calls
// (one JSON record with --log-format json, its figures numbers).
func TestQuietLeavesTheResultLine(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			s := startSim(t)
			dir := t.TempDir()
			cards := makeCards(92, 40)
			in, out := writeCSV(t, dir, append(cards, cards[:5]...)), filepath.Join(dir, "out.csv")
			r := run(t, dir, runArgs(s, in, out, "--no-cache", "--rate", "0", "-q", "--log-format", format)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("-q: %d lines on stderr, want the one result line:\n%s", len(lines), r.stderr)
			}
			l := s.ledger(t)
			if format == "text" {
				want := regexp.MustCompile(`level=INFO msg=result outcome=finished rows=45 done=45 failed=0 skipped=0 ` +
					`api_calls=40 charged_calls=` + strconv.FormatInt(l.Charged, 10) + ` in_doubt=0 output=`)
				if !want.MatchString(lines[0]) {
					t.Fatalf("result line %q, want %v", lines[0], want)
				}
				return
			}
			rec := jsonLines(t, r.stderr)[0]
			want := map[string]float64{"rows": 45, "done": 45, "failed": 0, "api_calls": float64(l.Calls), "charged_calls": float64(l.Charged)}
			for k, w := range want {
				if got := number(t, rec, k); got != w {
					t.Errorf("result %s = %v, want %v", k, got, w)
				}
			}
			if rec["msg"] != "result" || rec["outcome"] != "finished" {
				t.Errorf("result record %v", rec)
			}
		})
	}
}

// -v adds a debug line per retry, naming the masked card: as many as the
// busy answers the simulator gave, less the rows that stayed busy (their
// last busy answer was not retried). No card appears whole.
func TestVerboseLineForEachRetry(t *testing.T) {
	t.Parallel()
	s := startSim(t, "--seed", "93", "--busy-prob", "0.5")
	dir := t.TempDir()
	cards := makeCards(93, 40)
	in, out := writeCSV(t, dir, cards), filepath.Join(dir, "out.csv")
	r := run(t, dir, runArgs(s, in, out, "--no-cache", "--rate", "0", "--retries", "3", "--retry-base", "1ms", "-v")...)
	if r.code != 0 && r.code != 3 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	masked := map[string]bool{}
	for _, c := range cards {
		masked[c[:6]+strings.Repeat("*", len(c)-10)+c[len(c)-4:]] = true
		if strings.Contains(r.stderr, c) {
			t.Fatalf("a whole card number in stderr")
		}
	}
	line := regexp.MustCompile(`level=DEBUG msg=retrying line=\d+ card=(\S+) attempt=\d+ reason="verification center busy \(result -2\)"`)
	retries := 0
	for _, l := range strings.Split(r.stderr, "\n") {
		if !strings.Contains(l, "msg=retrying") {
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil || !masked[m[1]] {
			t.Fatalf("retry line %q: want %v with a masked card of the input", l, line)
		}
		retries++
	}
	busy := s.ledger(t).ByResult["-2"]
	stayedBusy := readTable(t, out).count(t, "status")["busy"]
	if busy == 0 || int64(retries) != busy-stayedBusy {
		t.Fatalf("%d retry lines; the simulator answered busy %d times and %d rows stayed busy", retries, busy, stayedBusy)
	}
}

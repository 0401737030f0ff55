package e2e

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Guarantee: --rate is never exceeded in any second, and achieved.

// TestRateNeverExceededAndAchieved runs --rate 20 --burst 1 over 200
// distinct cards with some latency and reads the simulator's ledger: its
// busiest second (a sliding window over arrival times) is at most rate +
// burst, overall and for the run's token, and calls / (last - first) is at
// least 95% of the rate.
//
// It is the one test not run in parallel (Go runs it before the parallel
// ones): the simulator measures arrivals, so a CPU shared with other runs
// adds scheduling jitter between the pacer and the wire.
func TestRateNeverExceededAndAchieved(t *testing.T) {
	const rate, burst, n = 20, 1, 200
	dir := t.TempDir()
	s := startSim(t, "--seed", "21", "--latency", "40ms", "--latency-jitter", "30ms")
	in := writeCSV(t, dir, makeCards(4, n))
	out := filepath.Join(dir, "out.csv")
	r := run(t, dir, runArgs(s, in, out, "--rate", strconv.Itoa(rate), "--burst", strconv.Itoa(burst),
		"--concurrency", "8", "--no-cache")...)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	l := s.ledger(t)
	if l.Calls != n {
		t.Fatalf("ledger calls %d, want %d (no faults)", l.Calls, n)
	}
	if l.MaxPerSecond > rate+burst {
		t.Errorf("busiest second %d calls, want at most rate+burst = %d", l.MaxPerSecond, rate+burst)
	}
	if got := l.MaxByToken[tokenLabel()]; got == 0 || got > rate+burst {
		t.Errorf("busiest second of the run's token %d (ledger %v), want 1..%d", got, l.MaxByToken, rate+burst)
	}
	span := l.LastCall.Sub(l.FirstCall).Seconds()
	if achieved := float64(l.Calls) / span; achieved < 0.95*rate {
		t.Errorf("achieved %.2f calls/s (%d calls in %.2fs), want at least 95%% of %d", achieved, l.Calls, span, rate)
	}
}

// Guarantee: --max-charged is never exceeded, across attempts, and reached
// up to the calls in flight.

func TestMaxChargedAcrossAttempts(t *testing.T) {
	t.Parallel()
	const conc = 4
	dir := t.TempDir()
	s := startSim(t, "--seed", "22", "--latency", "20ms", "--latency-jitter", "10ms")
	cards := makeCards(5, 60)
	in := writeCSV(t, dir, cards)
	out := filepath.Join(dir, "out.csv")
	for _, limit := range []int64{10, 25} {
		r := run(t, dir, runArgs(s, in, out, "--rate", "0", "--concurrency", strconv.Itoa(conc), "--no-cache",
			"--max-charged", strconv.FormatInt(limit, 10))...)
		if r.code != 4 {
			t.Fatalf("--max-charged %d: exit %d, want 4; stderr:\n%s", limit, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "--max-charged") {
			t.Errorf("--max-charged %d: stderr does not name --max-charged:\n%s", limit, r.stderr)
		}
		l := s.ledger(t)
		sum := readSummary(t, out+".summary.json")
		if l.Charged > limit || sum.ChargedCalls > limit {
			t.Errorf("--max-charged %d: ledger charged %d, summary %d: over the cap", limit, l.Charged, sum.ChargedCalls)
		}
		if l.Charged < limit-conc || sum.ChargedCalls < limit-conc {
			t.Errorf("--max-charged %d: ledger charged %d, summary %d: want at least cap - concurrency = %d",
				limit, l.Charged, sum.ChargedCalls, limit-conc)
		}
		tb := readTable(t, out)
		st := tb.count(t, "status")
		answered := st["ok"] + st["not_found"] + st["card_not_exist"]
		if st["skipped"] == 0 || answered+st["skipped"] != int64(len(cards)) {
			t.Errorf("--max-charged %d: output statuses %v, want answered rows and the rest skipped", limit, st)
		}
		if answered != l.Charged {
			t.Errorf("--max-charged %d: %d rows answered, ledger charged %d", limit, answered, l.Charged)
		}
	}
	r := run(t, dir, runArgs(s, in, out, "--rate", "0", "--concurrency", strconv.Itoa(conc), "--no-cache")...)
	if r.code != 0 {
		t.Fatalf("final attempt: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if l := s.ledger(t); l.Charged != int64(len(cards)) || l.ChargedTwice != 0 {
		t.Errorf("after the last attempt: ledger charged %d (twice %d), want every card once: %d", l.Charged, l.ChargedTwice, len(cards))
	}
}

// Guarantee: the dry run predicts the calls over a half-finished checkpoint.

var callsToSend = regexp.MustCompile(`(?m)^calls to send\s+([0-9]+)\s*$`)

func TestDryRunPredictsResumedCalls(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startSim(t, "--seed", "23", "--latency", "10ms")
	cards := makeCards(6, 50)
	// Rows the dry run must not count: a duplicate and an invalid card.
	in := writeCSV(t, dir, append(append([]string{}, cards...), cards[3], breakLuhn(cards[4])))
	out := filepath.Join(dir, "out.csv")
	common := []string{"--rate", "0", "--concurrency", "4", "--no-cache"}
	if r := run(t, dir, runArgs(s, in, out, append(common, "--max-charged", "15")...)...); r.code != 4 {
		t.Fatalf("first run: exit %d, want 4; stderr:\n%s", r.code, r.stderr)
	}
	before := s.ledger(t)
	dry := run(t, dir, runArgs(s, in, out, append(common, "--dry-run")...)...)
	if dry.code != 0 {
		t.Fatalf("dry run: exit %d; stderr:\n%s", dry.code, dry.stderr)
	}
	m := callsToSend.FindStringSubmatch(dry.stdout)
	if m == nil {
		t.Fatalf("dry run printed no 'calls to send' line:\n%s", dry.stdout)
	}
	predicted, _ := strconv.ParseInt(m[1], 10, 64)
	if l := s.ledger(t); l.Calls != before.Calls {
		t.Fatalf("the dry run sent %d calls", l.Calls-before.Calls)
	}
	if r := run(t, dir, runArgs(s, in, out, common...)...); r.code != 0 {
		t.Fatalf("resumed run: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	after := s.ledger(t)
	if made := after.Calls - before.Calls; made != predicted || predicted == 0 {
		t.Errorf("dry run predicted %d calls, the resumed run made %d", predicted, made)
	}
	if after.Calls != int64(len(cards)) {
		t.Errorf("ledger calls %d over both runs, want one per distinct valid card: %d", after.Calls, len(cards))
	}
}

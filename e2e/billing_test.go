package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
)

// Guarantee: the billing summary equals the provider's ledger.

// TestBillingEqualsLedgerUnderFaults: under busy answers, 429s, 5xx, dropped
// connections and an undocumented result code, the summary's charged calls,
// calls and by_result equal the simulator's independent ledger, and every
// card is paid once.
func TestBillingEqualsLedgerUnderFaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startSim(t, "--seed", "11", "--busy-prob", "0.1", "--429-prob", "0.04", "--500-prob", "0.05",
		"--502-prob", "0.04", "--drop-prob", "0.05", "--unknown-prob", "0.03", "--latency", "2ms")
	cards := makeCards(1, 150)
	in := writeCSV(t, dir, cards)
	out := filepath.Join(dir, "out.csv")
	r := run(t, dir, runArgs(s, in, out, "--rate", "0", "--concurrency", "8", "--retries", "10", "--no-cache")...)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	sum := readSummary(t, out+".summary.json")
	l := s.ledger(t)
	if l.Dropped == 0 || l.ByResult["-2"] == 0 || l.ByStatus["500"] == 0 || l.ByStatus["429"] == 0 || l.ByResult["-5"] == 0 {
		t.Fatalf("the fault mix did not happen: ledger %+v", l)
	}
	if sum.ChargedCalls != l.Charged {
		t.Errorf("summary charged_calls %d, ledger charged %d", sum.ChargedCalls, l.Charged)
	}
	if fmt.Sprint(sum.ByResult) != fmt.Sprint(l.ByResult) {
		t.Errorf("summary by_result %v, ledger by_result %v", sum.ByResult, l.ByResult)
	}
	if sum.APICalls != l.Calls {
		t.Errorf("summary api_calls %d, ledger calls %d", sum.APICalls, l.Calls)
	}
	if l.ChargedTwice != 0 {
		t.Errorf("%d cards charged more than once", l.ChargedTwice)
	}
	tb := readTable(t, out)
	if got := tb.count(t, "billing")["charged"]; got != l.Charged {
		t.Errorf("%d rows billed charged, ledger charged %d", got, l.Charged)
	}
}

// TestChargedDropsCountedInDoubt: calls the provider charged but whose answer
// was lost (the connection dropped after charging) are in_doubt: the summary
// never claims more than the ledger, and the ledger never exceeds the
// summary by more than in_doubt.
func TestChargedDropsCountedInDoubt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startSim(t, "--seed", "12", "--charge-drop-prob", "0.15", "--busy-prob", "0.05", "--latency", "2ms")
	in := writeCSV(t, dir, makeCards(2, 120))
	out := filepath.Join(dir, "out.csv")
	r := run(t, dir, runArgs(s, in, out, "--rate", "0", "--concurrency", "8", "--retries", "10", "--no-cache")...)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	sum := readSummary(t, out+".summary.json")
	l := s.ledger(t)
	if l.ChargedDropped == 0 {
		t.Fatalf("no charged drop happened: %+v", l)
	}
	if sum.InDoubt == 0 {
		t.Errorf("in_doubt 0 after %d charged calls whose answer was lost", l.ChargedDropped)
	}
	if !(sum.ChargedCalls <= l.Charged && l.Charged <= sum.ChargedCalls+sum.InDoubt) {
		t.Errorf("want charged_calls %d <= ledger charged %d <= charged_calls + in_doubt %d",
			sum.ChargedCalls, l.Charged, sum.ChargedCalls+sum.InDoubt)
	}
	if l.Charged-sum.ChargedCalls != l.ChargedDropped {
		t.Errorf("ledger charged %d - summary charged %d != charged answers lost %d", l.Charged, sum.ChargedCalls, l.ChargedDropped)
	}
}

// Guarantee: "-3" (bank card does not exist) is free, end to end.

func TestNotExistIsFreeEndToEnd(t *testing.T) {
	t.Parallel()
	valid := makeCards(3, 40)
	tests := []struct {
		name      string
		simFlags  []string
		runFlags  []string
		cards     []string
		wantNotEx int // rows answered "-3"; -1: some, counted from the ledger
	}{
		{
			name:      "--no-luhn sends Luhn-invalid cards",
			simFlags:  []string{"--seed", "13"},
			runFlags:  []string{"--no-luhn"},
			cards:     append(append([]string{}, valid[:20]...), luhnBroken(valid[20:])...),
			wantNotEx: 20,
		},
		{
			name:      "valid cards the provider does not know",
			simFlags:  []string{"--seed", "14", "--notexist-prob", "0.4"},
			cards:     valid,
			wantNotEx: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := startSim(t, tc.simFlags...)
			in := writeCSV(t, dir, tc.cards)
			out := filepath.Join(dir, "out.csv")
			args := append(runArgs(s, in, out, "--rate", "0", "--concurrency", "4", "--no-cache"), tc.runFlags...)
			if r := run(t, dir, args...); r.code != 0 {
				t.Fatalf("exit %d, want 0; stderr:\n%s", r.code, r.stderr)
			}
			l := s.ledger(t)
			notEx := l.ByResult["-3"]
			if tc.wantNotEx >= 0 && notEx != int64(tc.wantNotEx) || notEx == 0 {
				t.Fatalf("ledger -3 answers %d, want %d (and some)", notEx, tc.wantNotEx)
			}
			sum := readSummary(t, out+".summary.json")
			if sum.ByResult["-3"] != notEx || sum.ChargedCalls != l.Charged || l.Charged != int64(len(tc.cards))-notEx {
				t.Errorf("summary -3 %d charged %d; ledger -3 %d charged %d; %d cards",
					sum.ByResult["-3"], sum.ChargedCalls, notEx, l.Charged, len(tc.cards))
			}
			if sum.FreeCalls < notEx {
				t.Errorf("free_calls %d < %d free -3 answers", sum.FreeCalls, notEx)
			}
			tb := readTable(t, out)
			res, bill, st := tb.col(t, "result"), tb.col(t, "billing"), tb.col(t, "status")
			var rows int64
			for _, row := range tb.rows {
				if row[res] != "-3" {
					continue
				}
				rows++
				if row[bill] != "free" || row[st] != "card_not_exist" {
					t.Errorf("a -3 row has billing %q status %q, want free, card_not_exist", row[bill], row[st])
				}
			}
			if rows != notEx {
				t.Errorf("%d rows with result -3, ledger %d", rows, notEx)
			}
		})
	}
}

func luhnBroken(cards []string) []string {
	out := make([]string, len(cards))
	for i, c := range cards {
		out[i] = breakLuhn(c)
	}
	return out
}

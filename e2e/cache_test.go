package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// Guarantee: the answer cache never pays twice for a card; an expired entry
// is paid again.

func TestCacheNeverPaysTwice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ttl      string
		wait     time.Duration // between the runs
		paysMore bool          // the second run pays again
	}{
		{"fresh cache: paid once", "1h", 0, false},
		{"expired cache: paid again", "1s", 1500 * time.Millisecond, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := startSim(t, "--seed", "41")
			cards := makeCards(8, 30)
			in := writeCSV(t, dir, cards)
			cache := filepath.Join(dir, "answers.db")
			n := int64(len(cards))
			for i, out := range []string{"first.csv", "second.csv"} {
				if i == 1 {
					time.Sleep(tc.wait)
				}
				out = filepath.Join(dir, out)
				r := run(t, dir, runArgs(s, in, out, "--rate", "0", "--concurrency", "4",
					"--cache", cache, "--cache-ttl", tc.ttl)...)
				if r.code != 0 {
					t.Fatalf("run %d: exit %d; stderr:\n%s", i+1, r.code, r.stderr)
				}
				l := s.ledger(t)
				sum := readSummary(t, out+".summary.json")
				st := readTable(t, out).count(t, "status")
				switch {
				case i == 0 || tc.paysMore:
					if l.Charged != n*int64(i+1) || sum.ChargedCalls != n || st["cached"] != 0 {
						t.Errorf("run %d: ledger charged %d, summary %d, cached rows %d; want %d, %d, 0",
							i+1, l.Charged, sum.ChargedCalls, st["cached"], n*int64(i+1), n)
					}
				default:
					if l.Charged != n || l.Calls != n || sum.ChargedCalls != 0 || sum.CacheHits != n || st["cached"] != n {
						t.Errorf("run 2: ledger calls %d charged %d, summary charged %d cache_hits %d, cached rows %d; want %d, %d, 0, %d, %d",
							l.Calls, l.Charged, sum.ChargedCalls, sum.CacheHits, st["cached"], n, n, n, n)
					}
					if l.ChargedTwice != 0 {
						t.Errorf("%d cards charged twice", l.ChargedTwice)
					}
				}
			}
		})
	}
}

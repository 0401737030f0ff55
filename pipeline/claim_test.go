package pipeline_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"cardbatch/cache"
	"cardbatch/cardapi/sim"
	"cardbatch/cardnum"
	"cardbatch/internal/cardkey"
	"cardbatch/pipeline"
)

// Another run (a second opener of the cache file) holds live claims on
// some of the input's cards when the run starts. Cards it then answers are
// never sent: their rows settle as cached, with its answer and its time.
// Cards whose holder died (a short lease, never renewed, no answer) are
// taken over once the lease expires and called once.
func TestDeferredCardsTakeTheOtherRunsAnswer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx := writeCSV(t, dir, 200, 73)
	cachePath := filepath.Join(dir, "answers.db")
	mine, other := openCache(t, cachePath), openCache(t, cachePath)
	var valid []string
	seen := map[string]bool{}
	for _, c := range fx.cards {
		if c != "" && !seen[c] && cardnum.Validate(c, true) == nil {
			seen[c] = true
			valid = append(valid, c)
		}
	}
	h := cardkey.NewHasher(other.Key())
	mac := func(card string) []byte { return h.Sum("test simulator\x00" + card) }
	answered, died := valid[:3], valid[3:6]
	for _, set := range []struct {
		cards []string
		lease time.Duration
	}{{answered, time.Hour}, {died, 300 * time.Millisecond}} {
		for _, c := range set.cards {
			if cl, err := other.Acquire(ctx, mac(c), set.lease, time.Hour); err != nil || !cl.Mine() {
				t.Fatalf("the other run's claim: %+v %v", cl, err)
			}
		}
	}
	e := newEnv(t, sim.Config{Seed: 73})
	at := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Second) // within the TTL
	go func() {                                                         // the other run answers once this one is under way
		for e.sim.Ledger().Calls < 20 {
			time.Sleep(5 * time.Millisecond)
		}
		for _, c := range answered {
			_ = other.Put(ctx, cache.Entry{MAC: mac(c), Result: "0", Description: "d", AccountBank: "OTHER RUN'S BANK", AccountType: 2, At: at})
		}
	}()
	out := filepath.Join(dir, "out.csv")
	res, err := runOnce(t, e, fx.path, runOpts{output: out, cache: mine})
	if err != nil || res.Outcome != pipeline.Finished {
		t.Fatalf("run: %+v %v", res, err)
	}
	l := e.sim.Ledger()
	if l.DistinctCards != len(valid)-len(answered) || l.CardsChargedMoreThanOnce != 0 {
		t.Fatalf("ledger: %d distinct cards sent, %d charged twice; want %d (all but the other run's answers), 0",
			l.DistinctCards, l.CardsChargedMoreThanOnce, len(valid)-len(answered))
	}
	rows := readCSV(t, out)
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	want := map[string]string{}
	for _, c := range answered {
		want[c] = "cached"
	}
	for _, c := range died {
		want[c] = "called"
	}
	for i, r := range rows[1:] {
		switch c := fx.cards[i]; {
		case want[c] == "cached" && (r[col["status"]] != "cached" && r[col["status"]] != "duplicate" || r[col["account_bank"]] != "OTHER RUN'S BANK" ||
			r[col["answered_at"]] != at.Format(time.RFC3339)):
			t.Errorf("row %d (answered by the other run): status %q bank %q at %q", i+1, r[col["status"]], r[col["account_bank"]], r[col["answered_at"]])
		case want[c] == "called" && r[col["billing"]] != "charged" && r[col["status"]] != "duplicate":
			t.Errorf("row %d (its holder died): status %q billing %q, want called", i+1, r[col["status"]], r[col["billing"]])
		}
	}
}

package e2e

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cardbatch/cache/pgtest" // a throwaway PostgreSQL server (test support, not the product)
)

// A team cache on PostgreSQL: two processes on separate checkpoints over
// inputs sharing half their cards pay each card once; a second night's
// run of the same input pays nothing. The server is Debian's postgresql,
// a fresh cluster made with initdb for this test. One run names the cache
// in $CARDBATCH_CACHE with the key in $CARDBATCH_HMAC_KEY, the other in
// --cache-url-file with the same key in --cache-key-file.
func TestPostgresCacheRunsPayOnce(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	srv := pgtest.Start(t)
	url := srv.NewDB("team_answers")
	t.Logf("PostgreSQL: cluster made and started in %v, database ready in %v",
		srv.Setup.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	s := startSim(t, simFlags...)
	ca, cb, distinctCards := sharedInputs(t, 64, 400)
	a, b := newTeam(t, "a", ca), newTeam(t, "b", cb)
	const teamKey = "the team's shared HMAC key, 2026"
	urlFile, keyFile := filepath.Join(b.dir, "cache-url"), filepath.Join(b.dir, "team.key")
	for p, v := range map[string]string{urlFile: url, keyFile: hex.EncodeToString([]byte(teamKey))} {
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := func(tm team, out string) func() result {
		ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
		var cmd = cli(ctx, tm.dir, runArgs(s, tm.in, out, "--rate", "150", "--concurrency", "8")...)
		if tm.dir == b.dir {
			cmd.Args = append(cmd.Args, "--cache-url-file", urlFile, "--cache-key-file", keyFile)
		} else {
			cmd.Env = append(cmd.Env, "CARDBATCH_CACHE="+url, "CARDBATCH_HMAC_KEY="+teamKey)
		}
		return waitCmd(t, cmd, cancel)
	}
	waitA, waitB := start(a, a.out), start(b, b.out)
	for name, wait := range map[string]func() result{"a": waitA, "b": waitB} {
		if r := wait(); r.code != 0 {
			t.Fatalf("run %s: exit %d\n%s", name, r.code, r.stderr)
		}
	}
	sa, sb := checkTeam(t, "a", a), checkTeam(t, "b", b)
	l := s.ledger(t)
	t.Logf("ledger: %d calls, %d charged for %d distinct cards; a charged %d (cached %d), b charged %d (cached %d)",
		l.Calls, l.Charged, distinctCards, sa.ChargedCalls, sa.CacheHits, sb.ChargedCalls, sb.CacheHits)
	if l.ChargedTwice != 0 || l.Charged != int64(distinctCards) || sa.CacheHits+sb.CacheHits != 200 {
		t.Fatalf("ledger: %d charged for %d distinct cards, %d charged twice, cache hits %d+%d; want each card charged once, 200 hits",
			l.Charged, distinctCards, l.ChargedTwice, sa.CacheHits, sb.CacheHits)
	}
	// The next night: the same input, a new output and checkpoint.
	night2 := filepath.Join(a.dir, "night2.csv")
	if r := start(a, night2)(); r.code != 0 {
		t.Fatalf("second night: exit %d\n%s", r.code, r.stderr)
	}
	s2 := readSummary(t, night2+".summary.json")
	if l2 := s.ledger(t); l2.Calls != l.Calls || s2.ChargedCalls != 0 || s2.CacheHits != int64(len(ca)) {
		t.Fatalf("second night: %d more calls, charged %d, cache hits %d; want 0, 0, %d",
			l2.Calls-l.Calls, s2.ChargedCalls, s2.CacheHits, len(ca))
	}
}

package cache

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestCacheGetPutTTLAndModes(t *testing.T) {
	ctx := context.Background()
	t.Setenv("CARDBATCH_HMAC_KEY", "")
	path := filepath.Join(t.TempDir(), "sub", "answers.db")
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []string{path, path + ".key"} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v %v, want 0600", p, st.Mode().Perm(), err)
		}
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Fatalf("cache folder mode %o", st.Mode().Perm())
	}
	fresh := Entry{MAC: []byte("fresh-0123456789"), Result: "0", Description: "Query successful", AccountBank: "Bank of China", AccountType: 1, At: time.Now()}
	old := Entry{MAC: []byte("old-0123456789ab"), Result: "-1", Description: "No information found", At: time.Now().Add(-48 * time.Hour)}
	busy := Entry{MAC: []byte("busy-0123456789a"), Result: "-2", At: time.Now()}
	unknown := Entry{MAC: []byte("unkn-0123456789a"), Result: "-5", At: time.Now()}
	for _, e := range []Entry{fresh, old, busy, unknown} {
		if err := c.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Not visible to another opener before Flush, visible after.
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cases := []struct {
		name   string
		mac    []byte
		maxAge time.Duration
		hit    bool
	}{
		{"fresh answer", fresh.MAC, 24 * time.Hour, true},
		{"older than the TTL", old.MAC, 24 * time.Hour, false},
		{"within a longer TTL", old.MAC, 72 * time.Hour, true},
		{"busy is never cached", busy.MAC, 24 * time.Hour, false},
		{"undocumented code is never cached", unknown.MAC, 24 * time.Hour, false},
		{"unknown card", []byte("nope-0123456789a"), 24 * time.Hour, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, hit, err := other.Get(ctx, tc.mac, tc.maxAge)
			if err != nil || hit != tc.hit {
				t.Fatalf("hit %v err %v, want %v", hit, err, tc.hit)
			}
			if hit && tc.name == "fresh answer" && (e.AccountBank != "Bank of China" || e.AccountType != 1 || e.Result != "0") {
				t.Fatalf("entry %+v", e)
			}
		})
	}
}

func TestCacheConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "answers.db")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := Open(ctx, path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := 0; i < 2000; i++ {
				mac := []byte{byte(w), byte(i >> 8), byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
				if err := c.Put(ctx, Entry{MAC: mac, Result: "0", At: time.Now()}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c, _ := Open(ctx, path)
	defer c.Close()
	var n int
	c.db.QueryRow(`SELECT COUNT(*) FROM answers`).Scan(&n)
	if n != 8000 {
		t.Fatalf("%d answers stored, want 8000", n)
	}
}

// TestLogMergedInKeyOrder: answers reach the keyed table through the log;
// what a killed run left in the log is merged by the next Open; of two
// answers for a card the newer one stays.
func TestLogMergedInKeyOrder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "answers.db")
	defer func(n int) { flushAt = n }(flushAt)
	flushAt = 10
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mac := func(i int) []byte {
		return []byte{byte(i >> 8), byte(i), 'm', 'a', 'c', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'}
	}
	for i := 0; i < 25; i++ {
		if err := c.Put(ctx, Entry{MAC: mac(i), Result: "0", AccountBank: "old", At: now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(table string) (n int) {
		t.Helper()
		if err := c.db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// 20 appended (two full batches), 5 still queued; nothing keyed yet.
	if l, a := count("log"), count("answers"); l != 20 || a != 0 {
		t.Fatalf("log %d answers %d, want 20 and 0", l, a)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if l, a := count("log"), count("answers"); l != 0 || a != 25 {
		t.Fatalf("after Flush: log %d answers %d, want 0 and 25", l, a)
	}
	// Newer answers for cards 0..9 and an older one for card 10, then the
	// process dies: appended, never merged.
	c.Put(ctx, Entry{MAC: mac(10), Result: "-3", AccountBank: "older", At: now.Add(-2 * time.Hour)})
	for i := 0; i < 9; i++ {
		c.Put(ctx, Entry{MAC: mac(i), Result: "-1", AccountBank: "new", At: now})
	}
	if count("log") != 10 {
		t.Fatalf("log %d, want 10", count("log"))
	}
	c.db.Close() // killed: no Flush, no Close

	c2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	macs := make([][]byte, 25)
	for i := range macs {
		macs[i] = mac(i)
	}
	hits, err := c2.GetMany(ctx, macs, 24*time.Hour)
	if err != nil || len(hits) != 25 {
		t.Fatalf("%d hits, %v; want 25", len(hits), err)
	}
	for i := 0; i < 25; i++ {
		want := "old"
		if i < 9 {
			want = "new"
		}
		if e := hits[string(mac(i))]; e.AccountBank != want {
			t.Errorf("card %d: %q (%s), want %q", i, e.AccountBank, e.Result, want)
		}
	}
}

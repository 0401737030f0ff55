package cache

import (
	"context"
	"errors"
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
	// Visible to another opener after Flush.
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

// TestPutWritesThrough: once Put returns, another opener of the cache
// finds the answer, without Flush or Close (the write-through a killed run
// relies on); of two answers for a card the newer stays.
func TestPutWritesThrough(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "answers.db")
	writer, reader := openSQLite(t, path), openSQLite(t, path)
	now := time.Now()
	newer := Entry{MAC: mac(1), Result: "0", AccountBank: "new", At: now}
	older := Entry{MAC: mac(1), Result: "-1", AccountBank: "old", At: now.Add(-time.Hour)}
	for _, e := range []Entry{newer, older, {MAC: mac(2), Result: "-3", At: now}} {
		if err := writer.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	hits := mustGet(t, reader, 2, mac(1), mac(2))
	if e := hits[string(mac(1))]; e.AccountBank != "new" || e.Result != "0" {
		t.Fatalf("card 1: %+v, want the newer answer", e)
	}
}

// mustGet returns the answers c holds for macs, failing unless there are n.
func mustGet(t *testing.T, c *Cache, n int, macs ...[]byte) map[string]Entry {
	t.Helper()
	hits, err := c.GetMany(context.Background(), macs, time.Hour)
	if err != nil || len(hits) != n {
		t.Fatalf("%d of %d answers visible to another opener without Flush (%v)", len(hits), n, err)
	}
	return hits
}

func mac(i int) []byte {
	return []byte{byte(i >> 8), byte(i), 'm', 'a', 'c', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'}
}

func openSQLite(t *testing.T, path string) *Cache {
	t.Helper()
	c, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// TestLegacyLogMerged: answers an earlier version left in its log (a
// killed run) are merged by the next Open; of two answers the newer stays.
func TestLegacyLogMerged(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "answers.db")
	c := openSQLite(t, path)
	now := time.Now().Unix()
	if err := c.Put(ctx, Entry{MAC: mac(1), Result: "0", AccountBank: "stored", At: time.Unix(now-60, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		i    int
		bank string
		at   int64
	}{{1, "logged newer", now}, {2, "logged", now}, {1, "logged older", now - 3600}} {
		if _, err := c.db.Exec(`INSERT INTO log VALUES (?, '0', '', ?, 1, ?)`, mac(r.i), r.bank, r.at); err != nil {
			t.Fatal(err)
		}
	}
	hits := mustGet(t, openSQLite(t, path), 2, mac(1), mac(2))
	if a, b := hits[string(mac(1))].AccountBank, hits[string(mac(2))].AccountBank; a != "logged newer" || b != "logged" {
		t.Fatalf("after reopening: %q and %q, want \"logged newer\" and \"logged\"", a, b)
	}
}

// TestNewerSchemaRefused: a cache whose schema_version is newer than this
// build's is refused, not misread.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "answers.db")
	c := openSQLite(t, path)
	if _, err := c.db.Exec(`UPDATE schema_version SET version = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), path); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open of a version-2 cache: %v, want ErrNewerSchema", err)
	}
}

// TestClaimsSQLite: the claim protocol, between two openers of one file.
func TestClaimsSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "answers.db")
	testClaims(t, openSQLite(t, path), openSQLite(t, path))
}

// testClaims checks the claim protocol between runs a and b sharing a cache.
func testClaims(t *testing.T, a, b *Cache) {
	ctx := context.Background()
	a.owner, b.owner = "run A", "run B"
	const lease, ttl = time.Minute, time.Hour
	answer := func(i int, age time.Duration) Entry {
		return Entry{MAC: mac(i), Result: "0", AccountBank: "bank", At: time.Now().Add(-age).Truncate(time.Second)}
	}
	acquire := func(c *Cache, i int, lease time.Duration) Claim {
		t.Helper()
		cl, err := c.Acquire(ctx, mac(i), lease, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	store := func(c *Cache, e Entry) {
		t.Helper()
		if err := c.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(i int) // run by a on card i before b acquires it
		want  Claim       // what b gets (Answer compared by bank only)
	}{
		{"free card", func(int) {}, Claim{}},
		{"live claim of a", func(i int) { acquire(a, i, lease) }, Claim{Holder: "run A"}},
		{"renewed claim of a", func(i int) { acquire(a, i, lease); acquire(a, i, lease) }, Claim{Holder: "run A"}},
		{"expired claim of a (a died): taken over", func(i int) { acquire(a, i, -time.Second) }, Claim{}},
		{"released by a (its call failed)", func(i int) {
			acquire(a, i, lease)
			if err := a.Release(ctx, mac(i)); err != nil {
				t.Fatal(err)
			}
		}, Claim{}},
		{"answer stored by a releases its claim", func(i int) { acquire(a, i, lease); store(a, answer(i, 0)) },
			Claim{Answered: true, Answer: Entry{AccountBank: "bank"}}},
		{"answer older than the TTL: claimed again", func(i int) { store(a, answer(i, 2*time.Hour)) }, Claim{}},
	}
	for n, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := 100 + n
			tc.setup(i)
			got := acquire(b, i, lease)
			if got.Answered != tc.want.Answered || got.Holder != tc.want.Holder || got.Answer.AccountBank != tc.want.Answer.AccountBank {
				t.Fatalf("b's Acquire: %+v, want %+v", got, tc.want)
			}
			if got.Mine() {
				// b holds it now: a meets b's claim.
				if cl := acquire(a, i, lease); cl.Holder != "run B" {
					t.Fatalf("a after b's claim: %+v, want held by run B", cl)
				}
			}
		})
	}
}

package cache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cardbatch/cache/pgtest"
)

var testKey = []byte("a team key of 32 bytes for tests")

func openPG(t *testing.T, url string) *Cache {
	t.Helper()
	c, err := OpenPostgres(context.Background(), url, testKey)
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

// TestPostgres runs the cache's guarantees against a real PostgreSQL:
// the schema made once by concurrent first openers, versioned; answers
// written through; the claim protocol; no password in any message.
func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	t.Logf("PostgreSQL cluster made and started in %v", srv.Setup.Round(time.Millisecond))
	t.Run("schema made once by concurrent openers", func(t *testing.T) {
		url := srv.NewDB("schema")
		var wg sync.WaitGroup
		caches := make([]*Cache, 4)
		for i := range caches {
			wg.Add(1)
			go func() { defer wg.Done(); caches[i] = openPG(t, url) }()
		}
		wg.Wait()
		var n, v int
		if err := caches[0].db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_version`).Scan(&n, &v); err != nil || n != 1 || v != 1 {
			t.Fatalf("schema_version: %d rows, version %d, %v; want one row, version 1", n, v, err)
		}
	})
	t.Run("answers written through", func(t *testing.T) {
		url := srv.NewDB("through")
		writer, reader := openPG(t, url), openPG(t, url)
		now := time.Now()
		for _, e := range []Entry{{MAC: mac(1), Result: "0", AccountBank: "new", At: now},
			{MAC: mac(1), Result: "-1", AccountBank: "old", At: now.Add(-time.Hour)}, {MAC: mac(2), Result: "-3", At: now}} {
			if err := writer.Put(context.Background(), e); err != nil {
				t.Fatal(err)
			}
		}
		if e := mustGet(t, reader, 2, mac(1), mac(2))[string(mac(1))]; e.AccountBank != "new" {
			t.Fatalf("card 1: %+v, want the newer answer", e)
		}
	})
	t.Run("claims", func(t *testing.T) {
		url := srv.NewDB("claims")
		testClaims(t, openPG(t, url), openPG(t, url))
	})
	t.Run("no password in messages", func(t *testing.T) {
		testNoPassword(t, srv)
	})
}

func testNoPassword(t *testing.T, srv *pgtest.Server) {
	const pw = "Wr0ng-pw-7731"
	good := openPG(t, srv.URL("postgres"))
	if p := good.Path(); strings.Contains(p, pgtest.Password) || !strings.Contains(p, "postgres:xxxxx@") {
		t.Errorf("Path() = %q, want the password masked", p)
	}
	tests := []struct{ name, url, secret string }{
		{"wrong password", fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", pw, srv.Port), pw},
		{"no server on the port", fmt.Sprintf("postgres://team:%s@127.0.0.1:1/answers?sslmode=disable&connect_timeout=5", pw), pw},
		{"a port that does not parse", fmt.Sprintf("postgres://team:%s@127.0.0.1:54x/answers", pw), pw},
		{"unknown database", fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/nosuchdb?sslmode=disable", pgtest.Password, srv.Port), pgtest.Password},
		{"password as a parameter", fmt.Sprintf("postgres://team@127.0.0.1:%d/x?password=%s&sslmode=disable", srv.Port, pw), pw},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenPostgres(context.Background(), tc.url, testKey)
			if err == nil {
				t.Fatal("OpenPostgres succeeded, want an error")
			}
			if strings.Contains(err.Error(), tc.secret) || !strings.Contains(err.Error(), "xxxxx") {
				t.Fatalf("error %q: want the password masked as xxxxx", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://team:pa55@db1:5432/answers?sslmode=disable", "postgres://team:xxxxx@db1:5432/answers?sslmode=disable"},
		{"postgresql://team:p%40ss:w@db1/answers", "postgresql://team:xxxxx@db1/answers"},
		{"postgres://team@db1/answers?password=pa55&sslmode=require", "postgres://team@db1/answers?password=xxxxx&sslmode=require"},
		{"postgres://db1/answers", "postgres://db1/answers"},
		{"dial postgres://u:pw@h:1/d: refused", "dial postgres://u:xxxxx@h:1/d: refused"},
	}
	for _, tc := range tests {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

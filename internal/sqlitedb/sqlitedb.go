// Package sqlitedb opens the SQLite databases of cardbatch (checkpoints and
// the answer cache) one way: WAL, a busy timeout, the PRAGMAs' answers checked.
package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	_ "github.com/mattn/go-sqlite3" // the database/sql driver "sqlite3"
)

// Open opens the SQLite database at path the way cardbatch opens all of
// them: read-write in WAL mode with synchronous=NORMAL (durable against a
// killed process), immediate write transactions, a busy timeout, and at most
// four connections (each has its own page cache); or read-only, never
// changing the file. A read-write database whose journal mode does not
// become WAL is an error (a network file system, usually).
func Open(ctx context.Context, path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Set("_busy_timeout", "15000")
	q.Set("_txlock", "immediate")
	mode := "rwc"
	if readOnly {
		mode = "ro"
		q.Set("_query_only", "1")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
	}
	q.Set("mode", mode)
	dsn := "file:" + escapePath(path) + "?" + q.Encode()
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if !readOnly {
		var jm string
		if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&jm); err != nil {
			db.Close()
			return nil, err
		}
		if !strings.EqualFold(jm, "wal") {
			db.Close()
			return nil, fmt.Errorf("journal_mode is %q, want wal (is the file on a network file system?)", jm)
		}
	}
	return db, nil
}

// escapePath escapes what SQLite URI file names reserve.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

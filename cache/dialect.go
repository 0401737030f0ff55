package cache

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// schemaVersion is the version of the tables this cardbatch reads and
// writes, kept in the schema_version table. A cache of a newer version is
// refused rather than misread.
const schemaVersion = 1

// dialect is what differs between the SQLite and the PostgreSQL cache: the
// tables' types, the database's clock, and the parameter markers. Queries
// are written once with $1, $2, ... markers.
type dialect struct {
	schema []string // CREATE ... IF NOT EXISTS statements, in order
	// lock, when set, serialises the schema's creation between processes
	// (run first in the schema's transaction).
	lock string
	// prepare runs once before the schema (PRAGMAs), outside a transaction.
	prepare []string
	now     string              // the database's clock, Unix milliseconds
	marker  string              // what $ becomes in a query
	cleanup []string            // run after the schema, in its transaction
	close   []string            // run by Close before the database is closed
	mask    func(string) string // hides secrets in an error's text
}

// q returns query in the dialect: markers, and {now} for the clock.
func (d *dialect) q(query string) string {
	return strings.ReplaceAll(strings.ReplaceAll(query, "$", d.marker), "{now}", d.now)
}

var sqliteDialect = &dialect{
	// SQLite's default: the write-ahead log is copied into the database
	// every 1,000 pages during the run, so little is left for the end.
	prepare: []string{`PRAGMA wal_autocheckpoint = 1000`},
	schema: []string{
		`CREATE TABLE IF NOT EXISTS answers (
			mac          BLOB PRIMARY KEY,
			result       TEXT NOT NULL,
			description  TEXT NOT NULL,
			account_bank TEXT NOT NULL,
			account_type INTEGER NOT NULL,
			answered_at  INTEGER NOT NULL -- unix seconds
		) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS claims (
			mac     BLOB PRIMARY KEY,
			owner   TEXT NOT NULL,   -- process, host and start of the claiming run
			expires INTEGER NOT NULL -- unix milliseconds
		) WITHOUT ROWID`,
		// Earlier versions appended answers to a log merged at the end;
		// a killed run of such a version may have left some.
		`CREATE TABLE IF NOT EXISTS log (
			mac BLOB NOT NULL, result TEXT NOT NULL, description TEXT NOT NULL,
			account_bank TEXT NOT NULL, account_type INTEGER NOT NULL, answered_at INTEGER NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`,
	},
	cleanup: []string{
		// "WHERE true" resolves SQLite's parsing ambiguity of INSERT ...
		// SELECT ... ON CONFLICT.
		`INSERT INTO answers (mac, result, description, account_bank, account_type, answered_at)
		SELECT mac, result, description, account_bank, account_type, answered_at FROM log WHERE true ORDER BY mac, answered_at
		ON CONFLICT(mac) DO UPDATE SET result = excluded.result,
		description = excluded.description, account_bank = excluded.account_bank,
		account_type = excluded.account_type, answered_at = excluded.answered_at
		WHERE excluded.answered_at >= answers.answered_at`,
		`DELETE FROM log`,
		`DELETE FROM claims WHERE expires < {now} - 86400000`,
	},
	// Copy the write-ahead log into the database (a passive checkpoint).
	close:  []string{`PRAGMA wal_checkpoint(PASSIVE)`},
	now:    `CAST(unixepoch('subsec') * 1000 AS INTEGER)`,
	marker: "?",
	mask:   func(s string) string { return s },
}

// migrate creates the tables on first use and checks the schema version.
func (d *dialect) migrate(ctx context.Context, db *sql.DB) error {
	for _, s := range d.prepare {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := append([]string{d.lock}, d.schema...)
	for _, s := range stmts {
		if s == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, d.q(s)); err != nil {
			return err
		}
	}
	var v sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&v); err != nil {
		return err
	}
	switch {
	case !v.Valid:
		if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO schema_version (version) VALUES ($1)`), schemaVersion); err != nil {
			return err
		}
	case v.Int64 > schemaVersion:
		return fmt.Errorf("%w: version %d, this cardbatch knows %d: upgrade cardbatch, or use another cache", ErrNewerSchema, v.Int64, schemaVersion)
	}
	for _, s := range d.cleanup {
		if _, err := tx.ExecContext(ctx, d.q(s)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ErrNewerSchema is the error of opening a cache made by a newer cardbatch.
var ErrNewerSchema = errors.New("the answer cache was made by a newer cardbatch")

// closing runs the dialect's statements before the database is closed.
func (d *dialect) closing(db *sql.DB) error {
	for _, s := range d.close {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			return err
		}
	}
	return nil
}

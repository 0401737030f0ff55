// Package cache is the answer cache shared across runs: a SQLite database
// keyed by a keyed HMAC of the card number (never the card), holding final
// answers ("0", "-1", "-3") and when they were obtained. Several runs may
// share one cache at once: it is opened in WAL mode with a busy timeout and
// every write is one short transaction.
//
// Writes are two-stage, because HMAC keys are random: inserting them one
// batch at a time into the keyed table rewrites most of its pages on every
// batch (quadratic I/O over a million-card run). Put appends answers to a
// log table (rowid order: always the last page); Flush, Close and Open merge
// the log into the keyed table in key order, in one transaction, so that
// each page of it is written once per merge. Lookups read the keyed table:
// a run's answers are found by other runs once it has flushed (at its end),
// or, if it was killed, once the next run has opened the cache.
package cache

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cardbatch/billing"
	"cardbatch/internal/sqlitedb"
)

// Entry is one cached answer.
type Entry struct {
	MAC         []byte // cardkey.Hasher digest of the card under the cache's key
	Result      string
	Description string
	AccountBank string
	AccountType int
	At          time.Time // when the provider answered
}

// Cacheable reports whether an answer with this result code may be cached:
// only final answers (never "-2", never an undocumented code).
func Cacheable(result string) bool {
	switch result {
	case billing.ResultOK, billing.ResultNotFound, billing.ResultNotExist:
		return true
	}
	return false
}

// flushAt is how many queued answers make Put append them to the log.
var flushAt = 4096

// Cache is an open answer cache. Its methods are safe for concurrent use.
type Cache struct {
	db   *sql.DB
	key  []byte
	path string

	mu      sync.Mutex
	pending []Entry

	stmtOnce  sync.Once
	batchStmt *sql.Stmt
	stmtErr   error
}

const schema = `
CREATE TABLE IF NOT EXISTS answers (
	mac          BLOB PRIMARY KEY,
	result       TEXT NOT NULL,
	description  TEXT NOT NULL,
	account_bank TEXT NOT NULL,
	account_type INTEGER NOT NULL,
	answered_at  INTEGER NOT NULL -- unix seconds
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
	mac          BLOB NOT NULL,
	result       TEXT NOT NULL,
	description  TEXT NOT NULL,
	account_bank TEXT NOT NULL,
	account_type INTEGER NOT NULL,
	answered_at  INTEGER NOT NULL
);
`

// DefaultPath is the cache in the user's cache folder
// ($XDG_CACHE_HOME/cardbatch/answers.db or ~/.cache/cardbatch/answers.db).
func DefaultPath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache folder (%v): pass --cache FILE or --no-cache", err)
	}
	return filepath.Join(dir, "cardbatch", "answers.db"), nil
}

// Open opens (creating it, 0600, in a 0700 folder if needed) the cache at
// path with its key (path + ".key", created 0600 when missing; or
// $CARDBATCH_HMAC_KEY). A cache that holds answers is never given a new
// key: a missing key file, or a key other than the one its answers were
// stored with, is a *KeyError (see loadKey).
func Open(ctx context.Context, path string) (*Cache, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("answer cache folder: %w (pass --cache FILE or --no-cache)", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("answer cache: %w (pass --cache FILE or --no-cache)", err)
	}
	f.Close()
	db, err := sqlitedb.Open(ctx, path, false)
	if err != nil {
		return nil, fmt.Errorf("answer cache %s: %w", path, err)
	}
	c := &Cache{db: db, path: path}
	if err := c.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("answer cache %s: %w", path, err)
	}
	if c.key, err = c.loadKey(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cache) init(ctx context.Context) error {
	// SQLite's default: the write-ahead log is copied into the database
	// every 1,000 pages during the run, so little is left for the end.
	if _, err := c.db.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 1000`); err != nil {
		return err
	}
	if _, err := c.db.ExecContext(ctx, schema); err != nil {
		return err
	}
	// Answers a killed run appended but never merged.
	return c.merge(ctx)
}

// Key returns the secret the cache's MACs are made with.
func (c *Cache) Key() []byte { return c.key }

// Path returns the cache's file name.
func (c *Cache) Path() string { return c.path }

// Get returns the cached answer for mac if it was obtained within maxAge
// (GetMany for one MAC).
func (c *Cache) Get(ctx context.Context, mac []byte, maxAge time.Duration) (Entry, bool, error) {
	hits, err := c.GetMany(ctx, [][]byte{mac}, maxAge)
	if err != nil {
		return Entry{}, false, err
	}
	e, ok := hits[string(mac)]
	return e, ok, nil
}

// Empty reports whether the cache holds no answer at all. A run that
// starts on an empty cache has nothing to look up: every card it would look
// up is the first of its kind in that run.
func (c *Cache) Empty(ctx context.Context) (bool, error) {
	var exists int
	err := c.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM answers)`).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("answer cache: %w", err)
	}
	return exists == 0, nil
}

// GetManyBatch is the batch size whose query is prepared once.
const GetManyBatch = 256

func getManyQuery(n int) string {
	return `SELECT mac, result, description, account_bank, account_type, answered_at FROM answers WHERE mac IN (?` +
		strings.Repeat(", ?", n-1) + `)`
}

// GetMany looks up many MACs in one query and returns the answers obtained
// within maxAge, keyed by string(mac). Missing and expired MACs are absent.
func (c *Cache) GetMany(ctx context.Context, macs [][]byte, maxAge time.Duration) (map[string]Entry, error) {
	hits := make(map[string]Entry)
	if len(macs) == 0 {
		return hits, nil
	}
	args := make([]any, len(macs))
	for i, m := range macs {
		args[i] = m
	}
	var rows *sql.Rows
	var err error
	if len(macs) == GetManyBatch {
		c.stmtOnce.Do(func() { c.batchStmt, c.stmtErr = c.db.PrepareContext(ctx, getManyQuery(GetManyBatch)) })
		if c.stmtErr != nil {
			return nil, fmt.Errorf("answer cache: %w", c.stmtErr)
		}
		rows, err = c.batchStmt.QueryContext(ctx, args...)
	} else {
		rows, err = c.db.QueryContext(ctx, getManyQuery(len(macs)), args...)
	}
	if err != nil {
		return nil, fmt.Errorf("answer cache: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.MAC, &e.Result, &e.Description, &e.AccountBank, &e.AccountType, &at); err != nil {
			return nil, fmt.Errorf("answer cache: %w", err)
		}
		e.At = time.Unix(at, 0)
		if time.Since(e.At) <= maxAge && Cacheable(e.Result) {
			hits[string(e.MAC)] = e
		}
	}
	return hits, rows.Err()
}

// Put queues an answer; it is stored by the next Flush (or appended to the
// log when enough have queued). Answers that may not be cached are ignored.
func (c *Cache) Put(ctx context.Context, e Entry) error {
	if !Cacheable(e.Result) {
		return nil
	}
	c.mu.Lock()
	c.pending = append(c.pending, e)
	full := len(c.pending) >= flushAt
	c.mu.Unlock()
	if full {
		return c.appendLog(ctx)
	}
	return nil
}

// Flush stores the queued answers: after it, lookups (of every opener) find
// them. It also copies the write-ahead log into the database (a passive
// checkpoint), the work SQLite would otherwise do when the cache is closed.
func (c *Cache) Flush(ctx context.Context) error {
	if err := c.appendLog(ctx); err != nil {
		return err
	}
	if err := c.merge(ctx); err != nil {
		return err
	}
	if _, err := c.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		return fmt.Errorf("answer cache: %w", err)
	}
	return nil
}

// appendLog appends the queued answers to the log in one transaction.
func (c *Cache) appendLog(ctx context.Context) error {
	c.mu.Lock()
	batch := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("answer cache: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO log (mac, result, description, account_bank, account_type, answered_at)
		VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("answer cache: %w", err)
	}
	defer st.Close()
	for _, e := range batch {
		if _, err := st.ExecContext(ctx, e.MAC, e.Result, e.Description, e.AccountBank, e.AccountType, e.At.Unix()); err != nil {
			return fmt.Errorf("answer cache: %w", err)
		}
	}
	return tx.Commit()
}

// merge moves the log into the keyed table, in key order, in one
// transaction; of two answers for one card the newer is kept.
func (c *Cache) merge(ctx context.Context) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("answer cache: %w", err)
	}
	defer tx.Rollback()
	// "WHERE true" resolves SQLite's parsing ambiguity of INSERT ... SELECT
	// ... ON CONFLICT.
	if _, err := tx.ExecContext(ctx, `INSERT INTO answers (mac, result, description, account_bank, account_type, answered_at)
		SELECT mac, result, description, account_bank, account_type, answered_at FROM log WHERE true ORDER BY mac, answered_at
		ON CONFLICT(mac) DO UPDATE SET result = excluded.result,
		description = excluded.description, account_bank = excluded.account_bank,
		account_type = excluded.account_type, answered_at = excluded.answered_at
		WHERE excluded.answered_at >= answers.answered_at`); err != nil {
		return fmt.Errorf("answer cache: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM log`); err != nil {
		return fmt.Errorf("answer cache: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("answer cache: %w", err)
	}
	return nil
}

// Close flushes and closes the cache.
func (c *Cache) Close() error {
	err := c.Flush(context.Background())
	if c.batchStmt != nil {
		c.batchStmt.Close()
	}
	if cerr := c.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Package cache is the answer cache shared across runs: a SQLite database
// (the embedded default) or a PostgreSQL database (a team's cache, see
// OpenPostgres), keyed by a keyed HMAC of the card number (never the card),
// holding final answers ("0", "-1", "-3") and when they were obtained.
//
// Several runs may share one cache at once, on one machine or many:
//
//   - Answers are written through: Put returns once the answer is
//     committed (concurrent Puts share one short transaction). The
//     pipeline puts an answer before it records the row in its checkpoint,
//     so a killed run loses no answer it recorded: a call whose answer is
//     not in the cache is still in the killed run's in-flight journal
//     (counted in doubt).
//   - Claims: before a run calls for a card it claims it (Acquire): a lease
//     row naming the run (host, pid, start) that expires unless renewed.
//     Another run that meets a live claim does not call; it waits for the
//     answer, or takes the claim over once the lease has expired (its
//     holder died). Storing the answer releases the claim in the same
//     transaction, so a claim is never free while the answer is missing
//     unless the call failed (Release) or the holder died.
//
// Lease expiry is measured by the database's clock, so runs on machines
// whose clocks disagree still agree on when a claim expires.
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
	"cardbatch/runlock"
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

// Cache is an open answer cache. Its methods are safe for concurrent use.
type Cache struct {
	db    *sql.DB
	d     *dialect
	key   []byte
	name  string // the file, or the URL with its password masked
	owner string // this process, as its claims name it

	answers group[Entry]     // answers waiting for the writer
	claims  group[*claimReq] // claims waiting for the writer
	wmu     sync.Mutex       // one writer at a time

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // see prepared
}

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
	c, err := newCache(ctx, db, sqliteDialect, nil, path)
	if err != nil {
		return nil, err
	}
	if c.key, err = c.loadKey(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

// newCache sets up the schema of an open database and returns its cache;
// it closes db when it fails.
func newCache(ctx context.Context, db *sql.DB, d *dialect, key []byte, name string) (*Cache, error) {
	me := runlock.Me(time.Now())
	owner := fmt.Sprintf("process %d on host %s (started %s)", me.PID, me.Host, me.Started.UTC().Format(time.RFC3339Nano))
	c := &Cache{db: db, d: d, key: key, name: name, owner: owner}
	if err := d.migrate(ctx, db); err != nil {
		db.Close()
		return nil, c.wrap(err)
	}
	return c, nil
}

// Key returns the secret the cache's MACs are made with.
func (c *Cache) Key() []byte { return c.key }

// Path returns the cache's file name, or its URL with the password masked.
func (c *Cache) Path() string { return c.name }

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
	var n int
	err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM answers LIMIT 1) AS one`).Scan(&n)
	if err != nil {
		return false, c.wrap(err)
	}
	return n == 0, nil
}

// GetManyBatch is the batch size whose query is prepared once.
const GetManyBatch = 256

func getManyQuery(n int) string {
	var b strings.Builder
	b.WriteString(`SELECT mac, result, description, account_bank, account_type, answered_at FROM answers WHERE mac IN (`)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	b.WriteString(")")
	return b.String()
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
		st, perr := c.prepared(ctx, getManyQuery(GetManyBatch))
		if perr != nil {
			return nil, c.wrap(perr)
		}
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = c.db.QueryContext(ctx, c.d.q(getManyQuery(len(macs))), args...)
	}
	if err != nil {
		return nil, c.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, c.wrap(err)
		}
		if fresh(e, maxAge) {
			hits[string(e.MAC)] = e
		}
	}
	return hits, c.wrap(rows.Err())
}

func scanEntry(rows interface{ Scan(...any) error }) (Entry, error) {
	var e Entry
	var at int64
	err := rows.Scan(&e.MAC, &e.Result, &e.Description, &e.AccountBank, &e.AccountType, &at)
	e.At = time.Unix(at, 0)
	return e, err
}

func fresh(e Entry, maxAge time.Duration) bool {
	return time.Since(e.At) <= maxAge && Cacheable(e.Result)
}

// Put stores an answer, with this run's claim on its card released in the
// same transaction, and returns once it is committed: every run sharing
// the cache finds it from then on. Concurrent Puts share transactions (a
// group commit: one writer at a time writes every answer that gathered
// while it waited). Answers that may not be cached are ignored.
func (c *Cache) Put(ctx context.Context, e Entry) error {
	if !Cacheable(e.Result) {
		return nil
	}
	b := c.answers.join(e)
	return c.answers.commit(&c.wmu, b, func(es []Entry) error { return c.store(ctx, es) })
}

// Flush returns once every answer Put so far is stored (Put itself only
// returns then: Flush is for callers that Put from other goroutines).
func (c *Cache) Flush(ctx context.Context) error {
	b := c.answers.pending()
	if b == nil {
		return nil
	}
	return c.answers.commit(&c.wmu, b, func(es []Entry) error { return c.store(ctx, es) })
}

// store writes answers in one transaction, in key order, and releases this
// run's claims on their cards.
func (c *Cache) store(ctx context.Context, batch []Entry) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return c.wrap(err)
	}
	defer tx.Rollback()
	upsert, err := c.stmt(ctx, tx, upsertAnswer)
	if err != nil {
		return c.wrap(err)
	}
	unclaim, err := c.stmt(ctx, tx, deleteClaim)
	if err != nil {
		return c.wrap(err)
	}
	for _, e := range sortByMAC(batch) {
		if _, err := upsert.ExecContext(ctx, e.MAC, e.Result, e.Description, e.AccountBank, e.AccountType, e.At.Unix()); err != nil {
			return c.wrap(err)
		}
		if _, err := unclaim.ExecContext(ctx, e.MAC, c.owner); err != nil {
			return c.wrap(err)
		}
	}
	return c.wrap(tx.Commit())
}

// Close stores the queued answers and closes the cache.
func (c *Cache) Close() error {
	err := c.Flush(context.Background())
	if err == nil {
		err = c.d.closing(c.db)
	}
	c.closeStmts()
	if cerr := c.db.Close(); err == nil {
		err = c.wrap(cerr)
	}
	return err
}

// wrap prefixes a database error with the cache's name (its password
// masked) and masks the password wherever the error repeats it.
func (c *Cache) wrap(err error) error {
	if err == nil {
		return nil
	}
	return &Error{msg: "answer cache " + c.name + ": " + c.d.mask(err.Error()), err: err}
}

// Error is a failure of the answer cache. Its text never holds a password.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

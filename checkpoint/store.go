// Package checkpoint records a run's every row in SQLite so that a run that
// is killed, interrupted or stopped resumes exactly where it was.
//
// It stores no card number: rows are keyed by their index in the input, and
// the card by a keyed HMAC whose secret lives outside the database (see
// LoadKey). The database is opened in WAL mode with a busy timeout; one
// goroutine (Writer) owns every write during a run and commits in batches.
package checkpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"cardbatch/internal/ownfile"
	"cardbatch/internal/sqlitedb"
)

// SchemaVersion is the version of the schema this package writes.
const SchemaVersion = "1"

// State is a row's state. Its value is the output's `status` column for the
// final and stopped states; Pending, Retrying and InDoubt are internal.
type State string

// Row states.
const (
	Pending      State = "pending"        // written by earlier versions: a call may have been in flight
	Retrying     State = "retrying"       // its last call got no final answer; it waits for the next
	InDoubt      State = "in_doubt"       // was pending when a run died: will be re-sent
	OK           State = "ok"             // result 0
	NotFound     State = "not_found"      // result -1
	CardNotExist State = "card_not_exist" // result -3
	Unknown      State = "unknown_result" // an undocumented result code (billed as charged)
	Busy         State = "busy"           // still -2 after every retry: re-sent by the next run
	Failed       State = "failed"         // no answer after every retry: re-sent by the next run
	Skipped      State = "skipped"        // not sent because the run stopped early
	Invalid      State = "invalid"        // not a valid card number: never sent
	Duplicate    State = "duplicate"      // same card as an earlier row (DupOf)
	Cached       State = "cached"         // answered from the answer cache
	// OtherShard: the row belongs to another shard of a `run --shard K/N`
	// (final for this shard: never sent, its answer is that shard's).
	OtherShard State = "other_shard"
)

// Final reports whether a row in this state needs no further call.
func (s State) Final() bool {
	switch s {
	case OK, NotFound, CardNotExist, Unknown, Invalid, Duplicate, Cached, OtherShard:
		return true
	}
	return false
}

// OutputStatus is the output's `status` for a row in state s: the internal
// states of a row without a final answer (Pending, Retrying, InDoubt) show
// as Failed; every other state is its own status.
func (s State) OutputStatus() State {
	switch s {
	case Pending, Retrying, InDoubt:
		return Failed
	}
	return s
}

// finalStates is the Final states as an SQL list.
const finalStates = `'ok', 'not_found', 'card_not_exist', 'unknown_result', 'invalid', 'duplicate', 'cached', 'other_shard'`

// intCol scans an INTEGER column into an int. (database/sql scans into an
// *int by formatting the int64 as text and parsing it back.)
type intCol struct{ p *int }

func (c intCol) Scan(v any) error {
	switch x := v.(type) {
	case int64:
		*c.p = int(x)
	case nil:
		*c.p = 0
	default:
		return fmt.Errorf("checkpoint: integer column holds %T", v)
	}
	return nil
}

// Run describes the run a checkpoint belongs to: the input's fingerprint and
// the settings that change answers. A checkpoint holds exactly one run.
type Run struct {
	InputPath    string
	InputSize    int64
	InputModTime time.Time
	InputHash    string // hex SHA-256 of the input file
	Settings     string // human-readable settings (JSON) that change answers
	SettingsHash string
	KeyCheck     string // HMAC of a fixed text under the row key: detects a wrong key
	TotalRows    int    // -1 until the input has been read to the end once
	CreatedAt    time.Time
	FinishedAt   *time.Time
}

// ErrNotReady is returned by OpenReadOnly for a checkpoint whose run has
// not finished creating it yet (an empty database, or one without all its
// tables).
var ErrNotReady = errors.New("the checkpoint is being created and holds no run yet")

// Store is an open checkpoint database.
type Store struct {
	db       *sql.DB
	path     string
	readOnly bool
	journal  *journal // calls in flight; opened by BeginAttempt
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	input_path     TEXT NOT NULL,
	input_size     INTEGER NOT NULL,
	input_mtime_ns INTEGER NOT NULL,
	input_hash     TEXT NOT NULL,
	settings       TEXT NOT NULL,
	settings_hash  TEXT NOT NULL,
	key_check      TEXT NOT NULL,
	total_rows     INTEGER NOT NULL DEFAULT -1,
	created_at     TEXT NOT NULL,
	finished_at    TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
	n             INTEGER PRIMARY KEY,
	started_at    TEXT NOT NULL,
	finished_at   TEXT,
	api_calls     INTEGER NOT NULL DEFAULT 0,
	charged_calls INTEGER NOT NULL DEFAULT 0,
	free_calls    INTEGER NOT NULL DEFAULT 0,
	in_doubt      INTEGER NOT NULL DEFAULT 0,
	unknown_calls INTEGER NOT NULL DEFAULT 0,
	by_result     TEXT NOT NULL DEFAULT '{}',
	by_status     TEXT NOT NULL DEFAULT '{}',
	outcome       TEXT
);
CREATE TABLE IF NOT EXISTS rows (
	idx          INTEGER PRIMARY KEY,
	card_hmac    BLOB,
	state        TEXT NOT NULL,
	dup_of       INTEGER,
	result       TEXT NOT NULL DEFAULT '',
	description  TEXT NOT NULL DEFAULT '',
	account_bank TEXT NOT NULL DEFAULT '',
	account_type INTEGER NOT NULL DEFAULT 0,
	billing      TEXT NOT NULL DEFAULT 'none',
	attempts     INTEGER NOT NULL DEFAULT 0,
	http_status  INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT '',
	attempt_n    INTEGER NOT NULL DEFAULT 0,
	answered_at  INTEGER NOT NULL DEFAULT 0
);
`

// Open opens (creating it 0600 if needed) the checkpoint at path, in WAL
// mode with a busy timeout, and makes sure its schema exists. It fails if
// the PRAGMAs do not take effect. It refuses a checkpoint, or a -wal or -shm
// file beside it, that is a symbolic link, and makes existing ones private
// (0600), or refuses them when it cannot.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := ensureFile(path); err != nil {
		return nil, err
	}
	return open(ctx, path, false)
}

// OpenReadOnly opens an existing checkpoint for reading only (for `status`,
// also while a run writes to it). It never creates or changes the file, and
// refuses one that is a symbolic link (as Open does).
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		exists, err := ownfile.Check(p)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		if !exists && p == path {
			return nil, fmt.Errorf("checkpoint %s: %w", path, fs.ErrNotExist)
		}
	}
	return open(ctx, path, true)
}

// ensureFile creates the checkpoint file, or checks the existing one and the
// files SQLite keeps beside it, before SQLite opens them by name.
func ensureFile(path string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("checkpoint folder %s does not exist: create it or choose another checkpoint path", dir)
	}
	if _, err := ownfile.Prepare(path, true); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	for _, p := range []string{path + "-wal", path + "-shm"} {
		if _, err := ownfile.Prepare(p, false); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
}

func open(ctx context.Context, path string, readOnly bool) (*Store, error) {
	db, err := sqlitedb.Open(ctx, path, readOnly)
	if err != nil {
		return nil, damaged(path, fmt.Errorf("open checkpoint %s: %w", path, err))
	}
	s := &Store{db: db, path: path, readOnly: readOnly}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, damaged(path, fmt.Errorf("open checkpoint %s: %w", path, err))
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	if s.readOnly {
		var v string
		err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='schema'`).Scan(&v)
		if err == nil {
			return nil
		}
		// A run that has just started creates the file, then its tables,
		// then the schema row: until then it holds nothing of its own.
		var others int
		if qerr := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master
			WHERE name NOT IN ('meta', 'run', 'attempts', 'rows') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`).Scan(&others); qerr == nil && others == 0 {
			return ErrNotReady
		}
		return fmt.Errorf("not a cardbatch checkpoint: %w", err)
	}
	var bt int
	if err := s.db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&bt); err != nil {
		return err
	}
	if bt < 1000 {
		return fmt.Errorf("busy_timeout is %d, want >= 1000", bt)
	}
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if err := addAnsweredAt(ctx, s.db); err != nil {
		return fmt.Errorf("upgrade schema: %w", err)
	}
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='schema'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = s.db.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES ('schema', ?)`, SchemaVersion)
		return err
	case err != nil:
		return err
	case v != SchemaVersion:
		return fmt.Errorf("checkpoint schema %s is not supported (want %s): use another checkpoint or start it over", v, SchemaVersion)
	}
	return nil
}

// Path returns the database's file name.
func (s *Store) Path() string { return s.path }

// Close closes the database. Close after a Writer has been closed.
func (s *Store) Close() error {
	jerr := s.journal.close()
	if err := s.db.Close(); err != nil {
		return err
	}
	return jerr
}

// JournalPath returns the file, beside the checkpoint, that holds the rows
// whose calls may be in flight.
func (s *Store) JournalPath() string { return s.path + ".inflight" }

const timeLayout = time.RFC3339Nano

// LoadRun returns the checkpoint's run, or nil when it holds none yet.
func (s *Store) LoadRun(ctx context.Context) (*Run, error) {
	var r Run
	var mtime int64
	var created string
	var finished sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT input_path, input_size, input_mtime_ns, input_hash, settings,
		settings_hash, key_check, total_rows, created_at, finished_at FROM run WHERE id = 1`).Scan(
		&r.InputPath, &r.InputSize, &mtime, &r.InputHash, &r.Settings, &r.SettingsHash, &r.KeyCheck,
		&r.TotalRows, &created, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read run: %w", err)
	}
	r.InputModTime = time.Unix(0, mtime)
	r.CreatedAt, _ = time.Parse(timeLayout, created)
	if finished.Valid {
		t, _ := time.Parse(timeLayout, finished.String)
		r.FinishedAt = &t
	}
	return &r, nil
}

// StartRun replaces whatever the checkpoint holds with a new, empty run.
func (s *Store) StartRun(ctx context.Context, r Run) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM rows`, `DELETE FROM attempts`, `DELETE FROM run`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("reset checkpoint: %w", err)
		}
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO run (id, input_path, input_size, input_mtime_ns, input_hash,
		settings, settings_hash, key_check, total_rows, created_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.InputPath, r.InputSize, r.InputModTime.UnixNano(), r.InputHash, r.Settings, r.SettingsHash,
		r.KeyCheck, r.TotalRows, r.CreatedAt.UTC().Format(timeLayout))
	if err != nil {
		return fmt.Errorf("record run: %w", err)
	}
	// The journal of an earlier run speaks of rows of that run.
	if err := os.Remove(s.JournalPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reset the in-flight journal: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Reclaim the space of a previous run.
	_, _ = s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return nil
}

// UpdateInput records a new path or modification time for the same input
// content (a moved or touched file).
func (s *Store) UpdateInput(ctx context.Context, path string, mtime time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE run SET input_path = ?, input_mtime_ns = ? WHERE id = 1`, path, mtime.UnixNano())
	return err
}

// SetTotalRows records the number of data rows once the input has been read.
func (s *Store) SetTotalRows(ctx context.Context, n int) error {
	_, err := s.db.ExecContext(ctx, `UPDATE run SET total_rows = ? WHERE id = 1`, n)
	return err
}

// SetFinished records (or clears, with nil) when every row got a final state.
func (s *Store) SetFinished(ctx context.Context, t *time.Time) error {
	var v any
	if t != nil {
		v = t.UTC().Format(timeLayout)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE run SET finished_at = ? WHERE id = 1`, v)
	return err
}

// BeginAttempt starts a new attempt (one invocation of `run`) with up to
// slots workers making calls, and returns its number. The rows an attempt
// that died left in flight — in its journal, and rows it left Pending — that
// have no final answer are turned InDoubt (to be re-sent) and counted, as
// in-doubt calls, against that attempt, whose outcome becomes "killed" if it
// had none. inDoubt is that count. The journal is then emptied for this
// attempt's workers (see Writer.Slot).
func (s *Store) BeginAttempt(ctx context.Context, slots int) (n int, inDoubt int64, err error) {
	if s.journal != nil {
		return 0, 0, errors.New("checkpoint: an attempt has already begun on this store")
	}
	j, jAttempt, inflight, err := openJournal(s.JournalPath())
	if err != nil {
		return 0, 0, fmt.Errorf("in-flight journal: %w", err)
	}
	defer func() {
		if err != nil {
			j.close()
		}
	}()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(n) FROM attempts`).Scan(&last); err != nil {
		return 0, 0, err
	}
	// The journal speaks of the last attempt's calls when its header says
	// so (an older number: that attempt's successor committed them as in
	// doubt, then died before emptying it), or, without a header, when it
	// was written by an earlier version.
	if !last.Valid || (jAttempt != 0 && int64(jAttempt) != last.Int64) {
		inflight = nil
	}
	if inDoubt, err = markInDoubt(ctx, tx, inflight, last); err != nil {
		return 0, 0, err
	}
	n = int(last.Int64) + 1
	if _, err := tx.ExecContext(ctx, `INSERT INTO attempts (n, started_at) VALUES (?, ?)`, n, time.Now().UTC().Format(timeLayout)); err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	// The dead attempt's in-flight rows are committed as in doubt: only now
	// may the journal forget them.
	if err := j.reset(slots, n); err != nil {
		return 0, 0, fmt.Errorf("in-flight journal: %w", err)
	}
	s.journal = j
	return n, inDoubt, nil
}

// markInDoubt turns InDoubt the rows without a final answer that the last
// attempt left Pending or in flight, counts them against that attempt and
// marks it killed if it has no outcome. A row in flight that was already in
// doubt had been re-sent by the last attempt: it is counted again.
func markInDoubt(ctx context.Context, tx *sql.Tx, inflight []int, last sql.NullInt64) (int64, error) {
	const why = "a call may have been in flight when an earlier run died"
	res, err := tx.ExecContext(ctx, `UPDATE rows SET state = ?, error = ? WHERE state = ?`, InDoubt, why, Pending)
	if err != nil {
		return 0, err
	}
	inDoubt, _ := res.RowsAffected()
	if len(inflight) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO rows (idx, state, error, attempt_n) VALUES (?, ?, ?, ?)
			ON CONFLICT(idx) DO UPDATE SET state = excluded.state, error = excluded.error
			WHERE rows.state NOT IN (`+finalStates+`)`)
		if err != nil {
			return 0, err
		}
		defer st.Close()
		for _, idx := range inflight {
			res, err := st.ExecContext(ctx, idx, InDoubt, why, last.Int64)
			if err != nil {
				return 0, err
			}
			k, _ := res.RowsAffected()
			inDoubt += k
		}
	}
	if !last.Valid {
		return inDoubt, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE attempts SET in_doubt = in_doubt + ?, api_calls = api_calls + ?,
		outcome = COALESCE(outcome, 'killed') WHERE n = ?`, inDoubt, inDoubt, last.Int64); err != nil {
		return 0, err
	}
	return inDoubt, nil
}

// EndAttempt records how attempt n ended (finished, failed_rows, fatal,
// interrupted, budget).
func (s *Store) EndAttempt(ctx context.Context, n int, outcome string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE attempts SET outcome = ?, finished_at = ? WHERE n = ?`,
		outcome, time.Now().UTC().Format(timeLayout), n)
	return err
}

// SetMeta records a small named value (for instance the stamp of the
// output written last).
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// Meta returns a value recorded by SetMeta, or "" when there is none.
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Done returns the set of row indexes whose state is final.
func (s *Store) Done(ctx context.Context) (*Bitset, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT idx FROM rows WHERE state IN (`+finalStates+`)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	b := &Bitset{}
	var idx int
	for rows.Next() {
		if err := rows.Scan(intCol{&idx}); err != nil {
			return nil, err
		}
		b.Set(idx)
	}
	return b, rows.Err()
}

// Bitset is a growable set of small non-negative integers.
type Bitset struct{ w []uint64 }

// Set adds i to the set.
func (b *Bitset) Set(i int) {
	for i/64 >= len(b.w) {
		b.w = append(b.w, 0)
	}
	b.w[i/64] |= 1 << (uint(i) % 64)
}

// Has reports whether i is in the set.
func (b *Bitset) Has(i int) bool {
	if b == nil || i < 0 || i/64 >= len(b.w) {
		return false
	}
	return b.w[i/64]&(1<<(uint(i)%64)) != 0
}

// Len returns the number of members.
func (b *Bitset) Len() int {
	n := 0
	if b == nil {
		return 0
	}
	for _, w := range b.w {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

package checkpoint

import (
	"context"
	"database/sql"
	"time"
)

// SetInputHash records the input's full hash once it is known (a run starts
// on a quick fingerprint and hashes the whole input beside its calls).
func (s *Store) SetInputHash(ctx context.Context, hash string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE run SET input_hash = ? WHERE id = 1`, hash)
	return err
}

// addAnsweredAt adds the rows' answered_at column to a checkpoint made
// before it existed.
func addAnsweredAt(ctx context.Context, db *sql.DB) error {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('rows') WHERE name = 'answered_at'`).Scan(&n)
	if err != nil || n > 0 {
		return err
	}
	_, err = db.ExecContext(ctx, `ALTER TABLE rows ADD COLUMN answered_at INTEGER NOT NULL DEFAULT 0`)
	return err
}

// unixOrZero stores a time as Unix seconds, 0 for the zero time.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

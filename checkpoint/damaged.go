package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// DamagedError is a checkpoint that SQLite cannot read: not a database at
// all, or a database whose pages are damaged.
type DamagedError struct {
	Path string
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the checkpoint %s is damaged (%v): run the same cardbatch run command with --restart to move it aside "+
		"(as %s.corrupt-TIME) and start over (rows already paid for are sent again unless the answer cache has them), "+
		"or restore the file from a backup", e.Path, e.Err, e.Path)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// IsDamaged reports whether err says a SQLite file is not a database or is
// damaged (SQLITE_NOTADB, SQLITE_CORRUPT), wherever it was wrapped. It goes
// by SQLite's fixed texts for those codes (sqlite3_errstr), which the
// driver puts in its errors, so that it builds without cgo too.
func IsDamaged(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "file is not a database") || strings.Contains(msg, "database disk image is malformed")
}

// damaged wraps err in a *DamagedError when it says the file is damaged.
func damaged(path string, err error) error {
	if err != nil && IsDamaged(err) {
		var de *DamagedError
		if !errors.As(err, &de) {
			return &DamagedError{Path: path, Err: err}
		}
	}
	return err
}

// Check reads the whole checkpoint (SQLite's quick_check) and returns a
// *DamagedError when any of it is damaged.
func (s *Store) Check(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return damaged(s.path, fmt.Errorf("check checkpoint %s: %w", s.path, err))
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return damaged(s.path, err)
		}
		if line != "ok" && len(problems) < 3 {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return damaged(s.path, err)
	}
	if len(problems) > 0 {
		return &DamagedError{Path: s.path, Err: fmt.Errorf("quick_check: %v", problems)}
	}
	return nil
}

// MoveAside renames a damaged checkpoint, and the files SQLite and the run
// keep beside it (-wal, -shm, .inflight), to <path>.corrupt-<time> (with
// the same suffixes), so that a new run can start at path. The key file is
// kept. It returns the new name of the checkpoint.
func MoveAside(path string, now time.Time) (string, error) {
	aside := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	for _, suffix := range []string{"", "-wal", "-shm", ".inflight"} {
		err := os.Rename(path+suffix, aside+suffix)
		if err != nil && !(suffix != "" && errors.Is(err, fs.ErrNotExist)) {
			return "", fmt.Errorf("move the damaged checkpoint aside: %w", err)
		}
	}
	return aside, nil
}

package cache

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"cardbatch/internal/cardkey"
)

// KeyError is a cache whose answers cannot be found with the key at hand:
// its key file is gone, or the key is not the one its answers were stored
// with. Opening such a cache with a new key would miss every lookup and pay
// for every card again, so Open refuses it.
type KeyError struct {
	Path    string // the cache
	KeyPath string // its key file
	Lost    bool   // the key file is missing (else: another key)
}

func (e *KeyError) Error() string {
	what := fmt.Sprintf("the answer cache %s holds answers, but its key file %s is missing", e.Path, e.KeyPath)
	if !e.Lost {
		what = fmt.Sprintf("the answer cache %s holds answers stored with another key than %s (or $%s)",
			e.Path, e.KeyPath, cardkey.KeyEnv)
	}
	return what + ": without that key no cached answer can be found and every card would be paid again. " +
		"Restore the key file to use the cache; or start a fresh cache: delete " + e.Path +
		" (its answers are then lost), or pass another --cache FILE, or --no-cache"
}

// metaKeyCheck names the meta value holding cardkey.KeyCheck of the key the
// cache's answers are stored with.
const metaKeyCheck = "key_check"

// loadKey returns the cache's key and records its check in the cache. A
// key file is created only when the cache holds no answer: a cache with
// answers whose key file is missing, or whose key does not match the check
// it recorded, is a *KeyError. It runs in one write transaction, so that
// runs opening the cache at once agree on one key.
func (c *Cache) loadKey(ctx context.Context) ([]byte, error) {
	tx, err := c.db.BeginTx(ctx, nil) // immediate: see sqlitedb.Open
	if err != nil {
		return nil, fmt.Errorf("answer cache %s: %w", c.name, err)
	}
	defer tx.Rollback()
	key, err := c.keyIn(ctx, tx)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("answer cache %s: %w", c.name, err)
	}
	return key, nil
}

func (c *Cache) keyIn(ctx context.Context, tx *sql.Tx) ([]byte, error) {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("answer cache %s: %w", c.name, err)
	}
	keyPath := c.name + ".key"
	recorded, err := metaValue(ctx, tx, metaKeyCheck)
	if err != nil {
		return nil, fmt.Errorf("answer cache %s: %w", c.name, err)
	}
	var n int
	err = tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM answers) OR EXISTS (SELECT 1 FROM log)`).Scan(&n)
	if err != nil {
		return nil, fmt.Errorf("answer cache %s: %w", c.name, err)
	}
	empty := n == 0
	key, err := cardkey.LoadKey(keyPath, empty)
	if errors.Is(err, fs.ErrNotExist) && !empty && os.Getenv(cardkey.KeyEnv) == "" {
		return nil, &KeyError{Path: c.name, KeyPath: keyPath, Lost: true}
	}
	if err != nil {
		return nil, fmt.Errorf("answer cache key: %w", err)
	}
	check := cardkey.KeyCheck(key)
	switch {
	case recorded == check:
		return key, nil
	case recorded != "" && !empty:
		return nil, &KeyError{Path: c.name, KeyPath: keyPath}
	}
	// A new cache, an empty one, or one made before key checks were kept:
	// its answers (if any) are taken to be under this key.
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, metaKeyCheck, check); err != nil {
		return nil, fmt.Errorf("answer cache %s: %w", c.name, err)
	}
	return key, nil
}

func metaValue(ctx context.Context, tx *sql.Tx, key string) (string, error) {
	var v string
	err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

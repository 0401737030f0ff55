package cache

import (
	"context"
	"database/sql"
)

// prepared returns query ($1-style; put in the cache's dialect here)
// prepared on the database once: the hot statements of lookups, claims
// and answers are not parsed again for every card.
func (c *Cache) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	c.stmtMu.Lock()
	defer c.stmtMu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, c.d.q(query))
	if err != nil {
		return nil, err
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = s
	return s, nil
}

// stmt is prepared's statement for use inside tx.
func (c *Cache) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, s), nil
}

// closeStmts closes the prepared statements.
func (c *Cache) closeStmts() {
	c.stmtMu.Lock()
	defer c.stmtMu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = nil
}

package cache

import (
	"context"
	"database/sql"
)

// stmt returns query (in the cache's dialect) prepared on the database
// once, for use inside tx: the hot statements of claims and answers are not
// parsed again for every card.
func (c *Cache) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	c.stmtMu.Lock()
	s, ok := c.stmts[query]
	if !ok {
		var err error
		if s, err = c.db.PrepareContext(ctx, c.d.q(query)); err != nil {
			c.stmtMu.Unlock()
			return nil, err
		}
		if c.stmts == nil {
			c.stmts = map[string]*sql.Stmt{}
		}
		c.stmts[query] = s
	}
	c.stmtMu.Unlock()
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

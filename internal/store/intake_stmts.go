package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// Prepared statements of the intake connection.
//
// database/sql runs a statement given as text by preparing it, running it
// and finalising it, every time; for SQLite the parse and code generation
// cost more than the run of intake's small statements. The group committer
// prepares each statement text once on its own connection and runs it in
// each batch's transaction (sql.Tx.StmtContext reuses a statement already
// prepared on the transaction's connection).

// maxIntakeStmts bounds the cache: intake runs a fixed, small set of
// statement texts, so the bound is never reached in practice; over it a
// statement runs unprepared.
const maxIntakeStmts = 64

// stmtCache holds statements prepared on one database, by text. Only the
// group committer's goroutine uses it. A statement is prepared between
// transactions (the database has one connection: while a transaction holds
// it, preparing on the database would wait for it forever): a text not yet
// prepared runs unprepared once and is prepared after that transaction.
type stmtCache struct {
	db      *sql.DB
	m       map[string]*sql.Stmt
	missing []string
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// get returns query prepared, or nil when it is not prepared yet.
func (c *stmtCache) get(query string) *sql.Stmt {
	st, ok := c.m[query]
	if !ok && len(c.m)+len(c.missing) < maxIntakeStmts && !slices.Contains(c.missing, query) {
		c.missing = append(c.missing, query)
	}
	return st
}

// prepare prepares the statements run unprepared since the last call; it
// must not be called while a transaction holds the connection.
func (c *stmtCache) prepare(ctx context.Context) error {
	for len(c.missing) > 0 {
		q := c.missing[0]
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("store: intake: prepare: %w", err)
		}
		c.m[q] = st
		c.missing = c.missing[1:]
	}
	c.missing = nil
	return nil
}

func (c *stmtCache) close() {
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// preparedTx is an execer running its statements prepared, in tx.
type preparedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

func (p preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.c.get(query); st != nil {
		return p.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

func (p preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.c.get(query); st != nil {
		return p.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return p.tx.QueryContext(ctx, query, args...)
}

func (p preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.c.get(query); st != nil {
		return p.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}

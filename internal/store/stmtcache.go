package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// stmtCacheSize bounds the statements kept prepared per SQLite connection:
// the store's and River's queries are a fixed set of a few hundred texts,
// so the bound only guards against a caller building texts at run time.
const stmtCacheSize = 512

// openSQLite opens dsn with the registered "sqlite" driver, its
// connections keeping their statements prepared (see cachingConn).
func openSQLite(dsn string) (*sql.DB, error) {
	probe, err := sql.Open("sqlite", dsn) // the registered driver; no connection is made
	if err != nil {
		return nil, err
	}
	d := probe.Driver()
	probe.Close()
	return sql.OpenDB(&cachingConnector{d: d, dsn: dsn}), nil
}

// cachingConnector makes connections of d to dsn, each wrapped in a
// cachingConn.
type cachingConnector struct {
	d   driver.Driver
	dsn string
}

func (c *cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

func (c *cachingConnector) Driver() driver.Driver { return c.d }

// sqliteConn is what the store needs of a SQLite driver connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
}

// sqliteStmt is what the store needs of a driver statement.
type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// sqliteRows is what the driver's rows offer (column types included); a
// cached statement's rows are wrapped only when they offer all of it.
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// cachingConn keeps each query text's statement prepared on its connection
// and reuses it, where database/sql (without an explicit Prepare) has the
// driver parse and plan the text on every call: SQLite's parser was 19-22 %
// of a local run's Go CPU (bench/phases, HOOKCI_CPUPROFILE), most of it
// River's fetch and the dispatcher's per-step writes. A statement whose
// rows are still open (a query run while the rows of the same text are read,
// in one transaction) is not reused: that call prepares a one-off statement
// as before. database/sql uses a connection from one goroutine at a time,
// so the cache needs no lock. SQLite re-prepares a statement by itself when
// the schema changed (sqlite3_prepare_v2).
type cachingConn struct {
	sqliteConn
	stmts map[string]*cachedStmt
}

// cachedStmt is one prepared statement and whether it is in use.
type cachedStmt struct {
	sqliteStmt
	busy bool
}

func newCachingConn(conn driver.Conn) (driver.Conn, error) {
	c, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("store: sqlite driver connection %T lacks a context method", conn)
	}
	return &cachingConn{sqliteConn: c, stmts: map[string]*cachedStmt{}}, nil
}

// stmt returns query's prepared statement marked busy, preparing it on
// first use; nil when it is in use or cannot be kept (the caller then runs
// the query as a one-off).
func (c *cachingConn) stmt(ctx context.Context, query string) *cachedStmt {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil
		}
		s.busy = true
		return s
	}
	if len(c.stmts) >= stmtCacheSize {
		return nil
	}
	ds, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil // the one-off call reports the error
	}
	st, ok := ds.(sqliteStmt)
	if !ok {
		ds.Close()
		return nil
	}
	s := &cachedStmt{sqliteStmt: st, busy: true}
	c.stmts[query] = s
	return s
}

// ExecContext runs query through its kept statement.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s := c.stmt(ctx, query)
	if s == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	defer func() { s.busy = false }()
	return s.ExecContext(ctx, args)
}

// QueryContext runs query through its kept statement; the statement is free
// again when its rows are closed.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.stmt(ctx, query)
	if s == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.QueryContext(ctx, args)
	if err != nil {
		s.busy = false
		return nil, err
	}
	if full, ok := rows.(sqliteRows); ok {
		return &cachedRows{sqliteRows: full, s: s}, nil
	}
	return &plainRows{Rows: rows, s: s}, nil
}

// Close finalizes the kept statements, then closes the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.Close())
		delete(c.stmts, q)
	}
	errs = append(errs, c.sqliteConn.Close())
	return errors.Join(errs...)
}

// ResetSession, IsValid and Ping forward to the driver's connection when it
// has them (database/sql finds them by type assertion on the wrapper).
func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.sqliteConn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.sqliteConn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.sqliteConn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// cachedRows are a kept statement's rows: closing them resets the statement
// (the driver's rows do that for a prepared statement) and frees it.
type cachedRows struct {
	sqliteRows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.sqliteRows.Close()
	if r.s != nil {
		r.s.busy = false
		r.s = nil
	}
	return err
}

// plainRows are a kept statement's rows from a driver whose rows do not
// describe their column types.
type plainRows struct {
	driver.Rows
	s *cachedStmt
}

func (r *plainRows) Close() error {
	err := r.Rows.Close()
	if r.s != nil {
		r.s.busy = false
		r.s = nil
	}
	return err
}

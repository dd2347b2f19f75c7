package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
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
	ds, err := c.PrepareContext(ctx, limitPlannedOnce(query))
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

// limitPlannedOnce returns query with each LIMIT that is a bare bound
// parameter (LIMIT ?, LIMIT ?N) written LIMIT (? + 0), the same number.
// SQLite (3.47 on) reads a bare LIMIT parameter's value while planning and
// marks the statement expired whenever that value changes, so the next step
// parses and plans the whole text again: River's fetch (JobGetAvailable,
// LIMIT the workers free, which changes from one fetch to the next) was
// re-prepared on 5 of its 7 calls in a local run, ~2.5 ms of the process's
// CPU (bench/phases, HOOKCI_CPUPROFILE). An expression is planned without
// its value. Quoted text, quoted names and comments are left as they are.
// For what the store and River bind (integers, NULL) the result is the
// same; only a non-numeric text would differ (an error before, 0 after).
func limitPlannedOnce(query string) string {
	if !strings.Contains(strings.ToUpper(query), "LIMIT") {
		return query
	}
	var b strings.Builder
	last := 0 // query[last:] is not yet copied to b
	for i := 0; i < len(query); {
		switch ch := query[i]; {
		case ch == '\'' || ch == '"' || ch == '`' || ch == '[':
			end := byte(ch)
			if ch == '[' {
				end = ']'
			}
			j := strings.IndexByte(query[i+1:], end)
			if j < 0 {
				return query // unterminated: leave it to SQLite to report
			}
			i += j + 2 // a doubled quote is two quoted runs side by side
		case strings.HasPrefix(query[i:], "--"):
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				i = len(query)
			} else {
				i += j + 1
			}
		case strings.HasPrefix(query[i:], "/*"):
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				return query
			}
			i += j + 4
		case isWordByte(ch):
			j := i
			for j < len(query) && isWordByte(query[j]) {
				j++
			}
			if strings.EqualFold(query[i:j], "LIMIT") {
				if p, q, ok := bareParam(query, j); ok {
					b.WriteString(query[last:p])
					b.WriteString("(" + query[p:q] + " + 0)")
					last = q
					j = q
				}
			}
			i = j
		default:
			i++
		}
	}
	if last == 0 {
		return query
	}
	b.WriteString(query[last:])
	return b.String()
}

// bareParam finds, after the keyword ending at i, a parameter ? or ?N; it
// returns where it starts and ends.
func bareParam(query string, i int) (int, int, bool) {
	for i < len(query) && (query[i] == ' ' || query[i] == '\t' || query[i] == '\n' || query[i] == '\r') {
		i++
	}
	if i >= len(query) || query[i] != '?' {
		return 0, 0, false
	}
	j := i + 1
	for j < len(query) && query[j] >= '0' && query[j] <= '9' {
		j++
	}
	if j < len(query) && isWordByte(query[j]) {
		return 0, 0, false
	}
	return i, j, true
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

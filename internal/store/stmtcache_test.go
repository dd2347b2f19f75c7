package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStmtCacheSemantics runs the cases where reusing a kept statement could
// go wrong, on a real SQLite file through openSQLite, and checks each result
// against what a fresh statement gives: the same text queried again while its
// rows are open (nested, in one transaction), a failed statement then reused,
// a schema change under a kept SELECT *, a query whose context ends while its
// rows are open and is then reused, column types, and the cache bounded.
func TestStmtCacheSemantics(t *testing.T) {
	ctx := context.Background()
	db, err := openSQLite("file:" + filepath.Join(t.TempDir(), "c.db") + "?_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)`,
		`INSERT INTO t (v) VALUES ('a'), ('b'), ('c')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	const sel = `SELECT id, v FROM t WHERE id >= ? ORDER BY id`

	// Nested: the outer rows stay open while the same text runs again.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := tx.QueryContext(ctx, sel, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var id int
		var v string
		if err := outer.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (`+sel+`)`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, sel, id)
		if err != nil {
			t.Fatal(err)
		}
		var first string
		for inner.Next() {
			var iid int
			var iv string
			inner.Scan(&iid, &iv)
			if first == "" {
				first = iv
			}
		}
		inner.Close()
		got = append(got, v+first+string(rune('0'+n)))
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if g, w := strings.Join(got, ","), "aa3,bb2,cc1"; g != w {
		t.Errorf("nested queries of one text: got %s, want %s", g, w)
	}

	// A failed statement, then the same text succeeding.
	const ins = `INSERT INTO t (v) VALUES (?)`
	if _, err := db.ExecContext(ctx, ins, "a"); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("duplicate insert: got %v, want a UNIQUE constraint error", err)
	}
	if _, err := db.ExecContext(ctx, ins, "d"); err != nil {
		t.Errorf("insert after a failed one of the same text: %v", err)
	}

	// A schema change under a kept statement.
	const all = `SELECT * FROM t WHERE id = 1`
	cols := func() string {
		rows, err := db.QueryContext(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, _ := rows.Columns()
		return strings.Join(c, ",")
	}
	if g := cols(); g != "id,v" {
		t.Fatalf("columns: got %s, want id,v", g)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w TEXT`); err != nil {
		t.Fatal(err)
	}
	if g := cols(); g != "id,v,w" {
		t.Errorf("columns of a kept SELECT * after ALTER TABLE: got %s, want id,v,w", g)
	}

	// A context ending while rows are open, then the text reused.
	cctx, cancel := context.WithCancel(ctx)
	rows, err := db.QueryContext(cctx, sel, 1)
	if err != nil {
		t.Fatal(err)
	}
	rows.Next()
	cancel()
	rows.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (`+sel+`)`, 2).Scan(&n); err != nil || n != 3 {
		t.Errorf("count after a cancelled query: got %d, %v; want 3", n, err)
	}
	rows, err = db.QueryContext(ctx, sel, 2)
	if err != nil {
		t.Fatal(err)
	}
	types, err := rows.ColumnTypes()
	if err != nil || len(types) != 2 || types[1].DatabaseTypeName() != "TEXT" {
		t.Errorf("column types of a kept statement: got %v, %v; want 2 with v TEXT", types, err)
	}
	var ids []int
	for rows.Next() {
		var id int
		var v string
		rows.Scan(&id, &v)
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 3 || ids[0] != 2 {
		t.Errorf("reused query after a cancelled one: got ids %v, want [2 3 4]", ids)
	}

	// The cache is bounded: texts past the bound still run.
	for i := range stmtCacheSize + 10 {
		var got int
		if err := db.QueryRowContext(ctx, `SELECT `+strings.Repeat("1+", i)+`0`).Scan(&got); err != nil || got != i {
			t.Fatalf("query %d: got %d, %v; want %d", i, got, err, i)
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Raw(func(dc any) error {
		if c, ok := dc.(*cachingConn); !ok || len(c.stmts) > stmtCacheSize {
			t.Errorf("driver connection %T: want a *cachingConn with at most %d statements", dc, stmtCacheSize)
		}
		return nil
	})
}

// TestLimitPlannedOnce: a LIMIT that is a bare parameter becomes an
// expression of it (SQLite then plans the statement without reading the
// value, so a new value does not re-prepare it); nothing else changes,
// inside quotes and comments included.
func TestLimitPlannedOnce(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT a FROM t LIMIT ?`, `SELECT a FROM t LIMIT (? + 0)`},
		{"SELECT a FROM t\n    LIMIT ?5\n)", "SELECT a FROM t\n    LIMIT (?5 + 0)\n)"},
		{`SELECT a FROM t limit ?2 OFFSET ?3`, `SELECT a FROM t limit (?2 + 0) OFFSET ?3`},
		{`SELECT a FROM t LIMIT ?7 - 1`, `SELECT a FROM t LIMIT (?7 + 0) - 1`},
		{`SELECT a FROM t LIMIT 5`, `SELECT a FROM t LIMIT 5`},
		{`SELECT a FROM t LIMIT :n`, `SELECT a FROM t LIMIT :n`},
		{`SELECT 'LIMIT ?1' FROM t LIMIT ?2`, `SELECT 'LIMIT ?1' FROM t LIMIT (?2 + 0)`},
		{`SELECT 'it''s LIMIT ?' FROM t`, `SELECT 'it''s LIMIT ?' FROM t`},
		{"-- LIMIT ?1\nSELECT \"LIMIT ?\" FROM [LIMIT ?] /* LIMIT ? */ LIMIT ?", "-- LIMIT ?1\nSELECT \"LIMIT ?\" FROM [LIMIT ?] /* LIMIT ? */ LIMIT (? + 0)"},
		{`SELECT nolimit FROM t WHERE x = ?`, `SELECT nolimit FROM t WHERE x = ?`},
		{`SELECT a FROM t LIMIT ?1a`, `SELECT a FROM t LIMIT ?1a`},
		{`SELECT 'unterminated LIMIT ?`, `SELECT 'unterminated LIMIT ?`},
	} {
		if got := limitPlannedOnce(c.in); got != c.want {
			t.Errorf("limitPlannedOnce(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// TestStmtCacheLimitValues: a kept statement with LIMIT ? gives the rows
// each bound value asks for, the value changing from call to call (0, 1,
// 2, back to 1, -1 for no limit, NULL), as a fresh statement would.
func TestStmtCacheLimitValues(t *testing.T) {
	ctx := context.Background()
	db, err := openSQLite("file:" + filepath.Join(t.TempDir(), "c.db") + "?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t (id) VALUES (1), (2), (3)`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		limit any
		want  int
	}{{0, 0}, {1, 1}, {2, 2}, {1, 1}, {int64(3), 3}, {-1, 3}, {2, 2}} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT id FROM t ORDER BY id LIMIT ?)`, c.limit).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("LIMIT %v: %d rows, want %d", c.limit, n, c.want)
		}
	}
	var fresh, kept error
	_, fresh = db.ExecContext(ctx, `SELECT id FROM t LIMIT NULL`)
	_, kept = db.ExecContext(ctx, `SELECT id FROM t LIMIT ?`, nil)
	if (fresh == nil) != (kept == nil) {
		t.Errorf("LIMIT NULL: literal gives %v, a bound NULL through the cache gives %v", fresh, kept)
	}
}

// TestQueueFetchPlannedOnce: River's fetch, as this River sends it, is
// among the texts limitPlannedOnce rewrites (its LIMIT is the number of
// free workers, which changes from one fetch to the next). If River's SQL
// changes shape this fails, and the re-prepare on every fetch would be back.
func TestQueueFetchPlannedOnce(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{MaxJobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	planned := make(chan string, 1)
	if err := s.StartQueue(ctx, Handlers{
		Delivery: func(ctx context.Context, id string) error { planned <- id; return nil },
		Job:      func(ctx context.Context, id int64) error { return nil },
		Report:   func(ctx context.Context, id int64) error { return nil },
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Intake(ctx, Delivery{ID: "d-1", Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
		Payload: []byte(`{}`), Status: DeliveryQueued}, IntakeOptions{Plan: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-planned:
	case <-time.After(60 * time.Second):
		t.Fatal("the delivery was never planned")
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var fetch []string
	if err := conn.Raw(func(dc any) error {
		cc, ok := dc.(*cachingConn)
		if !ok {
			return fmt.Errorf("connection is %T, not a cachingConn", dc)
		}
		for q := range cc.stmts {
			if strings.Contains(q, "JobGetAvailable") {
				fetch = append(fetch, q)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(fetch) == 0 {
		t.Fatal("River's fetch (JobGetAvailable) is not among the connection's kept statements")
	}
	for _, q := range fetch {
		if limitPlannedOnce(q) == q {
			t.Errorf("River's fetch has no bare LIMIT parameter to rewrite any more:\n%s", q)
		}
	}
}

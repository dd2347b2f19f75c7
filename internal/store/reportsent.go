package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// What hookci last told GitHub about a run (each commit status and check
// run state it sent) is kept in the store, so that every host sharing it,
// and the same host after a restart, knows what GitHub has already been
// told. Each host used to remember only what it had sent itself: a run's
// reports are queue jobs that any host may take, so two hosts could each
// send the same final status (GitHub then lists it twice), create a check
// run each for one job, or send an older state after a newer one.

// migrationReportSent (17) adds report_sent: per run, the last value sent
// under each key (a status context or a job's check run).
var migrationReportSent = migration{SQLite: reportSentSQL, Postgres: reportSentSQL}

const reportSentSQL = `CREATE TABLE report_sent (
		run_id BIGINT NOT NULL,
		key    TEXT NOT NULL,
		val    TEXT NOT NULL,
		PRIMARY KEY (run_id, key)
	)`

// ReportsSent returns what was last sent to GitHub for run runID, by key.
func (q *Queries) ReportsSent(ctx context.Context, runID int64) (map[string]string, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT key, val FROM report_sent WHERE run_id = ?`, runID)
	if err != nil {
		return nil, fmt.Errorf("store: reports sent for run %d: %w", runID, err)
	}
	defer rows.Close()
	sent := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		sent[k] = v
	}
	return sent, rows.Err()
}

// SetReportsSent records what was just sent to GitHub for run runID, by
// key, in one statement.
func (q *Queries) SetReportsSent(ctx context.Context, runID int64, sent map[string]string) error {
	if len(sent) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO report_sent (run_id, key, val) VALUES `)
	args := make([]any, 0, 3*len(sent))
	for k, v := range sent {
		if len(args) > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?)")
		args = append(args, runID, k, v)
	}
	b.WriteString(` ON CONFLICT (run_id, key) DO UPDATE SET val = excluded.val`)
	if _, err := q.db.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("store: record reports sent for run %d: %w", runID, err)
	}
	return nil
}

// LockAcrossHosts takes a lock named key that one holder at a time has
// among every host sharing this store, and returns its release. On
// PostgreSQL it is a session advisory lock; a host waiting for it holds
// no connection (it tries again after a pause growing to 100 ms), so
// waiters cannot starve the holder of connections. The lock is also
// released if the holder's connection is lost. SQLite serves one host, so
// there it is a no-op (callers serialise within the process themselves).
func (s *Store) LockAcrossHosts(ctx context.Context, key string) (func(), error) {
	if s.dialect != postgresDialect {
		return func() {}, nil
	}
	h := fnv.New64a()
	h.Write([]byte("hookci lock " + key))
	k := int64(h.Sum64())
	pause := 2 * time.Millisecond
	for {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("store: lock %s: %w", key, err)
		}
		var ok bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, k).Scan(&ok); err != nil {
			conn.Close()
			return nil, fmt.Errorf("store: lock %s: %w", key, err)
		}
		if ok {
			return func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				var released bool
				if err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1)`, k).Scan(&released); err != nil || !released {
					// The session ends with the connection, and its lock with it.
					conn.Raw(func(any) error { return driver.ErrBadConn })
				}
				conn.Close()
			}, nil
		}
		conn.Close()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("store: lock %s: %w", key, context.Cause(ctx))
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

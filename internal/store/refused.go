package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// migrationRefused keeps the webhook requests that made no delivery of
// their own (refused: bad signature, too large, malformed, busy, store
// unavailable; and duplicates), newest first, bounded by the writer
// (AddRefusals prunes), and their counts per hour and outcome, which stay
// right when rows are pruned. No body is ever kept: it is unverified.
var migrationRefused = migration{
	SQLite: `CREATE TABLE refused_webhooks (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		received_at  BIGINT NOT NULL,
		event        TEXT NOT NULL,
		delivery     TEXT NOT NULL,
		outcome      TEXT NOT NULL,
		status       INTEGER NOT NULL,
		reason       TEXT NOT NULL,
		duplicate_of TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE refused_counts (
		hour    BIGINT NOT NULL,
		outcome TEXT NOT NULL,
		n       BIGINT NOT NULL,
		PRIMARY KEY (hour, outcome)
	);`,
	Postgres: `CREATE TABLE refused_webhooks (
		id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		received_at  BIGINT NOT NULL,
		event        TEXT NOT NULL,
		delivery     TEXT NOT NULL,
		outcome      TEXT NOT NULL,
		status       BIGINT NOT NULL,
		reason       TEXT NOT NULL,
		duplicate_of TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE refused_counts (
		hour    BIGINT NOT NULL,
		outcome TEXT NOT NULL,
		n       BIGINT NOT NULL,
		PRIMARY KEY (hour, outcome)
	);`,
}

// Refusal is one webhook request that made no delivery row of its own.
type Refusal struct {
	At       time.Time
	Event    string
	Delivery string
	Outcome  string
	Status   int
	Reason   string
	Of       string // the stored delivery a duplicate repeats
}

// refusedCountsKept is how long hourly counts are kept (the dashboard
// shows 24 hours).
const refusedCountsKept = 48 * time.Hour

// AddRefusals adds rs to the hourly counts and stores the newest write of
// them as rows, in one transaction, and prunes: at most keep rows stay
// (the newest), counts older than two days go.
func (s *Store) AddRefusals(ctx context.Context, rs []Refusal, write, keep int) error {
	if len(rs) == 0 {
		return nil
	}
	return s.InTx(ctx, func(q *Queries) error {
		counts := map[[2]any]int{}
		var newest time.Time
		for _, r := range rs {
			counts[[2]any{r.At.Unix() / 3600, r.Outcome}]++
			if r.At.After(newest) {
				newest = r.At
			}
		}
		// Only the newest write (and keep) rows: the rest are counted.
		if n := min(write, keep); len(rs) > n {
			rs = rs[len(rs)-n:]
		}
		// Many rows per statement (a flood's batches are the common case).
		const per = 100
		for len(rs) > 0 {
			n := min(len(rs), per)
			var b strings.Builder
			b.WriteString(`INSERT INTO refused_webhooks (received_at, event, delivery, outcome, status, reason, duplicate_of) VALUES `)
			args := make([]any, 0, 7*n)
			for i, r := range rs[:n] {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
				args = append(args, ms(r.At), r.Event, r.Delivery, r.Outcome, r.Status, r.Reason, r.Of)
			}
			if _, err := q.db.ExecContext(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("store: refused webhook: %w", err)
			}
			rs = rs[n:]
		}
		for k, n := range counts {
			if _, err := q.db.ExecContext(ctx, `INSERT INTO refused_counts (hour, outcome, n) VALUES (?, ?, ?)
				ON CONFLICT (hour, outcome) DO UPDATE SET n = refused_counts.n + excluded.n`, k[0], k[1], n); err != nil {
				return fmt.Errorf("store: refused counts: %w", err)
			}
		}
		var maxID int64
		if err := q.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM refused_webhooks`).Scan(&maxID); err != nil {
			return fmt.Errorf("store: refused webhooks: %w", err)
		}
		if _, err := q.db.ExecContext(ctx, `DELETE FROM refused_webhooks WHERE id <= ?`, maxID-int64(keep)); err != nil {
			return fmt.Errorf("store: prune refused webhooks: %w", err)
		}
		if _, err := q.db.ExecContext(ctx, `DELETE FROM refused_counts WHERE hour < ?`, newest.Add(-refusedCountsKept).Unix()/3600); err != nil {
			return fmt.Errorf("store: prune refused counts: %w", err)
		}
		return nil
	})
}

// Refusals returns the newest refused or duplicate webhook requests, at
// most limit.
func (q *Queries) Refusals(ctx context.Context, limit int) ([]Refusal, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT received_at, event, delivery, outcome, status, reason, duplicate_of
		FROM refused_webhooks ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: refused webhooks: %w", err)
	}
	defer rows.Close()
	var out []Refusal
	for rows.Next() {
		var r Refusal
		var at int64
		if err := rows.Scan(&at, &r.Event, &r.Delivery, &r.Outcome, &r.Status, &r.Reason, &r.Of); err != nil {
			return nil, fmt.Errorf("store: refused webhooks: %w", err)
		}
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RefusedCounts returns the refused and duplicate requests by outcome of
// the hours from since's on.
func (q *Queries) RefusedCounts(ctx context.Context, since time.Time) (map[string]int, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT outcome, CAST(SUM(n) AS BIGINT) FROM refused_counts WHERE hour >= ? GROUP BY outcome`, since.Unix()/3600)
	if err != nil {
		return nil, fmt.Errorf("store: refused counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var o string
		var n int64
		if err := rows.Scan(&o, &n); err != nil {
			return nil, fmt.Errorf("store: refused counts: %w", err)
		}
		out[o] = int(n)
	}
	return out, rows.Err()
}

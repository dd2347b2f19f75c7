package store

import (
	"context"
	"fmt"
	"strings"
)

// copyTable is one table Copy moves, in an order that satisfies the
// foreign keys, with the columns both dialects have.
type copyTable struct {
	name, columns, order string
	bools                []string // 0/1 on SQLite, BOOLEAN on PostgreSQL
}

var copyTables = []copyTable{
	// deliveries: order "" is the source dialect's insertion order.
	{name: "deliveries", columns: "id, event, action, repo, sha, received_at, payload, status, message, fingerprint"},
	{name: "runs", columns: runColumns, order: "id", bools: []string{"cancel_in_progress"}},
	{name: "jobs", columns: jobColumns, order: "id", bools: []string{"cancel_in_progress"}},
	{name: "steps", columns: "job_id, idx, name, status, outcome, conclusion, started_at, finished_at", order: "job_id, idx"},
	{name: "log_chunks", columns: "job_id, seq, step_idx, data, line_times", order: "job_id, seq"},
	{name: "run_counters", columns: "repo, workflow, next", order: "repo, workflow"},
	// What the scheduler and GitHub's workflow states need: without them a
	// copied installation's crons would stop until the next push to each
	// default branch, a slot fired on the source could fire again, and a
	// disabled workflow would run again.
	{name: "schedules", columns: "repo, workflow_file, cron, timezone, workflow_name, registered_at, last_fired, next_at, actor",
		order: "repo, workflow_file, cron, timezone"},
	{name: "schedule_repos", columns: "repo, default_branch, sha, updated_at, workflow_run_names, trigger_events", order: "repo"},
	{name: "workflow_run_events", columns: "run_id, attempt, action, delivery_id", order: "run_id, attempt, action"},
	{name: "periodic_claims", columns: "name, last_run, host", order: "name"},
	{name: "workflow_states", columns: "repo, workflow_file, state, updated_at", order: "repo, workflow_file"},
	{name: "repo_activity", columns: "repo, last_activity, public", order: "repo", bools: []string{"public"}},
	// The refused-webhook record: rows get new ids in the same order.
	{name: "refused_webhooks", columns: "received_at, event, delivery, outcome, status, reason, duplicate_of", order: "id"},
	{name: "refused_counts", columns: "hour, outcome, n", order: "hour, outcome"},
	{name: "report_sent", columns: "run_id, key, val", order: "run_id, key"},
}

// CopyStats counts the rows Copy moved, per table, and the queue work it
// queued again.
type CopyStats struct {
	Rows     map[string]int
	Requeued int
}

// Copy moves an installation's history from one store to another (SQLite
// to PostgreSQL when an installation grows to several hosts): deliveries,
// runs, jobs, steps, logs and run numbers, keeping ids; schedules and the
// slots they fired, workflow states and repository activity, and the
// refused-webhook record (copyTables; not the hosts, which register anew). dst must hold no
// deliveries or runs; everything is written in one transaction. Work that
// was not finished is queued again on dst: deliveries not yet planned, and
// jobs queued or in progress (the latter run again from scratch, as after
// a restart). Neither store's queue may be running.
func Copy(ctx context.Context, src, dst *Store) (CopyStats, error) {
	stats := CopyStats{Rows: map[string]int{}}
	var n int
	if err := dst.Queries().db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM deliveries) + (SELECT COUNT(*) FROM runs)`).Scan(&n); err != nil {
		return stats, fmt.Errorf("store copy: %w", err)
	}
	if n > 0 {
		return stats, fmt.Errorf("store copy: the destination already holds %d deliveries and runs: copy into an empty database", n)
	}
	err := dst.InTx(ctx, func(q *Queries) error {
		for _, t := range copyTables {
			c, err := copyRows(ctx, src, q, t)
			stats.Rows[t.name] = c
			if err != nil {
				return fmt.Errorf("store copy: %s: %w", t.name, err)
			}
		}
		if dst.dialect == postgresDialect { // identities continue after the copied ids
			for _, t := range []string{"runs", "jobs"} {
				if _, err := q.db.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'),
					GREATEST((SELECT COALESCE(MAX(id), 0) FROM `+t+`), 1))`); err != nil {
					return fmt.Errorf("store copy: %s ids: %w", t, err)
				}
			}
		}
		var err error
		stats.Requeued, err = requeueUnfinished(ctx, q)
		return err
	})
	if err != nil {
		return stats, err
	}
	return stats, nil
}

// copyRows copies one table's rows from src into q's store.
func copyRows(ctx context.Context, src *Store, q *Queries, t copyTable) (int, error) {
	order := t.order
	if order == "" {
		order = src.dialect.deliveryOrder()
	}
	rows, err := src.Queries().db.QueryContext(ctx, `SELECT `+t.columns+` FROM `+t.name+` ORDER BY `+order)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols := strings.Split(t.columns, ",")
	isBool := make([]bool, len(cols))
	for i, c := range cols {
		cols[i] = strings.TrimSpace(c)
		for _, b := range t.bools {
			isBool[i] = isBool[i] || cols[i] == b
		}
	}
	insert := `INSERT INTO ` + t.name + ` (` + t.columns + `) VALUES (?` + strings.Repeat(", ?", len(cols)-1) + `)`
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, v := range vals {
			if isBool[i] {
				vals[i] = truthy(v)
			}
		}
		if _, err := q.db.ExecContext(ctx, insert, vals...); err != nil {
			return n, fmt.Errorf("row %d: %w", n+1, err)
		}
		n++
	}
	return n, rows.Err()
}

// truthy is a flag read from either dialect as a bool.
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case int64:
		return v != 0
	default:
		return false
	}
}

// requeueUnfinished queues the planning of deliveries not yet planned and
// the jobs queued or in progress.
func requeueUnfinished(ctx context.Context, q *Queries) (int, error) {
	ids, err := queryAll(ctx, q.db, func(sc interface{ Scan(...any) error }) (string, error) {
		var id string
		return id, sc.Scan(&id)
	}, `SELECT id FROM deliveries WHERE status = ?`, DeliveryQueued)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := q.enqueuePlan(ctx, id); err != nil {
			return 0, err
		}
	}
	jobs, err := queryAll(ctx, q.db, func(sc interface{ Scan(...any) error }) (int64, error) {
		var id int64
		return id, sc.Scan(&id)
	}, `SELECT id FROM jobs WHERE status IN (?, ?) ORDER BY id`, StatusQueued, StatusInProgress)
	if err != nil {
		return 0, err
	}
	for _, id := range jobs {
		if err := q.EnqueueJob(ctx, id); err != nil {
			return 0, err
		}
	}
	return len(ids) + len(jobs), nil
}

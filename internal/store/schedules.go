package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// scheduleMigration adds the schedule of each repository's default branch
// (one row per workflow cron, with when it last fired and fires next), the
// repositories whose schedule is known, and the workflow_run events already
// sent for each run attempt. Plain SQL both SQLite and PostgreSQL take;
// times are Unix milliseconds (BIGINT).
const scheduleMigration = `CREATE TABLE schedules (
		repo          TEXT NOT NULL,
		workflow_file TEXT NOT NULL,
		cron          TEXT NOT NULL,
		timezone      TEXT NOT NULL DEFAULT '',
		workflow_name TEXT NOT NULL DEFAULT '',
		registered_at BIGINT NOT NULL,
		last_fired    BIGINT NOT NULL DEFAULT 0,
		next_at       BIGINT NOT NULL DEFAULT 0,
		actor         TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (repo, workflow_file, cron, timezone)
	);
	CREATE TABLE schedule_repos (
		repo           TEXT PRIMARY KEY,
		default_branch TEXT NOT NULL,
		sha            TEXT NOT NULL,
		updated_at     BIGINT NOT NULL,
		workflow_run_names TEXT NOT NULL DEFAULT '',
		trigger_events TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE workflow_run_events (
		run_id      BIGINT NOT NULL,
		attempt     INTEGER NOT NULL,
		action      TEXT NOT NULL,
		delivery_id TEXT NOT NULL,
		PRIMARY KEY (run_id, attempt, action)
	);`

// Schedule is one cron of a workflow on a repository's default branch.
type Schedule struct {
	Repo         string
	WorkflowFile string
	WorkflowName string
	Cron         string
	Timezone     string // IANA name; "" is UTC
	// RegisteredAt is when the cron first appeared; a schedule that never
	// fired counts its matches from then.
	RegisteredAt time.Time
	LastFired    time.Time // zero: never
	NextAt       time.Time // zero: never (a cron that matches no date)
	// Actor is who pushed the commit that added the cron (GitHub's actor
	// of scheduled runs); kept while the cron stays.
	Actor string
}

// ScheduleRepo is a repository whose schedule hookci knows: its default
// branch and the commit the schedule was read from.
type ScheduleRepo struct {
	Repo, DefaultBranch, SHA string
	UpdatedAt                time.Time
}

// ReplaceSchedules makes entries the schedule of repo as read from sha of its
// default branch: crons no longer there are removed, new ones registered at
// now, and those that remain keep when they last fired.
func (q *Queries) ReplaceSchedules(ctx context.Context, repo, defaultBranch, sha string, entries []Schedule, now time.Time) error {
	if _, err := q.db.ExecContext(ctx, `INSERT INTO schedule_repos (repo, default_branch, sha, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (repo) DO UPDATE SET default_branch = excluded.default_branch, sha = excluded.sha, updated_at = excluded.updated_at`,
		repo, defaultBranch, sha, ms(now)); err != nil {
		return fmt.Errorf("store: schedule repository: %w", err)
	}
	old, err := q.Schedules(ctx, repo)
	if err != nil {
		return err
	}
	keep := map[[3]string]bool{}
	for _, e := range entries {
		keep[[3]string{e.WorkflowFile, e.Cron, e.Timezone}] = true
		if _, err := q.db.ExecContext(ctx, `INSERT INTO schedules (repo, workflow_file, cron, timezone, workflow_name, registered_at, next_at, actor)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (repo, workflow_file, cron, timezone) DO UPDATE SET workflow_name = excluded.workflow_name`,
			repo, e.WorkflowFile, e.Cron, e.Timezone, e.WorkflowName, ms(now), ms(e.NextAt), e.Actor); err != nil {
			return fmt.Errorf("store: add schedule: %w", err)
		}
	}
	for _, o := range old {
		if keep[[3]string{o.WorkflowFile, o.Cron, o.Timezone}] {
			continue
		}
		if _, err := q.db.ExecContext(ctx, `DELETE FROM schedules WHERE repo = ? AND workflow_file = ? AND cron = ? AND timezone = ?`,
			repo, o.WorkflowFile, o.Cron, o.Timezone); err != nil {
			return fmt.Errorf("store: remove schedule: %w", err)
		}
	}
	return nil
}

// Schedules lists the schedules of repo ("" for every repository).
func (q *Queries) Schedules(ctx context.Context, repo string) ([]Schedule, error) {
	where, args := "", []any{}
	if repo != "" {
		where, args = "WHERE repo = ?", append(args, repo)
	}
	rows, err := q.db.QueryContext(ctx, `SELECT repo, workflow_file, workflow_name, cron, timezone, registered_at, last_fired, next_at, actor
		FROM schedules `+where+` ORDER BY repo, workflow_file, cron, timezone`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list schedules: %w", err)
	}
	defer rows.Close()
	var out []Schedule
	for rows.Next() {
		var s Schedule
		var reg, last, next int64
		if err := rows.Scan(&s.Repo, &s.WorkflowFile, &s.WorkflowName, &s.Cron, &s.Timezone, &reg, &last, &next, &s.Actor); err != nil {
			return nil, fmt.Errorf("store: list schedules: %w", err)
		}
		s.RegisteredAt, s.LastFired, s.NextAt = fromMS(reg), fromMS(last), fromMS(next)
		out = append(out, s)
	}
	return out, rows.Err()
}

// ScheduleRepos lists the repositories whose schedule is known.
func (q *Queries) ScheduleRepos(ctx context.Context) ([]ScheduleRepo, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT repo, default_branch, sha, updated_at FROM schedule_repos ORDER BY repo`)
	if err != nil {
		return nil, fmt.Errorf("store: list schedule repositories: %w", err)
	}
	defer rows.Close()
	var out []ScheduleRepo
	for rows.Next() {
		var r ScheduleRepo
		var at int64
		if err := rows.Scan(&r.Repo, &r.DefaultBranch, &r.SHA, &at); err != nil {
			return nil, fmt.Errorf("store: list schedule repositories: %w", err)
		}
		r.UpdatedAt = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ClaimSchedule records that s fires for the time at, unless another
// scheduler (another host on the same database) did since s was read: the
// row changes only while last_fired still holds s.LastFired. It reports
// whether this caller won the claim; only the winner may start the run.
func (q *Queries) ClaimSchedule(ctx context.Context, s Schedule, at, next time.Time) (bool, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE schedules SET last_fired = ?, next_at = ?
		WHERE repo = ? AND workflow_file = ? AND cron = ? AND timezone = ? AND last_fired = ?`,
		ms(at), ms(next), s.Repo, s.WorkflowFile, s.Cron, s.Timezone, ms(s.LastFired))
	if err != nil {
		return false, fmt.Errorf("store: claim schedule: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim schedule: %w", err)
	}
	return n == 1, nil
}

// SetScheduleNext records when s fires next.
func (q *Queries) SetScheduleNext(ctx context.Context, s Schedule, next time.Time) error {
	_, err := q.db.ExecContext(ctx, `UPDATE schedules SET next_at = ? WHERE repo = ? AND workflow_file = ? AND cron = ? AND timezone = ?`,
		ms(next), s.Repo, s.WorkflowFile, s.Cron, s.Timezone)
	if err != nil {
		return fmt.Errorf("store: schedule next: %w", err)
	}
	return nil
}

// ClaimWorkflowRunEvent records that the workflow_run event action of a run
// attempt is being sent as delivery deliveryID (insert if not exists). It
// reports whether this caller claimed it: each action is sent once.
func (q *Queries) ClaimWorkflowRunEvent(ctx context.Context, runID int64, attempt int, action, deliveryID string) (bool, error) {
	res, err := q.db.ExecContext(ctx, `INSERT INTO workflow_run_events (run_id, attempt, action, delivery_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (run_id, attempt, action) DO NOTHING`, runID, attempt, action, deliveryID)
	if err != nil {
		return false, fmt.Errorf("store: claim workflow_run event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim workflow_run event: %w", err)
	}
	return n == 1, nil
}

// AddDeliveryTx stores a delivery hookci made itself (a schedule firing, a
// workflow_run event) and queues its planning, inside q's transaction. An id
// that exists already is left alone (duplicate=true).
func (q *Queries) AddDeliveryTx(ctx context.Context, d Delivery) (duplicate bool, err error) {
	if q.tx == nil {
		return false, fmt.Errorf("store: AddDeliveryTx outside a transaction")
	}
	res, err := q.db.ExecContext(ctx, `INSERT INTO deliveries (id, event, action, repo, sha, received_at, payload, status, message, fingerprint)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '') ON CONFLICT (id) DO NOTHING`,
		d.ID, d.Event, d.Action, d.Repo, d.SHA, ms(d.ReceivedAt), d.Payload, DeliveryQueued, d.Message)
	if err != nil {
		return false, fmt.Errorf("store: add delivery: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: add delivery: %w", err)
	}
	if n == 0 {
		return true, nil
	}
	return false, q.enqueuePlan(ctx, d.ID)
}

// SetWorkflowRunListeners records the workflow names that repo's default
// branch workflows list under on.workflow_run.workflows, and the events
// those workflows run on.
func (q *Queries) SetWorkflowRunListeners(ctx context.Context, repo string, names, events []string) error {
	_, err := q.db.ExecContext(ctx, `UPDATE schedule_repos SET workflow_run_names = ?, trigger_events = ? WHERE repo = ?`,
		strings.Join(names, "\n"), strings.Join(events, "\n"), repo)
	if err != nil {
		return fmt.Errorf("store: workflow_run listeners: %w", err)
	}
	return nil
}

// WorkflowRunListeners returns what SetWorkflowRunListeners recorded for
// repo; known is false when repo's default branch was never read.
func (q *Queries) WorkflowRunListeners(ctx context.Context, repo string) (names []string, known bool, err error) {
	var s string
	err = q.db.QueryRowContext(ctx, `SELECT workflow_run_names FROM schedule_repos WHERE repo = ?`, repo).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: workflow_run listeners: %w", err)
	}
	if s != "" {
		names = strings.Split(s, "\n")
	}
	return names, true, nil
}

// RecentPayloads returns the payloads of repo's latest n deliveries, newest
// first (the scheduler reads the default branch's name from them).
func (q *Queries) RecentPayloads(ctx context.Context, repo string, n int) ([][]byte, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT payload FROM deliveries WHERE repo = ? ORDER BY received_at DESC LIMIT ?`, repo, n)
	if err != nil {
		return nil, fmt.Errorf("store: recent payloads: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("store: recent payloads: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// TriggerEvents returns the events repo's default branch workflows run on,
// as SetWorkflowRunListeners recorded them; known is false when the
// default branch was never read.
func (q *Queries) TriggerEvents(ctx context.Context, repo string) (events []string, known bool, err error) {
	var s string
	err = q.db.QueryRowContext(ctx, `SELECT trigger_events FROM schedule_repos WHERE repo = ?`, repo).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: trigger events: %w", err)
	}
	if s != "" {
		events = strings.Split(s, "\n")
	}
	return events, true, nil
}

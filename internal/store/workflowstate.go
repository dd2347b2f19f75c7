package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Workflow states, GitHub's names ("Get a workflow": state). A workflow
// without a row is active; an active row says when it was enabled again.
const (
	WorkflowActive             = "active"
	WorkflowDisabledManually   = "disabled_manually"
	WorkflowDisabledInactivity = "disabled_inactivity"
)

// migrationWorkflowStates adds the workflows an operator (or the 60-day
// inactivity rule) disabled, and each repository's last activity (its last
// push) and visibility, which that rule reads. Times are Unix milliseconds.
var migrationWorkflowStates = migration{
	SQLite: `CREATE TABLE workflow_states (
		repo          TEXT NOT NULL,
		workflow_file TEXT NOT NULL,
		state         TEXT NOT NULL,
		updated_at    BIGINT NOT NULL,
		PRIMARY KEY (repo, workflow_file)
	);
	CREATE TABLE repo_activity (
		repo          TEXT PRIMARY KEY,
		last_activity BIGINT NOT NULL,
		public        INTEGER NOT NULL DEFAULT 0
	);`,
	Postgres: `CREATE TABLE workflow_states (
		repo          TEXT NOT NULL,
		workflow_file TEXT NOT NULL,
		state         TEXT NOT NULL,
		updated_at    BIGINT NOT NULL,
		PRIMARY KEY (repo, workflow_file)
	);
	CREATE TABLE repo_activity (
		repo          TEXT PRIMARY KEY,
		last_activity BIGINT NOT NULL,
		public        BOOLEAN NOT NULL DEFAULT FALSE
	);`,
}

// WorkflowState is a workflow's stored state.
type WorkflowState struct {
	State     string
	UpdatedAt time.Time
}

// Disabled reports whether the state keeps the workflow from running.
func (s WorkflowState) Disabled() bool { return s.State != "" && s.State != WorkflowActive }

// WorkflowStates returns repo's workflow states by file path: the disabled
// ones, and the active ones that were enabled again (UpdatedAt: when); a
// workflow not in the map is active.
func (q *Queries) WorkflowStates(ctx context.Context, repo string) (map[string]WorkflowState, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT workflow_file, state, updated_at FROM workflow_states WHERE repo = ?`, repo)
	if err != nil {
		return nil, fmt.Errorf("store: workflow states: %w", err)
	}
	defer rows.Close()
	out := map[string]WorkflowState{}
	for rows.Next() {
		var f string
		var s WorkflowState
		var at int64
		if err := rows.Scan(&f, &s.State, &at); err != nil {
			return nil, fmt.Errorf("store: workflow states: %w", err)
		}
		s.UpdatedAt = fromMS(at)
		out[f] = s
	}
	return out, rows.Err()
}

// SetWorkflowState records file's state in repo at now. Enabling a
// disabled workflow keeps an active row saying when (its schedule counts
// from then: no run for a slot it was disabled in) and counts as activity
// for the inactivity rule (GitHub's enable starts its 60 days again);
// enabling an active one changes nothing.
func (q *Queries) SetWorkflowState(ctx context.Context, repo, file, state string, now time.Time) error {
	var err error
	switch state {
	case WorkflowActive:
		var res sql.Result
		res, err = q.db.ExecContext(ctx, `UPDATE workflow_states SET state = ?, updated_at = ? WHERE repo = ? AND workflow_file = ? AND state <> ?`,
			WorkflowActive, ms(now), repo, file, WorkflowActive)
		if err == nil {
			if n, _ := res.RowsAffected(); n > 0 {
				_, err = q.db.ExecContext(ctx, `UPDATE repo_activity SET last_activity = ? WHERE repo = ? AND last_activity < ?`,
					ms(now), repo, ms(now))
			}
		}
	case WorkflowDisabledManually, WorkflowDisabledInactivity:
		_, err = q.db.ExecContext(ctx, `INSERT INTO workflow_states (repo, workflow_file, state, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (repo, workflow_file) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
			repo, file, state, ms(now))
	default:
		return fmt.Errorf("store: unknown workflow state %q", state)
	}
	if err != nil {
		return fmt.Errorf("store: set workflow state: %w", err)
	}
	return nil
}

// DisableInactiveWorkflow marks file disabled for inactivity unless it is
// disabled already (a manual disable stays manual). It reports whether this
// call changed it (two schedulers: one logs it).
func (q *Queries) DisableInactiveWorkflow(ctx context.Context, repo, file string, now time.Time) (bool, error) {
	res, err := q.db.ExecContext(ctx, `INSERT INTO workflow_states (repo, workflow_file, state, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (repo, workflow_file) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
		WHERE workflow_states.state = ?`, repo, file, WorkflowDisabledInactivity, ms(now), WorkflowActive)
	if err != nil {
		return false, fmt.Errorf("store: disable inactive workflow: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: disable inactive workflow: %w", err)
	}
	return n == 1, nil
}

// NoteRepoActivity records what a delivery from repo says at at: activity
// (a push) moves last_activity forward (never back), public (nil: the
// delivery does not say) the visibility. A repository seen for the first
// time counts its activity from then.
func (q *Queries) NoteRepoActivity(ctx context.Context, repo string, public *bool, at time.Time, activity bool) error {
	pub, keep := false, 1
	if public != nil {
		pub, keep = *public, 0
	}
	act := 0
	if activity {
		act = 1
	}
	_, err := q.db.ExecContext(ctx, `INSERT INTO repo_activity (repo, last_activity, public) VALUES (?, ?, ?)
		ON CONFLICT (repo) DO UPDATE SET
			public = CASE WHEN ? = 1 THEN repo_activity.public ELSE excluded.public END,
			last_activity = CASE WHEN ? = 1 AND excluded.last_activity > repo_activity.last_activity
				THEN excluded.last_activity ELSE repo_activity.last_activity END`,
		repo, ms(at), pub, keep, act)
	if err != nil {
		return fmt.Errorf("store: repository activity: %w", err)
	}
	return nil
}

// RepoActivity returns repo's last recorded activity and visibility; known
// is false when none was ever recorded.
func (q *Queries) RepoActivity(ctx context.Context, repo string) (last time.Time, public, known bool, err error) {
	var at int64
	err = q.db.QueryRowContext(ctx, `SELECT last_activity, public FROM repo_activity WHERE repo = ?`, repo).Scan(&at, &public)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, false, nil
	}
	if err != nil {
		return time.Time{}, false, false, fmt.Errorf("store: repository activity: %w", err)
	}
	return fromMS(at), public, true, nil
}

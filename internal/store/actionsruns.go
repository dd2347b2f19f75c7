package store

import (
	"context"
	"fmt"
	"strings"
)

// The Actions-shaped runs list (internal/web's GET …/actions/runs): the
// latest attempt of each run, filtered as GitHub filters, paged by offset,
// with the total. Every filter is answered from an index with the
// repository first (migrationJobLabels adds them), and "latest attempt" is
// a probe of runs_attempts per row, so a page reads the page's runs and the
// total reads the matching index entries, never the whole table.

// ActionsRunFilter narrows the Actions runs list; "" fields do not filter.
// Status is a status or a conclusion, as GitHub's ?status=.
type ActionsRunFilter struct {
	// Repos are the repositories to list (exact names); nil lists every
	// repository, an empty non-nil slice none.
	Repos                             []string
	Branch, Event, Status, Actor, SHA string
}

// runsListIndexes index the Actions runs list's filters under a repository
// and the latest-attempt probe.
const runsListIndexes = `CREATE INDEX runs_attempts ON runs(repo, workflow_file, run_number, attempt);
	CREATE INDEX runs_repo_event_id ON runs(repo, event, id);
	CREATE INDEX runs_repo_status_id ON runs(repo, status, id);
	CREATE INDEX runs_repo_conclusion_id ON runs(repo, conclusion, id);
	CREATE INDEX runs_repo_actor_id ON runs(repo, lower(actor), id);`

// latestAttempt keeps only the latest attempt of each run.
const latestAttempt = `NOT EXISTS (SELECT 1 FROM runs n WHERE n.repo = runs.repo AND n.workflow_file = runs.workflow_file
	AND n.run_number = runs.run_number AND n.attempt > runs.attempt)`

// actionsRunsWhere is the list's WHERE clause and its arguments.
func actionsRunsWhere(f ActionsRunFilter) (string, []any) {
	conds := []string{latestAttempt}
	var args []any
	add := func(cond string, v any) {
		conds = append(conds, cond)
		args = append(args, v)
	}
	if f.Repos != nil {
		if len(f.Repos) == 0 {
			conds = append(conds, "1 = 0")
		} else {
			conds = append(conds, "repo IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.Repos)), ", ")+")")
			for _, r := range f.Repos {
				args = append(args, r)
			}
		}
	}
	if f.Branch != "" {
		add("branch = ?", f.Branch)
	}
	if f.Event != "" {
		add("event = ?", f.Event)
	}
	switch f.Status {
	case "":
	case StatusQueued, StatusInProgress, StatusCompleted, StatusWaiting, StatusPending, "requested":
		add("status = ?", f.Status)
	default:
		add("status = ?", StatusCompleted)
		add("conclusion = ?", f.Status)
	}
	if f.Actor != "" { // GitHub logins are ASCII and case-insensitive
		add("lower(actor) = ?", strings.ToLower(f.Actor))
	}
	if f.SHA != "" {
		add("sha = ?", strings.ToLower(f.SHA))
	}
	return "WHERE " + strings.Join(conds, " AND "), args
}

// ActionsRuns returns up to limit runs matching f after skipping offset,
// newest first, the latest attempt of each, and how many match in all.
func (q *Queries) ActionsRuns(ctx context.Context, f ActionsRunFilter, offset, limit int) ([]RunItem, int, error) {
	where, args := actionsRunsWhere(f)
	var total int
	if err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM runs `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count runs: %w", err)
	}
	if offset >= total {
		return []RunItem{}, total, nil
	}
	items, err := queryAll(ctx, q.db, scanRunItem, `SELECT `+runItemColumns+` FROM runs `+where+
		` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list runs: %w", err)
	}
	return items, total, nil
}

// RunRepos lists the repositories that have runs.
func (q *Queries) RunRepos(ctx context.Context) ([]string, error) {
	return queryAll(ctx, q.db, func(sc interface{ Scan(...any) error }) (string, error) {
		var s string
		return s, sc.Scan(&s)
	}, `SELECT DISTINCT repo FROM runs ORDER BY repo`)
}

package store

import (
	"context"
	"fmt"
	"time"
)

// WaitError, returned by a job handler, gives the queue job back to the
// queue to be offered again after After, to any host; it is not counted as
// an attempt. Placement returns it for a job this host does not serve or
// that would exceed its repository's fair share.
type WaitError struct {
	After  time.Duration
	Reason string
}

func (e *WaitError) Error() string { return "job waits: " + e.Reason }

// RepoLoad is one repository's jobs that hold or want a sandbox.
type RepoLoad struct {
	Running int // in progress, on any host
	Queued  int // queued for a sandbox, not yet started
}

// WaitingForHost starts the message of a job that waits for a host serving
// its labels.
const WaitingForHost = "waiting for a host serving"

// RepoLoads counts the running and queued jobs of every repository that
// has any, across all hosts; a job waiting for a host serving its labels
// (message WaitingForHost…) is not counted, since no slot could take it.
func (q *Queries) RepoLoads(ctx context.Context) (map[string]RepoLoad, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT r.repo, j.status, COUNT(*) FROM jobs j JOIN runs r ON r.id = j.run_id
		WHERE j.status IN (?, ?) AND j.message NOT LIKE ? GROUP BY r.repo, j.status`, StatusQueued, StatusInProgress,
		WaitingForHost+"%")
	if err != nil {
		return nil, fmt.Errorf("store: repository loads: %w", err)
	}
	defer rows.Close()
	out := map[string]RepoLoad{}
	for rows.Next() {
		var repo, status string
		var n int
		if err := rows.Scan(&repo, &status, &n); err != nil {
			return nil, fmt.Errorf("store: repository loads: %w", err)
		}
		l := out[repo]
		if status == StatusQueued {
			l.Queued = n
		} else {
			l.Running = n
		}
		out[repo] = l
	}
	return out, rows.Err()
}

// SetJobWaiting records why a queued job waits (shown with the job); it
// changes nothing once the job has started.
func (q *Queries) SetJobWaiting(ctx context.Context, jobID int64, reason string) error {
	_, err := q.db.ExecContext(ctx, `UPDATE jobs SET message = ? WHERE id = ? AND status = ? AND message != ?`,
		reason, jobID, StatusQueued, reason)
	if err != nil {
		return fmt.Errorf("store: job %d waiting: %w", jobID, err)
	}
	return nil
}

// migrationActiveJobs indexes the jobs placement counts (queued and in
// progress), so RepoLoads does not read finished jobs.
var migrationActiveJobs = migration{
	SQLite:   `CREATE INDEX jobs_active ON jobs(status, run_id) WHERE status IN ('queued', 'in_progress');`,
	Postgres: `CREATE INDEX jobs_active ON jobs(status, run_id) WHERE status IN ('queued', 'in_progress');`,
}

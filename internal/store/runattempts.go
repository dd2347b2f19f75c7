package store

import (
	"context"
	"fmt"
)

// A run's attempts: "Re-run" makes a new runs row per attempt (the engine,
// job fencing and check runs work on rows), and every row of one run holds
// first_id, the id of its first attempt, which is the run's id to the
// outside (the API's and the dashboard's run id, as GitHub keeps one id
// across attempts).

// migrationRunFirstID (16) adds first_id, fills it for the runs already
// stored (the oldest row of each repository, workflow file and run number:
// the attempts of one run), and indexes it.
var migrationRunFirstID = migration{SQLite: runFirstIDSQL, Postgres: runFirstIDSQL}

const runFirstIDSQL = `ALTER TABLE runs ADD COLUMN first_id BIGINT NOT NULL DEFAULT 0;
	` + fillFirstIDSQL + `;
	CREATE INDEX runs_first_attempt ON runs(first_id, attempt);`

// fillFirstIDSQL gives each stored run row its first attempt's id.
const fillFirstIDSQL = `UPDATE runs SET first_id = (SELECT MIN(f.id) FROM runs f WHERE f.repo = runs.repo
		AND f.workflow_file = runs.workflow_file AND f.run_number = runs.run_number)`

// PublicID is the run's id to the outside: its first attempt's row id.
func (r Run) PublicID() int64 {
	if r.FirstID != 0 {
		return r.FirstID
	}
	return r.ID
}

// RunAttempts lists every attempt of the run that row id belongs to, first
// attempt first; ErrNotFound when id names no run.
func (q *Queries) RunAttempts(ctx context.Context, id int64) ([]Run, error) {
	run, err := q.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	all, err := q.runsWhere(ctx, `WHERE first_id = ? ORDER BY attempt, id`, run.PublicID())
	if err != nil {
		return nil, fmt.Errorf("store: attempts of run %d: %w", id, err)
	}
	if len(all) == 0 { // a row written without first_id (none should be)
		all = []Run{run}
	}
	return all, nil
}

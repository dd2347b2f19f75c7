package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

const runColumns = `id, delivery_id, repo, workflow_file, workflow_name, run_name, event, sha, ref, pr_number,
	run_number, attempt, status, conclusion, message, created_at, started_at, finished_at, concurrency, cancel_in_progress, first_id`

func scanRun(sc interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var c, s, f int64
	err := sc.Scan(&r.ID, &r.DeliveryID, &r.Repo, &r.WorkflowFile, &r.WorkflowName, &r.RunName, &r.Event, &r.SHA,
		&r.Ref, &r.PRNumber, &r.RunNumber, &r.Attempt, &r.Status, &r.Conclusion, &r.Message, &c, &s, &f, &r.Concurrency,
		&r.CancelInProgress, &r.FirstID)
	r.CreatedAt, r.StartedAt, r.FinishedAt = fromMS(c), fromMS(s), fromMS(f)
	return r, err
}

// CreateRun inserts r, assigning its ID and its run number (per repository and workflow file).
func (q *Queries) CreateRun(ctx context.Context, r *Run) error {
	if r.RunNumber == 0 { // a re-run attempt keeps its run's number
		var next int
		err := q.db.QueryRowContext(ctx, `INSERT INTO run_counters (repo, workflow, next) VALUES (?, ?, 1)
		ON CONFLICT (repo, workflow) DO UPDATE SET next = run_counters.next + 1 RETURNING next`, r.Repo, r.WorkflowFile).Scan(&next)
		if err != nil {
			return fmt.Errorf("store: run number: %w", err)
		}
		r.RunNumber = next
	}
	if r.Attempt == 0 {
		r.Attempt = 1
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = fromMS(now())
	}
	err := q.db.QueryRowContext(ctx, `INSERT INTO runs (delivery_id, repo, workflow_file, workflow_name, run_name, event, sha, ref,
		pr_number, run_number, attempt, status, conclusion, message, created_at, started_at, finished_at, concurrency,
		cancel_in_progress) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.DeliveryID, r.Repo, r.WorkflowFile, r.WorkflowName, r.RunName, r.Event, r.SHA, r.Ref, r.PRNumber, r.RunNumber,
		r.Attempt, r.Status, r.Conclusion, r.Message, ms(r.CreatedAt), ms(r.StartedAt), ms(r.FinishedAt), r.Concurrency,
		r.CancelInProgress).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("store: create run: %w", err)
	}
	return q.setRunFacts(ctx, r)
}

// UpdateRun writes r's mutable fields.
func (q *Queries) UpdateRun(ctx context.Context, r *Run) error {
	_, err := q.db.ExecContext(ctx, `UPDATE runs SET run_name = ?, status = ?, conclusion = ?, message = ?, started_at = ?,
		finished_at = ?, concurrency = ?, cancel_in_progress = ? WHERE id = ?`, r.RunName, r.Status, r.Conclusion, r.Message,
		ms(r.StartedAt), ms(r.FinishedAt), r.Concurrency, r.CancelInProgress, r.ID)
	if err != nil {
		return fmt.Errorf("store: update run %d: %w", r.ID, err)
	}
	return nil
}

// Run returns one run.
func (q *Queries) Run(ctx context.Context, id int64) (Run, error) {
	r, err := scanRun(q.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("run %d: %w", id, ErrNotFound)
	}
	return r, err
}

// Runs lists runs, newest first; where filters by a SQL condition on runs
// built only from constants in this package's callers (e.g. "delivery_id = ?").
func (q *Queries) runsWhere(ctx context.Context, where string, args ...any) ([]Run, error) {
	return queryAll(ctx, q.db, scanRun, `SELECT `+runColumns+` FROM runs `+where, args...)
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, db execer, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// RunsInGroup lists the unfinished runs of a repository's concurrency group, oldest first.
func (q *Queries) RunsInGroup(ctx context.Context, repo, group string) ([]Run, error) {
	return q.runsWhere(ctx, `WHERE repo = ? AND concurrency = ? AND status != 'completed' ORDER BY id`, repo, group)
}

// RecentRuns lists the newest runs.
func (q *Queries) RecentRuns(ctx context.Context, limit int) ([]Run, error) {
	return q.runsWhere(ctx, `ORDER BY id DESC LIMIT ?`, limit)
}

// RunsForDelivery lists the runs a delivery started.
func (q *Queries) RunsForDelivery(ctx context.Context, deliveryID string) ([]Run, error) {
	return q.runsWhere(ctx, `WHERE delivery_id = ? ORDER BY id`, deliveryID)
}

// RunsForCommit lists the runs of one repository at one commit (for the PR comment).
func (q *Queries) RunsForCommit(ctx context.Context, repo, sha string) ([]Run, error) {
	return q.runsWhere(ctx, `WHERE repo = ? AND sha = ? ORDER BY id`, repo, sha)
}

const jobColumns = `id, run_id, job_key, name, matrix, status, conclusion, outputs, backend, message, attempt,
	created_at, started_at, finished_at, annotations, summary, check_run_id, concurrency, cancel_in_progress, labels`

func scanJob(sc interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var c, s, f int64
	var labels string
	err := sc.Scan(&j.ID, &j.RunID, &j.Key, &j.Name, &j.Matrix, &j.Status, &j.Conclusion, &j.Outputs, &j.Backend,
		&j.Message, &j.Attempt, &c, &s, &f, &j.Annotations, &j.Summary, &j.CheckRunID, &j.Concurrency, &j.CancelInProgress,
		&labels)
	j.CreatedAt, j.StartedAt, j.FinishedAt = fromMS(c), fromMS(s), fromMS(f)
	j.Labels = decodeLabels(labels) // joblabels.go
	return j, err
}

// CreateJob inserts j, assigning its ID; with enqueue it is queued for running
// in the same transaction (Queries must then come from InTx).
func (q *Queries) CreateJob(ctx context.Context, j *Job, enqueue bool) error {
	if j.CreatedAt.IsZero() {
		j.CreatedAt = fromMS(now())
	}
	if j.Outputs == "" {
		j.Outputs = "{}"
	}
	if j.Annotations == "" {
		j.Annotations = "[]"
	}
	err := q.db.QueryRowContext(ctx, `INSERT INTO jobs (run_id, job_key, name, matrix, status, conclusion, outputs, backend,
		message, attempt, created_at, started_at, finished_at, annotations, concurrency, cancel_in_progress)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		j.RunID, j.Key, j.Name, j.Matrix, j.Status, j.Conclusion, j.Outputs, j.Backend, j.Message, j.Attempt,
		ms(j.CreatedAt), ms(j.StartedAt), ms(j.FinishedAt), j.Annotations, j.Concurrency, j.CancelInProgress).Scan(&j.ID)
	if err != nil {
		return fmt.Errorf("store: create job: %w", err)
	}
	if enqueue {
		return q.EnqueueJob(ctx, j.ID)
	}
	return nil
}

// EnqueueJob queues job id for running. Inside a transaction the queue job
// commits with it.
func (q *Queries) EnqueueJob(ctx context.Context, id int64) error {
	if q.tx == nil {
		return q.s.InTx(ctx, func(tq *Queries) error { return tq.EnqueueJob(ctx, id) })
	}
	return q.enqueueJobTx(ctx, id)
}

// UpdateJob writes j's mutable fields, unless the row has moved on to a
// later attempt (ErrStale).
func (q *Queries) UpdateJob(ctx context.Context, j *Job) error {
	if j.Annotations == "" {
		j.Annotations = "[]"
	}
	// Fenced: a write from an attempt older than the row's (a host presumed
	// dead whose job was started again elsewhere) changes nothing.
	res, err := q.db.ExecContext(ctx, `UPDATE jobs SET name = ?, status = ?, conclusion = ?, outputs = ?, backend = ?, message = ?,
		attempt = ?, started_at = ?, finished_at = ?, annotations = ?, summary = ?, concurrency = ?, cancel_in_progress = ?
		WHERE id = ? AND attempt <= ?`, j.Name, j.Status, j.Conclusion, j.Outputs, j.Backend, j.Message, j.Attempt, ms(j.StartedAt),
		ms(j.FinishedAt), j.Annotations, j.Summary, j.Concurrency, j.CancelInProgress, j.ID, j.Attempt)
	if err != nil {
		return fmt.Errorf("store: update job %d: %w", j.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		var cur int
		if err := q.db.QueryRowContext(ctx, `SELECT attempt FROM jobs WHERE id = ?`, j.ID).Scan(&cur); err == nil && cur > j.Attempt {
			return fmt.Errorf("store: update job %d attempt %d (now attempt %d): %w", j.ID, j.Attempt, cur, ErrStale)
		}
	}
	return nil
}

// SetJobMatrix records the matrix values of a leg.
func (q *Queries) SetJobMatrix(ctx context.Context, id int64, matrix string) error {
	_, err := q.db.ExecContext(ctx, `UPDATE jobs SET matrix = ? WHERE id = ?`, matrix, id)
	return err
}

// SetCheckRunID records the check run that reports a job.
func (q *Queries) SetCheckRunID(ctx context.Context, jobID, checkRunID int64) error {
	_, err := q.db.ExecContext(ctx, `UPDATE jobs SET check_run_id = ? WHERE id = ?`, checkRunID, jobID)
	return err
}

// Job returns one job.
func (q *Queries) Job(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(q.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	return j, err
}

// JobsInGroup lists the unfinished jobs of a repository's job-level
// concurrency group, oldest first.
func (q *Queries) JobsInGroup(ctx context.Context, repo, group string) ([]Job, error) {
	return queryAll(ctx, q.db, scanJob, `SELECT `+prefixed("jobs.", jobColumns)+` FROM jobs JOIN runs ON runs.id = jobs.run_id
		WHERE runs.repo = ? AND jobs.concurrency = ? AND jobs.status != 'completed' ORDER BY jobs.id`, repo, group)
}

func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// RunJobs lists a run's jobs in creation order.
func (q *Queries) RunJobs(ctx context.Context, runID int64) ([]Job, error) {
	return queryAll(ctx, q.db, scanJob, `SELECT `+jobColumns+` FROM jobs WHERE run_id = ? ORDER BY id`, runID)
}

// PutStep inserts or replaces one step's record.
func (q *Queries) PutStep(ctx context.Context, st Step) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO steps (job_id, idx, name, status, outcome, conclusion, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, idx) DO UPDATE SET name = excluded.name, status = excluded.status,
		outcome = excluded.outcome, conclusion = excluded.conclusion, started_at = excluded.started_at,
		finished_at = excluded.finished_at`,
		st.JobID, st.Index, st.Name, st.Status, st.Outcome, st.Conclusion, ms(st.StartedAt), ms(st.FinishedAt))
	if err != nil {
		return fmt.Errorf("store: put step: %w", err)
	}
	return nil
}

// Steps lists a job's steps in order.
func (q *Queries) Steps(ctx context.Context, jobID int64) ([]Step, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT job_id, idx, name, status, outcome, conclusion, started_at, finished_at
		FROM steps WHERE job_id = ? ORDER BY idx`, jobID)
	if err != nil {
		return nil, fmt.Errorf("store: list steps: %w", err)
	}
	defer rows.Close()
	var out []Step
	for rows.Next() {
		var st Step
		var s, f int64
		if err := rows.Scan(&st.JobID, &st.Index, &st.Name, &st.Status, &st.Outcome, &st.Conclusion, &s, &f); err != nil {
			return nil, err
		}
		st.StartedAt, st.FinishedAt = fromMS(s), fromMS(f)
		out = append(out, st)
	}
	return out, rows.Err()
}

// ResetJobRecords deletes a job's steps and logs (before a retry on a fresh sandbox).
func (q *Queries) ResetJobRecords(ctx context.Context, jobID int64) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM steps WHERE job_id = ?`, jobID); err != nil {
		return err
	}
	_, err := q.db.ExecContext(ctx, `DELETE FROM log_chunks WHERE job_id = ?`, jobID)
	return err
}

// AppendLog adds a chunk to a job's log, attributed to step stepIdx.
func (q *Queries) AppendLog(ctx context.Context, jobID int64, stepIdx int, data []byte) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO log_chunks (job_id, seq, step_idx, data)
		VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM log_chunks WHERE job_id = ?), ?, ?)`, jobID, jobID, stepIdx, data)
	if err != nil {
		return fmt.Errorf("store: append log: %w", err)
	}
	return nil
}

// LogAfter returns a job's log chunks with seq greater than after, all of
// them (a caller following a running job asks for what is new since its
// last call; readers of a whole log use EachLog).
func (q *Queries) LogAfter(ctx context.Context, jobID, after int64) ([]LogChunk, error) {
	return q.logPage(ctx, jobID, -1, after, -1) // -1: no limit
}

// logPageRows is how many chunks one read of a job's log holds (a chunk is
// at most about 128 KiB, so a page is a few MiB at most).
const logPageRows = 32

// EachLog calls fn with each of a job's log chunks with seq greater than
// after, in order. Chunks are read a page at a time, each page in its own
// query, so a large log is never held in memory whole and no read
// transaction stays open while fn writes to a slow client. An error from fn
// ends the walk and is returned.
func (q *Queries) EachLog(ctx context.Context, jobID, after int64, fn func(LogChunk) error) error {
	return q.eachLog(ctx, jobID, -1, after, fn)
}

// EachStepLog is EachLog for the chunks of one step.
func (q *Queries) EachStepLog(ctx context.Context, jobID int64, stepIdx int, fn func(LogChunk) error) error {
	return q.eachLog(ctx, jobID, stepIdx, 0, fn)
}

// eachLog walks a job's chunks after seq after; stepIdx < 0 means every step.
func (q *Queries) eachLog(ctx context.Context, jobID int64, stepIdx int, after int64, fn func(LogChunk) error) error {
	for {
		page, err := q.logPage(ctx, jobID, stepIdx, after, logPageRows)
		if err != nil {
			return err
		}
		for _, c := range page {
			if err := fn(c); err != nil {
				return err
			}
			after = c.Seq
		}
		if len(page) < logPageRows {
			return nil
		}
	}
}

func (q *Queries) logPage(ctx context.Context, jobID int64, stepIdx int, after int64, limit int) ([]LogChunk, error) {
	query, args := `SELECT seq, step_idx, data, line_times FROM log_chunks WHERE job_id = ? AND seq > ?`, []any{jobID, after}
	if stepIdx >= 0 {
		query, args = query+` AND step_idx = ?`, append(args, stepIdx)
	}
	query += ` ORDER BY seq`
	if limit >= 0 {
		query, args = query+` LIMIT ?`, append(args, limit)
	}
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: read log: %w", err)
	}
	defer rows.Close()
	var out []LogChunk
	for rows.Next() {
		var c LogChunk
		var times []byte
		if err := rows.Scan(&c.Seq, &c.StepIdx, &c.Data, &times); err != nil {
			return nil, fmt.Errorf("store: read log: %w", err)
		}
		c.Times = DecodeLineTimes(times)
		out = append(out, c)
	}
	return out, rows.Err()
}

// StepLogTail returns the end of one step's log: the newest chunks of step
// stepIdx that together hold at least maxBytes (or all of them), oldest
// first. Only those chunks are read.
func (q *Queries) StepLogTail(ctx context.Context, jobID int64, stepIdx, maxBytes int) ([]byte, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT data FROM log_chunks WHERE job_id = ? AND step_idx = ? ORDER BY seq DESC`, jobID, stepIdx)
	if err != nil {
		return nil, fmt.Errorf("store: read log tail: %w", err)
	}
	defer rows.Close()
	var chunks [][]byte
	n := 0
	for n < maxBytes && rows.Next() {
		var d []byte
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("store: read log tail: %w", err)
		}
		chunks = append(chunks, d)
		n += len(d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read log tail: %w", err)
	}
	out := make([]byte, 0, n)
	for i := len(chunks) - 1; i >= 0; i-- {
		out = append(out, chunks[i]...)
	}
	return out, nil
}

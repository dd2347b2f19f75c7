package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Delivery statuses.
const (
	DeliveryQueued  = "queued"  // stored, planning pending
	DeliveryPlanned = "planned" // runs created (maybe none matched)
	DeliveryIgnored = "ignored" // acknowledged, nothing to run
	DeliveryFailed  = "failed"  // planning failed; Message says why
)

// Run and job statuses (GitHub's words) and conclusions.
const (
	StatusWaiting    = "waiting" // a job whose needs have not finished
	StatusPending    = "pending" // a run waiting for its concurrency group
	StatusQueued     = "queued"
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"

	ConclusionSuccess   = "success"
	ConclusionFailure   = "failure"
	ConclusionCancelled = "cancelled"
	ConclusionSkipped   = "skipped"
	ConclusionTimedOut  = "timed_out"
)

// BackendCall is the Backend of a job that calls a reusable workflow
// (jobs.<id>.uses): it runs nothing itself, the called workflow's jobs are
// rows of the same run, and reports leave it out as GitHub does.
const BackendCall = "call"

// Delivery is one webhook delivery as GitHub sent it.
type Delivery struct {
	ID         string // X-GitHub-Delivery
	Event      string // X-GitHub-Event
	Action     string
	Repo       string // owner/name
	SHA        string // the commit it is about, when it names one
	ReceivedAt time.Time
	Payload    []byte
	Status     string
	Message    string
	// Fingerprint identifies the payload (event and raw body) for replay
	// detection; "" for deliveries that did not come through the webhook.
	Fingerprint string
}

// Run is one workflow run.
type Run struct {
	ID           int64
	DeliveryID   string
	Repo         string
	WorkflowFile string
	WorkflowName string
	RunName      string
	Event        string
	SHA          string
	Ref          string
	PRNumber     int
	RunNumber    int
	Attempt      int
	Status       string
	Conclusion   string
	Message      string
	CreatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	// Concurrency is the run's evaluated concurrency group ("" for none).
	Concurrency      string
	CancelInProgress bool
	// FirstID is the id of the run's first attempt: the run's id to the
	// outside (runattempts.go). CreateRun sets it for a first attempt.
	FirstID int64
}

// Job is one job of a run (one matrix leg).
type Job struct {
	ID         int64
	RunID      int64
	Key        string // the job id in the workflow file
	Name       string // display name, matrix values appended
	Matrix     string // JSON object of this leg's matrix values, "" if none
	Status     string
	Conclusion string
	Outputs    string // JSON object
	Backend    string // sandbox backend that ran it; BackendCall for a job calling a reusable workflow
	Message    string
	Attempt    int
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	// Annotations is a JSON array of the job's ::error/::warning/::notice
	// annotations; Summary its GITHUB_STEP_SUMMARY markdown.
	Annotations string
	Summary     string
	// CheckRunID is the GitHub check run reporting this job (App mode), 0 if none yet.
	CheckRunID int64
	// Concurrency is the job's evaluated concurrency group ("" for none).
	Concurrency      string
	CancelInProgress bool
	// Labels are the runs-on labels the job was picked up with (nil before);
	// written by SetJobLabels only.
	Labels []string
}

// Annotation is an ::error/::warning/::notice a step printed; a job keeps
// them as a JSON array in Job.Annotations.
type Annotation struct {
	Level     string `json:"level"` // error, warning, notice
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	EndLine   int    `json:"end_line,omitempty"`
	Column    int    `json:"col,omitempty"`
	EndColumn int    `json:"end_col,omitempty"`
	Title     string `json:"title,omitempty"`
	Message   string `json:"message"`
}

// Step is one step of a job.
type Step struct {
	JobID      int64
	Index      int
	Name       string
	Status     string
	Outcome    string
	Conclusion string
	StartedAt  time.Time
	FinishedAt time.Time
}

// LogChunk is a piece of a job's log.
type LogChunk struct {
	Seq     int64
	StepIdx int
	Data    []byte
	// Times holds the time each line of Data was written (nil when the
	// chunk has none: written before migration 11, or without times).
	Times []time.Time
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Queries reads and writes records, inside a transaction or not.
type Queries struct {
	s  *Store
	db execer
	tx *sql.Tx // nil outside a transaction
	// queued: the queues this transaction put work on, woken after the
	// commit (see wake.go).
	queued queueSet
	// plans, when not nil, collects the deliveries to queue for planning
	// instead of one queue insert each: the intake's group commit inserts
	// them in one statement before its commit (intake.go).
	plans *[]string
	// mem: work for a scratch store's in-memory queue, handed over when
	// the transaction commits (memqueue.go).
	mem []*memItem
}

// queueMem queues it on the scratch store's in-memory queue: with the
// transaction's commit, or at once outside one.
func (q *Queries) queueMem(it *memItem, bit queueSet) {
	q.queued |= bit
	if q.tx == nil {
		q.s.mem.push([]*memItem{it})
		return
	}
	q.mem = append(q.mem, it)
}

// Queries returns Queries outside any transaction.
func (s *Store) Queries() *Queries { return &Queries{s: s, db: boundDB{s: s, e: s.db}} }

// InJobTx runs fn in one transaction that writes only one job's steps and
// log chunks (which have one writer, the job's runner): on PostgreSQL it
// does not take the store's write lock, so log flushes of many jobs on many
// hosts do not queue behind each other. On SQLite it is InTx.
func (s *Store) InJobTx(ctx context.Context, fn func(q *Queries) error) error {
	if s.dialect != postgresDialect {
		return s.InTx(ctx, fn)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	q := &Queries{s: s, db: boundDB{s: s, e: tx}, tx: tx}
	if err := fn(q); err != nil {
		tx.Rollback()
		return err
	}
	if err := q.notifyQueued(ctx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	s.wake(q.queued)
	s.changes.changed()
	return nil
}

// InTx runs fn in one write-locking transaction: on SQLite an immediate
// transaction, on PostgreSQL one holding the store's write lock (see
// writeLockKey), so that write transactions never interleave.
func (s *Store) InTx(ctx context.Context, fn func(q *Queries) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if s.dialect == postgresDialect {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLockKey); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: write lock: %w", err)
		}
	}
	q := &Queries{s: s, db: boundDB{s: s, e: tx}, tx: tx}
	if err := fn(q); err != nil {
		tx.Rollback()
		return err
	}
	if err := q.notifyQueued(ctx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	if len(q.mem) > 0 {
		s.mem.push(q.mem)
	}
	s.wake(q.queued)
	s.changes.changed()
	return nil
}

// Delivery returns one delivery.
func (q *Queries) Delivery(ctx context.Context, id string) (Delivery, error) {
	var d Delivery
	var at int64
	err := q.db.QueryRowContext(ctx, `SELECT id, event, action, repo, sha, received_at, payload, status, message
		FROM deliveries WHERE id = ?`, id).Scan(&d.ID, &d.Event, &d.Action, &d.Repo, &d.SHA, &at, &d.Payload, &d.Status, &d.Message)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("delivery %s: %w", id, ErrNotFound)
	}
	d.ReceivedAt = fromMS(at)
	return d, err
}

// SetDeliveryStatus records what planning made of a delivery.
func (q *Queries) SetDeliveryStatus(ctx context.Context, id, status, message string) error {
	_, err := q.db.ExecContext(ctx, `UPDATE deliveries SET status = ?, message = ? WHERE id = ?`, status, message, id)
	return err
}

// HasDeliveryFor reports whether any delivery names commit sha of repo.
func (q *Queries) HasDeliveryFor(ctx context.Context, repo, sha string) (bool, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE repo = ? AND sha = ?`, repo, sha).Scan(&n)
	return n > 0, err
}

// DeliveryRepos lists the repositories deliveries have come from.
func (q *Queries) DeliveryRepos(ctx context.Context) ([]string, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT DISTINCT repo FROM deliveries WHERE repo != '' ORDER BY repo`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CountDeliveries counts stored deliveries.
func (q *Queries) CountDeliveries(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries`).Scan(&n)
	return n, err
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

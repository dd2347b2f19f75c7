package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

const (
	queuePlan   = "plan"
	queueJobs   = "jobs"
	queueReport = "report"
)

type deliveryArgs struct {
	DeliveryID string `json:"delivery_id"`
}

func (deliveryArgs) Kind() string { return "hookci_delivery" }

type jobArgs struct {
	JobID int64 `json:"job_id"`
}

func (jobArgs) Kind() string { return "hookci_job" }

type reportArgs struct {
	RunID int64 `json:"run_id"`
}

func (reportArgs) Kind() string { return "hookci_report" }

type reportWorker struct {
	river.WorkerDefaults[reportArgs]
	s *Store
}

func (w *reportWorker) Work(ctx context.Context, j *river.Job[reportArgs]) error {
	h := w.s.currentHandlers()
	if h.Report == nil {
		return nil // reporting is off
	}
	return h.Report(ctx, j.Args.RunID)
}

func (w *reportWorker) Timeout(*river.Job[reportArgs]) time.Duration { return 5 * time.Minute }

type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	s *Store
}

func (w *deliveryWorker) Work(ctx context.Context, j *river.Job[deliveryArgs]) error {
	h := w.s.currentHandlers()
	if h.Delivery == nil {
		return fmt.Errorf("no delivery handler")
	}
	return h.Delivery(ctx, j.Args.DeliveryID)
}

// Timeout: planning fetches a repository; give it room.
func (w *deliveryWorker) Timeout(*river.Job[deliveryArgs]) time.Duration { return 10 * time.Minute }

type jobWorker struct {
	river.WorkerDefaults[jobArgs]
	s *Store
}

func (w *jobWorker) Work(ctx context.Context, j *river.Job[jobArgs]) error {
	h := w.s.currentHandlers()
	if h.Job == nil {
		return fmt.Errorf("no job handler")
	}
	return h.Job(ctx, j.Args.JobID)
}

// Timeout: the job enforces its own timeout-minutes (GitHub's maximum is 6h).
func (w *jobWorker) Timeout(*river.Job[jobArgs]) time.Duration { return -1 }

func (s *Store) newQueue(opts Options) error {
	workers := river.NewWorkers()
	river.AddWorker(workers, &deliveryWorker{s: s})
	river.AddWorker(workers, &jobWorker{s: s})
	river.AddWorker(workers, &reportWorker{s: s})
	maxJobs := opts.MaxJobs
	if maxJobs < 1 {
		maxJobs = 1
	}
	poll := opts.PollInterval
	if poll <= 0 {
		poll = 10 * time.Millisecond
	}
	client, err := river.NewClient(riversqlite.New(s.db), &river.Config{
		Queues: map[string]river.QueueConfig{
			queuePlan:   {MaxWorkers: 2},
			queueJobs:   {MaxWorkers: maxJobs},
			queueReport: {MaxWorkers: 2},
		},
		Workers:           workers,
		FetchPollInterval: poll,
		FetchCooldown:     poll / 2,
		Logger:            s.riverLogger(),
		// Jobs time themselves out; stuck-job rescue is replaced by the
		// startup recovery in StartQueue (one process per SQLite store).
		JobTimeout:           -1,
		RescueStuckJobsAfter: 7 * 24 * time.Hour,
		MaxAttempts:          3,
	})
	if err != nil {
		return fmt.Errorf("store: queue: %w", err)
	}
	s.river = client
	return nil
}

func (s *Store) currentHandlers() Handlers {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handlers
}

// StartQueue recovers work a crashed predecessor left running, then starts
// working the queue with h.
func (s *Store) StartQueue(ctx context.Context, h Handlers) error {
	s.mu.Lock()
	s.handlers = h
	s.mu.Unlock()
	// This process holds the data directory lock, so nothing else can be
	// working these: they were abandoned by a crash. Make them available.
	res, err := s.db.ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = ? WHERE state = 'running'`,
		time.Now().UTC())
	if err != nil {
		return fmt.Errorf("store: recover running queue jobs: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.logger.Warn("recovered queue jobs abandoned by a previous process", "count", n)
	}
	if err := s.river.Start(ctx); err != nil {
		return fmt.Errorf("store: start queue: %w", err)
	}
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	return nil
}

// enqueueJobTx queues job jobID for running, inside tx.
func (s *Store) enqueueJobTx(ctx context.Context, tx *sql.Tx, jobID int64) error {
	_, err := s.river.InsertTx(ctx, tx, jobArgs{JobID: jobID}, &river.InsertOpts{Queue: queueJobs})
	if err != nil {
		return fmt.Errorf("store: enqueue job %d: %w", jobID, err)
	}
	return nil
}

// EnqueueReport queues a report of run runID to GitHub, inside the
// transaction when q is in one. Reports are retried with backoff on failure.
func (q *Queries) EnqueueReport(ctx context.Context, runID int64) error {
	var err error
	if q.tx != nil {
		_, err = q.s.river.InsertTx(ctx, q.tx, reportArgs{RunID: runID}, &river.InsertOpts{Queue: queueReport, MaxAttempts: 8})
	} else {
		_, err = q.s.river.Insert(ctx, reportArgs{RunID: runID}, &river.InsertOpts{Queue: queueReport, MaxAttempts: 8})
	}
	if err != nil {
		return fmt.Errorf("store: enqueue report of run %d: %w", runID, err)
	}
	return nil
}

// QueueDepth counts queue jobs waiting to be worked.
func (s *Store) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable', 'pending')`).Scan(&n)
	return n, err
}

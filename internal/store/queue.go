package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
)

// DefaultSQLitePoll is how often the queue looks for work on SQLite when
// nothing woke it: committed work wakes it at once (wake.go), so this only
// bounds how late a retry whose backoff ended starts.
const DefaultSQLitePoll = 5 * time.Second

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
	return w.s.workReport(ctx, j.Args.RunID)
}

// workReport reports run runID (River's worker and memQueue's).
func (s *Store) workReport(ctx context.Context, runID int64) error {
	h := s.currentHandlers()
	if h.Report == nil {
		return nil // reporting is off
	}
	return h.Report(ctx, runID)
}

// reportTimeout bounds one report attempt.
const reportTimeout = 5 * time.Minute

func (w *reportWorker) Timeout(*river.Job[reportArgs]) time.Duration { return reportTimeout }

type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	s *Store
}

// Work plans a delivery. A permanent failure (PermanentError) ends the
// delivery failed at once; a transient one is retried with backoff
// (NextRetry) until the retry budget, counted from when this planning was
// queued, would be exceeded: then the delivery ends failed with the last
// error. Either way the failure is recorded on the delivery row, logged at
// ERROR and reported to Handlers.DeliveryFailed.
func (w *deliveryWorker) Work(ctx context.Context, j *river.Job[deliveryArgs]) error {
	return w.s.workDelivery(ctx, j.Args.DeliveryID, j.Attempt, j.CreatedAt)
}

// workDelivery is one attempt (attempt, from 1) at planning delivery id,
// whose planning was queued at created (River's worker and memQueue's).
func (s *Store) workDelivery(ctx context.Context, id string, attempt int, created time.Time) error {
	h := s.currentHandlers()
	if h.Delivery == nil {
		return fmt.Errorf("no delivery handler")
	}
	err := h.Delivery(ctx, id)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return err // shutting down: the next process takes it up
	}
	var perm *PermanentError
	if errors.As(err, &perm) {
		return s.failDelivery(ctx, h, id, perm.Reason, err, attempt)
	}
	policy := s.planRetry
	if time.Since(created)+policy.delay(attempt) > policy.Budget {
		return s.failDelivery(ctx, h, id, ReasonRetriesExhausted,
			fmt.Errorf("gave up after %d attempts over %s: %w", attempt, time.Since(created).Round(time.Second), err), attempt)
	}
	msg := fmt.Sprintf("attempt %d failed, retrying: %v", attempt, err)
	if serr := s.Queries().SetDeliveryStatus(ctx, id, DeliveryQueued, truncate(msg, 2000)); serr != nil {
		s.logger.Warn("recording a planning retry", "delivery", id, "err", serr)
	}
	s.logger.Warn("planning failed, will retry", "delivery", id, "attempt", attempt, "err", err)
	return err
}

// NextRetry is the jittered exponential backoff of the retry policy.
func (w *deliveryWorker) NextRetry(j *river.Job[deliveryArgs]) time.Time {
	return time.Now().Add(w.s.planRetry.jittered(j.Attempt))
}

// planTimeout bounds one planning attempt: planning fetches a repository;
// give it room.
const planTimeout = 10 * time.Minute

func (w *deliveryWorker) Timeout(*river.Job[deliveryArgs]) time.Duration { return planTimeout }

// failDelivery records a delivery's failure. Returning nil completes the
// queue job; an error (the store could not record it) retries it.
func (s *Store) failDelivery(ctx context.Context, h Handlers, id, reason string, cause error, attempt int) error {
	if err := s.Queries().FailDelivery(ctx, id, reason, cause); err != nil {
		return fmt.Errorf("store: recording the failure of delivery %s: %w", id, err)
	}
	s.logger.Error("delivery failed", "delivery", id, "reason", reason, "attempts", attempt, "err", cause)
	if h.DeliveryFailed != nil {
		h.DeliveryFailed(reason)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// RetryPolicy is how planning is retried after a transient failure (git
// fetch, network, GitHub 5xx, a busy store): exponential backoff from Min,
// doubling per attempt, capped at Max, jittered by ±20%, for at most Budget
// from when the planning was queued.
type RetryPolicy struct {
	Min, Max, Budget time.Duration
}

// DefaultPlanRetry retries for six hours: 5s, 10s, 20s … capped at 10 minutes.
var DefaultPlanRetry = RetryPolicy{Min: 5 * time.Second, Max: 10 * time.Minute, Budget: 6 * time.Hour}

// withDefaults fills unset fields from DefaultPlanRetry.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Min <= 0 {
		p.Min = DefaultPlanRetry.Min
	}
	if p.Max <= 0 {
		p.Max = DefaultPlanRetry.Max
	}
	if p.Max < p.Min {
		p.Max = p.Min
	}
	if p.Budget <= 0 {
		p.Budget = DefaultPlanRetry.Budget
	}
	return p
}

// delay is the backoff after attempt (1-based), without jitter.
func (p RetryPolicy) delay(attempt int) time.Duration {
	d := p.Min
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// jittered is delay(attempt) ±20%.
func (p RetryPolicy) jittered(attempt int) time.Duration {
	d := p.delay(attempt)
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

type jobWorker struct {
	river.WorkerDefaults[jobArgs]
	s *Store
}

func (w *jobWorker) Work(ctx context.Context, j *river.Job[jobArgs]) error {
	return w.s.workJob(ctx, j.ID, j.Args.JobID)
}

// workJob runs job jobID, queued as queue job riverID (River's worker and
// memQueue's, where the lease is never lost: SQLite).
func (s *Store) workJob(ctx context.Context, riverID, jobID int64) error {
	h := s.currentHandlers()
	if h.Job == nil {
		return fmt.Errorf("no job handler")
	}
	if s.LeaseLost() { // leasehold.go: not given back, so this host does not fetch it again
		return s.holdForLease(ctx, riverID, jobID, true)
	}
	err := h.Job(ctx, jobID)
	if errors.Is(err, ErrLeaseLost) { // refused or stopped while the lease was lost
		return s.holdForLease(ctx, riverID, jobID, errors.Is(err, ErrLeaseLostUnstarted))
	}
	var wait *WaitError
	if errors.As(err, &wait) { // placement (placement.go): back to the queue, not an attempt
		return river.JobSnooze(wait.After + s.giveBackJitter())
	}
	if errors.Is(err, ErrStale) {
		// This attempt was superseded: the job belongs to another host now
		// (this one was presumed dead). Retrying would run it a third time.
		s.logger.Warn("job attempt superseded by another host: this attempt ends", "job", jobID, "err", err)
		return nil
	}
	return err
}

// giveBackJitter is a uniform random delay in [0, fetch poll) added to every
// give-back. Without it the host that gave a job back wins it again nearly
// every round: a WaitError's After (placement's 1 s) is a multiple of the
// PostgreSQL fetch poll (500 ms + 0–10 %), so the giver's own poll comes
// due just as the row does, while the other hosts poll at random phases
// (TestPlacementByLabels: the job's only serving host, back up, did not get
// it for 60–110 s while the other fetched and gave it back 70 times).
func (s *Store) giveBackJitter() time.Duration {
	if s.poll <= 0 {
		return 0
	}
	return rand.N(s.poll)
}

// Timeout: the job enforces its own timeout-minutes (GitHub's maximum is 6h).
func (w *jobWorker) Timeout(*river.Job[jobArgs]) time.Duration { return -1 }

// Attempt caps: a job's and a report's (planning's is planMaxAttempts).
const (
	riverMaxAttempts  = 3
	reportMaxAttempts = 8
)

func (s *Store) newQueue(opts Options) error {
	maxJobs := max(opts.MaxJobs, 1)
	s.planRetry = opts.PlanRetry.withDefaults()
	s.host, s.lease = opts.Host, opts.Lease
	if s.lease <= 0 {
		s.lease = DefaultLease
	}
	if opts.Scratch && s.dialect != postgresDialect {
		s.mem = newMemQueue(s, maxJobs) // memqueue.go: nothing durable to queue for
		return nil
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &deliveryWorker{s: s})
	river.AddWorker(workers, &jobWorker{s: s})
	river.AddWorker(workers, &reportWorker{s: s})
	// Committed work wakes the queue (SQLite: Store.wake after the commit;
	// PostgreSQL: River's NOTIFY), so the poll is only a fallback (River's
	// own scheduled work: retries whose backoff ended).
	poll := opts.PollInterval
	if poll <= 0 {
		poll = DefaultSQLitePoll
	}
	cooldown := min(poll/2, 5*time.Millisecond)
	var driver riverdriver.Driver[*sql.Tx]
	rescue := 7 * 24 * time.Hour
	if s.dialect == postgresDialect {
		// LISTEN/NOTIFY wakes the queue on every host; polling is the fallback.
		driver = riverdatabasesql.NewWithPgxListener(s.db, s.pool)
		if opts.PollInterval <= 0 {
			poll = 500 * time.Millisecond
		}
		// A NOTIFY within the cooldown waits for its end: keep it short
		// (it bounds each host's fetches per queue under a stream of inserts).
		cooldown = min(poll/2, 20*time.Millisecond)
	} else {
		d := newSQLiteDriver(s.db)
		s.listener = d.listener
		driver = d
	}
	client, err := river.NewClient(driver, &river.Config{
		ID: s.hostID, // "" (SQLite): River's default
		Queues: map[string]river.QueueConfig{
			queuePlan:   {MaxWorkers: 2},
			queueJobs:   {MaxWorkers: maxJobs},
			queueReport: {MaxWorkers: 2},
		},
		Workers:           workers,
		FetchPollInterval: poll,
		FetchCooldown:     cooldown,
		Logger:            s.riverLogger(),
		// Jobs time themselves out; stuck-job rescue is replaced by the
		// startup recovery in StartQueue.
		JobTimeout:           -1,
		RescueStuckJobsAfter: rescue,
		MaxAttempts:          riverMaxAttempts,
	})
	if err != nil {
		return fmt.Errorf("store: queue: %w", err)
	}
	s.river = client
	s.poll = poll
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
	if s.mem == nil {
		if err := s.recoverRunning(ctx); err != nil {
			return err
		}
	}
	if err := s.register(ctx); err != nil {
		return err
	}
	if s.mem != nil {
		s.mem.start(ctx) // memqueue.go: a scratch store's queue
	} else if err := s.river.Start(ctx); err != nil {
		return fmt.Errorf("store: start queue: %w", err)
	}
	s.mu.Lock()
	s.started = true
	s.hbStop, s.hbDone = make(chan struct{}), make(chan struct{})
	s.mu.Unlock()
	go s.heartbeatLoop(s.hbStop, s.hbDone)
	return nil
}

// recoverRunning makes River's jobs a crashed predecessor left running
// available again. This process holds the data directory lock, so nothing
// else can be working them. On PostgreSQL other hosts' jobs are theirs:
// only those this host (the same host id, from the locked data directory)
// last took.
func (s *Store) recoverRunning(ctx context.Context) error {
	db := boundDB{s: s, e: s.db}
	var res sql.Result
	var err error
	if s.dialect == postgresDialect {
		res, err = db.ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = ?
			WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = ?`, time.Now().UTC(), s.hostID)
	} else {
		res, err = db.ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = ? WHERE state = 'running'`,
			time.Now().UTC())
	}
	if err != nil {
		return fmt.Errorf("store: recover running queue jobs: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.logger.Warn("recovered queue jobs abandoned by a previous process", "count", n)
	}
	return nil
}

// enqueueJobTx queues job jobID for running, inside q's transaction.
func (q *Queries) enqueueJobTx(ctx context.Context, jobID int64) error {
	if q.s.mem != nil {
		q.queueMem(memItemOf(queueJobs, jobArgs{JobID: jobID}, riverMaxAttempts), inJobs)
		return nil
	}
	_, err := q.s.river.InsertTx(ctx, q.tx, jobArgs{JobID: jobID}, &river.InsertOpts{Queue: queueJobs})
	if err != nil {
		return fmt.Errorf("store: enqueue job %d: %w", jobID, err)
	}
	q.queued |= inJobs
	return nil
}

// EnqueueReport queues a report of run runID to GitHub, inside the
// transaction when q is in one. Reports are retried with backoff on failure.
func (q *Queries) EnqueueReport(ctx context.Context, runID int64) error {
	var err error
	if q.s.mem != nil {
		q.queueMem(memItemOf(queueReport, reportArgs{RunID: runID}, reportMaxAttempts), inReport)
		return nil
	}
	if q.tx != nil {
		_, err = q.s.river.InsertTx(ctx, q.tx, reportArgs{RunID: runID}, &river.InsertOpts{Queue: queueReport, MaxAttempts: reportMaxAttempts})
		q.queued |= inReport
	} else {
		return q.s.InTx(ctx, func(tq *Queries) error { return tq.EnqueueReport(ctx, runID) })
	}
	if err != nil {
		return fmt.Errorf("store: enqueue report of run %d: %w", runID, err)
	}
	return nil
}

// QueueDepth counts queue jobs waiting to be worked.
func (s *Store) QueueDepth(ctx context.Context) (int, error) {
	if s.mem != nil {
		return s.mem.depth(), nil
	}
	var n int
	err := s.db.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable', 'pending')`).Scan(&n)
	return n, err
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Group commit of webhook intake (SQLite).
//
// With synchronous=FULL every commit is an fsync, and SQLite has one
// writer: one transaction per delivery caps intake at one delivery per
// fsync. The group committer takes every delivery waiting when the previous
// commit ends (no timer: the batch is whatever arrived during that commit),
// stores each inside a savepoint of one transaction (a delivery whose
// statements fail is rolled back alone and answered with its error), commits
// once, and only then answers each caller: an answered delivery is durable.
// Its statements are prepared once and kept (intake_stmts.go), and a batch's
// plan jobs are one statement (intake_plans.go). It has a connection of its own, so intake never waits for a River fetch
// or a dashboard query to give the store's connection back; SQLite's write
// lock (busy_timeout) orders it with the other writers.

// maxIntakeBatch bounds one group commit (the webhook handler's own
// concurrency cap, 32 by default, normally bounds it first).
const maxIntakeBatch = 256

type intakeReq struct {
	ctx  context.Context
	d    Delivery
	opts IntakeOptions
	done chan intakeDone // buffered: the committer never blocks on it
}

type intakeDone struct {
	res IntakeResult
	err error
}

// groupCommitter stores deliveries in shared transactions on db.
type groupCommitter struct {
	s     *Store
	db    *sql.DB // one connection, intake's own
	stmts *stmtCache
	stats intakeStats
	reqs  chan *intakeReq
	stop  chan struct{}
	done  chan struct{}
}

func newGroupCommitter(s *Store, db *sql.DB) *groupCommitter {
	g := &groupCommitter{s: s, db: db, stmts: newStmtCache(db), reqs: make(chan *intakeReq), stop: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g
}

// submit stores d (see Store.Intake) in the next group commit and waits
// for it to be durable, or for ctx to end (then the delivery may or may not
// have been stored: a redelivery under the same id is recognised).
func (g *groupCommitter) submit(ctx context.Context, d Delivery, opts IntakeOptions) (IntakeResult, error) {
	r := &intakeReq{ctx: ctx, d: d, opts: opts, done: make(chan intakeDone, 1)}
	select {
	case g.reqs <- r:
	case <-g.stop:
		return IntakeResult{}, errors.New("store: intake: the store is closing")
	case <-ctx.Done():
		return IntakeResult{}, ctx.Err()
	}
	select {
	case out := <-r.done:
		return out.res, out.err
	case <-ctx.Done():
		return IntakeResult{}, ctx.Err()
	}
}

func (g *groupCommitter) loop() {
	defer close(g.done)
	batch := make([]*intakeReq, 0, maxIntakeBatch)
	for {
		select {
		case <-g.stop:
			return
		case r := <-g.reqs:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < maxIntakeBatch {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		g.commit(batch)
	}
}

// commit stores batch in one transaction and answers every request. It
// first runs the batch without savepoints (two statements fewer per
// delivery); if any delivery fails, nothing is committed and the batch is
// run again with a savepoint around each delivery, so that only the
// failing ones are answered with their errors.
func (g *groupCommitter) commit(batch []*intakeReq) {
	out := make([]intakeDone, len(batch))
	if retry := g.run(batch, out, false); retry {
		clear(out)
		g.run(batch, out, true)
	}
	for i, r := range batch {
		r.done <- out[i]
	}
	// Statements first run in this batch are prepared for the next ones
	// (no transaction holds the connection now).
	if err := g.stmts.prepare(context.Background()); err != nil {
		g.s.logger.Warn("intake: preparing a statement failed: it runs unprepared", "err", err)
	}
}

// run stores batch in one transaction, filling out. Without careful, a
// delivery that fails rolls the whole transaction back and run reports
// retry; with careful, each delivery is in a savepoint of its own.
func (g *groupCommitter) run(batch []*intakeReq, out []intakeDone, careful bool) (retry bool) {
	fail := func(err error) {
		for i := range out {
			if out[i].err == nil {
				out[i] = intakeDone{err: err}
			}
		}
	}
	// The batch's work must not end with one caller's context.
	ctx := context.Background()
	t0 := time.Now()
	tx, err := g.begin(ctx)
	if err != nil {
		fail(fmt.Errorf("store: intake: begin: %w", err))
		return false
	}
	began := time.Now()
	// Every statement of the batch runs prepared (River's own insert and
	// database/sql's ad hoc statements are parsed again on each call: that
	// parsing was most of the intake's CPU), and the batch's plan jobs are
	// one insert (intake_plans.go).
	var plans []string
	ptx := preparedTx{tx: tx, c: g.stmts}
	q := &Queries{s: g.s, db: boundDB{s: g.s, e: ptx}, tx: tx, plans: &plans}
	step := func(query string) error {
		if !careful {
			return nil
		}
		_, err := ptx.ExecContext(ctx, query)
		return err
	}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			out[i].err = err // the caller is gone: store nothing for it
			continue
		}
		if err := step(`SAVEPOINT delivery`); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("store: intake: %w", err))
			return false
		}
		held := len(plans)
		res, err := q.intake(ctx, r.d, r.opts)
		if err != nil && !careful {
			tx.Rollback()
			return true
		}
		if err != nil {
			plans = plans[:held] // its row is rolled back: no plan job for it
			if rerr := step(`ROLLBACK TO delivery`); rerr != nil {
				tx.Rollback()
				fail(fmt.Errorf("store: intake: %w (rolling back: %w)", err, rerr))
				return false
			}
			out[i].err = err
		} else {
			out[i].res = res
		}
		if err := step(`RELEASE delivery`); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("store: intake: %w", err))
			return false
		}
	}
	if err := insertPlans(ctx, ptx, plans); err != nil {
		tx.Rollback()
		if !careful {
			return true
		}
		fail(fmt.Errorf("store: intake: queue deliveries: %w", err))
		return false
	}
	ran := time.Now()
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("store: intake: commit: %w", err))
		return false
	}
	g.stats.add(len(batch), began.Sub(t0), ran.Sub(began), time.Since(ran))
	g.s.wake(q.queued)
	return false
}

// Waiting for SQLite's write lock. SQLite's busy handler sleeps 1, 2, 5,
// 10, 15… ms between tries, while the store's connection runs River's
// transactions back to back and takes the lock again in each gap: intake
// waited 4–11 ms per batch for it (webhookload, queue running; 0.1 ms with
// the queue off). BEGIN IMMEDIATE is tried instead with no busy timeout,
// every 50–400 µs, for up to intakeLockWait; statements inside the
// transaction keep the connection's busy timeout.
const (
	intakeLockWait     = 10 * time.Second // as the connection's busy_timeout
	intakeLockRetryMin = 50 * time.Microsecond
	intakeLockRetryMax = 400 * time.Microsecond
)

// begin starts a transaction holding SQLite's write lock.
func (g *groupCommitter) begin(ctx context.Context) (*sql.Tx, error) {
	if err := g.exec(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		return g.db.BeginTx(ctx, nil) // SQLite's own waiting, then
	}
	restore := func() error { return g.exec(ctx, `PRAGMA busy_timeout = 10000`) }
	wait, deadline := intakeLockRetryMin, time.Now().Add(intakeLockWait)
	for {
		tx, err := g.db.BeginTx(ctx, nil)
		if err == nil {
			if rerr := g.txExec(ctx, tx, `PRAGMA busy_timeout = 10000`); rerr != nil {
				tx.Rollback()
				restore()
				return nil, fmt.Errorf("restore busy_timeout: %w", rerr)
			}
			return tx, nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			restore()
			return nil, err
		}
		time.Sleep(wait)
		wait = min(2*wait, intakeLockRetryMax)
	}
}

// exec runs query (prepared) on the intake connection outside a transaction.
func (g *groupCommitter) exec(ctx context.Context, query string) error {
	var err error
	if st := g.stmts.get(query); st != nil {
		_, err = st.ExecContext(ctx)
	} else {
		_, err = g.db.ExecContext(ctx, query)
	}
	return err
}

func (g *groupCommitter) txExec(ctx context.Context, tx *sql.Tx, query string) error {
	_, err := preparedTx{tx: tx, c: g.stmts}.ExecContext(ctx, query)
	return err
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (the write lock is held).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// IntakeStats are the SQLite group committer's counters since the store
// opened: where a batch's time goes (bench/webhookload prints them).
type IntakeStats struct {
	Batches    int64 // transactions committed
	Deliveries int64 // deliveries in them
	// Wall time, summed over the batches: waiting for SQLite's write lock
	// (BEGIN IMMEDIATE), running the batch's statements, committing (the
	// WAL write and its fsync).
	Begin, Statements, Commit time.Duration
	// MaxCommit is the longest commit.
	MaxCommit time.Duration
	// Alone counts the deliveries stored in a transaction of their own
	// (PostgreSQL: a redelivery that may plan again, or each delivery of a
	// batch whose transaction failed).
	Alone int64
}

type intakeStats struct {
	mu sync.Mutex
	v  IntakeStats
}

func (s *intakeStats) add(n int, begin, stmts, commit time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v.Batches++
	s.v.Deliveries += int64(n)
	s.v.Begin += begin
	s.v.Statements += stmts
	s.v.Commit += commit
	s.v.MaxCommit = max(s.v.MaxCommit, commit)
}

// IntakeStats returns the group committer's counters. On PostgreSQL
// Begin is the batch's BEGIN, locks and lookups, and Statements its insert.
func (s *Store) IntakeStats() IntakeStats {
	if s.intake == nil {
		return IntakeStats{}
	}
	return s.intake.snapshot()
}

// intakeCommitter is a dialect's group commit of webhook intake.
type intakeCommitter interface {
	// submit stores d (see Store.Intake) and returns once it is durable.
	submit(ctx context.Context, d Delivery, opts IntakeOptions) (IntakeResult, error)
	snapshot() IntakeStats
	close()
}

func (g *groupCommitter) snapshot() IntakeStats {
	g.stats.mu.Lock()
	defer g.stats.mu.Unlock()
	return g.stats.v
}

// close stops the committer after the batch in progress.
func (g *groupCommitter) close() {
	close(g.stop)
	<-g.done
	g.stmts.close()
	g.db.Close()
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Group commit of webhook intake (PostgreSQL).
//
// One transaction per delivery, each taking the store's write lock
// (writeLockKey), made intake wait behind every dispatcher transaction of
// every host and paid eight round trips and a WAL flush per delivery. The
// PostgreSQL committer instead takes every delivery waiting when it is free
// (no timer, at most maxIntakeBatch) and stores the batch in one
// transaction of four round trips: BEGIN; the batch's locks and lookups
// (one pipelined pgx batch); one statement inserting every delivery and
// its planning job (River's row, as River's own insert writes it) plus the
// NOTIFY that wakes the planners; COMMIT. Only then is each caller
// answered: an acknowledged delivery is committed (and, with PostgreSQL's
// synchronous_commit on, flushed).
//
// It does not take the store's write lock. What intake needs ordered is
// per delivery id (two hosts storing one id) and per payload fingerprint
// (two hosts storing a replay at once): it takes a transaction-level
// advisory lock per id and per fingerprint (intakeLockClass, a key space of
// its own), sorted so that batches never deadlock. Redeliveries of a
// delivery that may need planning again (its id is stored, failed or queued)
// are rare: they run after the batch, each in a transaction of its own
// through the same code as before (Queries.intake).
//
// Intake has its own pool (intakeWorkers connections, pgx's statement cache
// on each: its statements are prepared once per connection and kept), so
// it never waits for a connection behind River's fetches or the
// dispatcher; intakeWorkers committers take batches from one queue, so one
// batch is built while another commits.

// intakeWorkers is how many batches are in flight at once (and the intake
// pool's size).
const intakeWorkers = 2

// intakeBatchTimeout bounds one batch, its fallbacks included: a database
// that stopped answering fails the batch's callers (503) instead of holding
// the committer for ever.
const intakeBatchTimeout = 30 * time.Second

// intakeLockClass is the first key of intake's advisory locks (two int4
// keys: a space apart from the single-bigint keys of migrationLockKey and
// writeLockKey). "hook" in ASCII.
const intakeLockClass int32 = 0x686f6f6b

// pgCommitter stores deliveries in shared transactions on PostgreSQL.
type pgCommitter struct {
	s     *Store
	pool  *pgxpool.Pool // intake's own connections
	db    *sql.DB       // the same pool through database/sql (one delivery at a time)
	stats intakeStats
	reqs  chan *intakeReq
	stop  chan struct{}
	wg    sync.WaitGroup
}

// newPGCommitter opens intake's pool (cfg with intakeWorkers connections)
// and starts its committers.
func newPGCommitter(ctx context.Context, s *Store, cfg *pgxpool.Config) (*pgCommitter, error) {
	cfg = cfg.Copy()
	cfg.MaxConns = intakeWorkers
	cfg.MinConns = 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: intake pool: %w", err)
	}
	p := &pgCommitter{s: s, pool: pool, db: stdlib.OpenDBFromPool(pool), reqs: make(chan *intakeReq), stop: make(chan struct{})}
	for range intakeWorkers {
		p.wg.Add(1)
		go p.loop()
	}
	return p, nil
}

func (p *pgCommitter) submit(ctx context.Context, d Delivery, opts IntakeOptions) (IntakeResult, error) {
	r := &intakeReq{ctx: ctx, d: d, opts: opts, done: make(chan intakeDone, 1)}
	select {
	case p.reqs <- r:
	case <-p.stop:
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

func (p *pgCommitter) loop() {
	defer p.wg.Done()
	batch := make([]*intakeReq, 0, maxIntakeBatch)
	for {
		select {
		case <-p.stop:
			return
		case r := <-p.reqs:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < maxIntakeBatch {
			select {
			case r := <-p.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		p.commit(batch)
	}
}

// commit stores batch and answers every request. If the batch transaction
// fails, nothing of it is committed and each delivery is stored alone, so
// that only the failing ones are answered with their errors.
func (p *pgCommitter) commit(batch []*intakeReq) {
	// The batch's work must not end with one caller's context.
	ctx, cancel := context.WithTimeout(context.Background(), intakeBatchTimeout)
	defer cancel()
	out := make([]intakeDone, len(batch))
	var live []int
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			out[i].err = err // the caller is gone: store nothing for it
			continue
		}
		live = append(live, i)
	}
	alone, err := p.run(ctx, batch, live, out)
	if err != nil {
		p.s.logger.Warn("intake: batch failed: storing its deliveries one by one", "deliveries", len(live), "err", err)
		clear(out)
		alone = live
	}
	for _, i := range alone {
		r := batch[i]
		if err := r.ctx.Err(); err != nil {
			out[i] = intakeDone{err: err}
			continue
		}
		res, err := p.one(ctx, r.d, r.opts)
		out[i] = intakeDone{res: res, err: err}
		p.stats.mu.Lock()
		p.stats.v.Alone++
		p.stats.mu.Unlock()
	}
	for i, r := range batch {
		r.done <- out[i]
	}
}

// one stores d alone in a transaction of its own (Queries.intake) under
// its id's and fingerprint's locks.
func (p *pgCommitter) one(ctx context.Context, d Delivery, opts IntakeOptions) (IntakeResult, error) {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return IntakeResult{}, fmt.Errorf("store: intake: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, intakeLockSQL, intakeLockClass, intakeLockKeys([]Delivery{d})); err != nil {
		return IntakeResult{}, fmt.Errorf("store: intake: lock: %w", err)
	}
	q := &Queries{s: p.s, db: boundDB{s: p.s, e: tx}, tx: tx}
	res, err := q.intake(ctx, d, opts)
	if err != nil {
		return IntakeResult{}, err
	}
	if err := q.notifyQueued(ctx); err != nil {
		return IntakeResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return IntakeResult{}, fmt.Errorf("store: intake: commit: %w", err)
	}
	p.s.changes.changed()
	return res, nil
}

// intakeLockSQL takes intake's advisory locks ($2: keys, sorted) in order.
const intakeLockSQL = `SELECT pg_advisory_xact_lock($1::int4, k) FROM unnest($2::int4[]) AS k`

// intakeLockKeys are the lock keys of ds's ids and fingerprints, sorted
// and without repeats. Two values with one hash share a lock: harmless.
func intakeLockKeys(ds []Delivery) []int32 {
	keys := make([]int32, 0, 2*len(ds))
	key := func(kind, v string) int32 {
		h := fnv.New32a()
		h.Write([]byte(kind))
		h.Write([]byte(v))
		return int32(h.Sum32())
	}
	for _, d := range ds {
		keys = append(keys, key("id\x00", d.ID))
		if d.Fingerprint != "" {
			keys = append(keys, key("fp\x00", d.Fingerprint))
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// close stops the committers after the batches in progress.
func (p *pgCommitter) close() {
	close(p.stop)
	p.wg.Wait()
	p.db.Close()
	p.pool.Close()
}

func (p *pgCommitter) snapshot() IntakeStats {
	p.stats.mu.Lock()
	defer p.stats.mu.Unlock()
	return p.stats.v
}

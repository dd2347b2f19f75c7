package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Fencing on a shared database. A host is presumed dead when it has not
// beaten its heartbeat for a lease; its work is then given to others. A
// host presumed dead may still be alive (a stalled process, a network
// partition from the database), so every write it makes afterwards is
// refused:
//   - the job row by UpdateJob (attempt <= the row's),
//   - the job's steps and log chunks by CheckAttempt, which the runner's
//     flushes call first in their transaction (a shared row lock, so the
//     new attempt's start, which takes the row's update lock, waits for
//     the flush in flight and then deletes what it wrote),
//   - River's own row: takeOver cancels the dead host's queue row and queues
//     a copy, so the stale host's completion or error meets a row that is
//     no longer running, which River's completer leaves alone (it changes
//     only running rows); the copy is the only live row.
// A live host also fences itself: LeaseLost says when its own heartbeats
// have failed for most of a lease, before any other host may take its work.

// CheckAttempt returns ErrStale unless job jobID is at attempt. Inside a
// transaction on PostgreSQL it holds a shared lock on the job row until the
// transaction ends, so the attempt cannot move on under the caller's writes.
func (q *Queries) CheckAttempt(ctx context.Context, jobID int64, attempt int) error {
	lock := ""
	if q.s.dialect == postgresDialect && q.tx != nil {
		lock = " FOR SHARE"
	}
	var cur int
	err := q.db.QueryRowContext(ctx, `SELECT attempt FROM jobs WHERE id = ?`+lock, jobID).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: job %d: %w", jobID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: attempt of job %d: %w", jobID, err)
	}
	if cur != attempt {
		return fmt.Errorf("store: job %d attempt %d (now attempt %d): %w", jobID, attempt, cur, ErrStale)
	}
	return nil
}

// JobAttempts returns the current attempt of each job of ids that exists.
func (q *Queries) JobAttempts(ctx context.Context, ids []int64) (map[int64]int, error) {
	out := make(map[int64]int, len(ids))
	for _, id := range ids { // a host runs a few dozen jobs: one query each is fine
		var a int
		err := q.db.QueryRowContext(ctx, `SELECT attempt FROM jobs WHERE id = ?`, id).Scan(&a)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: attempt of job %d: %w", id, err)
		}
		out[id] = a
	}
	return out, nil
}

// takeOver gives the running queue jobs of hosts presumed dead (unheard of
// for longer than the lease, by the database's clock) to the live hosts: in
// one statement each such River row is cancelled (marked
// hookci_taken_over) and a copy is queued available. It returns how many
// were taken over. PostgreSQL only.
func (s *Store) takeOver(ctx context.Context) (int64, error) {
	db := boundDB{s: s, e: s.db}
	res, err := db.ExecContext(ctx, `WITH dead AS (
		UPDATE river_job SET state = 'cancelled', finalized_at = now(),
			metadata = metadata || jsonb_build_object('hookci_taken_over', ?::text)
		WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] IN
			(SELECT id FROM hosts WHERE id != ? AND last_seen < `+s.dialect.dbNowMS()+` - ?)
		RETURNING args, kind, queue, max_attempts, priority, tags, metadata)
	INSERT INTO river_job (args, kind, queue, max_attempts, priority, tags, metadata, state, scheduled_at)
		SELECT args, kind, queue, max_attempts, priority, tags, metadata - 'hookci_taken_over' - 'cancel_attempted_at',
			'available', now() FROM dead`, s.hostID, s.hostID, s.lease.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("store: taking over jobs of dead hosts: %w", err)
	}
	n, _ := res.RowsAffected()
	if n > 0 { // wake every host's queue now, not at its fallback poll
		if err := s.notifyQueues(ctx, queuePlan, queueJobs, queueReport); err != nil {
			return n, err
		}
	}
	return n, nil
}

// notifyQueues wakes every host's producers of queues (PostgreSQL).
func (s *Store) notifyQueues(ctx context.Context, queues ...string) error {
	db := boundDB{s: s, e: s.db}
	for _, q := range queues {
		if _, err := db.ExecContext(ctx, `SELECT pg_notify(concat(current_schema(), '.river_insert'), ?)`,
			`{"queue":"`+q+`"}`); err != nil {
			return fmt.Errorf("store: notify queue %s: %w", q, err)
		}
	}
	return nil
}

// beatOK records a successful heartbeat that started at t. It says when
// the lease LeaseLost reported lost is back, and warns (at most once a
// lease) when the lease grew older than half of it before this heartbeat
// landed, so that it is about to be counted lost although every one
// succeeds: a database or machine too slow
// for the lease would otherwise make the host refuse every job silently.
func (s *Store) beatOK(t time.Time) {
	s.mu.Lock()
	gap := time.Since(s.lastBeat) // how old the lease grew before this one landed
	back := s.lostSaid && t.After(s.lastBeat)
	slow := !s.lastBeat.IsZero() && gap > s.lease/2 && time.Since(s.slowSaid) > s.lease
	if t.After(s.lastBeat) {
		s.lastBeat = t
	}
	if back {
		s.lostSaid = false
	}
	if slow {
		s.slowSaid = time.Now()
	}
	s.mu.Unlock()
	if back {
		s.logger.Warn("lease back: a heartbeat reached the database; this host takes jobs again", "lease", s.lease)
	}
	if slow {
		s.logger.Warn("heartbeats are slow: this host counts its lease as lost (stops its jobs, takes none) once the last heartbeat's start is 2/3 of the lease old; lengthen HOOKCI_LEASE or relieve the database",
			"lease_age", gap.Round(time.Millisecond), "lease", s.lease, "heartbeat_took", time.Since(t).Round(time.Millisecond))
	}
}

// LeaseLost reports whether this host must stop its jobs because its
// heartbeats have failed for two thirds of the lease (counted from the
// start of the last one that succeeded, which is no later than the
// database's record of it): other hosts take its jobs once a whole lease
// has passed by the database's clock, so it stops first. Always false on
// SQLite (one host) and before the queue started. The first true of a loss
// is logged, so a host that refuses jobs says why.
func (s *Store) LeaseLost() bool {
	if s.dialect != postgresDialect {
		return false
	}
	s.mu.Lock()
	since := time.Since(s.lastBeat)
	lost := !s.lastBeat.IsZero() && since > s.lease*2/3
	say := lost && !s.lostSaid
	if say {
		s.lostSaid = true
	}
	s.mu.Unlock()
	if say {
		s.logger.Error("lease lost: no heartbeat reached the database for 2/3 of the lease; this host stops its jobs and takes none until one does",
			"since_last_heartbeat", since.Round(time.Millisecond), "lease", s.lease)
	}
	return lost
}

// Lease is how long a host may go unheard before it is presumed dead.
func (s *Store) Lease() time.Duration { return s.lease }

// Shared reports whether several hosts may share this store (PostgreSQL).
func (s *Store) Shared() bool { return s.dialect == postgresDialect }

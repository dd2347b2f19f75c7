package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// ErrLeaseLost, wrapped in what a job handler returns, says that this host
// did not run the job (or stopped it) because its lease is lost (LeaseLost).
// The queue then holds the job instead of giving it back: see holdForLease.
var ErrLeaseLost = errors.New("this host's lease is lost")

// ErrLeaseLostUnstarted (it wraps ErrLeaseLost) says that the host refused
// the job before starting anything of it: the queue hands its row on to the
// other hosts at once instead of waiting for their takeover.
var ErrLeaseLostUnstarted = fmt.Errorf("%w: the job was not started", ErrLeaseLost)

// holdForLease keeps the queue job riverID, which this host fetched or
// stopped while its lease was lost, `running` under this host instead of
// giving it back to the queue (issue 11). Given back, the row was available
// again at once and this host, which still reaches the database for its
// fetches although its heartbeats do not land, fetched it again, found its
// lease still lost and gave it back again: the row churned between the hosts
// and another host's takeover caught it only by chance, after one to
// several rounds (2.0–14.3 s from the stop to the job running elsewhere with
// a 3 s lease). Held, the row is exactly what takeOver looks for (running,
// last taken by a host unheard of for a lease): the first takeover on a
// live host cancels it and queues one copy. The hold ends
//   - when the lease is back: a row still ours is given back at once, to be
//     run by whoever fetches it (this host included); a row taken over meanwhile
//     ends (River's completer leaves a row that is no longer running alone);
//   - when the row is still ours after holdLimit (no other live host took it
//     over): given back as before, so that a job is never stuck on a host;
//   - when the queue stops (ctx): given back.
//
// A job this host did not start (unstarted: fetched while the lease was
// lost) has nothing to stop, so the hold hands its row on at once (handOn)
// instead of waiting a lease for another host's takeover.
//
// While the lease stays lost a hold goes on even after its row was taken
// over or handed on, so the held worker slot cannot fetch the row's copy:
// each of this host's worker slots takes a job at most once per loss, and
// once all are held the host fetches nothing until its lease is back.
func (s *Store) holdForLease(ctx context.Context, riverID, jobID int64, unstarted bool) error {
	every := max(s.lease/30, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	start := time.Now()
	takenOver := false
	if unstarted {
		if err := s.handOn(ctx, riverID); err != nil {
			s.logger.Warn("lease lost: handing an unstarted job on to other hosts failed; holding it for their takeover", "job", jobID, "err", err)
		} else {
			takenOver = true
			s.logger.Warn("lease lost: the job fetched meanwhile is handed on to other hosts; this worker slot stays held until the lease is back",
				"job", jobID, "lease", s.lease)
		}
	}
	if !takenOver {
		s.logger.Warn("lease lost: holding the job's queue row until the lease is back or another host takes it over",
			"job", jobID, "lease", s.lease)
	}
	for {
		select {
		case <-ctx.Done():
			return river.JobSnooze(0)
		case <-t.C:
		}
		if !s.LeaseLost() {
			if takenOver {
				return nil
			}
			s.logger.Info("lease back: the held job is offered again", "job", jobID, "held", time.Since(start).Round(time.Millisecond))
			return river.JobSnooze(s.giveBackJitter())
		}
		if takenOver {
			continue
		}
		if running, err := s.queueRowRunning(ctx, riverID); err == nil && !running {
			takenOver = true
			s.logger.Info("lease lost: the held job was taken over by another host; this worker slot stays held until the lease is back",
				"job", jobID, "held", time.Since(start).Round(time.Millisecond))
			continue
		}
		if time.Since(start) > s.holdLimit() {
			s.logger.Warn("lease lost: no other host took the held job over; giving it back to the queue",
				"job", jobID, "held", time.Since(start).Round(time.Millisecond))
			return river.JobSnooze(s.giveBackJitter())
		}
	}
}

// holdLimit is how long a held row may stay ours: another live host takes it
// over a lease after this host's last heartbeat landed plus up to one of its
// own heartbeat intervals (lease/3), and this host counts the loss from 2/3
// of the lease, so a takeover comes within 2/3 of a lease of the hold's
// start; two leases leave room for a slow database.
func (s *Store) holdLimit() time.Duration { return 2 * s.lease }

// queueRowRunning reports whether queue row riverID is still running (not
// cancelled by a takeover).
func (s *Store) queueRowRunning(ctx context.Context, riverID int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, max(s.lease/3, time.Second))
	defer cancel()
	var state string
	err := boundDB{s: s, e: s.db}.QueryRowContext(ctx, `SELECT state FROM river_job WHERE id = ?`, riverID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return state == "running", nil
}

// handOn gives this host's running queue row riverID to the other hosts as
// takeOver does for a dead host's rows: in one statement the row is
// cancelled (metadata hookci_handed_on) and a copy is queued available, and
// every host's jobs queue is woken.
func (s *Store) handOn(ctx context.Context, riverID int64) error {
	ctx, cancel := context.WithTimeout(ctx, max(s.lease/3, time.Second))
	defer cancel()
	res, err := boundDB{s: s, e: s.db}.ExecContext(ctx, `WITH mine AS (
		UPDATE river_job SET state = 'cancelled', finalized_at = now(),
			metadata = metadata || jsonb_build_object('hookci_handed_on', ?::text)
		WHERE id = ? AND state = 'running'
		RETURNING args, kind, queue, max_attempts, priority, tags, metadata)
	INSERT INTO river_job (args, kind, queue, max_attempts, priority, tags, metadata, state, scheduled_at)
		SELECT args, kind, queue, max_attempts, priority, tags, metadata - 'hookci_handed_on' - 'cancel_attempted_at',
			'available', now() FROM mine`, s.hostID, riverID)
	if err != nil {
		return fmt.Errorf("store: handing queue job %d on: %w", riverID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: handing queue job %d on: it is no longer running here", riverID)
	}
	return s.notifyQueues(ctx, queueJobs)
}

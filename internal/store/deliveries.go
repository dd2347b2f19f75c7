package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"
)

// Failure reasons of a delivery: a fixed set, so that they can label metrics.
const (
	ReasonMalformedPayload  = "malformed_payload"  // the payload cannot be decoded into an event
	ReasonInvalidRepository = "invalid_repository" // the payload names no repository, or not an owner/name
	ReasonInvalidCommit     = "invalid_commit"     // the payload's commit id is not one
	ReasonRetriesExhausted  = "retries_exhausted"  // transient failures outlasted the retry budget
)

// FailureReasons lists every reason a delivery can fail with.
var FailureReasons = []string{ReasonMalformedPayload, ReasonInvalidRepository, ReasonInvalidCommit, ReasonRetriesExhausted}

// PermanentError is a planning failure no retry can fix (a malformed or
// meaningless payload). The delivery ends failed at once with Reason.
type PermanentError struct {
	Reason string // one of the Reason constants
	Err    error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as a permanent planning failure with reason.
func Permanent(reason string, err error) error { return &PermanentError{Reason: reason, Err: err} }

// IntakeOptions say how Intake treats a delivery.
type IntakeOptions struct {
	// Plan queues the delivery's planning (else it is stored as it is).
	Plan bool
	// ReplayWindow: a delivery under a new id whose Fingerprint equals that
	// of a delivery received within this window is a replay (0: no check).
	ReplayWindow time.Duration
}

// IntakeResult says what Intake did.
type IntakeResult struct {
	// Duplicate: the delivery id was seen before and has planned, been
	// ignored, or is being planned: nothing changed.
	Duplicate bool
	// ReplayOf names the earlier delivery whose payload this one repeats
	// under a new id: nothing was stored.
	ReplayOf string
	// Replanned: a redelivery (same id) of a delivery that never planned
	// (failed, or queued without live queue work): planning is queued again.
	Replanned bool
}

// AddDelivery stores d and, when plan is true, queues its planning, in one
// transaction. A delivery id seen before returns duplicate=true and changes
// nothing, unless that delivery never planned (see Intake).
func (s *Store) AddDelivery(ctx context.Context, d Delivery, plan bool) (duplicate bool, err error) {
	res, err := s.Intake(ctx, d, IntakeOptions{Plan: plan})
	return res.Duplicate || res.ReplayOf != "", err
}

// Intake stores d and, when opts.Plan, queues its planning, in one
// transaction, after checking for redeliveries and replays:
//   - an id seen before is a duplicate, unless that delivery never planned
//     (it failed, or is queued without live queue work): then its planning is
//     queued again (GitHub's redelivery reuses the id);
//   - a new id with the Fingerprint of a delivery received within
//     opts.ReplayWindow is a replay of it and is not stored.
//
// The fingerprint is stored with the delivery row.
//
// Concurrent calls share one transaction and one commit (group commit:
// intake.go on SQLite, intake_postgres.go on PostgreSQL) on connections of
// their own; each returns only once the transaction holding its delivery
// has committed.
func (s *Store) Intake(ctx context.Context, d Delivery, opts IntakeOptions) (IntakeResult, error) {
	if s.intake != nil {
		return s.intake.submit(ctx, d, opts)
	}
	var res IntakeResult
	err := s.InTx(ctx, func(q *Queries) error {
		var err error
		res, err = q.intake(ctx, d, opts)
		return err
	})
	return res, err
}

// intake is Intake's work inside q's transaction.
func (q *Queries) intake(ctx context.Context, d Delivery, opts IntakeOptions) (IntakeResult, error) {
	var res IntakeResult
	err := func() error {
		var status string
		err := q.db.QueryRowContext(ctx, `SELECT status FROM deliveries WHERE id = ?`, d.ID).Scan(&status)
		switch {
		case err == nil:
			return q.redeliver(ctx, d.ID, status, opts.Plan, &res)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: look up delivery: %w", err)
		}
		if opts.ReplayWindow > 0 && d.Fingerprint != "" {
			since := ms(d.ReceivedAt.Add(-opts.ReplayWindow))
			// "fingerprint != ''" lets SQLite use the partial index
			// deliveries_fingerprint (it cannot tell that a bound
			// value is not ''); without it every intake read every
			// stored payload.
			err := q.db.QueryRowContext(ctx, `SELECT id FROM deliveries WHERE fingerprint = ? AND fingerprint != '' AND received_at >= ?
				ORDER BY received_at LIMIT 1`, d.Fingerprint, since).Scan(&res.ReplayOf)
			switch {
			case err == nil:
				return nil
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("store: look up fingerprint: %w", err)
			}
		}
		// ON CONFLICT: another host may store the same id first (no
		// write lock covers both hosts' lookups on every database).
		added, err := q.db.ExecContext(ctx, `INSERT INTO deliveries (id, event, action, repo, sha, received_at, payload, status, message, fingerprint)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			d.ID, d.Event, d.Action, d.Repo, d.SHA, ms(d.ReceivedAt), d.Payload, d.Status, d.Message, d.Fingerprint)
		if err != nil {
			return fmt.Errorf("store: add delivery: %w", err)
		}
		if n, err := added.RowsAffected(); err == nil && n == 0 {
			res.Duplicate = true
			return nil
		}
		if opts.Plan {
			return q.enqueuePlan(ctx, d.ID)
		}
		return nil
	}()
	return res, err
}

// redeliver handles a delivery id seen before (status is its stored status).
func (q *Queries) redeliver(ctx context.Context, id, status string, plan bool, res *IntakeResult) error {
	replan := plan && status == DeliveryFailed
	if plan && status == DeliveryQueued {
		live, err := q.planLive(ctx, id)
		if err != nil {
			return err
		}
		replan = !live
	}
	if !replan {
		res.Duplicate = true
		return nil
	}
	if err := q.SetDeliveryStatus(ctx, id, DeliveryQueued, "redelivered: planning again"); err != nil {
		return fmt.Errorf("store: requeue delivery: %w", err)
	}
	res.Replanned = true
	return q.enqueuePlan(ctx, id)
}

// planLive reports whether delivery id has planning work in the queue that
// will still run.
func (q *Queries) planLive(ctx context.Context, id string) (bool, error) {
	if q.plans != nil && slices.Contains(*q.plans, id) {
		return true, nil // queued by this batch, inserted before its commit
	}
	if q.s.mem != nil {
		for _, it := range q.mem {
			if a, ok := it.args.(deliveryArgs); ok && a.DeliveryID == id {
				return true, nil // queued by this transaction
			}
		}
		return q.s.mem.planQueued(id), nil
	}
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = ? AND `+q.s.dialect.jsonText("args", "delivery_id")+` = ?
		AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled')`, deliveryArgs{}.Kind(), id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: look up planning of %s: %w", id, err)
	}
	return n > 0, nil
}

// planMaxAttempts is River's attempt cap for planning; the retry budget
// (RetryPolicy.Budget) ends retries long before it.
const planMaxAttempts = 10000

func (q *Queries) enqueuePlan(ctx context.Context, id string) error {
	if q.s.mem != nil {
		q.queueMem(memItemOf(queuePlan, deliveryArgs{DeliveryID: id}, planMaxAttempts), inPlan)
		return nil
	}
	if q.plans != nil {
		*q.plans = append(*q.plans, id)
		q.queued |= inPlan
		return nil
	}
	if _, err := q.s.river.InsertTx(ctx, q.tx, deliveryArgs{DeliveryID: id},
		&river.InsertOpts{Queue: queuePlan, MaxAttempts: planMaxAttempts}); err != nil {
		return fmt.Errorf("store: queue delivery: %w", err)
	}
	q.queued |= inPlan
	return nil
}

// FailDelivery marks delivery id failed with reason (one of the Reason
// constants) and the error's text.
func (q *Queries) FailDelivery(ctx context.Context, id, reason string, err error) error {
	msg := reason + ": " + err.Error()
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	return q.SetDeliveryStatus(ctx, id, DeliveryFailed, msg)
}

// DeliveriesBefore lists up to limit deliveries, newest first, older than
// delivery before ("" starts from the newest), without their payloads.
func (q *Queries) DeliveriesBefore(ctx context.Context, before string, limit int) ([]Delivery, error) {
	where, args, order := "", []any{}, q.s.dialect.deliveryOrder()
	if before != "" {
		where, args = `WHERE `+order+` < (SELECT `+order+` FROM deliveries WHERE id = ?)`, append(args, before)
	}
	rows, err := q.db.QueryContext(ctx, `SELECT id, event, action, repo, received_at, status, message
		FROM deliveries `+where+` ORDER BY `+order+` DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var at int64
		if err := rows.Scan(&d.ID, &d.Event, &d.Action, &d.Repo, &at, &d.Status, &d.Message); err != nil {
			return nil, err
		}
		d.ReceivedAt = fromMS(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// RunsBefore lists up to limit runs, newest first, with ids below before
// (0 starts from the newest).
func (q *Queries) RunsBefore(ctx context.Context, before int64, limit int) ([]Run, error) {
	if before <= 0 {
		return q.runsWhere(ctx, `ORDER BY id DESC LIMIT ?`, limit)
	}
	return q.runsWhere(ctx, `WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
}

package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// One PostgreSQL intake batch: lookups, decisions, one insert (see
// intake_postgres.go).

// intakeStoredSQL finds which of the batch's ids are stored already.
const intakeStoredSQL = `SELECT id, status FROM deliveries WHERE id = ANY($1::text[])`

// intakeReplaySQL finds, for each (fingerprint, since) pair, the earliest
// delivery with that fingerprint received since then (Queries.intake's
// replay lookup, for a whole batch). i is the pair's 1-based position.
const intakeReplaySQL = `SELECT f.i, (SELECT d.id FROM deliveries d WHERE d.fingerprint = f.fp AND d.fingerprint != ''
	AND d.received_at >= f.since ORDER BY d.received_at LIMIT 1)
	FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS f(fp, since, i)`

// intakeInsertSQL stores the batch's new deliveries (ON CONFLICT: a
// delivery stored meanwhile by a host that does not take intake's locks is
// left alone, and answered duplicate) and queues the planning of those
// whose plan flag is set, as River's own insert writes the row (River's
// database/sql driver, JobInsertFastMany: args, kind, max_attempts, queue
// given; created_at and scheduled_at now(), metadata {}, priority 1, state
// available, tags empty, no unique key; TestIntakePlanRowMatchesRiver
// compares the rows). It returns the ids stored.
const intakeInsertSQL = `WITH d AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::bytea[],
		$8::text[], $9::text[], $10::text[], $11::bool[])
		WITH ORDINALITY AS d(id, event, action, repo, sha, received_at, payload, status, message, fingerprint, plan, n)
), ins AS (
	INSERT INTO deliveries (id, event, action, repo, sha, received_at, payload, status, message, fingerprint)
	SELECT id, event, action, repo, sha, received_at, payload, status, message, fingerprint FROM d ORDER BY n
	ON CONFLICT (id) DO NOTHING RETURNING id
), plans AS (
	INSERT INTO river_job (args, created_at, kind, max_attempts, metadata, priority, queue, scheduled_at, state, tags)
	SELECT jsonb_build_object('delivery_id', d.id), now(), $12::text, $13::int2, '{}'::jsonb, 1, $14::text, now(),
		'available'::river_job_state, '{}'::varchar(255)[]
	FROM d JOIN ins ON ins.id = d.id WHERE d.plan ORDER BY d.n
	RETURNING 1
)
SELECT id FROM ins`

// intakeNotifySQL wakes the planners of every host (notifyQueued's NOTIFY).
const intakeNotifySQL = `SELECT pg_notify(concat(current_schema(), '.river_insert'), $1)`

// batchRows are the columns of intakeInsertSQL's new deliveries.
type batchRows struct {
	id, event, action, repo, sha, status, message, fingerprint []string
	receivedAt                                                 []int64
	payload                                                    [][]byte
	plan                                                       []bool
	at                                                         []int // each row's index in the batch
}

func (b *batchRows) add(i int, d Delivery, plan bool) {
	b.id, b.event, b.action, b.repo = append(b.id, d.ID), append(b.event, d.Event), append(b.action, d.Action), append(b.repo, d.Repo)
	b.sha, b.status, b.message = append(b.sha, d.SHA), append(b.status, d.Status), append(b.message, d.Message)
	b.fingerprint, b.receivedAt = append(b.fingerprint, d.Fingerprint), append(b.receivedAt, ms(d.ReceivedAt))
	b.payload, b.plan, b.at = append(b.payload, d.Payload), append(b.plan, plan), append(b.at, i)
}

// seen is what a batch knows of a delivery id stored before it or earlier
// in it.
type seen struct {
	status  string
	planned bool // its planning is queued in this batch
}

// run stores the deliveries batch[live] in one transaction, filling out.
// It returns the indexes of the redeliveries to store alone after it (their
// planning may have to be queued again: Queries.intake decides), or an error
// when the transaction failed (nothing of it is committed; out is
// undefined).
func (p *pgCommitter) run(ctx context.Context, batch []*intakeReq, live []int, out []intakeDone) (alone []int, err error) {
	if len(live) == 0 {
		return nil, nil
	}
	t0 := time.Now()
	ds := make([]Delivery, len(live))
	ids := make([]string, len(live))
	var fps []string
	var since []int64
	replayAt := make([]int, len(live)) // position in fps + 1; 0: no lookup
	for k, i := range live {
		r := batch[i]
		ds[k], ids[k] = r.d, r.d.ID
		if r.opts.ReplayWindow > 0 && r.d.Fingerprint != "" {
			fps, since = append(fps, r.d.Fingerprint), append(since, ms(r.d.ReceivedAt.Add(-r.opts.ReplayWindow)))
			replayAt[k] = len(fps)
		}
	}
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: intake: connection: %w", err)
	}
	defer conn.Release()
	// BEGIN and COMMIT travel in the batches' pipelines (one round trip
	// each fewer); a batch that failed leaves the transaction open or
	// aborted: roll it back (were that to fail, the pool drops a connection
	// left inside a transaction).
	committed := false
	defer func() {
		if !committed {
			conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	c := conn.Conn()
	stored, replayOf, err := lookups(ctx, c, intakeLockKeys(ds), ids, fps, since)
	if err != nil {
		return nil, err
	}
	looked := time.Now()

	var rows batchRows
	firstFP := map[string]Delivery{} // fingerprint → the first new delivery of the batch with it
	for k, i := range live {
		r := batch[i]
		d := r.d
		if s, ok := stored[d.ID]; ok {
			// A redelivery: Queries.redeliver's rule, except that a
			// delivery stored before the batch may have planning to queue
			// again, which its own transaction decides.
			replan := r.opts.Plan && (s.status == DeliveryFailed || (s.status == DeliveryQueued && !s.planned))
			if replan {
				alone = append(alone, i)
			} else {
				out[i].res.Duplicate = true
			}
			continue
		}
		if replayAt[k] > 0 {
			if id := replayOf[replayAt[k]-1]; id != "" {
				out[i].res.ReplayOf = id
				continue
			}
			if e, ok := firstFP[d.Fingerprint]; ok && ms(e.ReceivedAt) >= ms(d.ReceivedAt.Add(-r.opts.ReplayWindow)) {
				out[i].res.ReplayOf = e.ID
				continue
			}
		}
		stored[d.ID] = seen{status: d.Status, planned: r.opts.Plan}
		if _, ok := firstFP[d.Fingerprint]; !ok && d.Fingerprint != "" {
			firstFP[d.Fingerprint] = d
		}
		rows.add(i, d, r.opts.Plan)
	}
	inserted, planned, err := insertBatch(ctx, c, &rows)
	if err != nil {
		return nil, err
	}
	committed = true
	ran := time.Now()
	for k, i := range rows.at {
		if !inserted[rows.id[k]] {
			out[i].res.Duplicate = true // stored by another host meanwhile
		}
	}
	p.stats.add(len(live), looked.Sub(t0), ran.Sub(looked), time.Since(ran))
	if planned {
		p.s.wake(inPlan)
	}
	p.s.changes.changed()
	return alone, nil
}

// lookups begins the transaction, takes the batch's locks, then reads
// which ids are stored (with their status) and, for each fingerprint, the
// delivery it replays ("" for none): one round trip.
func lookups(ctx context.Context, c *pgx.Conn, keys []int32, ids, fps []string, since []int64) (map[string]seen, []string, error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(intakeLockSQL, intakeLockClass, keys)
	b.Queue(intakeStoredSQL, ids)
	if len(fps) > 0 {
		b.Queue(intakeReplaySQL, fps, since)
	}
	br := c.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, nil, fmt.Errorf("store: intake: begin: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return nil, nil, fmt.Errorf("store: intake: lock: %w", err)
	}
	stored := map[string]seen{}
	rows, err := br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("store: look up deliveries: %w", err)
	}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("store: look up deliveries: %w", err)
		}
		stored[id] = seen{status: status}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: look up deliveries: %w", err)
	}
	replayOf := make([]string, len(fps))
	if len(fps) > 0 {
		rows, err := br.Query()
		if err != nil {
			return nil, nil, fmt.Errorf("store: look up fingerprints: %w", err)
		}
		for rows.Next() {
			var i int64
			var id *string
			if err := rows.Scan(&i, &id); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("store: look up fingerprints: %w", err)
			}
			if id != nil && i >= 1 && int(i) <= len(fps) {
				replayOf[i-1] = *id
			}
		}
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("store: look up fingerprints: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return nil, nil, fmt.Errorf("store: intake: lookups: %w", err)
	}
	return stored, replayOf, nil
}

// insertBatch runs intakeInsertSQL (when there are rows), the planners'
// NOTIFY (when a row plans) and COMMIT in one round trip; it returns the
// ids stored and whether any planning was queued. Without an error the
// transaction has committed.
func insertBatch(ctx context.Context, c *pgx.Conn, r *batchRows) (map[string]bool, bool, error) {
	b := &pgx.Batch{}
	if len(r.id) > 0 {
		b.Queue(intakeInsertSQL, r.id, r.event, r.action, r.repo, r.sha, r.receivedAt, r.payload, r.status, r.message,
			r.fingerprint, r.plan, deliveryArgs{}.Kind(), planMaxAttempts, queuePlan)
	}
	plans := false
	for _, p := range r.plan {
		plans = plans || p
	}
	if plans {
		b.Queue(intakeNotifySQL, `{"queue":"`+queuePlan+`"}`)
	}
	b.Queue("COMMIT")
	br := c.SendBatch(ctx, b)
	defer br.Close()
	inserted := make(map[string]bool, len(r.id))
	if len(r.id) == 0 {
		return inserted, false, commitResult(br)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, false, fmt.Errorf("store: add deliveries: %w", err)
	}
	planned := false
	plan := make(map[string]bool, len(r.id))
	for k, id := range r.id {
		plan[id] = r.plan[k]
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("store: add deliveries: %w", err)
		}
		inserted[id] = true
		planned = planned || plan[id]
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("store: add deliveries: %w", err)
	}
	if plans {
		if _, err := br.Exec(); err != nil {
			return nil, false, fmt.Errorf("store: notify queue %s: %w", queuePlan, err)
		}
	}
	if err := commitResult(br); err != nil {
		return nil, false, err
	}
	return inserted, planned, nil
}

// commitResult reads the result of the batch's COMMIT and closes it.
// PostgreSQL answers COMMIT of a failed transaction with the tag ROLLBACK
// and no error.
func commitResult(br pgx.BatchResults) error {
	tag, err := br.Exec()
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("the transaction was rolled back (%s)", tag)
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: intake: commit: %w", err)
	}
	return nil
}

package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// insertPlansSQL queues planning of each delivery id of a JSON array, as
// River's own insert of deliveryArgs{DeliveryID: id} with
// InsertOpts{Queue: queuePlan, MaxAttempts: planMaxAttempts} writes it
// (River's SQLite driver: JSONB args, metadata and tags, times from
// datetime('now', 'subsec'), no unique key). It is one prepared statement
// for the whole batch: River's InsertManyTx builds and parses its insert
// again on every call. TestIntakePlanRowMatchesRiver compares the rows.
const insertPlansSQL = `INSERT INTO river_job (args, created_at, kind, max_attempts, metadata, priority, queue,
	scheduled_at, state, tags)
	SELECT jsonb(json_object('delivery_id', value)), datetime('now', 'subsec'), ?, ?, jsonb('{}'), 1, ?,
	datetime('now', 'subsec'), 'available', jsonb('[]')
	FROM json_each(?)`

// insertPlans queues the planning of deliveries ids in e's transaction.
func insertPlans(ctx context.Context, e execer, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("store: queue deliveries: %w", err)
	}
	res, err := e.ExecContext(ctx, insertPlansSQL, deliveryArgs{}.Kind(), planMaxAttempts, queuePlan, string(list))
	if err != nil {
		return fmt.Errorf("store: queue deliveries: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n != int64(len(ids)) {
		return fmt.Errorf("store: queue deliveries: %d of %d queued", n, len(ids))
	}
	return nil
}

package store

import (
	"context"
	"fmt"
	"strings"
)

// CancelledRunning returns which of ids are still in progress but marked
// cancelled: a cancel made through another host, whose dispatcher cannot
// reach this host's sandboxes, so the host running them must stop them
// itself. One query for all of ids.
func (q *Queries) CancelledRunning(ctx context.Context, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(ids)+2)
	args = append(args, StatusInProgress, ConclusionCancelled)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := q.db.QueryContext(ctx, `SELECT id FROM jobs WHERE status = ? AND conclusion = ? AND id IN (?`+
		strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: cancelled running jobs: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: cancelled running jobs: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: cancelled running jobs: %w", err)
	}
	return out, nil
}

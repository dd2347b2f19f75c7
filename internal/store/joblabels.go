package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// migrationJobLabels (13) keeps a job's runs-on labels, evaluated when the
// job is picked up (matrix values and expressions applied), for the
// Actions-shaped job JSON (`labels`): a JSON array, "" before the job was
// picked up; and the Actions runs list's indexes (actionsruns.go).
var migrationJobLabels = migration{
	SQLite:   `ALTER TABLE jobs ADD COLUMN labels TEXT NOT NULL DEFAULT '';` + runsListIndexes,
	Postgres: `ALTER TABLE jobs ADD COLUMN labels TEXT NOT NULL DEFAULT '';` + runsListIndexes,
}

// SetJobLabels records the runs-on labels job id was picked up with.
func (q *Queries) SetJobLabels(ctx context.Context, id int64, labels []string) error {
	if labels == nil {
		labels = []string{}
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return fmt.Errorf("store: job %d labels: %w", id, err)
	}
	if _, err := q.db.ExecContext(ctx, `UPDATE jobs SET labels = ? WHERE id = ?`, string(b), id); err != nil {
		return fmt.Errorf("store: set job %d labels: %w", id, err)
	}
	return nil
}

// decodeLabels reads the labels column: nil when none were recorded (or the
// value is not a JSON array of strings).
func decodeLabels(s string) []string {
	if s == "" {
		return nil
	}
	var l []string
	if json.Unmarshal([]byte(s), &l) != nil {
		return nil
	}
	return l
}

package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
)

// TestIntakePlanRowMatchesRiver: the group commit's own insert of plan
// jobs (intake_plans.go) writes the row River's InsertTx writes for the
// same job, column by column (bar id and times), and River's worker takes
// that row and hands the delivery to the planner. Fails when River's
// schema or encoding moves away from the statement.
func TestIntakePlanRowMatchesRiver(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Through intake: the group commit's insert.
	if _, err := s.Intake(ctx, Delivery{ID: "ours", Event: "push", Repo: "o/r", ReceivedAt: time.Now(), Payload: []byte(`{}`),
		Status: DeliveryQueued}, IntakeOptions{Plan: true}); err != nil {
		t.Fatal(err)
	}
	// Through River.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.river.InsertTx(ctx, tx, deliveryArgs{DeliveryID: "river"},
		&river.InsertOpts{Queue: queuePlan, MaxAttempts: planMaxAttempts}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	row := func(id string) []string {
		t.Helper()
		cols := []string{"json(args)", "attempt", "attempted_at", "attempted_by", "typeof(created_at)", "length(created_at)",
			"errors", "finalized_at", "kind", "max_attempts",
			// River's batch insert adds a random nonce (to tell inserted
			// rows from unique-key conflicts): not part of the job.
			`json_remove(metadata, '$."river:unique_nonce"')`, "typeof(metadata)", "priority", "queue",
			"state", "typeof(scheduled_at)", "length(scheduled_at)", "scheduled_at <= datetime('now', 'subsec')",
			"json(tags)", "typeof(tags)", "typeof(args)", "unique_key", "unique_states"}
		out := make([]string, len(cols))
		for i, c := range cols {
			var v any
			if err := s.db.QueryRowContext(ctx, `SELECT `+c+` FROM river_job WHERE json_extract(args, '$.delivery_id') = ?`, id).Scan(&v); err != nil {
				t.Fatalf("%s of %s: %v", c, id, err)
			}
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			out[i] = fmt.Sprintf("%s=%v", c, v)
		}
		return out
	}
	ours, theirs := row("ours"), row("river")
	for i := range ours {
		want := theirs[i]
		if i == 0 {
			want = `json(args)={"delivery_id":"ours"}`
			if theirs[i] != `json(args)={"delivery_id":"river"}` {
				t.Errorf("River's args: got %s, want the delivery id only", theirs[i])
			}
		}
		if ours[i] != want {
			t.Errorf("plan job row: got %s, want %s (as River writes it)", ours[i], want)
		}
	}
	// River runs the job of our row.
	got := make(chan string, 2)
	if err := s.StartQueue(ctx, Handlers{Delivery: func(ctx context.Context, id string) error {
		got <- id
		return s.Queries().SetDeliveryStatus(ctx, id, DeliveryPlanned, "test")
	}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case id := <-got:
			seen[id] = true
		case <-time.After(30 * time.Second):
			t.Fatalf("planned %v, want ours and river", seen)
		}
	}
}

// TestIntakeBatchWithFailingDelivery: deliveries stored in one group commit
// with one whose insert fails (a NULL payload breaks NOT NULL): that one is
// answered with its error and not stored, nor queued; every other one is
// answered, stored and queued once. The committer is held on SQLite's
// write lock while they arrive, so that they share a batch.
func TestIntakeBatchWithFailingDelivery(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Hold the write lock from the store's main connection.
	hold, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.ExecContext(ctx, `UPDATE deliveries SET status = status WHERE 0`); err != nil {
		t.Fatal(err)
	}
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := Delivery{ID: fmt.Sprintf("d%d", i), Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
				Payload: []byte(`{}`), Status: DeliveryQueued}
			if i == 5 {
				d.Payload = nil
			}
			_, errs[i] = s.Intake(ctx, d, IntakeOptions{Plan: true})
		}()
	}
	time.Sleep(200 * time.Millisecond) // let them reach the committer (the test passes either way)
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		var stored, queued int
		s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE id = ?`, fmt.Sprintf("d%d", i)).Scan(&stored)
		s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE json_extract(args, '$.delivery_id') = ?`,
			fmt.Sprintf("d%d", i)).Scan(&queued)
		want := 1
		if i == 5 {
			want = 0
			if err == nil {
				t.Errorf("d5 (NULL payload): got no error, want the insert's")
			}
		} else if err != nil {
			t.Errorf("d%d: got %v, want stored", i, err)
		}
		if stored != want || queued != want {
			t.Errorf("d%d: stored %d queued %d, want %d and %d", i, stored, queued, want, want)
		}
	}
}

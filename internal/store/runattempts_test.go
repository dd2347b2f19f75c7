package store

import (
	"context"
	"testing"
)

// TestRunAttemptsShareFirstID: a run's attempts (rows) all carry the first
// attempt's id, RunAttempts finds them from any attempt's id, and the
// migration's fill gives rows stored before it (first_id 0) the same ids —
// on SQLite and PostgreSQL.
func TestRunAttemptsShareFirstID(t *testing.T) { eachDB(t, testRunAttemptsShareFirstID) }

func testRunAttemptsShareFirstID(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := s.Queries()
	mk := func(r *Run) *Run {
		t.Helper()
		if err := q.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	base := Run{DeliveryID: "none", Repo: "o/r", WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "CI",
		Event: "push", SHA: "abc", Ref: "refs/heads/main", Status: StatusCompleted, Conclusion: ConclusionFailure}
	a1 := mk(&base)
	other := base
	other.ID, other.RunNumber, other.FirstID = 0, 0, 0
	b1 := mk(&other) // run #2 of the same workflow
	a2 := base
	a2.ID, a2.Attempt, a2.FirstID = 0, 2, a1.PublicID()
	mk(&a2)
	a3 := a2
	a3.ID, a3.Attempt = 0, 3
	mk(&a3)
	if a1.FirstID != a1.ID || b1.FirstID != b1.ID || a2.FirstID != a1.ID || b1.RunNumber != 2 {
		t.Fatalf("first ids: a1 %d/%d b1 %d/%d a2 %d", a1.ID, a1.FirstID, b1.ID, b1.FirstID, a2.FirstID)
	}
	check := func(when string) {
		t.Helper()
		for _, id := range []int64{a1.ID, a2.ID, a3.ID} {
			all, err := q.RunAttempts(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 3 || all[0].ID != a1.ID || all[2].ID != a3.ID || all[2].Attempt != 3 || all[1].PublicID() != a1.ID {
				t.Errorf("%s: attempts of %d: %+v, want a1, a2, a3 sharing id %d", when, id, all, a1.ID)
			}
		}
		if all, err := q.RunAttempts(ctx, b1.ID); err != nil || len(all) != 1 || all[0].ID != b1.ID {
			t.Errorf("%s: attempts of run #2: %+v %v", when, all, err)
		}
	}
	check("new rows")
	// Rows stored before migration 14: first_id 0 until the fill.
	if _, err := s.DB().ExecContext(ctx, `UPDATE runs SET first_id = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, fillFirstIDSQL); err != nil {
		t.Fatal(err)
	}
	check("after the fill")
	if _, err := q.RunAttempts(ctx, 999999); err == nil {
		t.Error("attempts of an unknown run: no error")
	}
}

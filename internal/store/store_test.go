package store

import (
	"context"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// eachDB runs fn once per database the store runs on: SQLite, and a fresh
// PostgreSQL database (opts.DatabaseURL set) on the test binary's cluster.
func eachDB(t *testing.T, fn func(t *testing.T, opts Options)) {
	t.Helper()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var opts Options
			if db == "postgres" {
				opts.DatabaseURL = pgtest.URL(t)
			}
			fn(t, opts)
		})
	}
}

// with is opts with the database of db.
func with(db Options, opts Options) Options {
	opts.DatabaseURL = db.DatabaseURL
	return opts
}

func TestDeliveryDedupeAndQueue(t *testing.T) { eachDB(t, testDeliveryDedupeAndQueue) }

func testDeliveryDedupeAndQueue(t *testing.T, db Options) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, with(db, Options{MaxJobs: 2}))
	if err != nil {
		t.Fatal(err)
	}
	d := Delivery{ID: "d-1", Event: "push", Repo: "o/r", ReceivedAt: time.Now(), Payload: []byte(`{}`), Status: DeliveryQueued}
	dup, err := s.AddDelivery(ctx, d, true)
	if err != nil || dup {
		t.Fatalf("AddDelivery = %v, %v; want false, nil", dup, err)
	}
	dup, err = s.AddDelivery(ctx, d, true)
	if err != nil || !dup {
		t.Fatalf("second AddDelivery = %v, %v; want true, nil", dup, err)
	}
	if n, err := s.Queries().CountDeliveries(ctx); err != nil || n != 1 {
		t.Fatalf("CountDeliveries = %d, %v; want 1", n, err)
	}
	if n, _ := s.QueueDepth(ctx); n != 1 {
		t.Fatalf("QueueDepth = %d, want 1", n)
	}
	// Close without working the queue: the delivery must be planned by the next process.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dir, with(db, Options{MaxJobs: 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan string, 2)
	if err := s.StartQueue(ctx, Handlers{Delivery: func(ctx context.Context, id string) error {
		got <- id
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		if id != "d-1" {
			t.Fatalf("planned %q, want d-1", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("delivery was not planned after reopening the store")
	}
}

func TestDataDirIsExclusive(t *testing.T) { eachDB(t, testDataDirIsExclusive) }

func testDataDirIsExclusive(t *testing.T, db Options) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := Open(ctx, dir, db); err == nil {
		s2.Close()
		t.Fatal("second Open of the same data directory succeeded, want an error")
	}
}

func TestRunsJobsStepsLogs(t *testing.T) { eachDB(t, testRunsJobsStepsLogs) }

func testRunsJobsStepsLogs(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := s.Queries()
	r := &Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "CI", Event: "push",
		SHA: "abc", Status: StatusQueued}
	if err := q.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	r2 := *r
	r2.RunNumber = 0
	if err := q.CreateRun(ctx, &r2); err != nil {
		t.Fatal(err)
	}
	if r.RunNumber != 1 || r2.RunNumber != 2 {
		t.Errorf("run numbers = %d, %d; want 1, 2", r.RunNumber, r2.RunNumber)
	}
	attempt := *r // a re-run attempt keeps its run's number
	attempt.Attempt = 2
	if err := q.CreateRun(ctx, &attempt); err != nil || attempt.RunNumber != 1 {
		t.Errorf("re-run attempt: number %d, err %v; want 1", attempt.RunNumber, err)
	}
	err = s.InTx(ctx, func(q *Queries) error {
		return q.CreateJob(ctx, &Job{RunID: r.ID, Key: "build", Name: "build", Status: StatusQueued}, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := q.RunJobs(ctx, r.ID)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("RunJobs = %v, %v", jobs, err)
	}
	for i, chunk := range []string{"hello\n", "world\n"} {
		if err := q.AppendLog(ctx, jobs[0].ID, i, []byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	chunks, err := q.LogAfter(ctx, jobs[0].ID, 1)
	if err != nil || len(chunks) != 1 || string(chunks[0].Data) != "world\n" || chunks[0].StepIdx != 1 {
		t.Fatalf("LogAfter(1) = %+v, %v; want the second chunk", chunks, err)
	}
	if err := q.PutStep(ctx, Step{JobID: jobs[0].ID, Index: 0, Name: "a", Status: StatusCompleted, Conclusion: "success"}); err != nil {
		t.Fatal(err)
	}
	if err := q.PutStep(ctx, Step{JobID: jobs[0].ID, Index: 0, Name: "a", Status: StatusCompleted, Conclusion: "failure"}); err != nil {
		t.Fatal(err)
	}
	steps, err := q.Steps(ctx, jobs[0].ID)
	if err != nil || len(steps) != 1 || steps[0].Conclusion != "failure" {
		t.Fatalf("Steps = %+v, %v; want one step concluded failure", steps, err)
	}
}

// TestSyncSettings: SQLite's synchronous is FULL by default, NORMAL when
// asked, and OFF only for a scratch store (`hookci run`, deleted after
// Close), whatever Sync says; an unknown Sync (including "off": an operator
// cannot turn off durability) is refused.
func TestSyncSettings(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		opts Options
		want int
	}{
		{Options{}, 2},
		{Options{Sync: "full"}, 2},
		{Options{Sync: "normal"}, 1},
		{Options{Scratch: true}, 0},
		{Options{Sync: "full", Scratch: true}, 0},
	} {
		s, err := Open(ctx, t.TempDir(), c.opts)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := s.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%+v: synchronous = %d, want %d", c.opts, got, c.want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"off", "extra", "0"} {
		if s, err := Open(ctx, t.TempDir(), Options{Sync: bad}); err == nil {
			s.Close()
			t.Errorf("Sync %q: opened; want an error", bad)
		}
	}
}

// TestScratchStoreIntake: a scratch store has no intake connection of its
// own, and a delivery stored on the writer's connection is stored, queued
// for planning and deduplicated as through the group commit.
func TestScratchStoreIntake(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{Scratch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.intake != nil {
		t.Fatalf("a scratch store opened an intake connection")
	}
	d := Delivery{ID: "d-1", Event: "push", Repo: "o/r", ReceivedAt: time.Now(), Payload: []byte(`{}`), Status: DeliveryQueued}
	if dup, err := s.AddDelivery(ctx, d, true); err != nil || dup {
		t.Fatalf("AddDelivery = %v, %v; want false, nil", dup, err)
	}
	if dup, err := s.AddDelivery(ctx, d, true); err != nil || !dup {
		t.Fatalf("second AddDelivery = %v, %v; want true, nil", dup, err)
	}
	if n, _ := s.QueueDepth(ctx); n != 1 {
		t.Fatalf("QueueDepth = %d, want 1", n)
	}
}

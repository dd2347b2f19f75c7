package store

import (
	"context"
	"testing"
	"time"
)

func TestDeliveryDedupeAndQueue(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{MaxJobs: 2})
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
	s, err = Open(ctx, dir, Options{MaxJobs: 2})
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

func TestDataDirIsExclusive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := Open(ctx, dir, Options{}); err == nil {
		s2.Close()
		t.Fatal("second Open of the same data directory succeeded, want an error")
	}
}

func TestRunsJobsStepsLogs(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{})
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

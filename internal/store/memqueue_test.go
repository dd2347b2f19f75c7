package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openScratch is a scratch store (its queue in memory) with handlers h.
func openScratch(t *testing.T, opts Options, h Handlers) *Store {
	t.Helper()
	opts.Scratch = true
	s, err := Open(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if s.mem == nil || s.river != nil {
		t.Fatal("a scratch store did not get the in-memory queue")
	}
	if err := s.StartQueue(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case g := <-ch:
		return g
	case <-time.After(30 * time.Second):
		t.Fatal("nothing came")
		return ""
	}
}

// TestMemQueueHandsOverOnCommit: on a scratch store a delivery's planning,
// the job it queues in its transaction and the report queued outside one
// each run once, in that order; work queued in a transaction that rolls
// back never runs; a delivery whose planning is still queued is a
// duplicate when delivered again (planLive).
func TestMemQueueHandsOverOnCommit(t *testing.T) {
	got := make(chan string, 16)
	var s *Store
	release := make(chan struct{})
	s = openScratch(t, Options{MaxJobs: 2}, Handlers{
		Delivery: func(ctx context.Context, id string) error {
			got <- "plan " + id
			if id == "held" {
				<-release
			}
			return planOneJob(ctx, s, id)
		},
		Job: func(ctx context.Context, id int64) error {
			got <- "job"
			return s.Queries().EnqueueReport(ctx, id)
		},
		Report: func(ctx context.Context, id int64) error { got <- "report"; return nil },
	})
	ctx := context.Background()
	if _, err := s.Intake(ctx, Delivery{ID: "d-1", Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
		Payload: []byte(`{}`), Status: DeliveryQueued}, IntakeOptions{Plan: true}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"plan d-1", "job", "report"} {
		if g := recv(t, got); g != want {
			t.Fatalf("got %q, want %q", g, want)
		}
	}
	// Rolled back: its job never runs.
	err := s.InTx(ctx, func(q *Queries) error {
		run := &Run{Repo: "o/r", SHA: "def", Event: "push", WorkflowFile: "w.yml", Status: "queued", DeliveryID: "d-1"}
		if err := q.CreateRun(ctx, run); err != nil {
			return err
		}
		if err := q.CreateJob(ctx, &Job{RunID: run.ID, Key: "b", Name: "b", Status: "queued"}, true); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("the transaction did not fail")
	}
	// Still planning: delivered again, it is a duplicate.
	if _, err := s.Intake(ctx, Delivery{ID: "held", Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
		Payload: []byte(`{}`), Status: DeliveryQueued}, IntakeOptions{Plan: true}); err != nil {
		t.Fatal(err)
	}
	if g := recv(t, got); g != "plan held" {
		t.Fatalf("got %q, want plan held", g)
	}
	res, err := s.Intake(ctx, Delivery{ID: "held", Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
		Payload: []byte(`{}`), Status: DeliveryQueued}, IntakeOptions{Plan: true})
	if err != nil || !res.Duplicate || res.Replanned {
		t.Errorf("a redelivery while planning runs: %+v, %v; want a duplicate, not planned again", res, err)
	}
	close(release)
	for _, want := range []string{"job", "report"} {
		if g := recv(t, got); g != want {
			t.Fatalf("got %q, want %q (the rolled-back job must not run)", g, want)
		}
	}
	select {
	case g := <-got:
		t.Errorf("more work ran: %q", g)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestMemQueueLimitsRetriesSnoozes: no more jobs run at once than MaxJobs;
// a planning that fails transiently is retried (by its RetryPolicy) until it
// succeeds; a job that waits (WaitError, placement) runs again without the
// wait counting as an attempt; Close cancels running work, waits for it,
// and nothing starts afterwards.
func TestMemQueueLimitsRetriesSnoozes(t *testing.T) {
	var running, peak, jobsDone, planTries, waits atomic.Int32
	var mu sync.Mutex
	attemptsSeen := map[int64]int{}
	blockCtx := make(chan struct{})
	s := openScratch(t, Options{MaxJobs: 2, PlanRetry: RetryPolicy{Min: 5 * time.Millisecond, Max: 10 * time.Millisecond, Budget: time.Minute}}, Handlers{
		Delivery: func(ctx context.Context, id string) error {
			if id == "flaky" && planTries.Add(1) < 3 {
				return errors.New("transient")
			}
			return nil
		},
		Job: func(ctx context.Context, id int64) error {
			if id == 99 {
				<-ctx.Done() // runs until Close cancels it
				close(blockCtx)
				return ctx.Err()
			}
			mu.Lock()
			attemptsSeen[id]++
			first := attemptsSeen[id] == 1
			mu.Unlock()
			if id == 7 && first {
				waits.Add(1)
				return &WaitError{After: 5 * time.Millisecond, Reason: "placement"}
			}
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			running.Add(-1)
			jobsDone.Add(1)
			return nil
		},
	})
	ctx := context.Background()
	if err := s.InTx(ctx, func(q *Queries) error {
		for i := int64(1); i <= 7; i++ {
			if err := q.enqueueJobTx(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Intake(ctx, Delivery{ID: "flaky", Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
		Payload: []byte(`{}`), Status: DeliveryQueued}, IntakeOptions{Plan: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for (jobsDone.Load() < 7 || planTries.Load() < 3) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if jobsDone.Load() != 7 {
		t.Fatalf("%d of 7 jobs ran", jobsDone.Load())
	}
	if p := peak.Load(); p > 2 || p < 2 {
		t.Errorf("at most %d jobs ran at once, want 2 (MaxJobs)", p)
	}
	if planTries.Load() != 3 {
		t.Errorf("planning tried %d times, want 3 (two transient failures)", planTries.Load())
	}
	if waits.Load() != 1 || attemptsSeen[7] != 2 {
		t.Errorf("the waiting job: %d waits, %d runs; want 1 wait then 1 run", waits.Load(), attemptsSeen[7])
	}
	d, err := s.Queries().Delivery(ctx, "flaky")
	if err != nil || d.Status == DeliveryFailed {
		t.Errorf("the flaky delivery: %+v, %v", d, err)
	}
	// A job still running at Close is cancelled and waited for.
	if err := s.InTx(ctx, func(q *Queries) error { return q.enqueueJobTx(ctx, 99) }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-blockCtx:
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not cancel the running job")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.mem.push([]*memItem{memItemOf(queueJobs, jobArgs{JobID: 1}, 3)})
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if attemptsSeen[1] != 1 {
		t.Errorf("work started after Close: job 1 ran %d times", attemptsSeen[1])
	}
}

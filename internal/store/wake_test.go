package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestQueueWakesAfterCommitNotByPoll: with a fetch poll of an hour, work
// committed by this process — a delivery's planning (intake), a job queued
// by planning, a report queued inside and outside a transaction — is still
// picked up: the commit wakes the queue (SQLite: the in-process listener;
// PostgreSQL: NOTIFY). Without the wake-up every step would wait an hour.
func TestQueueWakesAfterCommitNotByPoll(t *testing.T) { eachDB(t, testQueueWakesAfterCommit) }

func testQueueWakesAfterCommit(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), with(db, Options{MaxJobs: 2, PollInterval: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan string, 16)
	err = s.StartQueue(ctx, Handlers{
		Delivery: func(ctx context.Context, id string) error {
			got <- "plan " + id
			return planOneJob(ctx, s, id)
		},
		Job: func(ctx context.Context, id int64) error {
			got <- "job"
			return s.Queries().EnqueueReport(ctx, id) // outside a transaction
		},
		Report: func(ctx context.Context, id int64) error { got <- "report"; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Let the queue's first (primed) fetch pass, so that only a wake-up
	// can find what comes next.
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("d-%d", i)
		if _, err := s.Intake(ctx, Delivery{ID: id, Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
			Payload: []byte(`{}`), Status: DeliveryQueued}, IntakeOptions{Plan: true}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"plan " + id, "job", "report"} {
			select {
			case g := <-got:
				if g != want {
					t.Fatalf("got %q, want %q", g, want)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("%q never came with an hour-long poll: committed work did not wake the queue", want)
			}
		}
	}
}

// TestGroupCommitEachAnsweredDeliveryStored: many concurrent deliveries,
// some of them duplicates of each other and some replays (same body, new
// id) within one burst, are each answered as if alone, and every one
// answered as stored is in the database with its planning queued.
func TestGroupCommitEachAnsweredDeliveryStored(t *testing.T) { eachDB(t, testGroupCommit) }

func testGroupCommit(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), with(db, Options{MaxJobs: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 200
	type answer struct {
		res IntakeResult
		err error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("d-%d", i%150) // ids 0..49 arrive twice
			body := fmt.Sprintf(`{"n":%d}`, i)
			if i >= 180 {
				body = fmt.Sprintf(`{"n":%d}`, i-100) // a replay of delivery d-(i-100)'s body under a new id
				id = fmt.Sprintf("replay-%d", i)
			}
			res, err := s.Intake(ctx, Delivery{ID: id, Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
				Payload: []byte(body), Status: DeliveryQueued, Fingerprint: "fp" + body},
				IntakeOptions{Plan: true, ReplayWindow: time.Hour})
			answers[i] = answer{res, err}
		}(i)
	}
	wg.Wait()
	var stored, dup, replays int
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("delivery %d: %v", i, a.err)
		case a.res.Duplicate:
			dup++
		case a.res.ReplayOf != "":
			replays++
		default:
			stored++
		}
	}
	// 150 distinct ids stored (30 of them sent twice: duplicates); each of
	// the 20 bodies sent under two ids is stored once and refused once as a
	// replay, whichever came first.
	if stored != 150 || replays != 20 || dup != 30 {
		t.Errorf("got %d stored, %d replays, %d duplicates; want 150, 20, 30", stored, replays, dup)
	}
	if got, _ := s.Queries().CountDeliveries(ctx); got != stored {
		t.Errorf("got %d delivery rows, want %d (one per delivery answered stored)", got, stored)
	}
	if got, _ := s.QueueDepth(ctx); got != stored {
		t.Errorf("got %d planning jobs queued, want %d", got, stored)
	}
}

// planOneJob is a planning handler's work in these tests: one run with one
// queued job for delivery id, in one transaction (which queues the job).
func planOneJob(ctx context.Context, s *Store, id string) error {
	return s.InTx(ctx, func(q *Queries) error {
		run := &Run{Repo: "o/r", SHA: "abc", Event: "push", WorkflowFile: "w.yml", Status: "queued", DeliveryID: id}
		if err := q.CreateRun(ctx, run); err != nil {
			return err
		}
		return q.CreateJob(ctx, &Job{RunID: run.ID, Key: "build", Name: "build", Status: "queued"}, true)
	})
}

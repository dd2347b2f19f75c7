package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store/pgtest"
)

// TestHostRegistry: a started store is in the registry, alive, with what it
// said about itself.
func TestHostRegistry(t *testing.T) { eachDB(t, testHostRegistry) }

func testHostRegistry(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), with(db, Options{Host: HostInfo{Name: "ci-1", Labels: []string{"ubuntu-latest", "microvm"}, MaxJobs: 3}}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.StartQueue(ctx, Handlers{}); err != nil {
		t.Fatal(err)
	}
	hosts, err := s.Queries().Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 {
		t.Fatalf("got %d hosts, want 1: %+v", len(hosts), hosts)
	}
	h := hosts[0]
	if h.Name != "ci-1" || h.MaxJobs != 3 || len(h.Labels) != 2 || h.Labels[1] != "microvm" || !h.Alive || h.ID != s.registryID() {
		t.Errorf("got host %+v, want ci-1, 3 jobs, its labels, alive, id %s", h, s.registryID())
	}
}

// TestStaleAttemptRefused: a job's result written by an attempt older than
// the row's (a host presumed dead, its job started again elsewhere) is
// refused and changes nothing.
func TestStaleAttemptRefused(t *testing.T) { eachDB(t, testStaleAttemptRefused) }

func testStaleAttemptRefused(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := s.Queries()
	r := &Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push", SHA: "abc", Status: StatusQueued}
	if err := q.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	j := &Job{RunID: r.ID, Key: "build", Name: "build", Status: StatusQueued}
	if err := q.CreateJob(ctx, j, false); err != nil {
		t.Fatal(err)
	}
	old := *j
	old.Attempt, old.Status = 1, StatusInProgress // host A starts attempt 1
	if err := q.UpdateJob(ctx, &old); err != nil {
		t.Fatal(err)
	}
	cur := old
	cur.Attempt = 2 // host B takes the job over
	if err := q.UpdateJob(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	old.Status, old.Conclusion = StatusCompleted, ConclusionFailure // A's late result
	if err := q.UpdateJob(ctx, &old); !errors.Is(err, ErrStale) {
		t.Errorf("late write of attempt 1: got %v, want ErrStale", err)
	}
	got, err := q.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempt != 2 || got.Status != StatusInProgress || got.Conclusion != "" {
		t.Errorf("after the late write: attempt %d, %s %q; want attempt 2 in_progress, no conclusion", got.Attempt, got.Status, got.Conclusion)
	}
	cur.Status, cur.Conclusion = StatusCompleted, ConclusionSuccess
	if err := q.UpdateJob(ctx, &cur); err != nil {
		t.Errorf("write of the current attempt: %v", err)
	}
}

// TestDeadHostsJobsTakenOver: a host whose heartbeat is older than the
// lease is presumed dead and its running queue jobs are run by a live
// host; a live host's running job is left alone.
func TestDeadHostsJobsTakenOver(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := Open(ctx, t.TempDir(), Options{DatabaseURL: url, Lease: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []int64{1, 2} {
		if err := s.Queries().EnqueueJob(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// "dead" last beat a minute ago; "alive" beats (its row says now + 1 h).
	if _, err := s.db.ExecContext(ctx, `INSERT INTO hosts (id, name, started_at, last_seen) VALUES
		('dead', 'dead', 0, (extract(epoch from now()) * 1000)::bigint - 60000),
		('alive', 'alive', 0, (extract(epoch from now()) * 1000)::bigint + 3600000)`); err != nil {
		t.Fatal(err)
	}
	for id, host := range map[int64]string{1: "dead", 2: "alive"} {
		if _, err := s.db.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(),
			attempted_by = ARRAY[$1] WHERE (args->>'job_id')::bigint = $2`, host, id); err != nil {
			t.Fatal(err)
		}
	}
	ran := make(chan int64, 4)
	if err := s.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error { ran <- id; return nil }}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-ran:
		if id != 1 {
			t.Fatalf("ran job %d, want the dead host's job 1", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the dead host's job was never taken over")
	}
	// The heartbeat that took job 1 over looked at job 2 in the same statement.
	var state string
	if err := s.db.QueryRowContext(ctx, `SELECT state FROM river_job WHERE (args->>'job_id')::bigint = 2`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "running" {
		t.Errorf("the live host's job is %s, want running (untouched)", state)
	}
	hosts, err := s.Queries().Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	alive := map[string]bool{}
	for _, h := range hosts {
		alive[h.ID] = h.Alive
	}
	if alive["dead"] || !alive["alive"] || !alive[s.HostID()] {
		t.Errorf("registry liveness %v, want dead false, alive and this host true", alive)
	}
}

// TestStaleJobNotRetried: a job handler whose attempt was superseded
// (ErrStale) ends its queue job instead of having it retried, which would
// run the job again beside the host that took it over.
func TestStaleJobNotRetried(t *testing.T) { eachDB(t, testStaleJobNotRetried) }

func testStaleJobNotRetried(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), with(db, Options{PollInterval: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	calls := make(chan int64, 8)
	if err := s.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error {
		calls <- id
		return fmt.Errorf("finishing job %d: %w", id, ErrStale)
	}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Queries().EnqueueJob(ctx, 7); err != nil {
		t.Fatal(err)
	}
	<-calls
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		if err := s.db.QueryRowContext(ctx, `SELECT state FROM river_job WHERE kind = 'hookci_job'`).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "completed" {
			break
		}
		if state != "running" || time.Now().After(deadline) {
			t.Fatalf("queue job after a superseded attempt is %s, want completed (not retried)", state)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case id := <-calls:
		t.Errorf("job %d run again after its attempt was superseded", id)
	default:
	}
}

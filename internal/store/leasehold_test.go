package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store/pgtest"
)

// queueRow is one river_job row of kind hookci_job.
type queueRow struct {
	state     string
	takers    []string // attempted_by, oldest first
	takenOver bool     // metadata hookci_taken_over
	handedOn  bool     // metadata hookci_handed_on
}

func jobQueueRows(t *testing.T, db *sql.DB) []queueRow {
	t.Helper()
	rows, err := db.Query(`SELECT state, coalesce(array_to_string(attempted_by, ','), ''), metadata ? 'hookci_taken_over', metadata ? 'hookci_handed_on'
		FROM river_job WHERE kind = 'hookci_job' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []queueRow
	for rows.Next() {
		var r queueRow
		var by string
		if err := rows.Scan(&r.state, &by, &r.takenOver, &r.handedOn); err != nil {
			t.Fatal(err)
		}
		if by != "" {
			r.takers = strings.Split(by, ",")
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// lockHostRow holds a lock on s's registry row, so that its heartbeats
// cannot land (a partition from the database as the store sees it) while
// its other queries, the queue's fetches included, go on. The returned func
// releases it.
func lockHostRow(t *testing.T, s *Store) func() {
	t.Helper()
	tx, err := s.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`SELECT id FROM hosts WHERE id = $1 FOR UPDATE`, s.HostID()); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	return func() { tx.Rollback() }
}

// stopOnLeaseLost is a job handler that "runs" the job until its host's lease
// is lost and then stops it as the dispatcher's lease watch does.
func stopOnLeaseLost(s **Store, calls *atomic.Int32, started chan<- struct{}) func(context.Context, int64) error {
	return func(ctx context.Context, id int64) error {
		calls.Add(1)
		select {
		case started <- struct{}{}:
		default:
		}
		for !(*s).LeaseLost() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
		return fmt.Errorf("job stopped: %w", ErrLeaseLost)
	}
}

// TestLeaseLostJobTakenOverOnce: host A runs a job and loses its lease while
// it still reaches the database (its registry row locked). A stops the job and
// holds its queue row instead of giving it back, so A never fetches the job
// again: host B's takeover moves it exactly once and B runs it. Before
// (issue 11) A gave the row back (a 1 s snooze) and kept fetching it and giving
// it back, and B got it after one to several rounds, by a fetch or by a
// takeover that happened to catch A holding it.
func TestLeaseLostJobTakenOverOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	var logs lockedLog
	opts := Options{DatabaseURL: url, Lease: 600 * time.Millisecond, PollInterval: 20 * time.Millisecond, MaxJobs: 1,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	a, err := Open(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var aCalls atomic.Int32
	aStarted := make(chan struct{}, 1)
	if err := a.StartQueue(ctx, Handlers{Job: stopOnLeaseLost(&a, &aCalls, aStarted)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Queries().EnqueueJob(ctx, 1); err != nil {
		t.Fatal(err)
	}
	<-aStarted
	opts.Logger = nil
	b, err := Open(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bRan := make(chan struct{}, 10)
	if err := b.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error {
		bRan <- struct{}{}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	unlock := lockHostRow(t, a)
	defer unlock()
	select {
	case <-bRan:
	case <-time.After(30 * time.Second):
		t.Fatalf("B never ran the job; rows %+v\nA's log:\n%s", jobQueueRows(t, a.db), logs.String())
	}
	// A's lease stays lost a while longer: it must not fetch the copy.
	time.Sleep(3 * opts.Lease)
	rows := jobQueueRows(t, a.db)
	aFetches, takeovers := 0, 0
	for _, r := range rows {
		for _, by := range r.takers {
			if by == a.HostID() {
				aFetches++
			}
		}
		if r.takenOver {
			takeovers++
		}
	}
	if aFetches != 1 || int(aCalls.Load()) != 1 {
		t.Errorf("A fetched the job %d times (its handler ran %d times), want 1: it took the job again while its lease was lost; rows %+v",
			aFetches, aCalls.Load(), rows)
	}
	if len(rows) != 2 || takeovers != 1 {
		t.Errorf("%d queue rows, %d taken over; want 2 and 1 (A's row taken over once, B's copy): %+v", len(rows), takeovers, rows)
	}
	if len(rows) == 2 && (rows[0].state != "cancelled" || len(rows[1].takers) != 1 || rows[1].takers[0] != b.HostID() ||
		rows[1].state != "completed") {
		t.Errorf("rows %+v: want A's cancelled (taken over), then B's completed", rows)
	}
	unlock()
	waitUntil(t, "A's lease to be back", func() bool { return !a.LeaseLost() })
	a.Close() // waits for A's held worker to end
	if rows := jobQueueRows(t, b.db); len(rows) != 2 || rows[0].state != "cancelled" || rows[1].state != "completed" {
		t.Errorf("rows after A's lease came back: %+v, want A's cancelled and B's completed (A's hold ended without touching them)", rows)
	}
	if n := len(bRan); n != 0 {
		t.Errorf("B ran the job %d more times", n)
	}
	for _, want := range []string{"holding the job's queue row", "taken over by another host"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("A's log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestLeaseBackRunsHeldJob: a host alone loses its lease while a job runs; it
// holds the job's queue row (no host may take it over), and when a heartbeat
// lands again the job is offered again at once and run: the hold loses
// nothing, spends no River attempt, and the same row ends completed.
func TestLeaseBackRunsHeldJob(t *testing.T) {
	ctx := context.Background()
	var logs lockedLog
	a, err := Open(ctx, t.TempDir(), Options{DatabaseURL: pgtest.URL(t), Lease: 600 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, MaxJobs: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var calls atomic.Int32
	started := make(chan struct{}, 1)
	stop := stopOnLeaseLost(&a, &calls, started)
	done := make(chan struct{})
	if err := a.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error {
		if calls.Load() == 0 {
			return stop(ctx, id)
		}
		calls.Add(1)
		close(done)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Queries().EnqueueJob(ctx, 1); err != nil {
		t.Fatal(err)
	}
	<-started
	unlock := lockHostRow(t, a)
	waitUntil(t, "the job to be held", func() bool { return strings.Contains(logs.String(), "holding the job's queue row") })
	if rows := jobQueueRows(t, a.db); len(rows) != 1 || rows[0].state != "running" {
		t.Errorf("held queue row: %+v, want one, running", rows)
	}
	unlock()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the held job never ran again after the lease came back:\n%s", logs.String())
	}
	waitUntil(t, "the row to be completed", func() bool {
		rows := jobQueueRows(t, a.db)
		return len(rows) == 1 && rows[0].state == "completed"
	})
	var attempt int
	if err := a.db.QueryRow(`SELECT attempt FROM river_job WHERE kind = 'hookci_job'`).Scan(&attempt); err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 2 || attempt != 1 {
		t.Errorf("handler ran %d times, River attempt %d; want 2 and 1 (the hold is not an attempt)", got, attempt)
	}
}

// TestLeaseLostHostHandsOnUnstartedJobs: an idle host whose lease is lost
// while it still reaches the database fetches jobs meanwhile; it starts none,
// hands each on to the other hosts at once (no waiting for their takeover)
// and keeps the worker slot that fetched it held, so with 2 slots it takes
// at most 2 of the 3 jobs queued during the loss, and B runs all 3. Before,
// it gave each back for a second and fetched it again, round after round.
func TestLeaseLostHostHandsOnUnstartedJobs(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	var logs lockedLog
	opts := Options{DatabaseURL: url, Lease: 600 * time.Millisecond, PollInterval: 20 * time.Millisecond, MaxJobs: 2,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	a, err := Open(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var aCalls atomic.Int32
	if err := a.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error {
		aCalls.Add(1)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	opts.Logger = nil
	b, err := Open(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var bRan atomic.Int32
	if err := b.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error {
		bRan.Add(1)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	unlock := lockHostRow(t, a)
	defer unlock()
	waitUntil(t, "A's lease to be lost", func() bool { return a.LeaseLost() })
	for id := int64(1); id <= 3; id++ {
		if err := b.Queries().EnqueueJob(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "B to run the 3 jobs", func() bool { return bRan.Load() == 3 })
	time.Sleep(3 * opts.Lease) // A's lease stays lost: it must fetch no more
	rows := jobQueueRows(t, a.db)
	aFetches := 0
	for _, r := range rows {
		for _, by := range r.takers {
			if by == a.HostID() {
				aFetches++
				if !r.handedOn || r.state != "cancelled" {
					t.Errorf("a row A fetched: %+v, want cancelled and handed on", r)
				}
			}
		}
	}
	if aFetches > 2 || aCalls.Load() != 0 {
		t.Errorf("A fetched %d times and ran %d jobs while its lease was lost; want at most 2 (its slots) and 0: rows %+v",
			aFetches, aCalls.Load(), rows)
	}
	if got := bRan.Load(); got != 3 {
		t.Errorf("B ran %d jobs, want 3", got)
	}
	t.Logf("A fetched %d of the 3 jobs while its lease was lost and handed them on", aFetches)
	unlock()
	waitUntil(t, "A's lease to be back", func() bool { return !a.LeaseLost() })
	a.Close()
	if got := bRan.Load(); got != 3 || aCalls.Load() != 0 {
		t.Errorf("after A's lease came back: B ran %d, A %d; want 3 and 0 (the handed-on rows stay A's cancelled ones)", got, aCalls.Load())
	}
}

// TestHeldJobGivenBackWhenNobodyTakesIt: a host alone whose lease stays lost
// longer than the hold's limit (2 leases) gives the held job back, fetches it
// again (its lease still lost), hands it on and holds the slot; when the
// lease is back it runs the copy. The job is never stuck and runs once to
// its end.
func TestHeldJobGivenBackWhenNobodyTakesIt(t *testing.T) {
	ctx := context.Background()
	var logs lockedLog
	a, err := Open(ctx, t.TempDir(), Options{DatabaseURL: pgtest.URL(t), Lease: 600 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, MaxJobs: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var calls atomic.Int32
	started := make(chan struct{}, 1)
	stop := stopOnLeaseLost(&a, &calls, started)
	done := make(chan struct{})
	if err := a.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error {
		if calls.Load() == 0 {
			return stop(ctx, id)
		}
		calls.Add(1)
		close(done)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Queries().EnqueueJob(ctx, 1); err != nil {
		t.Fatal(err)
	}
	<-started
	unlock := lockHostRow(t, a)
	waitUntil(t, "the held job to be given back", func() bool {
		return strings.Contains(logs.String(), "no other host took the held job over")
	})
	waitUntil(t, "the job fetched again to be handed on", func() bool {
		return strings.Contains(logs.String(), "handed on to other hosts")
	})
	if got := calls.Load(); got != 1 {
		t.Errorf("handler ran %d times while the lease was lost, want 1", got)
	}
	unlock()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the job never ran again after the lease came back:\n%s", logs.String())
	}
	waitUntil(t, "the copy to be completed", func() bool {
		rows := jobQueueRows(t, a.db)
		return len(rows) == 2 && rows[1].state == "completed"
	})
	if rows := jobQueueRows(t, a.db); rows[0].state != "cancelled" || !rows[0].handedOn {
		t.Errorf("rows %+v: want the first cancelled, handed on, and its copy completed", rows)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("handler ran %d times, want 2 (stopped, then to its end)", got)
	}
}

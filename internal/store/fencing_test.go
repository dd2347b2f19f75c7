package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store/pgtest"
)

// newJobRow makes a run and one queued job, returned at attempt 1 in progress.
func newJobRow(t *testing.T, s *Store) *Job {
	t.Helper()
	ctx := context.Background()
	q := s.Queries()
	r := &Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push", SHA: "abc", Status: StatusQueued}
	if err := q.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	j := &Job{RunID: r.ID, Key: "build", Name: "build", Status: StatusQueued}
	if err := q.CreateJob(ctx, j, false); err != nil {
		t.Fatal(err)
	}
	j.Attempt, j.Status = 1, StatusInProgress
	if err := q.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	return j
}

// flush is what the runner's log flush does: check the attempt, then append.
func flush(s *Store, jobID int64, attempt int, data string) error {
	ctx := context.Background()
	return s.InJobTx(ctx, func(q *Queries) error {
		if err := q.CheckAttempt(ctx, jobID, attempt); err != nil {
			return err
		}
		if err := q.PutStep(ctx, Step{JobID: jobID, Index: 1, Name: data, Status: StatusInProgress}); err != nil {
			return err
		}
		return q.AppendLog(ctx, jobID, 1, []byte(data))
	})
}

func logText(t *testing.T, s *Store, jobID int64) string {
	t.Helper()
	var b strings.Builder
	if err := s.Queries().EachLog(context.Background(), jobID, 0, func(c LogChunk) error { b.Write(c.Data); return nil }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestStaleStepsAndLogsRefused: once a job's attempt moved on (another host
// took it over), the old attempt's steps and log chunks are refused and
// nothing of them is stored; the current attempt's are stored.
func TestStaleStepsAndLogsRefused(t *testing.T) { eachDB(t, testStaleStepsAndLogsRefused) }

func testStaleStepsAndLogsRefused(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j := newJobRow(t, s)
	if err := flush(s, j.ID, 1, "a1 "); err != nil {
		t.Fatalf("flush of the current attempt: %v", err)
	}
	j.Attempt = 2 // taken over
	if err := s.InTx(ctx, func(q *Queries) error {
		if err := q.UpdateJob(ctx, j); err != nil {
			return err
		}
		return q.ResetJobRecords(ctx, j.ID)
	}); err != nil {
		t.Fatal(err)
	}
	if err := flush(s, j.ID, 1, "stale "); !errors.Is(err, ErrStale) {
		t.Errorf("flush of attempt 1 after the takeover: got %v, want ErrStale", err)
	}
	if err := flush(s, j.ID, 2, "a2 "); err != nil {
		t.Fatalf("flush of attempt 2: %v", err)
	}
	if got := logText(t, s, j.ID); got != "a2 " {
		t.Errorf("log: got %q, want %q (only the current attempt's)", got, "a2 ")
	}
	steps, err := s.Queries().Steps(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].Name != "a2 " {
		t.Errorf("steps: got %+v, want only attempt 2's", steps)
	}
}

// TestTakeoverWaitsForFlushInFlight: a stale host's flush that checked its
// attempt before the takeover and commits after it cannot leave its chunks
// in the new attempt's log: the takeover's write waits for the flush's row
// lock, then deletes what it wrote. PostgreSQL (SQLite writes one at a time).
func TestTakeoverWaitsForFlushInFlight(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{DatabaseURL: pgtest.URL(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j := newJobRow(t, s)
	inFlight, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) }) // a failure below must not leave the flush open
	flushed := make(chan error, 1)
	go func() {
		flushed <- s.InJobTx(ctx, func(q *Queries) error {
			if err := q.CheckAttempt(ctx, j.ID, 1); err != nil {
				return err
			}
			if err := q.AppendLog(ctx, j.ID, 1, []byte("stale")); err != nil {
				return err
			}
			close(inFlight)
			<-release
			return nil
		})
	}()
	<-inFlight
	taken := make(chan error, 1)
	go func() {
		nj := *j
		nj.Attempt = 2
		taken <- s.InTx(ctx, func(q *Queries) error {
			if err := q.UpdateJob(ctx, &nj); err != nil {
				return err
			}
			return q.ResetJobRecords(ctx, j.ID)
		})
	}()
	// The takeover must wait for the flush: either it is seen waiting on a
	// lock, or it finished first (the fence is missing).
	for waiting := false; !waiting; {
		select {
		case err := <-taken:
			t.Fatalf("the takeover finished (%v) while the stale flush was still open: it did not wait for it", err)
		default:
		}
		if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	once.Do(func() { close(release) })
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := <-taken; err != nil {
		t.Fatal(err)
	}
	if got := logText(t, s, j.ID); got != "" {
		t.Errorf("new attempt's log: got %q, want empty (the stale chunk deleted)", got)
	}
}

// TestStaleHostCannotEndTakenOverQueueJob: host A runs a queue job, is
// presumed dead (its heartbeat is a minute old) and host B takes the job
// over. When A, still alive, then finishes — successfully or with an error —
// its completion does not complete B's queue job nor make it retryable: B's
// stays running until B finishes it.
func TestStaleHostCannotEndTakenOverQueueJob(t *testing.T) {
	for _, aErr := range []error{nil, errors.New("boom")} {
		t.Run(fmt.Sprint(aErr), func(t *testing.T) {
			ctx := context.Background()
			url := pgtest.URL(t)
			// A's own lease is long (it beats rarely); B judges others by 300 ms.
			a, err := Open(ctx, t.TempDir(), Options{DatabaseURL: url, Lease: time.Hour, PollInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := Open(ctx, t.TempDir(), Options{DatabaseURL: url, Lease: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			aStarted, aRelease := make(chan struct{}, 1), make(chan struct{})
			if err := a.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error {
				aStarted <- struct{}{}
				<-aRelease
				return aErr
			}}); err != nil {
				t.Fatal(err)
			}
			if err := a.Queries().EnqueueJob(ctx, 1); err != nil {
				t.Fatal(err)
			}
			<-aStarted
			if _, err := a.db.ExecContext(ctx, `UPDATE hosts SET last_seen = last_seen - 60000 WHERE id = $1`, a.HostID()); err != nil {
				t.Fatal(err)
			}
			bStarted, bRelease := make(chan struct{}, 1), make(chan struct{})
			if err := b.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error {
				bStarted <- struct{}{}
				<-bRelease
				return nil
			}}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-bStarted:
			case <-time.After(30 * time.Second):
				t.Fatal("B never took the job over")
			}
			close(aRelease)
			a.Close() // River's stop waits for A's completion to be written
			rows := map[string]string{}
			r, err := b.db.QueryContext(ctx, `SELECT state, attempted_by[array_length(attempted_by, 1)] FROM river_job WHERE kind = 'hookci_job'`)
			if err != nil {
				t.Fatal(err)
			}
			for r.Next() {
				var state, by string
				if err := r.Scan(&state, &by); err != nil {
					t.Fatal(err)
				}
				rows[by] = state
			}
			r.Close()
			if got := rows[b.HostID()]; got != "running" {
				t.Errorf("B's queue job after A's late end: got %s, want running", got)
			}
			if got := rows[a.HostID()]; got != "cancelled" {
				t.Errorf("A's queue row after its late end: got %s, want cancelled (taken over)", got)
			}
			close(bRelease)
		})
	}
}

// TestLeaseLostIsLogged: a host whose heartbeats cannot reach the database
// (its registry row locked by the test, as in a partition) counts its lease
// as lost and says so once, however often LeaseLost is asked; when a
// heartbeat lands again it says the lease is back and that its heartbeats
// were slow. Before, a host that refused every job for a lost lease said
// nothing unless it had a job running.
func TestLeaseLostIsLogged(t *testing.T) {
	ctx := context.Background()
	var logs lockedLog
	s, err := Open(ctx, t.TempDir(), Options{DatabaseURL: pgtest.URL(t), Lease: 600 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	if s.LeaseLost() {
		t.Fatal("lease lost right after the start")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT id FROM hosts WHERE id = $1 FOR UPDATE`, s.HostID()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the lease to be lost", func() bool { return s.LeaseLost() })
	for range 5 {
		s.LeaseLost()
	}
	if n := strings.Count(logs.String(), "lease lost"); n != 1 {
		t.Errorf("%d \"lease lost\" lines after 6 calls, want 1:\n%s", n, logs.String())
	}
	tx.Rollback()
	waitUntil(t, "the lease to be back", func() bool { return !s.LeaseLost() })
	waitUntil(t, "the lease's return to be logged", func() bool { return strings.Contains(logs.String(), "lease back") })
	for _, want := range []string{"heartbeats are slow", "HOOKCI_LEASE"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	t.Logf("the store's log:\n%s", logs.String())
}

// lockedLog is a log destination safe for the store's goroutines.
type lockedLog struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitUntil polls cond for up to a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

package store

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store/pgtest"
)

func TestReportsSent(t *testing.T) { eachDB(t, testReportsSent) }

func testReportsSent(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := s.Queries()
	if got, err := q.ReportsSent(ctx, 7); err != nil || len(got) != 0 {
		t.Fatalf("nothing sent yet: got %v, %v", got, err)
	}
	if err := q.SetReportsSent(ctx, 7, map[string]string{"status run": "pending|Queued", "status job-1": "pending|Queued"}); err != nil {
		t.Fatal(err)
	}
	if err := q.SetReportsSent(ctx, 7, map[string]string{"status run": "success|Successful in 3s"}); err != nil {
		t.Fatal(err)
	}
	if err := q.SetReportsSent(ctx, 8, map[string]string{"status run": "failure|Failed after 1s"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"status run": "success|Successful in 3s", "status job-1": "pending|Queued"}
	if got, err := q.ReportsSent(ctx, 7); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("run 7: got %v, %v; want %v (the later value replaces the earlier, run 8's are its own)", got, err, want)
	}
}

// TestLockAcrossHosts: two stores on one PostgreSQL database (two hosts)
// take a named lock one at a time; hosts waiting for it hold no connection
// (so many waiters cannot starve the holder's host of connections); a
// waiter whose context ends gives up; another name is not held up.
func TestLockAcrossHosts(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	a, err := Open(ctx, t.TempDir(), Options{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, t.TempDir(), Options{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	unlockA, err := a.LockAcrossHosts(ctx, "report run 1")
	if err != nil {
		t.Fatal(err)
	}
	// Many more waiters on B than B's pool has connections.
	const waiters = 60
	var mu sync.Mutex
	holders, maxHolders := 0, 0
	got := make(chan struct{}, waiters)
	var wg sync.WaitGroup
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := b.LockAcrossHosts(ctx, "report run 1")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			holders++
			maxHolders = max(maxHolders, holders)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			holders--
			mu.Unlock()
			unlock()
			got <- struct{}{}
		}()
	}
	// While they wait, B still has connections for its other work, and
	// another lock name is free.
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var n int
	if err := b.db.QueryRowContext(qctx, `SELECT 1`).Scan(&n); err != nil {
		t.Errorf("a query on the waiters' host: %v (waiters hold its connections)", err)
	}
	unlockOther, err := b.LockAcrossHosts(qctx, "report run 2")
	cancel()
	if err != nil {
		t.Errorf("another lock name while the first is held: %v", err)
	} else {
		unlockOther()
	}
	time.Sleep(200 * time.Millisecond)
	select {
	case <-got:
		t.Fatal("a waiter on host B took the lock host A holds")
	default:
	}
	// A waiter that gives up says why.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = b.LockAcrossHosts(cctx, "report run 1")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting past its context: got %v, want the deadline", err)
	}
	unlockA()
	wg.Wait()
	if len(got) != waiters {
		t.Errorf("%d of %d waiters took the lock after A released it", len(got), waiters)
	}
	if maxHolders != 1 {
		t.Errorf("the lock had up to %d holders at once, want 1", maxHolders)
	}
	// A holder whose connection is lost releases the lock with its session.
	unlockB, err := b.LockAcrossHosts(ctx, "report run 3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	unlock, err := a.LockAcrossHosts(lctx, "report run 3")
	cancel()
	if err != nil {
		t.Errorf("the lock of a host whose session ended: %v", err)
	} else {
		unlock()
	}
	unlockB() // its connection is gone: the release must not fail or hang
}

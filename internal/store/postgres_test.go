package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store/pgtest"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`WHERE a = ? AND b = ?`, `WHERE a = $1 AND b = $2`},
		{`WHERE a = '?' AND b = ?`, `WHERE a = '?' AND b = $1`},
		{`WHERE "we?rd" = ? -- a ? here
		AND c = ?`, `WHERE "we?rd" = $1 -- a ? here
		AND c = $2`},
		{`WHERE x = 'it''s ?' AND y = ?`, `WHERE x = 'it''s ?' AND y = $1`},
		{`VALUES (?, ?, ?)`, `VALUES ($1, $2, $3)`},
		{`WHERE a - ? > 0`, `WHERE a - $1 > 0`},
	} {
		if got := rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDatabaseURLErrors: a wrong scheme is an error naming it; an
// unreachable PostgreSQL is a clear error at Open that does not print the
// password.
func TestDatabaseURLErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		url, want string
	}{
		{"mysql://u:pw@db/hookci", `scheme "mysql" is not supported`},
		{"sqlite:/var/lib/hookci.db", `scheme "sqlite" is not supported`},
		{"db.example.com/hookci", "no scheme"},
		{"postgres://u:hunter2@/hookci?host=" + t.TempDir() + "&connect_timeout=2", "cannot reach PostgreSQL"},
	} {
		s, err := Open(ctx, t.TempDir(), Options{DatabaseURL: tc.url})
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): got %q, want it to say %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), ":pw@") {
			t.Errorf("Open(%q): error %q repeats the password", tc.url, err)
		}
	}
}

// TestHostsMigrateAtOnce: hosts starting together on one empty database
// all start, and the schema is migrated once.
func TestHostsMigrateAtOnce(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	const hosts = 4
	var wg sync.WaitGroup
	stores := make([]*Store, hosts)
	errs := make([]error, hosts)
	for i := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, t.TempDir(), Options{DatabaseURL: url})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("host %d: Open: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	var rows, distinct int
	if err := stores[0].db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT version) FROM hookci_schema`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != len(migrations) || distinct != len(migrations) {
		t.Errorf("hookci_schema holds %d rows (%d versions), want %d once each", rows, distinct, len(migrations))
	}
	ids := map[string]bool{}
	for _, s := range stores {
		ids[s.HostID()] = true
	}
	if len(ids) != hosts {
		t.Errorf("%d distinct host ids among %d hosts, want one each", len(ids), hosts)
	}
}

// TestHostsShareDeliveries: the same deliveries sent to two hosts at once
// are stored and queued for planning once each, the other host answering
// "duplicate", never an error.
func TestHostsShareDeliveries(t *testing.T) {
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
	const n = 30
	var mu sync.Mutex
	accepted := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		for _, s := range []*Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("d-%d", i)
				res, err := s.Intake(ctx, Delivery{ID: id, Event: "push", Repo: "o/r", ReceivedAt: time.Now(), Payload: []byte(`{}`),
					Status: DeliveryQueued}, IntakeOptions{Plan: true})
				if err != nil {
					t.Errorf("Intake(%s): %v", id, err)
					return
				}
				if !res.Duplicate {
					mu.Lock()
					accepted[id]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for i := range n {
		if id := fmt.Sprintf("d-%d", i); accepted[id] != 1 {
			t.Errorf("delivery %s accepted %d times, want once", id, accepted[id])
		}
	}
	if got, _ := a.QueueDepth(ctx); got != n {
		t.Errorf("queue depth %d, want %d (one planning per delivery)", got, n)
	}
}

// TestRestartTakesBackOnlyOwnJobs: on a shared database a host starting
// takes back the queue jobs it left running (it crashed), and leaves those
// another host is running alone.
func TestRestartTakesBackOnlyOwnJobs(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a, err := Open(ctx, dirA, Options{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, dirB, Options{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	hostA := a.HostID()
	// Two queue jobs "running": one on a (which then crashes), one on b.
	for _, id := range []int64{1, 2} {
		if err := a.Queries().EnqueueJob(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	mark := func(jobID int64, host string) {
		t.Helper()
		if _, err := a.db.ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(),
			attempted_by = ARRAY[$1] WHERE (args->>'job_id')::bigint = $2`, host, jobID); err != nil {
			t.Fatal(err)
		}
	}
	mark(1, hostA)
	mark(2, b.HostID())
	a.Close()
	a, err = Open(ctx, dirA, Options{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.HostID() != hostA {
		t.Fatalf("host id after restart %q, want %q", a.HostID(), hostA)
	}
	ran := make(chan int64, 4)
	if err := a.StartQueue(ctx, Handlers{Job: func(ctx context.Context, id int64) error { ran <- id; return nil }}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-ran:
		if id != 1 {
			t.Fatalf("restarted host ran job %d, want its own job 1", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("restarted host never took back the job it left running")
	}
	var state string
	if err := a.db.QueryRowContext(ctx, `SELECT state FROM river_job WHERE (args->>'job_id')::bigint = 2`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "running" {
		t.Errorf("the other host's running job is %s after the restart, want running (untouched)", state)
	}
	select {
	case id := <-ran:
		t.Errorf("restarted host also ran job %d", id)
	default:
	}
}

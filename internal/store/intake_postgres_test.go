package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/hookci/hookci/internal/store/pgtest"
)

// TestIntakePlanRowMatchesRiverPostgres: the PostgreSQL group commit's own
// insert of plan jobs (intake_postgres_batch.go) writes the row River's
// InsertTx writes for the same job, column by column (bar id and times),
// and River's worker takes that row and hands the delivery to the planner.
// Fails when River's schema or encoding moves away from the statement.
func TestIntakePlanRowMatchesRiverPostgres(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{DatabaseURL: pgtest.URL(t), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Intake(ctx, Delivery{ID: "ours", Event: "push", Repo: "o/r", ReceivedAt: time.Now(), Payload: []byte(`{}`),
		Status: DeliveryQueued}, IntakeOptions{Plan: true}); err != nil {
		t.Fatal(err)
	}
	if st := s.IntakeStats(); st.Batches != 1 || st.Alone != 0 {
		t.Fatalf("intake stats %+v: want one batch and nothing stored alone (the batch insert is under test)", st)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.river.InsertTx(ctx, tx, deliveryArgs{DeliveryID: "river"},
		&river.InsertOpts{Queue: queuePlan, MaxAttempts: planMaxAttempts}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	row := func(id string) []string {
		t.Helper()
		cols := []string{"args", "attempt", "attempted_at", "attempted_by", "created_at IS NOT NULL", "errors",
			"finalized_at", "kind", "max_attempts",
			// River's batch insert may add a random nonce: not part of the job.
			`metadata - 'river:unique_nonce'`, "priority", "queue", "state", "scheduled_at <= now()",
			"tags", "pg_typeof(tags)", "unique_key", "unique_states"}
		out := make([]string, len(cols))
		for i, c := range cols {
			var v *string
			if err := s.db.QueryRowContext(ctx, `SELECT (`+c+`)::text FROM river_job WHERE args->>'delivery_id' = $1`, id).Scan(&v); err != nil {
				t.Fatalf("%s of %s: %v", c, id, err)
			}
			val := "NULL"
			if v != nil {
				val = *v
			}
			out[i] = c + "=" + val
		}
		return out
	}
	ours, theirs := row("ours"), row("river")
	for i := range ours {
		want := theirs[i]
		if i == 0 {
			want = `args={"delivery_id": "ours"}`
			if theirs[i] != `args={"delivery_id": "river"}` {
				t.Errorf("River's args: got %s, want the delivery id only", theirs[i])
			}
		}
		if ours[i] != want {
			t.Errorf("plan job row: got %s, want %s (as River writes it)", ours[i], want)
		}
	}
	got := make(chan string, 2)
	if err := s.StartQueue(ctx, Handlers{Delivery: func(ctx context.Context, id string) error {
		got <- id
		return s.Queries().SetDeliveryStatus(ctx, id, DeliveryPlanned, "test")
	}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case id := <-got:
			seen[id] = true
		case <-time.After(30 * time.Second):
			t.Fatalf("planned %v, want ours and river", seen)
		}
	}
}

// TestIntakeBatchWithFailingDeliveryPostgres: deliveries stored together
// with two that PostgreSQL refuses (a NULL payload breaks NOT NULL; a NUL
// byte in the repository is not text): those two are answered with their
// errors and neither stored nor queued; every other one is answered, stored
// and queued once. Intake's locks on the deliveries are held from another
// connection while they arrive, so that they pile up into shared batches;
// a batch holding a refused delivery fails whole and its deliveries are
// stored one by one (IntakeStats.Alone).
func TestIntakeBatchWithFailingDeliveryPostgres(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{DatabaseURL: pgtest.URL(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 16
	ds := make([]Delivery, n)
	for i := range ds {
		ds[i] = Delivery{ID: fmt.Sprintf("d%d", i), Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
			Payload: []byte(`{}`), Status: DeliveryQueued, Fingerprint: fmt.Sprintf("fp%d", i)}
	}
	ds[5].Payload = nil
	ds[9].Repo = "o/r\x00"
	hold, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.ExecContext(ctx, intakeLockSQL, intakeLockClass, intakeLockKeys(ds)); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Intake(ctx, ds[i], IntakeOptions{Plan: true, ReplayWindow: time.Hour})
		}()
	}
	time.Sleep(200 * time.Millisecond) // let them reach the committers (the test passes either way)
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		var stored, queued int
		s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE id = $1`, ds[i].ID).Scan(&stored)
		s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE args->>'delivery_id' = $1`, ds[i].ID).Scan(&queued)
		want := 1
		if i == 5 || i == 9 {
			want = 0
			if err == nil {
				t.Errorf("%s (refused by PostgreSQL): got no error, want the insert's", ds[i].ID)
			}
		} else if err != nil {
			t.Errorf("%s: got %v, want stored", ds[i].ID, err)
		}
		if stored != want || queued != want {
			t.Errorf("%s: stored %d queued %d, want %d and %d", ds[i].ID, stored, queued, want, want)
		}
	}
	st := s.IntakeStats()
	t.Logf("intake stats: %+v", st)
	if st.Alone < 2 {
		t.Errorf("got %d deliveries stored alone, want at least the 2 refused ones (their batches failed)", st.Alone)
	}
}

// TestIntakeNeverWaitsForWriteLockOrPool: intake stores and queues
// deliveries while another transaction holds the store's write lock (a
// dispatcher transaction, planning reading git inside one) and while every
// connection of the store's pool is taken (River's fetches, job workers).
// Before intake had its own pool and locks it waited for both: every
// delivery here would end with its context.
func TestIntakeNeverWaitsForWriteLockOrPool(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{DatabaseURL: pgtest.URL(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The write lock, held by a transaction as InTx holds it.
	lockHeld := make(chan struct{})
	release := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.InTx(ctx, func(q *Queries) error {
			close(lockHeld)
			<-release
			return nil
		})
	}()
	<-lockHeld
	// Every other connection of the store's pool.
	var held []interface{ Release() }
	unblock := sync.OnceFunc(func() {
		for _, c := range held {
			c.Release()
		}
		close(release)
		if err := <-errc; err != nil {
			t.Error(err)
		}
	})
	defer unblock() // before Close, which waits for the connections
	for s.pool.Stat().AcquiredConns() < s.pool.Config().MaxConns {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The deadline only turns a wait for ever into a failure.
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Intake(dctx, Delivery{ID: fmt.Sprintf("d%d", i), Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
				Payload: []byte(`{}`), Status: DeliveryQueued, Fingerprint: fmt.Sprintf("fp%d", i)},
				IntakeOptions{Plan: true, ReplayWindow: time.Hour})
		}()
	}
	wg.Wait()
	unblock()
	for i, err := range errs {
		if err != nil {
			t.Errorf("d%d: got %v, want stored while the write lock and the pool are taken", i, err)
		}
	}
	var stored, queued int
	s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries`).Scan(&stored)
	s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = $1`, deliveryArgs{}.Kind()).Scan(&queued)
	if stored != n || queued != n {
		t.Errorf("got %d stored and %d queued, want %d of each", stored, queued, n)
	}
}

// TestHostsReplayRace: two hosts receive the same payload under different
// delivery ids at the same moment (a replay sent to both): each payload is
// stored once and the other copy answered as a replay of it. Intake no
// longer takes the store's write lock, so only its per-fingerprint lock
// orders the two hosts' lookups.
func TestHostsReplayRace(t *testing.T) {
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
	const n = 40
	type answer struct {
		res IntakeResult
		err error
	}
	answers := make([][2]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		for h, s := range []*Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"n":%d}`, i)
				res, err := s.Intake(ctx, Delivery{ID: fmt.Sprintf("d%d-host%d", i, h), Event: "push", Repo: "o/r",
					ReceivedAt: time.Now(), Payload: []byte(body), Status: DeliveryQueued, Fingerprint: "fp" + body},
					IntakeOptions{Plan: true, ReplayWindow: time.Hour})
				answers[i][h] = answer{res, err}
			}()
		}
	}
	wg.Wait()
	for i, pair := range answers {
		stored, replays := 0, 0
		for _, a := range pair {
			switch {
			case a.err != nil:
				t.Errorf("payload %d: %v", i, a.err)
			case a.res.ReplayOf != "":
				replays++
			case !a.res.Duplicate:
				stored++
			}
		}
		if stored != 1 || replays != 1 {
			t.Errorf("payload %d: got %d stored and %d replays, want 1 and 1", i, stored, replays)
		}
	}
	var rows int
	a.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries`).Scan(&rows)
	if rows != n {
		t.Errorf("got %d delivery rows, want %d (one per payload)", rows, n)
	}
}

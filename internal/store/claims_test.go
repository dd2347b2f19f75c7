package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClaimOncePerPeriod: many callers on two stores sharing the database
// ask at once: exactly one may run the task; nobody again within the
// period; exactly one again after it.
func TestClaimOncePerPeriod(t *testing.T) { eachDB(t, testClaimOncePerPeriod) }

func testClaimOncePerPeriod(t *testing.T, db Options) {
	ctx := context.Background()
	a, err := Open(ctx, t.TempDir(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	stores := []*Store{a}
	if db.DatabaseURL != "" { // a second host on the same database
		b, err := Open(ctx, t.TempDir(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		stores = append(stores, b)
	}
	// A period long enough that no round spans it, however loaded the
	// machine (500 ms failed under load: a round's callers spread past it);
	// the period's end is made by moving the claim back in the database.
	const period = time.Minute
	round := func() int {
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := stores[i%len(stores)].Claim(ctx, "reconcile", period)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		return int(won.Load())
	}
	if got := round(); got != 1 {
		t.Errorf("first round: %d callers may run the task, want 1", got)
	}
	if got := round(); got != 0 {
		t.Errorf("within the period: %d callers may run the task, want 0", got)
	}
	if _, err := (boundDB{s: a, e: a.db}).ExecContext(ctx, `UPDATE periodic_claims SET last_run = last_run - ? WHERE name = 'reconcile'`, period.Milliseconds()); err != nil {
		t.Fatal(err)
	}
	if got := round(); got != 1 {
		t.Errorf("after the period: %d callers may run the task, want 1", got)
	}
	if ok, err := a.Claim(ctx, "prune", period); err != nil || !ok {
		t.Errorf("another task: Claim = %v, %v; want true (tasks are claimed apart)", ok, err)
	}
}

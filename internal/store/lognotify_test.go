package store

import (
	"context"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store/pgtest"
)

// TestLogNotifyAcrossHosts: a follower on host B waiting for job 42's log
// (with no fallback tick within the test's life) is woken by a log flush's
// notification committed by host A; a flush of another job does not wake it.
func TestLogNotifyAcrossHosts(t *testing.T) {
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
	notify := func(job int64) {
		if err := a.InJobTx(ctx, func(q *Queries) error { return q.NotifyLog(ctx, job) }); err != nil {
			t.Error(err)
		}
	}
	woken := make(chan struct{})
	go func() {
		b.WaitLog(ctx, 42, time.Hour)
		close(woken)
	}()
	// Other jobs' flushes, then job 42's, until B has its LISTEN up and hears it.
	for i := 0; ; i++ {
		notify(7)
		select {
		case <-woken:
			t.Fatal("B's follower of job 42 was woken by job 7's flush")
		default:
		}
		if i > 20 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		notify(42)
		select {
		case <-woken:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

package dispatch

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// fakeClock is a settable clock (the scheduler's Config.Now).
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(s string) {
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// scheduleDeliveries lists the schedule deliveries, oldest first.
func scheduleDeliveries(t *testing.T, st *store.Store) []store.Delivery {
	t.Helper()
	ds, err := st.Queries().DeliveriesBefore(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Delivery
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].Event == "schedule" {
			out = append(out, ds[i])
		}
	}
	return out
}

const scheduledWorkflow = `name: Nightly
on:
  schedule:
    - cron: '*/10 * * * *'
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo "event=${{ github.event_name }} cron=${{ github.event.schedule }} ref=${{ github.ref }} actor=${{ github.actor }}"
`

// TestSchedulerExactlyOnce: a schedule read from the default branch fires
// once per due time, whatever the number of schedulers on the database
// (two dispatchers, each with its own clock a few seconds apart, race for
// every firing), runs on the default branch with github.event.schedule,
// fires once after an outage (no burst), and changes with the next push to
// the default branch.
func TestSchedulerExactlyOnce(t *testing.T) {
	ctx := context.Background()
	clock1, clock2 := &fakeClock{}, &fakeClock{}
	clock1.Set("2026-12-04 06:03:00")
	var cfg Config
	e := newEnvWith(t, func(c *Config) { c.Now = clock1.Now; cfg = *c })
	cfg2 := cfg
	cfg2.Now = clock2.Now
	d1, d2 := New(cfg), New(cfg2)

	id := e.push(map[string]string{".github/workflows/nightly.yml": scheduledWorkflow})
	if runs, _ := e.wait(id); len(runs) != 0 {
		t.Fatalf("a push started %d runs of a scheduled-only workflow", len(runs))
	}
	scheds, err := e.st.Queries().Schedules(ctx, "octo/hello")
	if err != nil || len(scheds) != 1 {
		t.Fatalf("got schedules %+v, %v; want the one cron", scheds, err)
	}
	if got, want := scheds[0].NextAt.UTC().Format(time.TimeOnly), "06:10:00"; got != want {
		t.Errorf("next run: got %s, want %s", got, want)
	}

	fire := func(t1, t2 string) int {
		t.Helper()
		clock1.Set(t1)
		clock2.Set(t2)
		var wg sync.WaitGroup
		var n1, n2 int
		var e1, e2 error
		wg.Add(2)
		go func() { defer wg.Done(); n1, e1 = d1.FireSchedules(ctx) }()
		go func() { defer wg.Done(); n2, e2 = d2.FireSchedules(ctx) }()
		wg.Wait()
		if e1 != nil || e2 != nil {
			t.Fatalf("FireSchedules: %v, %v", e1, e2)
		}
		return n1 + n2
	}
	steps := []struct {
		t1, t2 string
		want   int
	}{
		{"2026-12-04 06:09:00", "2026-12-04 06:09:59", 0},
		{"2026-12-04 06:10:00", "2026-12-04 06:10:30", 1}, // both due, one fires
		{"2026-12-04 06:10:40", "2026-12-04 06:19:00", 0},
		// Down for three hours: one catch-up run, for 09:00. (Two
		// schedulers that compute different times from the same state are
		// TestClaimScheduleOnce.)
		{"2026-12-04 09:07:00", "2026-12-04 09:07:40", 1},
		{"2026-12-04 09:08:00", "2026-12-04 09:09:00", 0},
	}
	for _, s := range steps {
		if got := fire(s.t1, s.t2); got != s.want {
			t.Fatalf("at %s / %s: %d schedule(s) fired, want %d", s.t1, s.t2, got, s.want)
		}
	}
	ds := scheduleDeliveries(t, e.st)
	if len(ds) != 2 {
		t.Fatalf("got %d schedule deliveries, want 2", len(ds))
	}
	for i := range ds {
		runs, jobs := e.wait(ds[i].ID)
		if len(runs) != 1 || runs[0].Event != "schedule" || runs[0].Ref != "refs/heads/main" || runs[0].SHA != e.repo.Head() {
			t.Fatalf("firing %d: got runs %+v, want one schedule run of main's head", i, runs)
		}
		if got := conclusions(jobs); got != "a=success" {
			t.Errorf("firing %d: got %s", i, got)
		}
		if log := e.log(jobs["a"].ID); !strings.Contains(log, "event=schedule cron=*/10 * * * * ref=refs/heads/main actor=me") {
			t.Errorf("firing %d: log lacks the schedule context:\n%s", i, log)
		}
	}
	scheds, _ = e.st.Queries().Schedules(ctx, "octo/hello")
	if got := scheds[0].LastFired.UTC().Format(time.TimeOnly) + " " + scheds[0].NextAt.UTC().Format(time.TimeOnly); got != "09:00:00 09:10:00" {
		t.Errorf("last and next: got %s, want 09:00:00 09:10:00", got)
	}

	// A push to the default branch replaces the schedule.
	clock1.Set("2026-12-04 09:09:30")
	id = e.push(map[string]string{".github/workflows/nightly.yml": strings.Replace(scheduledWorkflow, "*/10 * * * *", "0 12 * * *", 1)})
	e.wait(id)
	scheds, _ = e.st.Queries().Schedules(ctx, "octo/hello")
	if len(scheds) != 1 || scheds[0].Cron != "0 12 * * *" || scheds[0].NextAt.UTC().Format(time.TimeOnly) != "12:00:00" {
		t.Fatalf("after the push: got %+v, want only 0 12 * * * next at 12:00", scheds)
	}
	if got := fire("2026-12-04 09:10:00", "2026-12-04 11:59:00"); got != 0 {
		t.Errorf("the removed cron fired %d time(s)", got)
	}
	if got := fire("2026-12-04 12:00:00", "2026-12-04 12:00:00"); got != 1 {
		t.Errorf("the new cron fired %d time(s) at 12:00, want 1", got)
	}
}

// TestClaimScheduleOnce: two schedulers that read the same state both try to
// claim a firing (even for different times); exactly one wins.
func TestClaimScheduleOnce(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	err = st.InTx(ctx, func(q *store.Queries) error {
		return q.ReplaceSchedules(ctx, "o/r", "main", sha40, []store.Schedule{{WorkflowFile: "w.yml", Cron: "*/5 * * * *"}}, reg)
	})
	if err != nil {
		t.Fatal(err)
	}
	scheds, _ := st.Queries().Schedules(ctx, "o/r")
	read := scheds[0] // both schedulers read this
	var wins []bool
	for _, at := range []time.Time{reg.Add(10 * time.Minute), reg.Add(5 * time.Minute)} {
		var won bool
		if err := st.InTx(ctx, func(q *store.Queries) error {
			var err error
			won, err = q.ClaimSchedule(ctx, read, at, at.Add(5*time.Minute))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		wins = append(wins, won)
	}
	if !wins[0] || wins[1] {
		t.Errorf("claims: got %v, want [true false]", wins)
	}
}

// TestRefreshSchedulesAtStart: at start, a repository known from its
// deliveries gets its schedule read from its default branch, and a known
// one whose default branch moved (pushes missed while down) is re-read.
func TestRefreshSchedulesAtStart(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{}
	clock.Set("2026-12-04 06:03:00")
	var cfg Config
	e := newEnvWith(t, func(c *Config) { c.Now = clock.Now; cfg = *c })
	d := New(cfg)
	e.repo.Commit("c", map[string]string{".github/workflows/nightly.yml": scheduledWorkflow})
	e.repo.Push("main")
	// A delivery stored but never planned (as by an older hookci).
	if _, err := e.st.AddDelivery(ctx, store.Delivery{ID: "old", Event: "issues", Repo: "octo/hello", ReceivedAt: time.Now(),
		Payload: []byte(`{"action":"opened","repository":{"full_name":"octo/hello","default_branch":"main"}}`), Status: store.DeliveryPlanned}, false); err != nil {
		t.Fatal(err)
	}
	if err := d.RefreshSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	scheds, _ := e.st.Queries().Schedules(ctx, "octo/hello")
	if len(scheds) != 1 || scheds[0].Cron != "*/10 * * * *" {
		t.Fatalf("after the first refresh: got %+v, want the */10 cron", scheds)
	}
	e.repo.Commit("c2", map[string]string{".github/workflows/nightly.yml": strings.Replace(scheduledWorkflow, "*/10 * * * *", "0 3 * * 0", 1)})
	e.repo.Push("main")
	if err := d.RefreshSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	scheds, _ = e.st.Queries().Schedules(ctx, "octo/hello")
	if len(scheds) != 1 || scheds[0].Cron != "0 3 * * 0" {
		t.Fatalf("after the branch moved: got %+v, want only 0 3 * * 0", scheds)
	}
}

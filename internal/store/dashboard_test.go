package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRunFacts(t *testing.T) {
	cases := []struct {
		name, payload, ref   string
		actor, branch, title string
	}{
		{"push", `{"sender":{"login":"mona"},"head_commit":{"message":"Fix it\n\nbody"}}`, "refs/heads/main", "mona", "main", "Fix it"},
		{"pull request", `{"sender":{"login":"hubot"},"pull_request":{"title":"Add x","head":{"ref":"feature"}}}`, "refs/pull/3/merge", "hubot", "feature", "Add x"},
		{"tag", `{"sender":{"login":"a"}}`, "refs/tags/v1", "a", "v1", ""},
		{"bad payload", `{not json`, "refs/heads/dev", "", "dev", ""},
		{"no payload", ``, "refs/heads/dev", "", "dev", ""},
	}
	for _, c := range cases {
		a, b, ti := RunFacts([]byte(c.payload), c.ref)
		if a != c.actor || b != c.branch || ti != c.title {
			t.Errorf("%s: got %q %q %q, want %q %q %q", c.name, a, b, ti, c.actor, c.branch, c.title)
		}
	}
}

// TestRunItemsFiltersAndIndexes fills runs, checks each filter's answer and
// that the query plan of every filter (and of the overview's queries) uses
// an index rather than scanning the table.
func TestRunItemsFiltersAndIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := s.Queries()
	for i := range 40 {
		d := Delivery{ID: fmt.Sprintf("d-%d", i), Event: "push", Repo: "o/r", ReceivedAt: time.Now(), Status: DeliveryPlanned,
			Payload: []byte(fmt.Sprintf(`{"sender":{"login":"user%d"},"head_commit":{"message":"commit %d"}}`, i%2, i))}
		if _, err := s.AddDelivery(ctx, d, false); err != nil {
			t.Fatal(err)
		}
		r := &Run{DeliveryID: d.ID, Repo: "o/r", WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "CI", Event: "push",
			SHA: "abc", Ref: "refs/heads/main", Status: StatusCompleted, Conclusion: ConclusionSuccess}
		if i%4 == 0 {
			r.Conclusion, r.Ref = ConclusionFailure, "refs/heads/dev"
		}
		if err := q.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		f    RunFilter
		want int
	}{
		{RunFilter{}, 40},
		{RunFilter{Repo: "o/r"}, 40},
		{RunFilter{Repo: "o/other"}, 0},
		{RunFilter{Branch: "dev"}, 10},
		{RunFilter{Workflow: "ci.yml"}, 40},
		{RunFilter{Event: "pull_request"}, 0},
		{RunFilter{Status: "failure"}, 10},
		{RunFilter{Status: "completed"}, 40},
		{RunFilter{Actor: "user1"}, 20},
		{RunFilter{Actor: "user0", Branch: "dev"}, 10},
	}
	for _, c := range cases {
		got, err := q.RunItems(ctx, c.f, 0, 100)
		if err != nil || len(got) != c.want {
			t.Errorf("RunItems(%+v): got %d runs (%v), want %d", c.f, len(got), err, c.want)
		}
	}
	page1, _ := q.RunItems(ctx, RunFilter{}, 0, 15)
	page2, _ := q.RunItems(ctx, RunFilter{}, page1[len(page1)-1].ID, 15)
	if len(page2) != 15 || page2[0].ID != page1[14].ID-1 {
		t.Errorf("page 2 starts at %d, want %d", page2[0].ID, page1[14].ID-1)
	}
	if page1[0].Title != "commit 39" || page1[0].Actor != "user1" || page1[0].Branch != "main" {
		t.Errorf("newest run's facts: got %q %q %q", page1[0].Title, page1[0].Actor, page1[0].Branch)
	}
	plans := map[string]string{
		"branch":     `SELECT id FROM runs WHERE branch = 'x' AND id < 5 ORDER BY id DESC LIMIT 30`,
		"repo":       `SELECT id FROM runs WHERE repo = 'x' AND id < 5 ORDER BY id DESC LIMIT 30`,
		"workflow":   `SELECT id FROM runs WHERE workflow_file = 'x' ORDER BY id DESC LIMIT 30`,
		"event":      `SELECT id FROM runs WHERE event = 'x' ORDER BY id DESC LIMIT 30`,
		"status":     `SELECT id FROM runs WHERE status = 'x' ORDER BY id DESC LIMIT 30`,
		"conclusion": `SELECT id FROM runs WHERE conclusion = 'x' ORDER BY id DESC LIMIT 30`,
		"actor":      `SELECT id FROM runs WHERE actor = 'x' ORDER BY id DESC LIMIT 30`,
		"last 24h":   `SELECT repo FROM runs WHERE created_at >= 5`,
		"queue":      `SELECT COUNT(*) FROM jobs WHERE status = 'queued'`,
		"oldest":     `SELECT MIN(created_at) FROM jobs WHERE status = 'queued'`,
		"deliveries": `SELECT status, COUNT(*) FROM deliveries WHERE received_at >= 5 GROUP BY status`,
		"last hook":  `SELECT MAX(received_at) FROM deliveries`,
	}
	for name, query := range plans {
		rows, err := s.DB().QueryContext(ctx, `EXPLAIN QUERY PLAN `+query)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			rows.Scan(&id, &parent, &unused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, "INDEX") || strings.Contains(text, "TEMP B-TREE FOR ORDER BY") {
			t.Errorf("%s: query plan %q: want an index, no sort", name, text)
		}
	}
	if _, err := q.Overview(ctx, time.Now().Add(-24*time.Hour), 5); err != nil {
		t.Fatal(err)
	}
}

func TestOverviewFigures(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := s.Queries()
	now := time.Now()
	for i := 1; i <= 10; i++ {
		r := &Run{DeliveryID: "none", Repo: "o/r", WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "CI", Event: "push",
			SHA: "abc", Status: StatusCompleted, Conclusion: ConclusionSuccess,
			StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-time.Hour + time.Duration(i)*time.Second)}
		if i == 10 {
			r.Conclusion = ConclusionFailure
		}
		if err := q.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	old := &Run{DeliveryID: "none", Repo: "o/r", WorkflowFile: "x", WorkflowName: "Old", Event: "push", SHA: "abc",
		Status: StatusCompleted, Conclusion: ConclusionFailure, CreatedAt: now.Add(-48 * time.Hour)}
	if err := q.CreateRun(ctx, old); err != nil {
		t.Fatal(err)
	}
	o, err := q.Overview(ctx, now.Add(-24*time.Hour), 5)
	if err != nil {
		t.Fatal(err)
	}
	if o.Finished != 10 || o.Succeeded != 9 || o.Runs["failure"] != 1 {
		t.Errorf("got finished %d, succeeded %d, failures %d; want 10, 9, 1", o.Finished, o.Succeeded, o.Runs["failure"])
	}
	if len(o.Workflows) != 1 || o.Workflows[0].P50 != 5*time.Second || o.Workflows[0].P95 != 10*time.Second {
		t.Errorf("got workflows %+v, want one CI with p50 5s, p95 10s", o.Workflows)
	}
	if len(o.RecentFailures) != 2 {
		t.Errorf("got %d recent failures, want 2 (failures of any age)", len(o.RecentFailures))
	}
}

// The migration back-fills actor and branch of runs made before it from
// their deliveries' payloads.
func TestDashboardMigrationBackfill(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := s.Queries()
	s.AddDelivery(ctx, Delivery{ID: "push", Event: "push", Repo: "o/r", ReceivedAt: time.Now(), Status: DeliveryPlanned,
		Payload: []byte(`{"sender":{"login":"mona"}}`)}, false)
	s.AddDelivery(ctx, Delivery{ID: "pr", Event: "pull_request", Repo: "o/r", ReceivedAt: time.Now(), Status: DeliveryPlanned,
		Payload: []byte(`{"sender":{"login":"hubot"},"pull_request":{"head":{"ref":"feat"}}}`)}, false)
	s.AddDelivery(ctx, Delivery{ID: "bad", Event: "push", Repo: "o/r", ReceivedAt: time.Now(), Status: DeliveryFailed,
		Payload: []byte(`not json`)}, false)
	for _, c := range []struct{ delivery, ref string }{{"push", "refs/heads/main"}, {"pr", "refs/pull/1/merge"}, {"bad", "refs/heads/x"}} {
		if err := q.CreateRun(ctx, &Run{DeliveryID: c.delivery, Repo: "o/r", WorkflowFile: "w", WorkflowName: "W", Event: "push", SHA: "s",
			Ref: c.ref, Status: StatusQueued}); err != nil {
			t.Fatal(err)
		}
	}
	// As before the migration: the columns empty; then its back-fill.
	if _, err := s.DB().ExecContext(ctx, `UPDATE runs SET actor = '', branch = '', title = ''`); err != nil {
		t.Fatal(err)
	}
	update := sqliteDashboardMigration[strings.Index(sqliteDashboardMigration, "UPDATE runs"):]
	update = update[:strings.Index(update, ";")]
	if _, err := s.DB().ExecContext(ctx, update); err != nil {
		t.Fatalf("back-fill: %v", err)
	}
	items, err := q.RunItems(ctx, RunFilter{}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range items {
		got[it.DeliveryID] = it.Actor + "@" + it.Branch
	}
	want := map[string]string{"push": "mona@main", "pr": "hubot@feat", "bad": "@x"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("run of %s: got %q, want %q", k, got[k], w)
		}
	}
}

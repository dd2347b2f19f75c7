package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// fillActionsRuns makes 1,000 runs of o/r (10 of them re-run as attempt 2)
// and 50 of o/other: run i is on main when even (else dev), a
// pull_request by mona when i%5 == 0 (else a push by hubot), a failure
// when i%10 == 0 (its attempt 2, when i%100 == 0, a success), in progress
// for i in 1, 3, 7, else a success; its sha is i in hex.
func fillActionsRuns(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	err := s.InTx(ctx, func(q *Queries) error {
		for i := range 1000 {
			r := &Run{DeliveryID: "none", Repo: "o/r", WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "CI",
				Event: "push", SHA: fmt.Sprintf("%040x", i), Ref: "refs/heads/main", Status: StatusCompleted,
				Conclusion: ConclusionSuccess}
			if i%2 == 1 {
				r.Ref = "refs/heads/dev"
			}
			if i%5 == 0 {
				r.Event = "pull_request"
			}
			if i%10 == 0 {
				r.Conclusion = ConclusionFailure
			}
			if i == 1 || i == 3 || i == 7 {
				r.Status, r.Conclusion = StatusInProgress, ""
			}
			if err := q.CreateRun(ctx, r); err != nil {
				return err
			}
			if i%100 == 0 {
				again := *r
				again.ID, again.Attempt, again.Conclusion = 0, 2, ConclusionSuccess
				if err := q.CreateRun(ctx, &again); err != nil {
					return err
				}
			}
		}
		for range 50 {
			r := &Run{DeliveryID: "none", Repo: "o/other", WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "CI",
				Event: "push", SHA: strings.Repeat("f", 40), Ref: "refs/heads/main", Status: StatusCompleted,
				Conclusion: ConclusionFailure}
			if err := q.CreateRun(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE runs SET actor = CASE WHEN event = 'pull_request' THEN 'mona' ELSE 'hubot' END`); err != nil {
		t.Fatal(err)
	}
}

// TestActionsRunsFilters: every GitHub filter of the Actions runs list,
// alone and combined, counts the latest attempt of each run once (a re-run
// failure counts as its attempt 2's success), pages of 100 cover the 1,000
// runs once each newest first, and the repository list bounds what is seen
// — on SQLite and PostgreSQL.
func TestActionsRunsFilters(t *testing.T) { eachDB(t, testActionsRunsFilters) }

func testActionsRunsFilters(t *testing.T, db Options) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillActionsRuns(t, s)
	q := s.Queries()
	or := []string{"o/r"}
	cases := []struct {
		name string
		f    ActionsRunFilter
		want int
	}{
		{"all of o/r", ActionsRunFilter{Repos: or}, 1000},
		{"every repository", ActionsRunFilter{}, 1050},
		{"no repository", ActionsRunFilter{Repos: []string{}}, 0},
		{"o/other", ActionsRunFilter{Repos: []string{"o/other"}}, 50},
		{"branch", ActionsRunFilter{Repos: or, Branch: "main"}, 500},
		{"event", ActionsRunFilter{Repos: or, Event: "pull_request"}, 200},
		{"status failure (latest attempts)", ActionsRunFilter{Repos: or, Status: "failure"}, 90},
		{"status success", ActionsRunFilter{Repos: or, Status: "success"}, 907},
		{"status completed", ActionsRunFilter{Repos: or, Status: "completed"}, 997},
		{"status in_progress", ActionsRunFilter{Repos: or, Status: "in_progress"}, 3},
		{"actor", ActionsRunFilter{Repos: or, Actor: "mona"}, 200},
		{"actor in capitals", ActionsRunFilter{Repos: or, Actor: "Mona"}, 200},
		{"head_sha", ActionsRunFilter{Repos: or, SHA: fmt.Sprintf("%040x", 250)}, 1},
		{"head_sha in capitals", ActionsRunFilter{Repos: or, SHA: strings.ToUpper(fmt.Sprintf("%040x", 0x2ab))}, 1},
		{"branch and failure", ActionsRunFilter{Repos: or, Branch: "main", Status: "failure"}, 90},
		{"event, actor and branch", ActionsRunFilter{Repos: or, Event: "pull_request", Actor: "mona", Branch: "dev"}, 100},
	}
	for _, c := range cases {
		got, total, err := q.ActionsRuns(ctx, c.f, 0, 100)
		if err != nil || total != c.want || len(got) != min(c.want, 100) {
			t.Errorf("%s: got total %d, %d on the page (%v), want %d", c.name, total, len(got), err, c.want)
		}
	}
	rerun, _, err := q.ActionsRuns(ctx, ActionsRunFilter{Repos: or, SHA: fmt.Sprintf("%040x", 100)}, 0, 100)
	if err != nil || len(rerun) != 1 || rerun[0].Attempt != 2 || rerun[0].Conclusion != ConclusionSuccess {
		t.Errorf("the re-run run: got %+v (%v), want its attempt 2 only, a success", rerun, err)
	}
	seen := map[int]bool{}
	last := int64(1 << 62)
	for page := range 11 {
		got, total, err := q.ActionsRuns(ctx, ActionsRunFilter{Repos: or}, page*100, 100)
		if err != nil || total != 1000 {
			t.Fatalf("page %d: total %d (%v), want 1000", page+1, total, err)
		}
		if want := map[bool]int{true: 0, false: 100}[page == 10]; len(got) != want {
			t.Errorf("page %d: got %d runs, want %d", page+1, len(got), want)
		}
		for _, r := range got {
			if seen[r.RunNumber] || r.ID >= last {
				t.Errorf("page %d: run %d (id %d) twice or out of order", page+1, r.RunNumber, r.ID)
			}
			seen[r.RunNumber], last = true, r.ID
		}
	}
	if len(seen) != 1000 {
		t.Errorf("the pages held %d runs, want 1000", len(seen))
	}
}

// TestActionsRunsPlans: on SQLite with 1,050 runs, the list's page and
// count queries for every filter read through indexes (SEARCH, never a
// SCAN of the runs table or a whole index), the latest-attempt probe
// included; the plans are logged. (A list over several repositories —
// hookci's repository-less /api/actions/runs — is left to the planner: when
// they hold most runs, SQLite walks the table in id order.)
func TestActionsRunsPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillActionsRuns(t, s)
	if _, err := s.DB().ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	or := []string{"o/r"}
	filters := map[string]ActionsRunFilter{
		"repository": {Repos: or},
		"branch":     {Repos: or, Branch: "main"},
		"event":      {Repos: or, Event: "pull_request"},
		"status":     {Repos: or, Status: "in_progress"},
		"conclusion": {Repos: or, Status: "failure"},
		"actor":      {Repos: or, Actor: "mona"},
		"head_sha":   {Repos: or, SHA: fmt.Sprintf("%040x", 250)},
		"combined":   {Repos: or, Branch: "dev", Event: "push", Actor: "hubot", Status: "success"},
	}
	for name, f := range filters {
		where, args := actionsRunsWhere(f)
		for kind, query := range map[string]string{
			"page":  `SELECT id FROM runs ` + where + ` ORDER BY id DESC LIMIT 100 OFFSET 900`,
			"count": `SELECT COUNT(*) FROM runs ` + where,
		} {
			rows, err := s.DB().QueryContext(ctx, `EXPLAIN QUERY PLAN `+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			text := strings.Join(plan, "; ")
			t.Logf("%s %s: %s", name, kind, text)
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN ") {
					t.Errorf("%s %s: plan step %q scans; want every read of runs through an index", name, kind, step)
				}
			}
			if !strings.Contains(text, "runs_attempts") {
				t.Errorf("%s %s: plan %q does not probe runs_attempts for the latest attempt", name, kind, text)
			}
		}
	}
}

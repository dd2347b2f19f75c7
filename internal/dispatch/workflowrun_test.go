package dispatch

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// runsByWorkflow waits until every delivery is done and returns the
// completed runs by workflow name (in creation order).
func (e *env) runsByWorkflow(want int) map[string][]store.Run {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		runs, _ := e.st.Queries().RecentRuns(ctx, 200)
		ds, _ := e.st.Queries().DeliveriesBefore(ctx, "", 200)
		busy := false
		for _, d := range ds {
			if d.Status == store.DeliveryQueued {
				busy = true
			}
		}
		for _, r := range runs {
			if r.Status != store.StatusCompleted {
				busy = true
			}
		}
		var live int // queue work left (reports send workflow_run events)
		e.st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&live)
		if !busy && live == 0 && len(runs) >= want {
			out := map[string][]store.Run{}
			sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
			for _, r := range runs {
				out[r.WorkflowName] = append(out[r.WorkflowName], r)
			}
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("runs did not settle")
	return nil
}

// TestWorkflowRunFromOwnRuns: a push runs CI; CI's completion (a failure)
// triggers the default branch's workflow_run workflow, which sees the
// triggering run in github.event.workflow_run; requested and in_progress
// trigger only a workflow that asks for them; branch filters apply to the
// branch CI ran on.
func TestWorkflowRunFromOwnRuns(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.WorkflowRunEvents = true })
	e.push(map[string]string{
		".github/workflows/ci.yml": `name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: exit 1
`,
		".github/workflows/after.yml": `name: After
on:
  workflow_run:
    workflows: [CI]
    types: [completed]
jobs:
  report:
    runs-on: ubuntu-latest
    if: github.event.workflow_run.conclusion == 'failure'
    steps:
      - run: echo "got ${{ github.event.workflow_run.name }} ${{ github.event.workflow_run.conclusion }} ${{ github.event.workflow_run.event }} ${{ github.event.workflow_run.head_branch }} ${{ github.event.workflow_run.head_sha }} ${{ github.event.workflow_run.run_number }} action=${{ github.event.action }} ref=${{ github.ref }} sha=${{ github.sha }}"
`,
		".github/workflows/watch.yml": `name: Watch
on:
  workflow_run:
    workflows: [CI]
jobs:
  w:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.event.action }} ${{ github.event.workflow_run.status }}"
`,
		".github/workflows/canary.yml": `name: Canary only
on:
  workflow_run:
    workflows: [CI]
    branches: [canary]
jobs:
  c:
    runs-on: ubuntu-latest
    steps:
      - run: echo never
`,
	})
	byName := e.runsByWorkflow(5)
	if n := len(byName["CI"]); n != 1 {
		t.Fatalf("got %d CI runs, want 1", n)
	}
	ci := byName["CI"][0]
	if len(byName["After"]) != 1 {
		t.Fatalf("got %d After runs, want 1 (completed only)", len(byName["After"]))
	}
	after := byName["After"][0]
	if after.Event != "workflow_run" || after.Ref != "refs/heads/main" || after.SHA != e.repo.Head() {
		t.Errorf("After run: got event %s ref %s sha %s, want workflow_run on main's head", after.Event, after.Ref, after.SHA)
	}
	jobs, _ := e.st.Queries().RunJobs(context.Background(), after.ID)
	if len(jobs) != 1 || jobs[0].Conclusion != store.ConclusionSuccess {
		t.Fatalf("After jobs: got %+v, want the report job to run (CI failed)", jobs)
	}
	want := fmt.Sprintf("got CI failure push main %s 1 action=completed ref=refs/heads/main sha=%s", ci.SHA, e.repo.Head())
	if log := e.log(jobs[0].ID); !strings.Contains(log, want) {
		t.Errorf("After log lacks %q:\n%s", want, log)
	}
	var actions []string
	for _, r := range byName["Watch"] {
		js, _ := e.st.Queries().RunJobs(context.Background(), r.ID)
		actions = append(actions, strings.TrimSpace(lastLine(e.log(js[0].ID))))
	}
	sort.Strings(actions)
	if got, want := strings.Join(actions, ", "), "completed completed, in_progress in_progress, requested queued"; got != want {
		t.Errorf("Watch runs: got %q, want %q", got, want)
	}
	if n := len(byName["Canary only"]); n != 0 {
		t.Errorf("Canary only ran %d time(s) for a CI run on main", n)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestWorkflowRunDepthLimit: A → B → C → D run; E, a fourth level of
// workflow_run, does not (GitHub's limit).
func TestWorkflowRunDepthLimit(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.WorkflowRunEvents = true })
	files := map[string]string{".github/workflows/a.yml": "name: A\non: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo A\n"}
	prev := "A"
	for _, n := range []string{"B", "C", "D", "E"} {
		files[".github/workflows/"+strings.ToLower(n)+".yml"] = fmt.Sprintf(
			"name: %s\non:\n  workflow_run:\n    workflows: [%s]\n    types: [completed]\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo %s\n", n, prev, n)
		prev = n
	}
	e.push(files)
	byName := e.runsByWorkflow(4)
	var got []string
	for _, n := range []string{"A", "B", "C", "D", "E"} {
		got = append(got, fmt.Sprintf("%s=%d", n, len(byName[n])))
	}
	if g := strings.Join(got, " "); g != "A=1 B=1 C=1 D=1 E=0" {
		t.Errorf("got %s, want A=1 B=1 C=1 D=1 E=0", g)
	}
}

// TestWorkflowRunReRunSendsNoRequested: a re-run (a new attempt) sends
// in_progress and completed again but not requested (GitHub: "The requested
// activity type does not occur when a workflow is re-run"); each event of an
// attempt is sent once however often the run is reported.
func TestWorkflowRunReRunSendsNoRequested(t *testing.T) {
	ctx := context.Background()
	var cfg Config
	e := newEnvWith(t, func(c *Config) { c.WorkflowRunEvents = true; cfg = *c })
	e.push(map[string]string{
		".github/workflows/ci.yml":    "name: CI\non: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
		".github/workflows/watch.yml": "name: Watch\non:\n  workflow_run:\n    workflows: [CI]\njobs:\n  w:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
	})
	ci := e.runsByWorkflow(4)["CI"][0]
	if _, err := e.st.DB().ExecContext(ctx, fmt.Sprintf(`UPDATE runs SET attempt = 2 WHERE id = %d`, ci.ID)); err != nil {
		t.Fatal(err)
	}
	d := New(cfg)
	for range 2 { // reported twice: still one delivery per event
		if err := d.workflowRunEvents(ctx, ci.ID); err != nil {
			t.Fatal(err)
		}
	}
	ds, _ := e.st.Queries().DeliveriesBefore(ctx, "", 100)
	var got []string
	for _, del := range ds {
		if strings.HasPrefix(del.ID, fmt.Sprintf("workflow_run-%d-", ci.ID)) {
			got = append(got, del.ID)
		}
	}
	sort.Strings(got)
	want := fmt.Sprintf("workflow_run-%[1]d-1-completed workflow_run-%[1]d-1-in_progress workflow_run-%[1]d-1-requested "+
		"workflow_run-%[1]d-2-completed workflow_run-%[1]d-2-in_progress", ci.ID)
	if g := strings.Join(got, " "); g != want {
		t.Errorf("workflow_run deliveries:\ngot  %s\nwant %s", g, want)
	}
}

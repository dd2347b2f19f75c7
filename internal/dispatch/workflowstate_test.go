package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// pushVisible is env.push with the repository's visibility in the payload,
// as GitHub's push payloads carry it (repository.private, .visibility).
func (e *env) pushVisible(files map[string]string, private bool) string {
	e.t.Helper()
	sha := e.repo.Commit("c", files)
	e.repo.Push("main")
	e.n++
	id := fmt.Sprintf("d%d", e.n)
	vis := "public"
	if private {
		vis = "private"
	}
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
		"repository": map[string]any{"full_name": "octo/hello", "default_branch": "main", "private": private, "visibility": vis},
		"sender":     map[string]any{"login": "me"}})
	if _, err := e.st.AddDelivery(context.Background(), store.Delivery{ID: id, Event: "push", Repo: "octo/hello", SHA: sha,
		ReceivedAt: time.Now(), Payload: body, Status: store.DeliveryQueued}, true); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// nightlyOnPush runs on pushes and every 10 minutes.
const nightlyOnPush = `name: Nightly
on:
  push:
  schedule:
    - cron: '*/10 * * * *'
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo "event=${{ github.event_name }}"
`

func workflowState(t *testing.T, st *store.Store, file string) string {
	t.Helper()
	states, err := st.Queries().WorkflowStates(context.Background(), "octo/hello")
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := states[file]; ok {
		return s.State
	}
	return store.WorkflowActive
}

// TestScheduleDisabledAfterInactivity: GitHub's rule, "in a public
// repository, scheduled workflows are automatically disabled when no
// repository activity has occurred in 60 days". The schedule fires until
// the 60 days since the last push are over, then the workflow is
// disabled_inactivity: its slots pass without runs, a push does not run it
// either (nor re-enable it), and enabling it (the API's PUT …/enable)
// starts it again with no burst of the missed slots. A private repository's
// schedule keeps firing.
func TestScheduleDisabledAfterInactivity(t *testing.T) {
	for _, private := range []bool{false, true} {
		t.Run(fmt.Sprintf("private=%v", private), func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{}
			clock.Set("2026-12-04 06:03:00")
			var d *Dispatcher
			e := newEnvWith(t, func(c *Config) { c.Now = clock.Now; d = New(*c) })
			const file = ".github/workflows/nightly.yml"
			id := e.pushVisible(map[string]string{file: nightlyOnPush}, private)
			if runs, _ := e.wait(id); len(runs) != 1 {
				t.Fatalf("the push started %d runs, want 1", len(runs))
			}
			fire := func(at string, want int) {
				t.Helper()
				clock.Set(at)
				n, err := d.FireSchedules(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n != want {
					t.Fatalf("at %s: %d schedule(s) fired, want %d", at, n, want)
				}
			}
			fire("2026-12-04 06:10:00", 1)
			// 59 days, 23 h 57 min after the push: still active (one
			// catch-up run for the slots missed meanwhile).
			fire("2027-02-02 06:00:00", 1)
			if private {
				fire("2027-02-02 06:20:00", 1)
				fire("2027-06-02 06:20:00", 1)
				if got := workflowState(t, e.st, file); got != store.WorkflowActive {
					t.Fatalf("private repository's workflow: state %s, want active", got)
				}
				return
			}
			// Past 60 days: disabled, nothing fires.
			fire("2027-02-02 06:20:00", 0)
			if got := workflowState(t, e.st, file); got != store.WorkflowDisabledInactivity {
				t.Fatalf("state %s, want %s", got, store.WorkflowDisabledInactivity)
			}
			fire("2027-02-02 06:40:00", 0)
			// A push is activity, but the workflow stays disabled (GitHub's
			// re-enable is a person's act) and does not run on it.
			clock.Set("2027-02-02 06:45:00")
			id = e.pushVisible(map[string]string{"README": "x"}, private)
			if runs, _ := e.wait(id); len(runs) != 0 {
				t.Fatalf("a push ran the disabled workflow (%d runs)", len(runs))
			}
			if dl, _ := e.st.Queries().Delivery(ctx, id); !strings.Contains(dl.Message, "the workflow is disabled (disabled_inactivity)") {
				t.Errorf("delivery message %q does not say the workflow is disabled", dl.Message)
			}
			fire("2027-02-02 06:50:00", 0)
			if _, err := d.DispatchWorkflow(ctx, "octo/hello", "nightly.yml", "main", nil, "me"); err == nil ||
				!strings.Contains(err.Error(), "Cannot trigger a 'workflow_dispatch' on a disabled workflow") {
				t.Errorf("dispatch of the disabled workflow: %v", err)
			}
			// Enabled again: the next slot fires once, the missed ones never.
			clock.Set("2027-02-02 07:03:00")
			if err := d.SetWorkflowEnabled(ctx, "octo/hello", "nightly.yml", true, "me"); err != nil {
				t.Fatal(err)
			}
			if got := workflowState(t, e.st, file); got != store.WorkflowActive {
				t.Fatalf("after enable: state %s", got)
			}
			fire("2027-02-02 07:05:00", 0)
			fire("2027-02-02 07:10:00", 1)
			fire("2027-02-02 07:11:00", 0)
		})
	}
}

// TestWorkflowDisabledManually: a workflow disabled through the controls
// (the API's PUT …/disable) runs on no event — push, schedule, dispatch —
// says why on the delivery, and runs again once enabled. An unknown file is
// 404.
func TestWorkflowDisabledManually(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{}
	clock.Set("2026-12-04 06:03:00")
	var d *Dispatcher
	e := newEnvWith(t, func(c *Config) { c.Now = clock.Now; d = New(*c) })
	const file = ".github/workflows/nightly.yml"
	wf := strings.Replace(nightlyOnPush, "  push:\n", "  push:\n  workflow_dispatch:\n", 1)
	id := e.push(map[string]string{file: wf})
	if runs, _ := e.wait(id); len(runs) != 1 {
		t.Fatalf("the push started %d runs, want 1", len(runs))
	}
	if err := d.SetWorkflowEnabled(ctx, "octo/hello", "nosuch.yml", false, "me"); err != errNotFound {
		t.Fatalf("disabling an unknown workflow: %v, want not found", err)
	}
	if err := d.SetWorkflowEnabled(ctx, "octo/hello", "nightly.yml", false, "me"); err != nil {
		t.Fatal(err)
	}
	if got := workflowState(t, e.st, file); got != store.WorkflowDisabledManually {
		t.Fatalf("state %s, want %s", got, store.WorkflowDisabledManually)
	}
	id = e.push(map[string]string{"README": "x"})
	if runs, _ := e.wait(id); len(runs) != 0 {
		t.Fatalf("a push ran the disabled workflow (%d runs)", len(runs))
	}
	if dl, _ := e.st.Queries().Delivery(ctx, id); !strings.Contains(dl.Message, "the workflow is disabled (disabled_manually)") {
		t.Errorf("delivery message %q does not say the workflow is disabled", dl.Message)
	}
	clock.Set("2026-12-04 06:10:00")
	if n, err := d.FireSchedules(ctx); err != nil || n != 0 {
		t.Fatalf("a disabled workflow's schedule fired %d time(s) (%v)", n, err)
	}
	if _, err := d.DispatchWorkflow(ctx, "octo/hello", "nightly.yml", "main", nil, "me"); err == nil ||
		!strings.Contains(err.Error(), "Cannot trigger a 'workflow_dispatch' on a disabled workflow") {
		t.Errorf("dispatch of the disabled workflow: %v", err)
	}
	if err := d.SetWorkflowEnabled(ctx, "octo/hello", "nightly.yml", true, "me"); err != nil {
		t.Fatal(err)
	}
	id = e.push(map[string]string{"README": "y"})
	if runs, _ := e.wait(id); len(runs) != 1 {
		t.Fatalf("after enable a push started %d runs, want 1", len(runs))
	}
	if _, err := d.DispatchWorkflow(ctx, "octo/hello", "nightly.yml", "main", nil, "me"); err != nil {
		t.Errorf("dispatch after enable: %v", err)
	}
}

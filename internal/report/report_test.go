package report

import (
	"context"
	"encoding/json"
	"flag"
	"github.com/hookci/hookci/internal/golden"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/store"
)

func TestStatusOf(t *testing.T) {
	start := time.Unix(1000, 0)
	for _, tc := range []struct {
		run   store.Run
		state string
		desc  string
	}{
		{store.Run{Status: store.StatusQueued}, github.StatePending, "Queued"},
		{store.Run{Status: store.StatusInProgress}, github.StatePending, "Running"},
		{store.Run{Status: store.StatusCompleted, Conclusion: "success", StartedAt: start, FinishedAt: start.Add(12 * time.Second)},
			github.StateSuccess, "Successful in 12s"},
		{store.Run{Status: store.StatusCompleted, Conclusion: "failure", StartedAt: start, FinishedAt: start.Add(3 * time.Second)},
			github.StateFailure, "Failed after 3s"},
		{store.Run{Status: store.StatusCompleted, Conclusion: "failure", Message: "invalid workflow:\nci.yml:3:5: bad [syntax]"},
			github.StateFailure, "Invalid workflow: ci.yml:3:5: bad [syntax]"},
		{store.Run{Status: store.StatusCompleted, Conclusion: "cancelled"}, github.StateError, "Cancelled after 0s"},
	} {
		tc.run.WorkflowName = "CI"
		got := statusOf(tc.run)
		if got.State != tc.state || got.Description != tc.desc || got.Context != "hookci/CI" {
			t.Errorf("statusOf(%s/%s) = %+v, want %s %q", tc.run.Status, tc.run.Conclusion, got, tc.state, tc.desc)
		}
	}
}

// A job that failed without running says why in its own status.
func TestJobStatusSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		job  store.Job
		desc string
	}{
		{store.Job{Status: store.StatusCompleted, Conclusion: "failure"}, "Failed after 0s"},
		{store.Job{Status: store.StatusCompleted, Conclusion: "failure", Message: "no runner for labels [windows-latest]: no backend\nmore"},
			"no runner for labels [windows-latest]: no backend"},
		{store.Job{Status: store.StatusCompleted, Conclusion: "success", Message: "ignored"}, "Successful in 0s"},
	} {
		if got := jobStatus(tc.job); got.Description != tc.desc {
			t.Errorf("jobStatus(%s, %q): got %q, want %q", tc.job.Conclusion, tc.job.Message, got.Description, tc.desc)
		}
	}
}

func TestCommentBody(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := st.Queries()
	sha := strings.Repeat("a", 40)
	run := &store.Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI | main", Event: "pull_request",
		SHA: sha, PRNumber: 5, Status: store.StatusCompleted, Conclusion: "failure"}
	if err := q.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	ok := &store.Job{RunID: run.ID, Key: "a", Name: "build", Status: store.StatusCompleted, Conclusion: "success"}
	bad := &store.Job{RunID: run.ID, Key: "b", Name: "test", Status: store.StatusCompleted, Conclusion: "failure"}
	for _, j := range []*store.Job{ok, bad} {
		if err := q.CreateJob(ctx, j, false); err != nil {
			t.Fatal(err)
		}
	}
	q.PutStep(ctx, store.Step{JobID: bad.ID, Index: 1, Name: "Run tests", Status: store.StatusCompleted, Conclusion: "failure"})
	var log strings.Builder
	for i := 0; i < 30; i++ {
		log.WriteString("line " + string(rune('A'+i%26)) + "\n")
	}
	log.WriteString("```\nassertion failed\n")
	q.AppendLog(ctx, bad.ID, 1, []byte(log.String()))
	r := New(nil, st, "http://ci.example", nil)
	body, err := r.commentBody(ctx, *run)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"❌ 1 failed (1 passed)", "commit aaaaaaa", "| [CI \\| main](http://ci.example/runs/1) | build | ✅ success |",
		`step "Run tests" failed`, "assertion failed"} {
		if !strings.Contains(body, want) {
			t.Errorf("comment lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "line A\nline B\nline C\nline D\nline E\nline F\nline G\nline H\nline I\nline J\nline K") {
		t.Errorf("comment shows more than the last %d lines", tailLines)
	}
	if strings.Count(body, "```") != 2*strings.Count(body, "<details>") {
		t.Errorf("a log line closed the code block early:\n%s", body)
	}
	golden.Check(t, "testdata/comment.golden", body, *update)

	// The check run page of the failed job: step table, summary, log tail, annotations.
	bad.Summary = "## Results\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
	bad.Message = "Process completed with exit code 1."
	bad.Annotations = `[{"level":"error","file":"main_test.go","line":12,"col":3,"end_col":9,"message":"want 2, got 3"},` +
		`{"level":"warning","title":"deprecated","message":"set-output is deprecated"}]`
	out, err := r.checkOutput(ctx, *run, *bad)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/checkrun.golden", string(js)+"\n", *update)
}

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestReporterMemoryBounded: the per-run locks are released once unused.
func TestReporterMemoryBounded(t *testing.T) {
	r := New(nil, nil, "http://ci.example", nil)
	for id := int64(1); id <= 10000; id++ {
		unlock := r.lock(id)
		unlock()
	}
	if got := len(r.locks); got != 0 {
		t.Errorf("locks held after every report ended: got %d, want 0", got)
	}
}

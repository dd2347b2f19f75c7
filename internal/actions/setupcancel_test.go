package actions

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/workflow"
)

// TestCancelledDuringSetUp: a job cancelled while its workspace is being
// put in place ends "cancelled", with one line saying so in "Set up job" and
// the step reported once (not the transport error twice).
func TestCancelledDuringSetUp(t *testing.T) {
	w, err := workflow.Load("ci.yml", []byte("on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo never\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spec := &runner.Spec{Workflow: w, Job: w.Job("b"),
		Event: runner.EventInfo{Name: "push", Repo: "octo/hello", SHA: strings.Repeat("a", 40), Ref: "refs/heads/main",
			Payload: []byte(`{}`), RunID: 1, RunNumber: 1, Workflow: "CI"},
		Source: func(sctx context.Context, w io.Writer) error {
			cancel() // the run is cancelled while the commit is on its way
			<-sctx.Done()
			return sctx.Err()
		},
	}
	rec := newRecorder()
	res, err := runner.Run(ctx, startHost(t, ""), spec, rec)
	if err != nil {
		t.Fatalf("Run: %v (a cancellation is not an infrastructure failure)", err)
	}
	if res.Conclusion != "cancelled" {
		t.Errorf("conclusion %s, want cancelled; log:\n%s", res.Conclusion, rec.all())
	}
	errs := 0
	for _, l := range rec.logs[0] {
		if strings.HasPrefix(l, "##[error]") {
			errs++
		}
	}
	if all := rec.all(); errs != 1 || strings.Count(all, "context canceled") > 0 || len(res.Steps) != 1 {
		t.Errorf("%d error lines, %d step results, want 1 and 1, without the transport error; log:\n%s", errs, len(res.Steps), all)
	}
}

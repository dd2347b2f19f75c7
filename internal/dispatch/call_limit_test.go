package dispatch

import (
	"context"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/store"
)

// TestCalledJobsCountTowardsRunCap: the jobs a reusable workflow brings into
// a run count towards max_jobs_per_run; the call that would pass it fails
// with the reason (also the run's) and creates none of its jobs.
func TestCalledJobsCountTowardsRunCap(t *testing.T) {
	e := newEnvWith(t, func(c *Config) { c.MaxJobsPerRun = 6 })
	three := "on: workflow_call\njobs:\n" +
		"  a:\n    runs-on: x\n    steps:\n      - run: exit 0\n" +
		"  b:\n    runs-on: x\n    steps:\n      - run: exit 0\n" +
		"  c:\n    runs-on: x\n    steps:\n      - run: exit 0\n"
	runs, _ := e.wait(e.push(map[string]string{
		".github/workflows/ci.yml": "on: push\njobs:\n  one:\n    uses: ./.github/workflows/three.yml\n" +
			"  two:\n    needs: one\n    uses: ./.github/workflows/three.yml\n",
		".github/workflows/three.yml": three,
	}))
	if len(runs) != 1 {
		t.Fatalf("got %d runs, want 1", len(runs))
	}
	run := runs[0]
	want := "this run would have 8 jobs (matrix legs included), more than the limit of 6 jobs per run"
	if run.Conclusion != store.ConclusionFailure || !strings.Contains(run.Message, want) {
		t.Errorf("run: %s %q, want failure with %q", run.Conclusion, run.Message, want)
	}
	jobs, err := e.st.Queries().RunJobs(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, j := range jobs {
		got[j.Name] = j.Conclusion
	}
	if len(jobs) != 5 || got["one / a"] != "success" || got["two"] != "failure" {
		t.Errorf("jobs: %v, want the first call's three jobs to succeed and the second call to fail", got)
	}
}

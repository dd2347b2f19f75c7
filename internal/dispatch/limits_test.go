package dispatch

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/store"
)

// sixteen is a matrix vector of 16 values.
const sixteen = "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]"

// TestJobsPerRunCap: a run is refused, with the reason on the run and no
// job rows, when its matrices would make more jobs than the cap (10 jobs of
// 256 legs); a matrix over GitHub's 256 fails its job with GitHub's wording
// before any leg exists; a matrix built from a job's outputs that pushes
// the run over the cap fails when it expands, before its legs are created.
func TestJobsPerRunCap(t *testing.T) {
	var flood strings.Builder
	flood.WriteString("on: push\njobs:\n")
	for i := range 10 {
		fmt.Fprintf(&flood, "  j%d:\n    runs-on: x\n    strategy:\n      matrix:\n        a: %s\n        b: %s\n    steps:\n      - run: exit 0\n", i, sixteen, sixteen)
	}
	cases := []struct {
		name     string
		workflow string
		wantRows int // job rows the run ends with
		wantRun  string
		wantJob  string
	}{
		{
			name:     "ten matrices of 256",
			workflow: flood.String(),
			wantRows: 0,
			wantRun:  "this run would have 2560 jobs (matrix legs included), more than the limit of 20 jobs per run",
		},
		{
			name:     "one matrix of 272",
			workflow: "on: push\njobs:\n  big:\n    runs-on: x\n    strategy:\n      matrix:\n        a: " + sixteen + "\n        b: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n    steps:\n      - run: exit 0\n",
			wantRows: 1,
			wantJob:  "Strategy for job 'big' produced 272 configurations which exceeds the maximum of 256 configurations",
		},
		{
			name: "matrix from outputs",
			workflow: `on: push
jobs:
  gen:
    runs-on: x
    outputs:
      m: ${{ steps.s.outputs.m }}
    steps:
      - id: s
        run: echo 'm=[` + strings.Trim(sixteen, "[]") + `,17,18,19,20]' >> "$GITHUB_OUTPUT"
  fan:
    needs: gen
    runs-on: x
    strategy:
      matrix:
        n: ${{ fromJSON(needs.gen.outputs.m) }}
    steps:
      - run: exit 0
`,
			wantRows: 2,
			wantRun:  "this run would have 21 jobs (matrix legs included), more than the limit of 20 jobs per run",
			wantJob:  "this run would have 21 jobs",
		},
	}
	e := newEnvWith(t, func(c *Config) { c.MaxJobsPerRun = 20 })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runs, _ := e.wait(e.push(map[string]string{".github/workflows/ci.yml": tc.workflow}))
			if len(runs) != 1 {
				t.Fatalf("got %d runs, want 1", len(runs))
			}
			run := runs[0]
			if run.Conclusion != store.ConclusionFailure {
				t.Errorf("run conclusion: got %s, want failure", run.Conclusion)
			}
			if !strings.Contains(run.Message, tc.wantRun) {
				t.Errorf("run message: got %q, want it to contain %q", run.Message, tc.wantRun)
			}
			jobs, err := e.st.Queries().RunJobs(context.Background(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) != tc.wantRows {
				t.Errorf("job rows: got %d, want %d", len(jobs), tc.wantRows)
			}
			if tc.wantJob == "" {
				return
			}
			found := false
			for _, j := range jobs {
				if strings.Contains(j.Message, tc.wantJob) && j.Conclusion == store.ConclusionFailure {
					found = true
				}
			}
			if !found {
				t.Errorf("no failed job says %q: %+v", tc.wantJob, jobs)
			}
		})
	}
}

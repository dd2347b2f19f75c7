package dispatch

import (
	"fmt"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// DefaultMaxJobsPerRun caps the jobs of one run (matrix legs included) when
// Config.MaxJobsPerRun is 0. GitHub documents only its per-matrix limit
// (workflow.MaxCombinations, 256); a run's total is hookci's own bound, so
// that a workflow of many big matrices cannot flood the store and queue.
const DefaultMaxJobsPerRun = 1000

func (d *Dispatcher) maxJobsPerRun() int {
	if d.cfg.MaxJobsPerRun > 0 {
		return d.cfg.MaxJobsPerRun
	}
	return DefaultMaxJobsPerRun
}

// tooManyJobs is the message of a run refused for its size.
func (d *Dispatcher) tooManyJobs(n int) string {
	return fmt.Sprintf("this run would have %d jobs (matrix legs included), more than the limit of %d jobs per run (max_jobs_per_run): refused before creating them", n, d.maxJobsPerRun())
}

// planSize counts the jobs a run will have, as far as planning can tell:
// each matrix that does not depend on needs is expanded; a matrix that does
// (or that fails, reported when its job activates) counts as one, and is
// checked again when it expands.
func (d *Dispatcher) planSize(wf *workflow.Workflow, ev *event, run *store.Run) int {
	n := 0
	for _, wj := range d.selectJobs(wf) {
		legs := 1
		if wj.Strategy != nil && wj.Strategy.Matrix != nil {
			if combos, err := wj.EvalMatrix(d.jobExprEnv(ev, run, wj, nil, nil)); err == nil {
				legs = len(combos)
			}
		}
		n += legs
	}
	return n
}

// legsOverCap reports the message for a job about to expand into legs rows
// when the run has jobs rows already (the job's own waiting row included).
func (d *Dispatcher) legsOverCap(jobs []store.Job, legs int) (string, bool) {
	n := len(jobs) - 1 + legs
	if n <= d.maxJobsPerRun() {
		return "", false
	}
	return d.tooManyJobs(n), true
}

// matrixError is GitHub's way of saying a job's strategy failed; a matrix
// over the limit gets GitHub's own wording.
func matrixError(wj *workflow.Job, err error) string {
	var n, limit int
	if _, serr := fmt.Sscanf(err.Error(), "matrix generates %d combinations, more than the limit of %d", &n, &limit); serr == nil {
		return fmt.Sprintf("Error when evaluating 'strategy' for job '%s'. Strategy for job '%s' produced %d configurations which exceeds the maximum of %d configurations",
			wj.ID, wj.ID, n, limit)
	}
	return fmt.Sprintf("Error when evaluating 'strategy' for job '%s'. strategy.matrix: %v", wj.ID, err)
}

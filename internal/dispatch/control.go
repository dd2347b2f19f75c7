package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// The controls people and tools use on runs (the web API and the CLI call
// them through web.Controls): cancel a run or a job, re-run a run as a new
// attempt (every job, or only the failed ones and what depends on them, or
// one job and what depends on it), and start a workflow_dispatch run
// (dispatch_control.go). Every change commits together with the queue work it
// implies; reports to GitHub follow as for any change of state.

// ControlError is a control request refused for a reason the caller can
// fix or must know: Code is the HTTP status the API answers (404, 409, 422)
// and Message the reason, in GitHub's words where GitHub has them.
type ControlError struct {
	Code    int
	Message string
}

func (e *ControlError) Error() string { return e.Message }

// StatusCode is the HTTP status the refusal maps to.
func (e *ControlError) StatusCode() int { return e.Code }

func refused(code int, format string, a ...any) error {
	return &ControlError{Code: code, Message: fmt.Sprintf(format, a...)}
}

// errNotFound is GitHub's answer for an unknown run, job or workflow.
var errNotFound = &ControlError{Code: 404, Message: "Not Found"}

// CancelRun cancels a run that has not finished: its waiting and queued jobs
// at once, its running jobs through their context (they stop and finish as
// cancelled). Cancelling a completed run is refused (409), as on GitHub.
func (d *Dispatcher) CancelRun(ctx context.Context, runID int64, actor string) error {
	err := d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		run, err := q.Run(ctx, runID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		if run.Status == store.StatusCompleted {
			return refused(409, "Cannot cancel a workflow run that is completed.")
		}
		if err := d.cancelRun(ctx, q, &run, "The run was canceled by @"+actor+"."); err != nil {
			return err
		}
		d.log.Info("run cancelled", "run", run.ID, "by", actor)
		if run.Status == store.StatusCompleted {
			// Nothing was running: the run concluded here, not in completeJob.
			return d.releaseGroup(ctx, q, &run)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.cancelCommitted(ctx, runID)
	return nil
}

// cancelCommitted cancels the run's running jobs again once the marks are
// committed: a job that registered its cancel function after the first
// attempt but read the store before the commit saw neither.
func (d *Dispatcher) cancelCommitted(ctx context.Context, runID int64) {
	jobs, err := d.cfg.Store.Queries().RunJobs(ctx, runID)
	if err != nil {
		return
	}
	for _, j := range jobs {
		if j.Status == store.StatusInProgress && j.Conclusion == store.ConclusionCancelled {
			d.cancelRunning(j.ID)
		}
	}
}

// CancelJob cancels one job that has not finished (its run goes on with
// the job cancelled, as if it had been cancelled by fail-fast).
func (d *Dispatcher) CancelJob(ctx context.Context, jobID int64, actor string) error {
	var runID int64
	err := d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		job, err := q.Job(ctx, jobID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		if job.Status == store.StatusCompleted {
			return refused(409, "Cannot cancel a job that is completed.")
		}
		runID = job.RunID
		job.Message = "The job was canceled by @" + actor + "."
		if job.Status == store.StatusInProgress {
			// Marked for RunJob, which checks once its cancel function is
			// registered; it records the end itself.
			job.Conclusion = store.ConclusionCancelled
			if err := q.UpdateJob(ctx, &job); err != nil {
				return err
			}
			d.cancelRunning(job.ID)
			return q.EnqueueReport(ctx, job.RunID)
		}
		job.Status, job.Conclusion, job.FinishedAt = store.StatusCompleted, store.ConclusionCancelled, nowTime()
		if err := q.UpdateJob(ctx, &job); err != nil {
			return err
		}
		return d.advanceOther(ctx, q, job.RunID)
	})
	if err != nil {
		return err
	}
	d.cancelCommitted(ctx, runID)
	return nil
}

// Rerun starts a new attempt of a completed run (attempt+1, the same run
// number): with failedOnly, only the jobs that failed or were cancelled and
// the jobs that depend on them run again, the others keep their results and
// outputs (as GitHub's "Re-run failed jobs"); else every job runs. runID may
// name any attempt: the new one follows the latest, which must have
// completed (else 403 "This workflow is already running", as GitHub). It
// returns the new attempt's row id; every attempt's row keeps the first
// attempt's id as the run's public id (store.Run.FirstID).
func (d *Dispatcher) Rerun(ctx context.Context, runID int64, failedOnly bool, actor string) (int64, error) {
	return d.rerunAttempt(ctx, runID, actor, failedOnly, func(jobs []store.Job) map[string]bool {
		if !failedOnly {
			return nil
		}
		seeds := map[string]bool{}
		for _, j := range jobs {
			switch j.Conclusion {
			case store.ConclusionFailure, store.ConclusionCancelled, store.ConclusionTimedOut:
				seeds[strings.ToLower(j.Key)] = true
			}
		}
		return seeds
	})
}

// RerunJob starts a new attempt of the job's run in which that job and the
// jobs that depend on it run again (GitHub's "Re-run this job").
func (d *Dispatcher) RerunJob(ctx context.Context, jobID int64, actor string) (int64, error) {
	job, err := d.cfg.Store.Queries().Job(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, errNotFound
	}
	if err != nil {
		return 0, err
	}
	return d.rerunAttempt(ctx, job.RunID, actor, false, func([]store.Job) map[string]bool {
		return map[string]bool{strings.ToLower(job.Key): true}
	})
}

// rerunAttempt makes the new attempt; seeds picks the workflow jobs (lower
// case keys) to run again from the latest attempt's jobs, nil for all. With
// onlyFailedLegs, a seed that is a matrix job keeps its legs that did not
// fail (GitHub re-runs only the failed legs); its dependents run whole.
func (d *Dispatcher) rerunAttempt(ctx context.Context, runID int64, actor string, onlyFailedLegs bool,
	seeds func([]store.Job) map[string]bool) (int64, error) {
	var newID int64
	err := d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		old, err := q.Run(ctx, runID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		if old, err = latestAttempt(ctx, q, old); err != nil {
			return err
		}
		if old.Status != store.StatusCompleted {
			return refused(403, "This workflow is already running") // GitHub's status and words
		}
		in, err := d.loadRunWorkflow(ctx, q, &old)
		if err != nil {
			return refused(422, "The workflow of run %d cannot be loaded at %.12s: %v", old.ID, old.SHA, err)
		}
		jobs, err := q.RunJobs(ctx, old.ID)
		if err != nil {
			return err
		}
		var rerun, keepLegs map[string]bool
		if s := seeds(jobs); s != nil {
			if len(s) == 0 {
				return refused(409, "This workflow run has no failed jobs to re-run.")
			}
			rerun = dependents(in.wf, s)
			if onlyFailedLegs {
				keepLegs = s
			}
		}
		run, err := d.newAttempt(ctx, q, &old, in, rerun, keepLegs, jobs)
		if err != nil {
			return err
		}
		newID = run.ID
		d.log.Info("re-running", "run", old.ID, "attempt", run.Attempt, "new_run", run.ID, "jobs", len(rerun), "by", actor)
		return nil
	})
	return newID, err
}

// latestAttempt is the newest attempt of run's run (same workflow file and run number).
func latestAttempt(ctx context.Context, q *store.Queries, run store.Run) (store.Run, error) {
	all, err := q.RunsForCommit(ctx, run.Repo, run.SHA)
	if err != nil {
		return run, err
	}
	for _, r := range all {
		if r.WorkflowFile == run.WorkflowFile && r.RunNumber == run.RunNumber && r.Attempt > run.Attempt {
			run = r
		}
	}
	return run, nil
}

// dependents is seeds with every workflow job that needs one of them,
// directly or not.
func dependents(wf *workflow.Workflow, seeds map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range seeds {
		out[k] = true
	}
	for changed := true; changed; {
		changed = false
		for _, wj := range wf.Jobs {
			k := strings.ToLower(wj.ID)
			if out[k] {
				continue
			}
			for _, n := range wj.Needs {
				if out[strings.ToLower(n)] {
					out[k], changed = true, true
					break
				}
			}
		}
	}
	return out
}

// newAttempt creates attempt old.Attempt+1 of old's run and starts it. With
// rerun nil every job runs again; else only the workflow jobs in rerun (lower
// case keys), and the jobs of old not in it are copied into the new attempt
// with their results, outputs, steps and logs.
func (d *Dispatcher) newAttempt(ctx context.Context, q *store.Queries, old *store.Run, in *jobInput, rerun, keepLegs map[string]bool,
	oldJobs []store.Job) (*store.Run, error) {
	run := &store.Run{DeliveryID: old.DeliveryID, Repo: old.Repo, WorkflowFile: old.WorkflowFile,
		WorkflowName: old.WorkflowName, Event: old.Event, SHA: old.SHA, Ref: old.Ref, PRNumber: old.PRNumber,
		RunNumber: old.RunNumber, Attempt: old.Attempt + 1, Status: store.StatusQueued, FirstID: old.PublicID()}
	if err := q.CreateRun(ctx, run); err != nil {
		return nil, err
	}
	wf := in.wf
	if rerun != nil {
		for _, j := range oldJobs {
			key := strings.ToLower(j.Key)
			// A matrix leg of a re-run job that did not fail is kept: the
			// scheduler expands only the legs the new attempt lacks (keptLegs).
			keptLeg := keepLegs[key] && j.Matrix != "" && legKept(j.Conclusion)
			if !rerun[key] || keptLeg {
				if err := copyJob(ctx, q, j, run.ID); err != nil {
					return nil, err
				}
			}
		}
		// Start the run with only the jobs to re-run: the copied ones are
		// complete and satisfy their dependents' needs. (A shallow copy: the
		// cached model is shared and only read.)
		part := *in.wf
		part.Jobs = nil
		for _, wj := range in.wf.Jobs {
			if rerun[strings.ToLower(wj.ID)] {
				part.Jobs = append(part.Jobs, wj)
			}
		}
		wf = &part
	}
	if err := d.startRun(ctx, q, run, wf, in.ev); err != nil {
		return nil, err
	}
	return run, q.EnqueueReport(ctx, run.ID)
}

// copyJob copies a finished job of an earlier attempt, with its steps and
// log, into run runID.
func copyJob(ctx context.Context, q *store.Queries, j store.Job, runID int64) error {
	oldID := j.ID
	j.ID, j.RunID, j.CheckRunID = 0, runID, 0
	if err := q.CreateJob(ctx, &j, false); err != nil {
		return err
	}
	if err := q.UpdateJob(ctx, &j); err != nil { // the summary
		return err
	}
	steps, err := q.Steps(ctx, oldID)
	if err != nil {
		return err
	}
	for _, st := range steps {
		st.JobID = j.ID
		if err := q.PutStep(ctx, st); err != nil {
			return err
		}
	}
	return q.EachLog(ctx, oldID, 0, func(c store.LogChunk) error {
		return q.AppendLogTimed(ctx, j.ID, c.StepIdx, c.Data, c.Times)
	})
}

// legKept reports whether a matrix leg with this conclusion is kept by
// "Re-run failed jobs" (the failed, cancelled and timed-out ones run again).
func legKept(conclusion string) bool {
	switch conclusion {
	case store.ConclusionFailure, store.ConclusionCancelled, store.ConclusionTimedOut:
		return false
	}
	return true
}

// keptLegs are the matrix legs (their JSON) of workflow job key that run
// already holds completed — copied from an earlier attempt by "Re-run failed
// jobs" — so that activating the job expands only the others. It reads
// nothing for a first attempt.
func keptLegs(ctx context.Context, q *store.Queries, run *store.Run, key string) (map[string]bool, error) {
	if run.Attempt <= 1 {
		return nil, nil
	}
	jobs, err := q.RunJobs(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	var out map[string]bool
	for _, j := range jobs {
		if strings.EqualFold(j.Key, key) && j.Matrix != "" && j.Status == store.StatusCompleted {
			if out == nil {
				out = map[string]bool{}
			}
			out[j.Matrix] = true
		}
	}
	return out, nil
}

// dropKeptLegs leaves out of legs those run already holds completed
// (keptLegs). Should every leg be kept, all run (a job must have a leg).
func dropKeptLegs(ctx context.Context, q *store.Queries, run *store.Run, key string, legs []workflow.Combination) ([]workflow.Combination, error) {
	kept, err := keptLegs(ctx, q, run, key)
	if err != nil || len(kept) == 0 {
		return legs, err
	}
	var out []workflow.Combination
	for _, l := range legs {
		if !kept[l.JSON()] {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return legs, nil
	}
	return out, nil
}

// keepCancelMessage keeps the reason a cancelled running job was given (by a
// control, a concurrency group or a run's cancel) when the job's end path
// writes the row it loaded at its start, which has no message: the stored
// reason of the same attempt is carried over.
func keepCancelMessage(ctx context.Context, q *store.Queries, job *store.Job) error {
	if job.Conclusion != store.ConclusionCancelled || job.Message != "" {
		return nil
	}
	cur, err := q.Job(ctx, job.ID)
	if err != nil {
		return fmt.Errorf("job %d: %w", job.ID, err)
	}
	if cur.Conclusion == store.ConclusionCancelled && cur.Attempt == job.Attempt {
		job.Message = cur.Message
	}
	return nil
}

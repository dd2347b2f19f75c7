package dispatch

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// concurrencyOf evaluates a workflow's concurrency group (github, inputs and
// vars contexts, as GitHub allows at workflow level).
func (d *Dispatcher) concurrencyOf(wf *workflow.Workflow, ev *event, run *store.Run) (string, bool, error) {
	c := wf.Concurrency
	if c == nil || strings.TrimSpace(c.Group) == "" {
		return "", false, nil
	}
	inputs := expr.FromGo(ev.Inputs)
	if ev.Inputs == nil {
		inputs = expr.ObjectValue(expr.NewObject())
	}
	env := &expr.Env{Contexts: map[string]expr.Value{
		"github": expr.ObjectValue(d.githubContext(ev, run, "")),
		"inputs": inputs,
		"vars":   stringMap(d.cfg.Vars),
	}}
	return c.Eval(env)
}

// enterGroup applies GitHub's concurrency rules to a new run: a pending run
// of the group is cancelled (replaced); with cancel-in-progress the running
// ones are cancelled too. It reports whether the new run must wait.
func (d *Dispatcher) enterGroup(ctx context.Context, q *store.Queries, run *store.Run) (wait bool, err error) {
	others, err := q.RunsInGroup(ctx, run.Repo, run.Concurrency)
	if err != nil {
		return false, err
	}
	for i := range others {
		o := &others[i]
		if o.ID == run.ID {
			continue
		}
		switch {
		case o.Status == store.StatusPending:
			err = d.cancelRun(ctx, q, o, fmt.Sprintf("Canceling since a newer run (#%d) entered the concurrency group %q", run.ID, run.Concurrency))
		case run.CancelInProgress:
			err = d.cancelRun(ctx, q, o, fmt.Sprintf("Canceling since a higher priority waiting request for %q exists", run.Concurrency))
		default:
			wait = true
		}
		if err != nil {
			return false, err
		}
	}
	return wait, nil
}

// cancelRun cancels every job of run not yet finished: waiting and queued
// ones at once, running ones in this process through their context (they
// then finish as cancelled and advance the run).
func (d *Dispatcher) cancelRun(ctx context.Context, q *store.Queries, run *store.Run, msg string) error {
	jobs, err := q.RunJobs(ctx, run.ID)
	if err != nil {
		return err
	}
	running := false
	for i := range jobs {
		j := &jobs[i]
		switch j.Status {
		case store.StatusCompleted:
		case store.StatusInProgress:
			running = true
			// Marked for RunJob too, which may not have registered its
			// cancel function yet (it checks once it has).
			j.Conclusion, j.Message = store.ConclusionCancelled, msg
			if err := q.UpdateJob(ctx, j); err != nil {
				return err
			}
			d.cancelRunning(j.ID)
		default:
			j.Status, j.Conclusion, j.FinishedAt = store.StatusCompleted, store.ConclusionCancelled, nowTime()
			j.Message = msg
			if err := q.UpdateJob(ctx, j); err != nil {
				return err
			}
		}
	}
	run.Message = msg
	if !running {
		run.Status, run.Conclusion, run.FinishedAt = store.StatusCompleted, store.ConclusionCancelled, nowTime()
		if run.StartedAt.IsZero() {
			run.StartedAt = run.FinishedAt
		}
		if d.cfg.Observe != nil {
			d.cfg.Observe.RunFinished(run.Conclusion)
		}
	}
	if err := q.UpdateRun(ctx, run); err != nil {
		return err
	}
	return q.EnqueueReport(ctx, run.ID)
}

// releaseGroup starts the pending run of a group whose run just finished.
func (d *Dispatcher) releaseGroup(ctx context.Context, q *store.Queries, done *store.Run) error {
	if done.Concurrency == "" {
		return nil
	}
	others, err := q.RunsInGroup(ctx, done.Repo, done.Concurrency)
	if err != nil {
		return err
	}
	for i := range others {
		o := &others[i]
		if o.Status != store.StatusPending {
			if o.ID != done.ID {
				return nil // another run of the group is still active
			}
			continue
		}
		o.Status = store.StatusQueued
		if err := q.UpdateRun(ctx, o); err != nil {
			return err
		}
		in, err := d.loadRunWorkflow(ctx, q, o)
		if err != nil {
			return err
		}
		if err := d.advance(ctx, q, o, in.wf, in.ev); err != nil {
			return err
		}
		return q.EnqueueReport(ctx, o.ID)
	}
	return nil
}

// enterJobGroup applies the concurrency rules to a job leg about to be
// queued: a pending job of the group is cancelled (replaced), with
// cancel-in-progress the active ones too. It reports whether j must wait.
func (d *Dispatcher) enterJobGroup(ctx context.Context, q *store.Queries, repo string, j *store.Job) (bool, error) {
	others, err := q.JobsInGroup(ctx, repo, j.Concurrency)
	if err != nil {
		return false, err
	}
	wait := false
	for i := range others {
		o := &others[i]
		if o.ID == j.ID {
			continue
		}
		switch {
		case o.Status == store.StatusPending || (j.CancelInProgress && o.Status != store.StatusInProgress):
			o.Status, o.Conclusion, o.FinishedAt = store.StatusCompleted, store.ConclusionCancelled, nowTime()
			o.Message = fmt.Sprintf("Canceling since a newer job entered the concurrency group %q", j.Concurrency)
			if err := q.UpdateJob(ctx, o); err != nil {
				return false, err
			}
			if err := d.advanceOther(ctx, q, o.RunID); err != nil {
				return false, err
			}
		case j.CancelInProgress:
			if err := d.cancelInProgress(ctx, q, o, j.Concurrency); err != nil { // call_run.go
				return false, err
			}
		default:
			wait = true
		}
	}
	return wait, nil
}

// releaseJobGroup queues the oldest pending job of a group once none of
// the group is active any more.
func (d *Dispatcher) releaseJobGroup(ctx context.Context, q *store.Queries, repo, group string) error {
	if group == "" {
		return nil
	}
	others, err := q.JobsInGroup(ctx, repo, group)
	if err != nil {
		return err
	}
	var next *store.Job
	for i := range others {
		o := &others[i]
		if o.Status != store.StatusPending {
			return nil // still active
		}
		if next == nil {
			next = o
		}
	}
	if next == nil {
		return nil
	}
	next.Status = store.StatusQueued
	if err := q.UpdateJob(ctx, next); err != nil {
		return err
	}
	return q.EnqueueJob(ctx, next.ID)
}

// advanceOther advances another run after one of its jobs changed.
func (d *Dispatcher) advanceOther(ctx context.Context, q *store.Queries, runID int64) error {
	run, err := q.Run(ctx, runID)
	if err != nil {
		return err
	}
	in, err := d.loadRunWorkflow(ctx, q, &run)
	if err != nil {
		return err
	}
	if err := d.advance(ctx, q, &run, in.wf, in.ev); err != nil {
		return err
	}
	return q.EnqueueReport(ctx, run.ID)
}

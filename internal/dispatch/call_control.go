package dispatch

// Caller legs and their siblings: fail-fast, max-parallel, cancellation and
// re-runs reaching the jobs a leg called (see call.go).

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// callSiblings is siblings (execute.go) for a caller leg that ended: a
// failed leg cancels the legs not started yet (fail-fast), else one leg held
// back by max-parallel is queued.
func (d *Dispatcher) callSiblings(ctx context.Context, q *store.Queries, run *store.Run, caller store.Job, wj *workflow.Job) error {
	if wj == nil || wj.Strategy == nil {
		return nil
	}
	jobs, err := q.RunJobs(ctx, run.ID)
	if err != nil {
		return err
	}
	ff := failFast(wj) && (caller.Conclusion == store.ConclusionFailure || caller.Conclusion == store.ConclusionTimedOut)
	for i := range jobs {
		s := &jobs[i]
		if s.ID == caller.ID || !strings.EqualFold(s.Key, caller.Key) {
			continue
		}
		switch {
		case ff && (s.Status == store.StatusQueued || s.Status == statusHeld):
			s.Status, s.Conclusion, s.FinishedAt = store.StatusCompleted, store.ConclusionCancelled, nowTime()
			s.Message = failFastMessage(caller.Name)
			if err := q.UpdateJob(ctx, s); err != nil {
				return err
			}
		case ff && s.Status == store.StatusInProgress && s.Backend == store.BackendCall:
			if err := d.cancelCalled(ctx, q, jobs, *s, failFastMessage(caller.Name)); err != nil {
				return err
			}
		case !ff && s.Status == statusHeld:
			s.Status = store.StatusQueued
			if err := q.UpdateJob(ctx, s); err != nil {
				return err
			}
			return q.EnqueueJob(ctx, s.ID)
		}
	}
	return nil
}

// abandonCall ends a caller leg whose called workflow cannot be read any
// more: its unfinished jobs are skipped and the leg fails with the reason.
func (d *Dispatcher) abandonCall(ctx context.Context, q *store.Queries, run *store.Run, caller store.Job, children []store.Job, why error) error {
	for i := range children {
		c := &children[i]
		if c.Status == store.StatusCompleted {
			continue
		}
		if c.Status == store.StatusInProgress {
			d.cancelRunning(c.ID)
		}
		c.Status, c.Conclusion, c.FinishedAt = store.StatusCompleted, store.ConclusionSkipped, nowTime()
		if err := q.UpdateJob(ctx, c); err != nil {
			return err
		}
	}
	caller.Status, caller.Conclusion, caller.FinishedAt = store.StatusCompleted, store.ConclusionFailure, nowTime()
	caller.Message = why.Error()
	if err := q.UpdateJob(ctx, &caller); err != nil {
		return err
	}
	return d.releaseJobGroup(ctx, q, run.Repo, caller.Concurrency)
}

// anyOpen reports whether some job is not over.
func anyOpen(jobs []store.Job) bool {
	for _, j := range jobs {
		if j.Status != store.StatusCompleted {
			return true
		}
	}
	return false
}

// reopenCallers puts back in progress every caller leg above a called job
// that is run again, so that their results follow the new attempt.
func reopenCallers(ctx context.Context, q *store.Queries, key string) error {
	segs, _, err := splitLeaf(key)
	if err != nil {
		return err
	}
	for _, s := range segs {
		c, err := q.Job(ctx, s.row)
		if err != nil {
			return err
		}
		if c.Status != store.StatusCompleted {
			continue
		}
		c.Status, c.Conclusion, c.Message, c.FinishedAt = store.StatusInProgress, "", "", zeroTime
		if err := q.UpdateJob(ctx, &c); err != nil {
			return err
		}
	}
	return nil
}

// cancelCalled cancels every job a caller leg called, at any depth: those
// not started end cancelled with msg, running ones are cancelled through
// their context. The leg itself ends when they have (advanceCalls).
func (d *Dispatcher) cancelCalled(ctx context.Context, q *store.Queries, jobs []store.Job, caller store.Job, msg string) error {
	base := caller.Key + "#" + strconv.FormatInt(caller.ID, 10)
	for i := range jobs {
		j := &jobs[i]
		rest, ok := strings.CutPrefix(j.Key, base)
		if !ok || rest == "" || (rest[0] != '/' && rest[0] != '@') || j.Status == store.StatusCompleted {
			continue
		}
		switch {
		case j.Status == store.StatusInProgress && j.Backend != store.BackendCall:
			d.cancelRunning(j.ID)
		case j.Status != store.StatusInProgress:
			j.Status, j.Conclusion, j.Message, j.FinishedAt = store.StatusCompleted, store.ConclusionCancelled, msg, nowTime()
			if err := q.UpdateJob(ctx, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// cancelInProgress cancels an active job of a concurrency group: a running
// leg through its context, a caller leg through every job it called.
func (d *Dispatcher) cancelInProgress(ctx context.Context, q *store.Queries, o *store.Job, group string) error {
	if o.Backend != store.BackendCall {
		d.cancelRunning(o.ID)
		return nil
	}
	jobs, err := q.RunJobs(ctx, o.RunID)
	if err != nil {
		return err
	}
	if err := d.cancelCalled(ctx, q, jobs, *o, fmt.Sprintf("Canceling since a newer job entered the concurrency group %q", group)); err != nil {
		return err
	}
	return d.advanceOther(ctx, q, o.RunID) // jobs that had not started ended here
}

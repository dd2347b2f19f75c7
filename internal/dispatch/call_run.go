package dispatch

// Running reusable workflow calls: expanding a caller leg into the called
// workflow's jobs, advancing them, and ending the leg (see call.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// expandCall runs a caller leg: it resolves and checks the called workflow,
// and creates its jobs under the leg, which stays in progress until they are
// all over. A call that cannot be made fails the leg (and names the reason
// on the run, as GitHub fails the run).
func (d *Dispatcher) expandCall(ctx context.Context, in *jobInput) error {
	q := d.cfg.Store.Queries()
	parent := in.ev.call
	if parent == nil {
		parent = d.topScope(&in.run, in.wf, in.ev)
	}
	ref, err := workflow.ParseCallRef(in.wj.Uses)
	if err != nil {
		return d.failCall(ctx, in, fmt.Errorf("%s: %w", parent.file, err))
	}
	repo, sha, err := d.resolveCall(ctx, &in.run, parent, ref)
	if err != nil {
		return d.failCall(ctx, in, callError(parent.file, ref, err))
	}
	id := repo + ":" + ref.Path
	for _, c := range parent.chain {
		if strings.EqualFold(c, id) {
			return d.failCall(ctx, in, callError(parent.file, ref,
				fmt.Errorf("job %q calls %s, which is already being called (a cycle of reusable workflows)", in.wj.ID, ref.Path)))
		}
	}
	if parent.depth+1 > workflow.MaxCallDepth {
		return d.failCall(ctx, in, callError(parent.file, ref, fmt.Errorf(
			"job %q calls workflow %q, but doing so would exceed the limit on called workflow depth of %d",
			in.wj.ID, ref.String(), workflow.MaxCallDepth)))
	}
	sc, err := d.enterCall(ctx, q, &in.run, parent, in.job, sha)
	if err != nil {
		return d.failCall(ctx, in, err)
	}
	// The called workflow's concurrency: group holds the caller leg (unless
	// the calling job has a group of its own, which then decides).
	group, cip := "", false
	if sc.wf.Concurrency != nil && in.job.Concurrency == "" {
		if group, cip, err = sc.wf.Concurrency.Eval(d.jobExprEnv(sc.ev, &in.run, in.wj, nil, nil)); err != nil {
			return d.failCall(ctx, in, fmt.Errorf("%s: concurrency: %w", sc.file, err))
		}
	}
	err = d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		row, err := q.Job(ctx, in.job.ID)
		if err != nil {
			return err
		}
		if row.Status == store.StatusCompleted { // cancelled meanwhile
			return nil
		}
		if group != "" {
			row.Concurrency, row.CancelInProgress = group, cip
			wait, err := d.enterJobGroup(ctx, q, in.run.Repo, &row)
			if err != nil {
				return err
			}
			if wait { // queued again when the group is released
				row.Status = store.StatusPending
				if err := q.UpdateJob(ctx, &row); err != nil {
					return err
				}
				return q.EnqueueReport(ctx, in.run.ID)
			}
		}
		jobs, err := q.RunJobs(ctx, in.run.ID)
		if err != nil {
			return err
		}
		if n := len(jobs) + len(sc.wf.Jobs); n > d.maxJobsPerRun() { // limits.go
			return errTooManyCalled{d.tooManyJobs(n)}
		}
		row.Status, row.StartedAt, row.Backend = store.StatusInProgress, nowTime(), store.BackendCall
		row.Attempt++
		if err := q.UpdateJob(ctx, &row); err != nil {
			return err
		}
		for _, j := range sc.wf.Jobs {
			child := &store.Job{RunID: in.run.ID, Key: sc.prefix + j.ID, Name: sc.name + jobDisplayName(j),
				Status: store.StatusWaiting}
			if j.Uses != "" {
				child.Backend = store.BackendCall
			}
			if err := q.CreateJob(ctx, child, false); err != nil {
				return err
			}
		}
		run, err := q.Run(ctx, in.run.ID)
		if err != nil {
			return err
		}
		if run.Status == store.StatusQueued {
			run.Status, run.StartedAt = store.StatusInProgress, nowTime()
			if err := q.UpdateRun(ctx, &run); err != nil {
				return err
			}
		}
		if err := d.advanceFromStore(ctx, q, &run); err != nil {
			return err
		}
		return q.EnqueueReport(ctx, run.ID)
	})
	var over errTooManyCalled
	if errors.As(err, &over) {
		return d.failCall(ctx, in, over)
	}
	return err
}

// errTooManyCalled refuses a call whose jobs would pass max_jobs_per_run.
type errTooManyCalled struct{ msg string }

func (e errTooManyCalled) Error() string { return e.msg }

// failCall fails a caller leg before it called anything; the reason is
// also the run's message.
func (d *Dispatcher) failCall(ctx context.Context, in *jobInput, err error) error {
	d.log.Warn("reusable workflow call failed", "run", in.run.ID, "job", in.job.ID, "err", err)
	if e := d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		run, err2 := q.Run(ctx, in.run.ID)
		if err2 != nil {
			return err2
		}
		if run.Message == "" {
			run.Message = err.Error()
			return q.UpdateRun(ctx, &run)
		}
		return nil
	}); e != nil {
		return e
	}
	return d.failJob(ctx, in.job.ID, err.Error())
}

// advanceCalls activates the ready jobs of every called workflow in
// progress, and completes each caller leg whose called jobs are all over.
// It reports whether it changed anything.
func (d *Dispatcher) advanceCalls(ctx context.Context, q *store.Queries, run *store.Run, wf *workflow.Workflow, ev *event, jobs []store.Job) (bool, error) {
	keys := groupJobs(jobs)
	top := d.topScope(run, wf, ev)
	changed := false
	for i := range jobs {
		caller := jobs[i]
		if caller.Backend != store.BackendCall {
			continue
		}
		if caller.Status == store.StatusCompleted {
			// A called job re-run from its check run: the caller leg is open
			// again until its jobs are over, and its result is recomputed.
			if _, children := childrenOf(jobs, caller); anyOpen(children) {
				caller.Status, caller.Conclusion, caller.Message, caller.FinishedAt = store.StatusInProgress, "", "", zeroTime
				if err := q.UpdateJob(ctx, &caller); err != nil {
					return false, err
				}
				changed = true
			}
			continue
		}
		if caller.Status != store.StatusInProgress {
			continue
		}
		prefix, children := childrenOf(jobs, caller)
		if len(children) == 0 {
			continue
		}
		segs, _, err := parseCallKey(prefix + "x")
		if err != nil {
			return false, err
		}
		sc, err := d.scopeFor(ctx, q, run, top, segs)
		if err != nil {
			// The called workflow can no longer be read or evaluated:
			// nothing under it can run.
			d.log.Warn("called workflow", "run", run.ID, "caller", caller.ID, "err", err)
			if err := d.abandonCall(ctx, q, run, caller, children, err); err != nil {
				return false, err
			}
			changed = true
			continue
		}
		activated := false
		for _, wj := range sc.wf.Jobs {
			ks := keys[strings.ToLower(sc.prefix+wj.ID)]
			if ks == nil || !ks.waiting {
				continue
			}
			ready := true
			for _, n := range wj.Needs {
				if ns := keys[strings.ToLower(sc.prefix+n)]; ns == nil || !ns.completed {
					ready = false
				}
			}
			if !ready {
				continue
			}
			if err := d.activate(ctx, q, run, sc.wf, wj, ks.rows[0], needsIn(keys, sc.prefix, wj), sc.ev); err != nil {
				return false, err
			}
			activated = true
		}
		if activated {
			return true, nil // rows changed: the caller looks again
		}
		done := true
		for _, c := range children {
			if c.Status != store.StatusCompleted {
				done = false
			}
		}
		if done {
			if err := d.completeCall(ctx, q, run, caller, sc, keys); err != nil {
				return false, err
			}
			changed = true
		}
	}
	return changed, nil
}

// childrenOf returns the key prefix of a caller leg's jobs and their rows
// (the jobs of the workflow it calls, not deeper ones).
func childrenOf(jobs []store.Job, caller store.Job) (string, []store.Job) {
	base := caller.Key + "#" + strconv.FormatInt(caller.ID, 10)
	prefix := ""
	var out []store.Job
	for _, j := range jobs {
		rest, ok := strings.CutPrefix(j.Key, base)
		if !ok || rest == "" || (rest[0] != '/' && rest[0] != '@') {
			continue
		}
		slash := strings.IndexByte(rest, '/')
		if slash < 0 || strings.Contains(rest[slash+1:], "/") {
			continue
		}
		prefix = base + rest[:slash+1]
		out = append(out, j)
	}
	return prefix, out
}

// completeCall ends a caller leg whose called jobs are all over: its
// conclusion aggregates theirs, its outputs are the called workflow's
// on.workflow_call.outputs evaluated with their jobs context.
func (d *Dispatcher) completeCall(ctx context.Context, q *store.Queries, run *store.Run, caller store.Job, sc *callScope, keys map[string]*keyState) error {
	jobsCtx := expr.NewObject()
	agg := keyState{completed: true}
	for _, wj := range sc.wf.Jobs {
		ks := keys[strings.ToLower(sc.prefix+wj.ID)]
		if ks == nil {
			continue
		}
		o := expr.NewObject()
		o.Set("result", expr.StringValue(ks.result()))
		o.Set("outputs", stringMap(ks.outputs()))
		jobsCtx.Set(wj.ID, expr.ObjectValue(o))
		for _, r := range ks.rows {
			if (r.Conclusion == store.ConclusionFailure || r.Conclusion == store.ConclusionTimedOut) &&
				!d.legsFailRun(run, wj, &keyState{rows: []*store.Job{r}}, sc.ev) {
				continue // continue-on-error: does not fail the caller
			}
			agg.rows = append(agg.rows, r)
		}
	}
	caller.Status, caller.FinishedAt = store.StatusCompleted, nowTime()
	caller.Conclusion = agg.result()
	if caller.Conclusion == "" {
		caller.Conclusion = store.ConclusionSuccess
	}
	env := &expr.Env{Contexts: map[string]expr.Value{
		"github": expr.ObjectValue(d.githubContext(sc.ev, run, "")),
		"jobs":   expr.ObjectValue(jobsCtx),
		"inputs": expr.FromGo(sc.ev.Inputs),
		"vars":   stringMap(d.cfg.Vars),
	}}
	outs, err := workflow.CallOutputs(sc.wf, env)
	if err != nil {
		caller.Message = err.Error()
		caller.Conclusion = store.ConclusionFailure
	} else {
		caller.Outputs = jsonString(outs)
	}
	if d.cfg.Observe != nil {
		d.cfg.Observe.JobFinished(caller.Conclusion, caller.FinishedAt.Sub(caller.StartedAt).Seconds())
	}
	if err := q.UpdateJob(ctx, &caller); err != nil {
		return err
	}
	if err := d.callSiblings(ctx, q, run, caller, sc.caller); err != nil {
		return err
	}
	return d.releaseJobGroup(ctx, q, run.Repo, caller.Concurrency)
}

// callName is the display prefix of a job's name in a called workflow.
func callName(ev *event) string {
	if ev == nil || ev.call == nil {
		return ""
	}
	return ev.call.name
}

// loadCalledLeg is loadLeg's second half for a job of a called workflow:
// its model, scope (inputs, secrets), leg and needs within that workflow.
func (d *Dispatcher) loadCalledLeg(ctx context.Context, q *store.Queries, in *jobInput) (*jobInput, error) {
	sc, leaf, err := d.scopeOfKey(ctx, q, &in.run, in.wf, in.ev, in.job.Key)
	if err != nil {
		return nil, err
	}
	in.wf, in.ev = sc.wf, sc.ev
	if in.wj = sc.wf.Job(leaf); in.wj == nil {
		return nil, fmt.Errorf("workflow %s has no job %q", sc.file, leaf)
	}
	if in.leg, err = workflow.ParseCombination(in.job.Matrix); err != nil {
		return nil, err
	}
	jobs, err := q.RunJobs(ctx, in.run.ID)
	if err != nil {
		return nil, err
	}
	in.needs = needsIn(groupJobs(jobs), sc.prefix, in.wj)
	return in, nil
}

func jsonString(m map[string]string) string {
	b, err := json.Marshal(m)
	if err != nil {
		return "{}"
	}
	return string(b)
}

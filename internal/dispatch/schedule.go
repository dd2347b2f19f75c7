package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// statusHeld marks a matrix leg activated but held back by max-parallel.
const statusHeld = "held"

func nowTime() time.Time { return time.Now() }

// eventInfo is the runner's view of a run's event.
func (d *Dispatcher) eventInfo(ev *event, run *store.Run, payload []byte) runner.EventInfo {
	return runner.EventInfo{
		Name: ev.Name, Payload: payload, Repo: ev.Repo, SHA: ev.SHA, Ref: ev.Ref, HeadRef: ev.HeadRef,
		BaseRef: ev.BaseRef, Actor: ev.Actor, RunID: run.ID, RunNumber: run.RunNumber, RunAttempt: run.Attempt,
		Workflow: run.WorkflowName, WorkflowRef: ev.Repo + "/" + run.WorkflowFile + "@" + ev.Ref,
		ServerURL: d.cfg.ServerURL, APIURL: d.cfg.APIURL, GraphQLURL: d.cfg.GraphQLURL, Fork: ev.Fork,
	}
}

func (d *Dispatcher) githubContext(ev *event, run *store.Run, job string) *expr.Object {
	o, err := runner.GitHubContext(d.eventInfo(ev, run, ev.Payload), job, "")
	if err != nil {
		return expr.NewObject()
	}
	return o
}

// keyState is the state of one workflow job across its rows (legs).
type keyState struct {
	rows      []*store.Job
	waiting   bool // not activated yet
	completed bool // every row completed
}

func groupJobs(jobs []store.Job) map[string]*keyState {
	m := map[string]*keyState{}
	for i := range jobs {
		j := &jobs[i]
		k := strings.ToLower(j.Key)
		s := m[k]
		if s == nil {
			s = &keyState{completed: true}
			m[k] = s
		}
		s.rows = append(s.rows, j)
		if j.Status == store.StatusWaiting {
			s.waiting = true
		}
		if j.Status != store.StatusCompleted {
			s.completed = false
		}
	}
	return m
}

// waitingRow is the key's row not activated yet (legs kept from an earlier
// attempt by a re-run of failed legs come before it).
func (s *keyState) waitingRow() *store.Job {
	for _, r := range s.rows {
		if r.Status == store.StatusWaiting {
			return r
		}
	}
	return s.rows[0]
}

// result aggregates a workflow job's legs into needs.<id>.result.
func (s *keyState) result() string {
	res := store.ConclusionSkipped
	for _, r := range s.rows {
		switch r.Conclusion {
		case store.ConclusionFailure, store.ConclusionTimedOut:
			return "failure"
		case store.ConclusionCancelled:
			res = "cancelled"
		case store.ConclusionSuccess:
			if res == store.ConclusionSkipped {
				res = "success"
			}
		}
	}
	return res
}

// outputs merges the legs' outputs (later legs win, as on GitHub).
func (s *keyState) outputs() map[string]string {
	out := map[string]string{}
	for _, r := range s.rows {
		var m map[string]string
		if json.Unmarshal([]byte(r.Outputs), &m) == nil {
			for k, v := range m {
				out[k] = v
			}
		}
	}
	return out
}

// advance activates every waiting job whose needs have all completed, and
// concludes the run when every job has. It runs inside a transaction.
func (d *Dispatcher) advance(ctx context.Context, q *store.Queries, run *store.Run, wf *workflow.Workflow, ev *event) error {
	for {
		jobs, err := q.RunJobs(ctx, run.ID)
		if err != nil {
			return err
		}
		keys := groupJobs(jobs)
		activated := false
		for _, wj := range wf.Jobs {
			ks := keys[strings.ToLower(wj.ID)]
			if ks == nil || !ks.waiting {
				continue
			}
			needs := map[string]runner.NeedResult{}
			ready := true
			for _, n := range wj.Needs {
				ns := keys[strings.ToLower(n)]
				if ns == nil || !ns.completed {
					ready = false
					break
				}
				needs[n] = runner.NeedResult{Result: ns.result(), Outputs: ns.outputs()}
			}
			if !ready {
				continue
			}
			if err := d.activate(ctx, q, run, wf, wj, ks.waitingRow(), needs, ev); err != nil {
				return err
			}
			activated = true
		}
		if activated {
			continue // an activation may complete jobs (skipped), which may ready others
		}
		if changed, err := d.advanceCalls(ctx, q, run, wf, ev, jobs); err != nil || changed {
			if err != nil {
				return err
			}
			continue // jobs of called workflows activated or caller legs completed
		}
		return d.concludeIfDone(ctx, q, run, wf, keys, ev)
	}
}

func (d *Dispatcher) concludeIfDone(ctx context.Context, q *store.Queries, run *store.Run, wf *workflow.Workflow, keys map[string]*keyState, ev *event) error {
	done := true
	anyStarted := false
	conclusion := store.ConclusionSuccess
	for _, wj := range wf.Jobs {
		ks := keys[strings.ToLower(wj.ID)]
		if ks == nil {
			continue
		}
		for _, r := range ks.rows {
			if r.Status != store.StatusWaiting && r.Status != store.StatusQueued && r.Status != statusHeld {
				anyStarted = true
			}
		}
		if !ks.completed {
			done = false
			continue
		}
		switch ks.result() {
		case "failure":
			if d.legsFailRun(run, wj, ks, ev) {
				conclusion = store.ConclusionFailure
			}
		case "cancelled":
			if conclusion == store.ConclusionSuccess {
				conclusion = store.ConclusionCancelled
			}
		}
	}
	if !done {
		if anyStarted && run.Status == store.StatusQueued {
			run.Status, run.StartedAt = store.StatusInProgress, nowTime()
			return q.UpdateRun(ctx, run)
		}
		return nil
	}
	if run.Status == store.StatusCompleted || run.Status == store.StatusPending {
		return nil
	}
	run.Status, run.Conclusion, run.FinishedAt = store.StatusCompleted, conclusion, nowTime()
	if run.StartedAt.IsZero() {
		run.StartedAt = run.FinishedAt
	}
	if d.cfg.Observe != nil {
		d.cfg.Observe.RunFinished(conclusion)
	}
	if err := q.UpdateRun(ctx, run); err != nil {
		return err
	}
	return d.releaseGroup(ctx, q, run)
}

// legsFailRun reports whether a failed workflow job fails the run: some
// failed leg has no continue-on-error (evaluated with that leg's matrix).
func (d *Dispatcher) legsFailRun(run *store.Run, wj *workflow.Job, ks *keyState, ev *event) bool {
	for _, r := range ks.rows {
		if r.Conclusion != store.ConclusionFailure && r.Conclusion != store.ConclusionTimedOut {
			continue
		}
		if strings.TrimSpace(wj.ContinueOnError) == "" {
			return true
		}
		leg, _ := workflow.ParseCombination(r.Matrix)
		v, err := expr.EvaluateValue(wj.ContinueOnError, d.jobExprEnv(ev, run, wj, nil, leg))
		if err != nil || !expr.Truthy(v) || expr.String(v) == "false" {
			return true
		}
	}
	return false
}

// activate decides a ready job: skipped by its if, failed by a bad matrix, or
// queued as one or more legs (its waiting row becomes the first leg).
func (d *Dispatcher) activate(ctx context.Context, q *store.Queries, run *store.Run, wf *workflow.Workflow,
	wj *workflow.Job, row *store.Job, needs map[string]runner.NeedResult, ev *event) error {
	env := d.jobExprEnv(ev, run, wj, needs, nil)
	complete := func(conclusion, msg string) error {
		row.Status, row.Conclusion, row.Message = store.StatusCompleted, conclusion, msg
		row.StartedAt, row.FinishedAt = nowTime(), nowTime()
		return q.UpdateJob(ctx, row)
	}
	run2, err := jobShouldRun(wj, needs, env)
	if err != nil {
		return complete(store.ConclusionFailure, "if: "+err.Error())
	}
	if !run2 {
		return complete(store.ConclusionSkipped, "")
	}
	legs, err := wj.EvalMatrix(env)
	if err != nil {
		return complete(store.ConclusionFailure, matrixError(wj, err))
	}
	if legs, err = dropKeptLegs(ctx, q, run, row.Key, legs); err != nil { // control.go: re-run of failed legs
		return err
	}
	maxParallel := 0
	if wj.Strategy != nil && wj.Strategy.Matrix != nil {
		jobs, err := q.RunJobs(ctx, run.ID)
		if err != nil {
			return err
		}
		if msg, over := d.legsOverCap(jobs, len(legs)); over {
			run.Message = msg
			if err := q.UpdateRun(ctx, run); err != nil {
				return err
			}
			return complete(store.ConclusionFailure, msg)
		}
		if wj.Strategy.MaxParallel != "" {
			v, err := expr.EvaluateValue(wj.Strategy.MaxParallel, env)
			if err != nil {
				return complete(store.ConclusionFailure, fmt.Sprintf("strategy.max-parallel: %v", err))
			}
			maxParallel = int(expr.ParseNumber(expr.String(v)))
		}
	}
	for i, leg := range legs {
		r := row
		if i > 0 {
			r = &store.Job{RunID: run.ID, Key: row.Key, Backend: row.Backend}
		}
		r.Name = callName(ev) + d.legName(ev, run, wj, needs, leg)
		r.Matrix = leg.JSON()
		r.Status = store.StatusQueued
		enqueue := maxParallel <= 0 || i < maxParallel
		if !enqueue {
			r.Status = statusHeld
		}
		if wj.Concurrency != nil {
			group, cip, err := wj.Concurrency.Eval(d.jobExprEnv(ev, run, wj, needs, leg))
			if err != nil {
				if i == 0 {
					return complete(store.ConclusionFailure, err.Error())
				}
				return err
			}
			r.Concurrency, r.CancelInProgress = group, cip
			if group != "" && enqueue {
				wait, err := d.enterJobGroup(ctx, q, run.Repo, r)
				if err != nil {
					return err
				}
				if wait {
					r.Status, enqueue = store.StatusPending, false
				}
			}
		}
		if i == 0 {
			if err := q.UpdateJob(ctx, r); err != nil {
				return err
			}
			// UpdateJob does not write matrix: set it with the leg.
			if err := q.SetJobMatrix(ctx, r.ID, r.Matrix); err != nil {
				return err
			}
			if enqueue {
				if err := q.EnqueueJob(ctx, r.ID); err != nil {
					return err
				}
			}
			continue
		}
		if err := q.CreateJob(ctx, r, enqueue); err != nil {
			return err
		}
	}
	return nil
}

// jobShouldRun evaluates a job's if: with GitHub's rule that a job whose
// needs did not all succeed is skipped unless its condition uses a status
// function.
func jobShouldRun(wj *workflow.Job, needs map[string]runner.NeedResult, env *expr.Env) (bool, error) {
	status := expr.JobSuccess
	allOK := true
	for _, n := range needs {
		switch n.Result {
		case "failure":
			status, allOK = expr.JobFailure, false
		case "cancelled":
			if status != expr.JobFailure {
				status = expr.JobCancelled
			}
			allOK = false
		case "skipped":
			allOK = false
		}
	}
	env.Status = status
	cond := strings.TrimSpace(wj.If)
	if !allOK {
		if cond == "" {
			return false, nil
		}
		uses, err := expr.IfUsesStatus(cond)
		if err != nil {
			return false, err
		}
		if !uses {
			return false, nil
		}
	}
	return expr.EvaluateIf(cond, env)
}

// jobExprEnv is the expression environment at job level (if, matrix, name, runs-on).
func (d *Dispatcher) jobExprEnv(ev *event, run *store.Run, wj *workflow.Job, needs map[string]runner.NeedResult, leg workflow.Combination) *expr.Env {
	n := expr.NewObject()
	for id, r := range needs {
		o := expr.NewObject()
		o.Set("result", expr.StringValue(r.Result))
		o.Set("outputs", stringMap(r.Outputs))
		n.Set(id, expr.ObjectValue(o))
	}
	inputs := expr.FromGo(ev.Inputs)
	if ev.Inputs == nil {
		inputs = expr.ObjectValue(expr.NewObject())
	}
	return &expr.Env{Contexts: map[string]expr.Value{
		"github":   expr.ObjectValue(d.githubContext(ev, run, wj.ID)),
		"needs":    expr.ObjectValue(n),
		"vars":     stringMap(d.cfg.Vars),
		"inputs":   inputs,
		"matrix":   expr.ObjectValue(leg.Context()),
		"strategy": expr.ObjectValue(expr.NewObject()),
		"env":      expr.ObjectValue(expr.NewObject()),
		"secrets":  expr.ObjectValue(expr.NewObject()),
		"job":      expr.ObjectValue(expr.NewObject()),
		"jobs":     expr.ObjectValue(expr.NewObject()),
		"runner":   expr.ObjectValue(expr.NewObject()),
		"steps":    expr.ObjectValue(expr.NewObject()),
	}}
}

// legName is the display name of a leg: the job's name evaluated with its
// matrix, or "id (values)".
func (d *Dispatcher) legName(ev *event, run *store.Run, wj *workflow.Job, needs map[string]runner.NeedResult, leg workflow.Combination) string {
	// A name is shown on the run page, the API, check runs and the PR comment:
	// mask the repository's secrets in it, as GitHub does.
	name := d.rawLegName(ev, run, wj, needs, leg)
	if d.cfg.Secrets != nil {
		secrets := d.cfg.Secrets(run.Repo)
		if len(secrets) > 0 {
			return runner.NewMasker(slices.Collect(maps.Values(secrets))...).Mask(name)
		}
	}
	return name
}

func (d *Dispatcher) rawLegName(ev *event, run *store.Run, wj *workflow.Job, needs map[string]runner.NeedResult, leg workflow.Combination) string {
	if wj.Name != "" {
		name, err := expr.Interpolate(wj.Name, d.jobExprEnv(ev, run, wj, needs, leg))
		if err == nil {
			if len(leg) > 0 && !expr.ContainsExpression(wj.Name) {
				return name + " (" + leg.Suffix() + ")"
			}
			return name
		}
	}
	if len(leg) > 0 {
		return wj.ID + " (" + leg.Suffix() + ")"
	}
	return wj.ID
}

package actions

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/workflow"
)

// composite is the state of one running composite action: its own steps
// context and status, GitHub's scoping for composite steps.
type composite struct {
	r       *Executor
	j       *runner.Job
	idx     int
	act     *action
	inputs  expr.Value
	env     map[string]string // the calling step's environment
	jobEnv0 map[string]string // the job env when the action started
	steps   *expr.Object
	status  expr.JobStatus
	depth   int
}

// runComposite runs a composite action's steps as part of step idx. The
// outputs are evaluated even when a step failed.
func (r *Executor) runComposite(ctx context.Context, j *runner.Job, idx int, act *action, inputs, env map[string]string, depth int) (runner.StepOutcome, error) {
	c := &composite{r: r, j: j, idx: idx, act: act, inputs: inputsValue(inputs), env: env,
		jobEnv0: j.JobEnv(), steps: expr.NewObject(), status: expr.JobSuccess, depth: depth}
	if j.Status() == expr.JobCancelled {
		c.status = expr.JobCancelled
	}
	for i, s := range act.meta.Runs.Steps {
		if err := c.step(ctx, i, s); err != nil {
			return runner.StepOutcome{}, err
		}
	}
	out := runner.StepOutcome{Failed: c.status == expr.JobFailure, Outputs: map[string]string{}}
	xenv := c.exprEnv(c.stepEnv(nil))
	for _, o := range act.meta.Outputs {
		v, err := expr.Interpolate(o.Value, xenv)
		if err != nil {
			j.Log(idx, fmt.Sprintf("##[warning]%s: output %s: %v", act.meta.File, o.Name, err))
			continue
		}
		out.Outputs[o.Name] = v
	}
	return out, nil
}

// stepEnv is the environment of a composite step: the caller's, GITHUB_ENV
// additions made since the action started, then the step's own env.
func (c *composite) stepEnv(s *workflow.Step) map[string]string {
	env := maps.Clone(c.env)
	for k, v := range c.j.JobEnv() {
		if old, ok := c.jobEnv0[k]; !ok || old != v {
			env[k] = v
		}
	}
	if s == nil {
		return env
	}
	xenv := c.exprEnv(env)
	if s.Env.Expr != "" {
		if v, err := expr.EvaluateValue(s.Env.Expr, xenv); err == nil && v.Kind() == expr.KindObject {
			v.Object().Range(func(k string, val expr.Value) bool { env[k] = expr.String(val); return true })
		}
	}
	for _, kv := range s.Env.Vars {
		v, err := expr.Interpolate(kv.Value, xenv)
		if err != nil {
			c.j.Log(c.idx, "##[warning]env "+kv.Name+": "+err.Error())
		}
		env[kv.Name] = v
	}
	return env
}

// exprEnv is the expression environment inside the action.
func (c *composite) exprEnv(env map[string]string) *expr.Env {
	x := c.j.ExprEnv(env)
	gh := c.j.GitHubCopy()
	gh.Set("action_path", expr.StringValue(c.act.dir))
	gh.Set("action_repository", expr.StringValue(c.act.repository()))
	gh.Set("action_ref", expr.StringValue(c.act.refName()))
	x.Contexts["github"] = expr.ObjectValue(gh)
	x.Contexts["inputs"] = c.inputs
	x.Contexts["steps"] = expr.ObjectValue(c.steps)
	x.Status = c.status
	return x
}

// step runs composite step number i. Only an infrastructure failure is an error.
func (c *composite) step(ctx context.Context, i int, s *workflow.Step) error {
	env := c.stepEnv(s)
	xenv := c.exprEnv(env)
	name := s.Name
	if name != "" {
		if n, err := expr.Interpolate(name, xenv); err == nil {
			name = n
		}
	} else if s.Uses != "" {
		name = "Run " + s.Uses
	} else {
		first, _, _ := strings.Cut(strings.TrimSpace(s.Run), "\n")
		name = "Run " + first
	}
	id := s.ID
	if id == "" {
		id = fmt.Sprintf("__composite_%d", i)
	}
	record := func(outcome string, continueOnError bool, outputs map[string]string) {
		conclusion := outcome
		if outcome == "failure" && continueOnError {
			conclusion = "success"
		}
		if conclusion == "failure" && c.status == expr.JobSuccess {
			c.status = expr.JobFailure
		}
		o := expr.NewObject()
		o.Set("outcome", expr.StringValue(outcome))
		o.Set("conclusion", expr.StringValue(conclusion))
		o.Set("outputs", stringMap(outputs))
		c.steps.Set(id, expr.ObjectValue(o))
	}
	run, err := expr.EvaluateIf(s.If, xenv)
	if err != nil {
		c.j.Log(c.idx, fmt.Sprintf("##[error]%s:%d: if: %v", c.act.meta.File, s.Pos.Line, err))
		record("failure", false, nil)
		return nil
	}
	if !run {
		c.j.Log(c.idx, "Skipped "+name+": if: "+cmp.Or(s.If, "success()")+" is false")
		record("skipped", false, nil)
		return nil
	}
	continueOnError := false
	if s.ContinueOnError != "" {
		if v, err := expr.EvaluateValue(s.ContinueOnError, xenv); err == nil {
			continueOnError = expr.Truthy(v) && expr.String(v) != "false"
		}
	}
	sctx := ctx
	if s.TimeoutMinutes != "" {
		v, err := expr.EvaluateValue(s.TimeoutMinutes, xenv)
		if err != nil {
			c.j.Log(c.idx, fmt.Sprintf("##[error]%s:%d: timeout-minutes: %v", c.act.meta.File, s.Pos.Line, err))
			record("failure", continueOnError, nil)
			return nil
		}
		if n := expr.ParseNumber(expr.String(v)); n > 0 {
			var cancel context.CancelFunc
			sctx, cancel = context.WithTimeout(ctx, time.Duration(n*float64(time.Minute)))
			defer cancel()
		}
	}
	c.j.Log(c.idx, "▶ "+name)
	out, err := c.exec(sctx, s, env, xenv)
	if isInfra(err, sctx) {
		return err
	}
	outcome := "success"
	switch {
	case ctx.Err() != nil:
		outcome = "cancelled"
		c.status = expr.JobCancelled
	case sctx.Err() != nil:
		c.j.Log(c.idx, fmt.Sprintf("##[error]%s: the step has timed out after %s minutes.", name, expr.String(mustValue(s.TimeoutMinutes, xenv))))
		outcome = "failure"
	case err != nil:
		c.j.Log(c.idx, "##[error]"+err.Error())
		outcome = "failure"
	case out.Failed:
		outcome = "failure"
	}
	if outcome == "failure" && continueOnError {
		c.j.Log(c.idx, "continue-on-error: "+name+" failed; the action goes on")
	}
	record(outcome, continueOnError, out.Outputs)
	return nil
}

// mustValue evaluates raw, or returns it as a string when it does not evaluate.
func mustValue(raw string, xenv *expr.Env) expr.Value {
	v, err := expr.EvaluateValue(raw, xenv)
	if err != nil {
		return expr.StringValue(raw)
	}
	return v
}

// exec runs a composite step's run: or uses:.
func (c *composite) exec(ctx context.Context, s *workflow.Step, env map[string]string, xenv *expr.Env) (runner.StepOutcome, error) {
	env = actionEnv(env, c.act)
	if s.Uses != "" {
		with := map[string]string{}
		for _, kv := range s.With {
			v, err := expr.Interpolate(kv.Value, xenv)
			if err != nil {
				return runner.StepOutcome{}, fmt.Errorf("with.%s: %w", kv.Name, err)
			}
			with[kv.Name] = v
		}
		uses := s.Uses
		return c.r.run(ctx, c.j, c.idx, uses, with, env, c.depth+1)
	}
	script, err := expr.Interpolate(s.Run, xenv)
	if err != nil {
		return runner.StepOutcome{}, fmt.Errorf("%s:%d: run: %w", c.act.meta.File, s.Pos.Line, err)
	}
	shell, err := expr.Interpolate(s.Shell, xenv)
	if err != nil {
		return runner.StepOutcome{}, fmt.Errorf("shell: %w", err)
	}
	wd, err := expr.Interpolate(s.WorkingDirectory, xenv)
	if err != nil {
		return runner.StepOutcome{}, fmt.Errorf("working-directory: %w", err)
	}
	return c.j.RunScript(ctx, c.idx, script, shell, wd, env)
}

func stringMap(m map[string]string) expr.Value {
	return inputsValue(m)
}

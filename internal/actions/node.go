package actions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/runner"
)

// runNode runs a JavaScript action with the sandbox's node: pre (if any and
// it did not run at job start, right before main, in the same step; never
// for a local action, as on GitHub), main, and post registered as a post
// step of the job. Saved state (GITHUB_STATE, ::save-state::) reaches post as
// STATE_<name>.
func (r *Executor) runNode(ctx context.Context, j *runner.Job, idx int, act *action, inputs, env map[string]string) (runner.StepOutcome, error) {
	runs := act.meta.Runs
	if runs.Using == "node12" || runs.Using == "node16" {
		j.Log(idx, fmt.Sprintf("##[warning]%s uses %s, which is no longer supported; running it with the sandbox's node (node20 or later)", act.ref.Raw, runs.Using))
	}
	env = actionEnv(env, act)
	for k, v := range inputs {
		env[inputEnvName(k)] = v
	}
	preState, preRan := j.PreState()
	if runs.Pre != "" && act.ref.Kind == RefLocal {
		// GitHub's runner does not run a local action's pre (it is not in
		// the workspace before the checkout) and says so.
		j.Log(idx, fmt.Sprintf("##[warning]`pre` execution is not supported for local action from '%s'", act.ref.Raw))
	} else if runs.Pre != "" && preRan {
		for k, v := range preState { // the pre step ran at job start
			env["STATE_"+k] = v
		}
	} else if runs.Pre != "" {
		ok, err := evalCond(j, runs.PreIf, env)
		if err != nil {
			return runner.StepOutcome{}, fmt.Errorf("%s: pre-if: %w", act.meta.File, err)
		}
		if ok {
			out, err := r.node(ctx, j, idx, act, runs.Pre, env)
			if err != nil || out.Failed {
				return out, err
			}
		}
	}
	if runs.Post != "" {
		postEnv := maps.Clone(env)
		name := "Post " + cmp.Or(act.meta.Name, act.ref.Raw)
		j.AddPost(runner.PostStep{Name: name, If: runs.PostIf, Run: func(ctx context.Context, pidx int) (runner.StepOutcome, error) {
			e := maps.Clone(postEnv)
			for k, v := range preState {
				e["STATE_"+k] = v
			}
			for k, v := range j.State(idx) {
				e["STATE_"+k] = v
			}
			return r.node(ctx, j, pidx, act, runs.Post, e)
		}})
	}
	return r.node(ctx, j, idx, act, runs.Main, env)
}

// node runs one entry point of a JavaScript action.
func (r *Executor) node(ctx context.Context, j *runner.Job, idx int, act *action, entry string, env map[string]string) (runner.StepOutcome, error) {
	script := path.Join(act.dir, entry)
	node, err := j.Node()
	if err != nil {
		return runner.StepOutcome{}, fmt.Errorf("%s: %w", act.ref.Raw, err)
	}
	return j.Exec(ctx, idx, []string{node, script}, j.Guest.Layout.Workspace, env, nil)
}

// evalCond evaluates a pre-if/post-if style condition (default always()).
func evalCond(j *runner.Job, cond string, env map[string]string) (bool, error) {
	if cond == "" {
		cond = "always()"
	}
	return expr.EvaluateIf(cond, j.ExprEnv(env))
}

// isInfra reports whether err is an infrastructure failure (not caused by ctx ending).
func isInfra(err error, ctx context.Context) bool {
	var infra *agent.InfraError
	return errors.As(err, &infra) && ctx.Err() == nil
}

// PreSteps is the runner.PreStepper of the Executor: the pre entry point of
// every remote JavaScript action and the pre-entrypoint of every remote
// Docker action (prebuilt image) the job's steps use, to run at job start
// as its own step ("Pre <step>", with pre-if, default always()). A local
// action's pre never runs (runNode warns, as GitHub's runner does); an
// action that cannot be loaded now is left to its step, which reports why.
func (r *Executor) PreSteps(ctx context.Context, j *runner.Job) []runner.PreStep {
	var out []runner.PreStep
	for i, s := range j.Spec.Job.Steps {
		if s.Uses == "" {
			continue
		}
		ref, err := ParseRef(s.Uses)
		if err != nil || ref.Kind != RefRemote || builtin(ref) != nil {
			continue
		}
		act, err := r.load(ctx, j, ref)
		if err != nil {
			continue // the step itself reports why (act is nil here)
		}
		docker := isDockerImage(act.meta.Runs) && act.meta.Runs.PreEntrypoint != ""
		if !docker && (!isNode(act.meta.Runs.Using) || act.meta.Runs.Pre == "") {
			continue
		}
		step := s
		name := "Pre " + cmp.Or(step.Name, "Run "+step.Uses)
		out = append(out, runner.PreStep{Step: i + 1, PostStep: runner.PostStep{Name: name, If: act.meta.Runs.PreIf,
			Run: func(ctx context.Context, idx int) (runner.StepOutcome, error) {
				xenv := j.ExprEnv(nil)
				env := j.JobEnv()
				for _, kv := range step.Env.Vars {
					if v, err := expr.Interpolate(kv.Value, xenv); err == nil {
						env[kv.Name] = v
					}
				}
				with := map[string]string{}
				for _, kv := range step.With {
					v, err := expr.Interpolate(kv.Value, j.ExprEnv(env))
					if err != nil {
						return runner.StepOutcome{}, fmt.Errorf("with.%s: %w", kv.Name, err)
					}
					with[kv.Name] = v
				}
				if docker {
					return r.dockerPre(ctx, j, idx, act, r.inputs(j, idx, act, with, env), env)
				}
				e := actionEnv(env, act)
				for k, v := range r.inputs(j, idx, act, with, env) {
					e[inputEnvName(k)] = v
				}
				return r.node(ctx, j, idx, act, act.meta.Runs.Pre, e)
			}}})
	}
	return out
}

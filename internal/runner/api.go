package runner

import (
	"context"
	"time"

	"github.com/hookci/hookci/internal/expr"
)

// This file is the runner's surface for action runners (internal/actions):
// running processes as (part of) the current step, the job's environment,
// expression environments and post steps.

// PostStep is a step an action registers to run after the job's steps (in
// reverse order of registration), like a JavaScript action's post: entry.
type PostStep struct {
	Name string
	// If is the condition, evaluated at the post step (default "always()").
	If string
	// Run runs the post step; its StepOutcome and error count as for a step.
	Run func(ctx context.Context, idx int) (StepOutcome, error)
}

// PreStepper is implemented by an ActionExecutor that has steps to run at
// job start, before the job's steps, each as its own step: a JavaScript
// action's pre, as GitHub runs it.
type PreStepper interface {
	PreSteps(ctx context.Context, j *Job) []PreStep
}

// PreStep is the pre step of the job's step number Step (1-based).
type PreStep struct {
	Step int
	PostStep
}

// PreState returns the state saved by the pre step of the step running now,
// and whether that step had one run at job start (its pre is then not run
// again by the step).
func (j *Job) PreState() (map[string]string, bool) {
	st, ok := j.preRan[j.stepIdx]
	return st, ok
}

// AddPost registers a post step.
func (j *Job) AddPost(p PostStep) { j.posts = append(j.posts, p) }

// Exec runs argv in the sandbox as part of step idx: the GITHUB_ENV,
// GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STATE and GITHUB_STEP_SUMMARY files are
// prepared and applied afterwards (env and path to the job, outputs returned),
// workflow commands in the output are acted on and the output is masked and
// logged. files are written first (absolute paths in the sandbox). env is the
// step's environment (GITHUB_* and the defaults are added).
func (j *Job) Exec(ctx context.Context, idx int, argv []string, dir string, env map[string]string, files map[string][]byte) (StepOutcome, error) {
	return j.exec(ctx, idx, argv, dir, env, files)
}

// ExprEnv is the expression environment of the current step with env as the
// env context. Callers may replace entries of Contexts (composite actions set
// inputs and their own steps).
func (j *Job) ExprEnv(env map[string]string) *expr.Env { return j.exprEnv(env) }

// Log writes a line to step idx's log, masked.
func (j *Job) Log(idx int, line string) { j.sink.StepLog(idx, j.Masker.Mask(line)) }

// SetEnv adds to the job's environment, as a GITHUB_ENV line does.
func (j *Job) SetEnv(name, value string) { j.envAdds[name] = value }

// AddPath prepends dir to PATH for later steps, as a GITHUB_PATH line does.
func (j *Job) AddPath(dir string) { j.pathAdds = append([]string{dir}, j.pathAdds...) }

// JobEnv is the job's environment for a new step (workflow env, job env,
// GITHUB_ENV additions).
func (j *Job) JobEnv() map[string]string { return j.jobEnv() }

// WorkspacePristine reports whether the workspace holds exactly the run's
// commit as the setup step put it: no process has run in the job yet.
func (j *Job) WorkspacePristine() bool { return j.sourcePut && j.execs == 0 }

// WorkspaceChanged records that an action changed the workspace without
// running a step's process (a checkout into it): it is no longer pristine.
func (j *Job) WorkspaceChanged() { j.sourcePut = false }

// StepIndex is the index of the step running now.
func (j *Job) StepIndex() int { return j.stepIdx }

// Status is the job's status so far (for success()/failure() in nested steps).
func (j *Job) Status() expr.JobStatus { return j.status }

// runPosts runs the registered post steps, last registered first, as steps
// from index first on.
func (j *Job) runPosts(ctx context.Context, first int) error {
	for i := len(j.posts) - 1; i >= 0; i-- {
		p := j.posts[i]
		idx := first + (len(j.posts) - 1 - i)
		if err := j.runPost(ctx, idx, p); err != nil {
			return err
		}
	}
	return nil
}

func (j *Job) runPost(jobCtx context.Context, idx int, p PostStep) error {
	j.stepIdx = idx
	ctx := jobCtx
	if jobCtx.Err() != nil {
		j.status = expr.JobCancelled
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(jobCtx), 5*time.Minute)
		defer cancel()
	}
	res := StepResult{Name: p.Name, Started: time.Now()}
	j.sink.StepStarted(idx, p.Name)
	cond := p.If
	if cond == "" {
		cond = "always()"
	}
	run, err := expr.EvaluateIf(cond, j.exprEnv(nil))
	outcome := "success"
	switch {
	case err != nil:
		j.logError(idx, "if: "+err.Error())
		outcome = "failure"
	case !run:
		outcome = "skipped"
	default:
		out, err := p.Run(ctx, idx)
		if err := infraErr(err, ctx); err != nil {
			return err
		}
		if err != nil {
			j.logError(idx, err.Error())
			outcome = "failure"
		} else if out.Failed {
			outcome = "failure"
		}
	}
	res.Outcome, res.Conclusion, res.Finished = outcome, outcome, time.Now()
	if outcome == "failure" {
		if j.status == expr.JobSuccess {
			j.status = expr.JobFailure
		}
		if j.result.FailedStep < 0 {
			j.result.FailedStep = idx
			j.failedFirst = jobCtx.Err() == nil
		}
	}
	j.sink.StepFinished(idx, res)
	j.result.Steps = append(j.result.Steps, res)
	return nil
}

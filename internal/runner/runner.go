// Package runner runs one job in a started sandbox with GitHub Actions
// semantics: the workspace, the contexts and GITHUB_* environment, step by
// step evaluation of if/env/with/run, shells, file commands (GITHUB_ENV,
// GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STATE, GITHUB_STEP_SUMMARY), workflow
// commands (::add-mask::, ::error::, …), masking, timeouts, continue-on-error
// and job outputs. Every sandbox backend is driven through the same agent
// client, so this is the one code path for all of them.
package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/trace"
	"github.com/hookci/hookci/internal/workflow"
)

// Spec is everything needed to run one job (one matrix leg).
type Spec struct {
	Workflow *workflow.Workflow
	Job      *workflow.Job
	// Matrix is this leg's matrix values (nil without a matrix).
	Matrix   workflow.Combination
	Strategy Strategy
	Event    EventInfo
	Needs    map[string]NeedResult
	Vars     map[string]string
	Secrets  map[string]string
	Inputs   map[string]any
	// Source writes a tar of the checked-out commit (repository root at the
	// tar's root, .git included).
	Source func(ctx context.Context, w io.Writer) error
	// Actions runs uses: steps other than the built-ins; nil means such steps fail.
	Actions ActionExecutor
	// ExtraEnv is set for every step, below the workflow's own env (a
	// self-hosted runner's .env, e.g. ACT=true for act's test workflows).
	ExtraEnv map[string]string
	// RunnerName is runner.name.
	RunnerName string
	// Limits bound the job's stored log, summaries and outputs (zero: defaults).
	Limits Limits
	// Images pulls the images of container:, services: and docker steps;
	// nil: such jobs fail, saying so.
	Images ImageSource
	// Builds builds the images of Dockerfile actions (nil: such actions
	// fail, saying so).
	Builds ImageBuilder
}

// Strategy is the strategy context of a leg.
type Strategy struct {
	FailFast    bool
	MaxParallel int
	JobIndex    int
	JobTotal    int
}

// NeedResult is what a job sees of one job it needs.
type NeedResult struct {
	Result  string // success, failure, cancelled, skipped
	Outputs map[string]string
}

// ActionExecutor runs a uses: step the runner has no built-in for. with holds
// the step's evaluated inputs and env its evaluated environment (job env,
// GITHUB_ENV additions and the step's own env). An error fails the step
// (its message goes to the step's log); an *agent.InfraError fails the job
// as an infrastructure failure.
type ActionExecutor interface {
	RunAction(ctx context.Context, j *Job, step *workflow.Step, with, env map[string]string) (StepOutcome, error)
}

// Sink receives a job's progress. Calls come from one goroutine, in order.
type Sink interface {
	StepStarted(idx int, name string)
	// StepLog receives one masked line of output, without its newline.
	StepLog(idx int, line string)
	StepFinished(idx int, r StepResult)
}

// StepResult is how one step ended.
type StepResult struct {
	Name       string
	Outcome    string // success, failure, cancelled, skipped (before continue-on-error)
	Conclusion string // after continue-on-error
	Started    time.Time
	Finished   time.Time
}

// Result is how a job ended.
type Result struct {
	Conclusion  string // success, failure, cancelled, timed_out
	Outputs     map[string]string
	Steps       []StepResult
	Annotations []store.Annotation
	Summary     string // the steps' GITHUB_STEP_SUMMARY, concatenated
	// FailedStep is the index of the first failed step, -1 if none.
	FailedStep int
}

// Step indexes around the user's steps: 0 is "Set up job"; user step i is i+1.
const setupStep = 0

// Run runs the job described by spec through the agent in g. A failed step is a job result,
// not an error: Run returns an error only when the infrastructure failed (the
// error then wraps an *agent.InfraError) or the spec cannot run at all.
func Run(ctx context.Context, g *Guest, spec *Spec, sink Sink) (*Result, error) {
	j, err := newJob(ctx, g, spec, sink)
	if err != nil {
		return nil, err
	}
	res, err := j.run(ctx)
	j.capped.flushAll()
	return res, err
}

// Job is the state of one running job. Action executors use it to run
// processes and read and change the job's environment.
type Job struct {
	Spec     *Spec
	Guest    *Guest
	Masker   *Masker
	sink     Sink // capped, masking names
	capped   *cappedSink
	github   *expr.Object
	runnerCx *expr.Object
	// env is the job's environment so far: workflow env, job env, GITHUB_ENV additions.
	env       map[string]string
	envAdds   map[string]string // from GITHUB_ENV (override workflow/job env)
	pathAdds  []string          // from GITHUB_PATH, newest first
	steps     *expr.Object
	status    expr.JobStatus
	result    Result
	fileDir   string
	stepIdx   int
	state     map[int]map[string]string // saved state per step index
	preRan    map[int]map[string]string // step index → state its pre step saved at job start
	posts     []PostStep                // registered by actions, run in reverse order
	sourcePut bool                      // the setup step put the commit into the workspace
	execs     int                       // processes run so far
	// lastFiles are the previous step's file-command files as each client
	// sees them, by kind: the next step takes them over (agent.FileSpec.From).
	lastFiles map[*agent.Client]map[string]string
	// failedFirst: a step failed before the job was cancelled (if it was).
	failedFirst bool
	jobCancel   bool
	timeout     time.Duration   // timeout-minutes (default 360), for its message
	ctrs        *containerState // the job's containers while they run (services.go)
	// ctx is the job's context once it runs (until then the caller's): work
	// started from an expression, such as hashFiles, stops with the job.
	ctx context.Context
}

func newJob(ctx context.Context, inst *Guest, spec *Spec, sink Sink) (*Job, error) {
	if spec.Job == nil || spec.Workflow == nil {
		return nil, errors.New("runner: spec has no job")
	}
	gh, err := GitHubContext(spec.Event, spec.Job.ID, inst.Layout.Workspace)
	if err != nil {
		return nil, err
	}
	gh.Set("event_path", expr.StringValue(inst.Layout.Temp+"/_github_workflow/event.json"))
	rc := expr.NewObject()
	rc.Set("os", expr.StringValue("Linux"))
	rc.Set("arch", expr.StringValue(runnerArch()))
	rc.Set("name", expr.StringValue(cmp.Or(spec.RunnerName, "hookci")))
	rc.Set("temp", expr.StringValue(inst.Layout.Temp))
	rc.Set("tool_cache", expr.StringValue(inst.Layout.ToolCache))
	rc.Set("environment", expr.StringValue("self-hosted"))
	rc.Set("debug", expr.StringValue(""))
	masker := NewMasker()
	for _, v := range spec.Secrets {
		masker.Add(v)
	}
	if spec.Event.Token != "" {
		masker.Add(spec.Event.Token)
	}
	capped := newCappedSink(sink, masker, spec.Limits)
	j := &Job{
		Spec: spec, Guest: inst, Masker: masker, sink: capped, capped: capped, github: gh, runnerCx: rc,
		envAdds: map[string]string{}, steps: expr.NewObject(),
		fileDir: inst.Layout.Temp + "/_runner_file_commands", ctx: ctx,
	}
	j.result.FailedStep = -1
	return j, nil
}

func runnerArch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "ARM64"
	case "arm":
		return "ARM"
	case "386":
		return "X86"
	}
	return "X64"
}

// MaxJobMinutes is GitHub's execution limit for a job on a self-hosted
// runner (5 days): a larger timeout-minutes ends the job there.
const MaxJobMinutes = 5 * 24 * 60

func (j *Job) run(ctx context.Context) (*Result, error) {
	job := j.Spec.Job
	timeout := 360 * time.Minute
	if raw := job.TimeoutMinutes; raw != "" {
		v, err := expr.EvaluateValue(raw, j.exprEnv(nil))
		if err != nil {
			return j.failSetup(fmt.Errorf("timeout-minutes: %w", err))
		}
		if n := expr.ParseNumber(expr.String(v)); n > 0 {
			timeout = time.Duration(min(n, MaxJobMinutes) * float64(time.Minute))
		}
	}
	j.timeout = timeout
	jobCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	j.ctx = jobCtx
	defer j.closeContainers(-1)

	endSetup := trace.Begin(ctx, "set up job")
	err := j.setup(jobCtx)
	endSetup()
	if err != nil {
		var infra *agent.InfraError
		if errors.As(err, &infra) {
			return nil, err
		}
		// The "Set up job" step has logged err and finished: end the job
		// without a second copy of either.
		j.result.Conclusion, j.result.FailedStep = "failure", setupStep
		if ctx.Err() != nil || jobCtx.Err() != nil {
			j.result.Conclusion = "cancelled"
		}
		return &j.result, nil
	}
	// Pre steps of actions run first, each as its own step; the job's
	// steps and the post steps come after them.
	var pres []PreStep
	if ps, ok := j.Spec.Actions.(PreStepper); ok && j.Spec.Actions != nil {
		pres = ps.PreSteps(jobCtx, j)
	}
	off := len(pres)
	j.preRan = map[int]map[string]string{}
	for k, p := range pres {
		if err := j.runPost(jobCtx, 1+k, p.PostStep); err != nil {
			return nil, err // infrastructure
		}
		st := map[string]string{}
		for name, v := range j.state[1+k] {
			st[name] = v
		}
		j.preRan[p.Step+off] = st
	}
	for i, step := range job.Steps {
		endStep := trace.Begin(ctx, fmt.Sprintf("step %d: %s", i+1, stepTraceName(step, i)))
		err := j.runStep(jobCtx, i+1+off, step)
		endStep()
		if err != nil {
			return nil, err // infrastructure
		}
	}
	if err := j.runPosts(jobCtx, len(job.Steps)+1+off); err != nil {
		return nil, err
	}
	j.stopContainers(len(job.Steps) + 1 + off + len(j.posts))
	j.finish(ctx, jobCtx)
	return &j.result, nil
}

// failSetup ends a job that could not start its steps as a failure, with the
// reason in the "Set up job" log.
func (j *Job) failSetup(err error) (*Result, error) {
	now := time.Now()
	j.sink.StepStarted(setupStep, "Set up job")
	j.logError(setupStep, err.Error())
	r := StepResult{Name: "Set up job", Outcome: "failure", Conclusion: "failure", Started: now, Finished: time.Now()}
	j.sink.StepFinished(setupStep, r)
	j.result.Steps = append(j.result.Steps, r)
	j.result.Conclusion = "failure"
	j.result.FailedStep = setupStep
	return &j.result, nil
}

func (j *Job) logError(idx int, msg string) {
	for _, line := range strings.Split(msg, "\n") {
		j.sink.StepLog(idx, "##[error]"+j.Masker.Mask(line))
	}
}

// finish computes the job's conclusion and outputs.
func (j *Job) finish(ctx, jobCtx context.Context) {
	switch {
	case errors.Is(jobCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		j.result.Conclusion = "timed_out"
	case j.failedFirst:
		// A step failed before any cancellation: the job failed by
		// itself, whatever cancelled it afterwards (fail-fast, a user).
		j.result.Conclusion = "failure"
	case ctx.Err() != nil || j.jobCancel:
		j.result.Conclusion = "cancelled"
	case j.status == expr.JobFailure:
		j.result.Conclusion = "failure"
	default:
		j.result.Conclusion = "success"
	}
	j.result.Outputs = map[string]string{}
	env := j.exprEnv(nil)
	logIdx := len(j.Spec.Job.Steps)
	limit := j.Spec.Limits.WithDefaults().OutputBytes
	var total int64
	for _, o := range j.Spec.Job.Outputs {
		v, err := expr.Interpolate(o.Value, env)
		if err != nil {
			j.sink.StepLog(logIdx, "##[warning]output "+j.Masker.Mask(o.Name)+": "+j.Masker.Mask(err.Error()))
			continue
		}
		// GitHub's rule and words: an output that may hold a secret is dropped.
		if j.Masker.Contains(v) {
			j.sink.StepLog(logIdx, "##[warning]Skip output '"+j.Masker.Mask(o.Name)+"' since it may contain secret.")
			continue
		}
		if total += int64(len(o.Name) + len(v)); total > limit {
			j.sink.StepLog(logIdx, fmt.Sprintf("##[warning]Skip output '%s': the job's outputs exceed the limit of %s.", o.Name, sizeString(limit)))
			continue
		}
		j.result.Outputs[o.Name] = v
	}
}

// exprEnv returns the expression environment for the current step; stepEnv
// (nil outside a step) is the env context.
func (j *Job) exprEnv(stepEnv map[string]string) *expr.Env {
	envMap := stepEnv
	if envMap == nil {
		envMap = j.jobEnv()
	}
	needs := expr.NewObject()
	for id, n := range j.Spec.Needs {
		o := expr.NewObject()
		o.Set("result", expr.StringValue(n.Result))
		o.Set("outputs", stringMapValue(n.Outputs))
		needs.Set(id, expr.ObjectValue(o))
	}
	strategy := expr.NewObject()
	strategy.Set("fail-fast", expr.BoolValue(j.Spec.Strategy.FailFast))
	strategy.Set("job-index", expr.NumberValue(float64(j.Spec.Strategy.JobIndex)))
	strategy.Set("job-total", expr.NumberValue(float64(max(j.Spec.Strategy.JobTotal, 1))))
	strategy.Set("max-parallel", expr.NumberValue(float64(max(j.Spec.Strategy.MaxParallel, 1))))
	jobCx := expr.NewObject()
	jobCx.Set("status", expr.StringValue(j.status.String()))
	jobCx.Set("container", expr.ObjectValue(expr.NewObject()))
	jobCx.Set("services", expr.ObjectValue(j.servicesContext())) // services.go
	inputs := expr.FromGo(j.Spec.Inputs)
	if j.Spec.Inputs == nil {
		inputs = expr.ObjectValue(expr.NewObject())
	}
	return &expr.Env{
		Contexts: map[string]expr.Value{
			"github":   expr.ObjectValue(j.github),
			"env":      stringMapValue(envMap),
			"vars":     stringMapValue(j.Spec.Vars),
			"secrets":  j.secretsValue(),
			"job":      expr.ObjectValue(jobCx),
			"jobs":     expr.ObjectValue(expr.NewObject()),
			"steps":    expr.ObjectValue(j.steps),
			"runner":   expr.ObjectValue(j.runnerCx),
			"strategy": expr.ObjectValue(strategy),
			"matrix":   expr.ObjectValue(j.Spec.Matrix.Context()),
			"needs":    expr.ObjectValue(needs),
			"inputs":   inputs,
		},
		HashFiles: j.hashFiles,
		Status:    j.status,
	}
}

func (j *Job) secretsValue() expr.Value {
	s := maps.Clone(j.Spec.Secrets)
	if s == nil {
		s = map[string]string{}
	}
	s["GITHUB_TOKEN"] = j.Spec.Event.Token
	return stringMapValue(s)
}

// jobEnv is the workflow env, then the job env, evaluated, then GITHUB_ENV additions.
func (j *Job) jobEnv() map[string]string {
	if j.env == nil {
		j.env = maps.Clone(j.Spec.ExtraEnv)
		if j.env == nil {
			j.env = map[string]string{}
		}
		// Layers see the layers above them in env.
		j.evalEnvInto(j.env, j.Spec.Workflow.Env)
		j.evalEnvInto(j.env, j.Spec.Job.Env)
	}
	out := maps.Clone(j.env)
	maps.Copy(out, j.envAdds)
	return out
}

// evalEnvInto evaluates an env: section into dst, logging problems to the
// current step.
func (j *Job) evalEnvInto(dst map[string]string, e workflow.Env) {
	env := j.exprEnvWith(dst)
	if e.Expr != "" {
		v, err := expr.EvaluateValue(e.Expr, env)
		if err != nil {
			j.logError(j.stepIdx, "env: "+err.Error())
			return
		}
		if v.Kind() == expr.KindObject {
			v.Object().Range(func(k string, val expr.Value) bool {
				dst[k] = expr.String(val)
				return true
			})
		}
		return
	}
	for _, kv := range e.Vars {
		val, err := expr.Interpolate(kv.Value, env)
		if err != nil {
			j.logError(j.stepIdx, "env "+kv.Name+": "+err.Error())
			continue
		}
		dst[kv.Name] = val
	}
}

// exprEnvWith is exprEnv with env as it stands mid-evaluation (j.env may be nil).
func (j *Job) exprEnvWith(env map[string]string) *expr.Env {
	saved := j.env
	if saved == nil {
		j.env = map[string]string{} // avoid recursion while the job env is built
	}
	e := j.exprEnv(maps.Clone(env))
	j.env = saved
	return e
}

// stepTraceName is a step's name for the phase trace: its name as written,
// else its id.
func stepTraceName(s *workflow.Step, idx int) string {
	if s.Name != "" {
		return s.Name
	}
	return stepID(s, idx)
}

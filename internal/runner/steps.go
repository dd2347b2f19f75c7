package runner

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/trace"
	"github.com/hookci/hookci/internal/workflow"
)

// StepOutcome is what running one step produced.
type StepOutcome struct {
	Failed  bool
	Outputs map[string]string
}

// setup is the "Set up job" step: the workspace and the event file.
func (j *Job) setup(ctx context.Context) error {
	started := time.Now()
	j.sink.StepStarted(setupStep, "Set up job")
	j.sink.StepLog(setupStep, fmt.Sprintf("hookci runner, sandbox backend %q", j.Guest.Backend))
	j.sink.StepLog(setupStep, "Workspace: "+j.Guest.Layout.Workspace)
	var err error
	if j.hasContainers() {
		err = j.initContainers(ctx) // services.go
	}
	// The event file goes in beside the workspace (a request of its own,
	// answered while the workspace's files are written).
	var event chan error
	if err == nil {
		event = make(chan error, 1)
		go func() {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			addDir(tw, "_github_workflow")
			addFile(tw, "_github_workflow/event.json", eventJSON(j.Spec.Event.Payload), 0o600)
			addDir(tw, "_runner_file_commands")
			tw.Close()
			defer trace.Begin(ctx, "event file put")()
			event <- j.Guest.Client.PutFiles(ctx, j.Guest.Layout.Temp, &buf)
		}()
	}
	switch {
	case err != nil:
	case j.Guest.WorkspaceReady:
		j.sink.StepLog(setupStep, "The workspace came with the sandbox (a disk holding the commit)")
		j.sourcePut = true
		// Its files are new to the guest too: an empty put restats the index.
		err = j.Guest.Client.PutCheckout(ctx, j.Guest.Layout.Workspace, CheckoutIndex, bytes.NewReader(emptyTar))
	case j.Spec.Source != nil:
		end := trace.Begin(ctx, "workspace put")
		err = j.putSource(ctx, j.Guest.Layout.Workspace)
		end()
		j.sourcePut = err == nil
	}
	if event != nil {
		if eventErr := <-event; err == nil {
			err = eventErr
		}
	}
	r := StepResult{Name: "Set up job", Outcome: "success", Conclusion: "success", Started: started, Finished: time.Now()}
	switch {
	case err != nil && ctx.Err() != nil:
		r.Outcome, r.Conclusion = "cancelled", "cancelled"
		j.logError(setupStep, "The operation was canceled.")
	case err != nil:
		r.Outcome, r.Conclusion = "failure", "failure"
		j.logError(setupStep, err.Error())
	}
	j.sink.StepFinished(setupStep, r)
	j.result.Steps = append(j.result.Steps, r)
	return err
}

// emptyTar is a tar with no entry (its two zero end blocks).
var emptyTar = make([]byte, 1024)

func eventJSON(p []byte) []byte {
	if len(p) == 0 {
		return []byte("{}")
	}
	return p
}

// putSource streams the checked-out commit into dir in the sandbox. The
// agent then gives the checkout's git index the stat data of the files as
// they are in the sandbox (agent.Client.PutCheckout), so the index matches
// them as after git's own checkout.
func (j *Job) putSource(ctx context.Context, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(j.Spec.Source(ctx, pw)) }()
	err := j.Guest.Client.PutCheckout(ctx, dir, CheckoutIndex, pr)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("putting the repository into the workspace: %w", err)
	}
	return nil
}

// CheckoutIndex is a checkout's git index, relative to its directory.
const CheckoutIndex = ".git/index"

func addFile(tw *tar.Writer, name string, data []byte, mode int64) {
	tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Now()})
	tw.Write(data)
}

func addDir(tw *tar.Writer, name string) {
	tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o700, Typeflag: tar.TypeDir, ModTime: time.Now()})
}

// stepID is the id used in the steps context: the step's own or a generated one.
func stepID(s *workflow.Step, idx int) string {
	if s.ID != "" {
		return s.ID
	}
	return fmt.Sprintf("__step_%d", idx)
}

// defaultStepName is GitHub's display name for an unnamed step.
func defaultStepName(s *workflow.Step) string {
	if s.Uses != "" {
		return "Run " + s.Uses
	}
	first, _, _ := strings.Cut(strings.TrimSpace(s.Run), "\n")
	return "Run " + first
}

// runStep runs user step number idx. Only an infrastructure failure is an error.
func (j *Job) runStep(jobCtx context.Context, idx int, s *workflow.Step) error {
	j.stepIdx = idx
	started := time.Now()
	ctx := jobCtx
	if jobCtx.Err() != nil {
		// Cancelled or timed out: only steps that ask to (always(), cancelled()) run,
		// with a cleanup budget of their own.
		j.status = expr.JobCancelled
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(jobCtx), 5*time.Minute)
		defer cancel()
	}
	env := j.jobEnv()
	j.evalEnvInto(env, s.Env)
	xenv := j.exprEnv(env)
	name := defaultStepName(s)
	if s.Name != "" {
		if n, err := expr.Interpolate(s.Name, xenv); err == nil {
			name = n
		}
	}
	name = j.Masker.Mask(name) // shown on the run page, the API, check runs and the PR comment
	id := stepID(s, idx)
	j.sink.StepStarted(idx, name)
	res := StepResult{Name: name, Started: started}
	finish := func(outcome string, continueOnError bool, outputs map[string]string) {
		res.Outcome, res.Conclusion = outcome, outcome
		if outcome == "failure" && continueOnError {
			res.Conclusion = "success"
		}
		if res.Conclusion == "failure" {
			if j.status == expr.JobSuccess {
				j.status = expr.JobFailure
			}
			if j.result.FailedStep < 0 {
				j.result.FailedStep = idx
				j.failedFirst = jobCtx.Err() == nil
			}
		}
		res.Finished = time.Now()
		o := expr.NewObject()
		o.Set("outcome", expr.StringValue(res.Outcome))
		o.Set("conclusion", expr.StringValue(res.Conclusion))
		o.Set("outputs", stringMapValue(outputs))
		j.steps.Set(id, expr.ObjectValue(o))
		j.sink.StepFinished(idx, res)
		j.result.Steps = append(j.result.Steps, res)
	}
	run, err := expr.EvaluateIf(s.If, xenv)
	if err != nil {
		j.logError(idx, "if: "+err.Error())
		finish("failure", false, nil)
		return nil
	}
	if !run {
		j.sink.StepLog(idx, "Skipped: if: "+cmp.Or(s.If, "success()")+" is false")
		finish("skipped", false, nil)
		return nil
	}
	continueOnError := false
	if s.ContinueOnError != "" {
		v, err := expr.EvaluateValue(s.ContinueOnError, xenv)
		if err != nil {
			j.logError(idx, "continue-on-error: "+err.Error())
			finish("failure", false, nil)
			return nil
		}
		continueOnError = expr.Truthy(v) && expr.String(v) != "false"
	}
	if s.TimeoutMinutes != "" {
		v, err := expr.EvaluateValue(s.TimeoutMinutes, xenv)
		if err != nil {
			j.logError(idx, "timeout-minutes: "+err.Error())
			finish("failure", continueOnError, nil)
			return nil
		}
		if n := expr.ParseNumber(expr.String(v)); n > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(n*float64(time.Minute)))
			defer cancel()
		}
	}
	j.github.Set("action", expr.StringValue(id))
	var out StepOutcome
	switch {
	case s.Run != "":
		out, err = j.runScript(ctx, idx, s, env, xenv)
	case s.Uses != "":
		out, err = j.runUses(ctx, idx, s, env, xenv)
	default:
		err = errors.New("step has neither run nor uses")
	}
	if err := infraErr(err, ctx); err != nil {
		return err
	}
	outcome := "success"
	switch {
	case ctx.Err() != nil && jobCtx.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		j.logError(idx, "The step has timed out after "+s.TimeoutMinutes+" minutes.")
		outcome = "failure"
	case jobCtx.Err() != nil && errors.Is(jobCtx.Err(), context.DeadlineExceeded):
		j.logError(idx, "The job has exceeded the maximum execution time of "+
			strconv.FormatFloat(j.timeout.Minutes(), 'f', -1, 64)+" minutes.")
		outcome = "failure"
	case jobCtx.Err() != nil:
		j.logError(idx, "The operation was canceled.")
		outcome = "cancelled"
	case err != nil:
		j.logError(idx, err.Error())
		outcome = "failure"
	case out.Failed:
		outcome = "failure"
	}
	finish(outcome, continueOnError, out.Outputs)
	return nil
}

// infraErr returns err if it is an infrastructure failure (and not the
// result of ctx ending, which kills the process and breaks its stream).
func infraErr(err error, ctx context.Context) error {
	var infra *agent.InfraError
	if errors.As(err, &infra) && ctx.Err() == nil {
		return err
	}
	return nil
}

// runUses runs a uses: step: the built-ins here, anything else through Spec.Actions.
func (j *Job) runUses(ctx context.Context, idx int, s *workflow.Step, env map[string]string, xenv *expr.Env) (StepOutcome, error) {
	with := map[string]string{}
	for _, kv := range s.With {
		v, err := expr.Interpolate(kv.Value, xenv)
		if err != nil {
			return StepOutcome{}, fmt.Errorf("with.%s: %w", kv.Name, err)
		}
		with[kv.Name] = v
	}
	if strings.HasPrefix(s.Uses, "docker://") {
		return j.RunDockerStep(ctx, idx, s.Uses, with, env) // dockerstep.go
	}
	name, _, _ := strings.Cut(s.Uses, "@")
	// With an action runner, it serves checkout itself (other repositories, fetch-depth, submodules).
	if j.Spec.Actions == nil && strings.EqualFold(name, "actions/checkout") && (with["repository"] == "" || strings.EqualFold(with["repository"], j.Spec.Event.Repo)) {
		return j.checkout(ctx, idx, with)
	}
	if j.Spec.Actions == nil {
		return StepOutcome{}, fmt.Errorf("action %q cannot run here: only actions/checkout is built in so far", s.Uses)
	}
	return j.Spec.Actions.RunAction(ctx, j, s, with, env)
}

// checkout is the built-in actions/checkout for the run's own repository and
// commit: the commit goes into path (default: the workspace itself).
func (j *Job) checkout(ctx context.Context, idx int, with map[string]string) (StepOutcome, error) {
	dir := j.Guest.Layout.Workspace
	if p := strings.TrimSpace(with["path"]); p != "" && p != "." {
		clean := path.Clean("/" + p)
		if strings.Contains(p, "..") && clean == "/" {
			return StepOutcome{}, fmt.Errorf("checkout: path %q leaves the workspace", p)
		}
		dir = path.Join(dir, clean)
	}
	if ref := with["ref"]; ref != "" && ref != j.Spec.Event.SHA && ref != j.Spec.Event.Ref {
		j.sink.StepLog(idx, "##[warning]checkout: ref "+ref+" is not the run's commit; checking out "+j.Spec.Event.SHA)
	}
	if j.Spec.Source == nil {
		return StepOutcome{}, errors.New("checkout: this run has no repository source")
	}
	j.sink.StepLog(idx, "Checking out "+j.Spec.Event.Repo+"@"+j.Spec.Event.SHA+" into "+dir)
	return StepOutcome{}, j.putSource(ctx, dir)
}

// runScript runs a run: step.
func (j *Job) runScript(ctx context.Context, idx int, s *workflow.Step, env map[string]string, xenv *expr.Env) (StepOutcome, error) {
	script, err := expr.Interpolate(s.Run, xenv)
	if err != nil {
		return StepOutcome{}, fmt.Errorf("run: %w", err)
	}
	shell := s.Shell
	wd := s.WorkingDirectory
	for _, d := range []workflow.Defaults{j.Spec.Job.Defaults, j.Spec.Workflow.Defaults} {
		if shell == "" {
			shell = d.Run.Shell
		}
		if wd == "" {
			wd = d.Run.WorkingDirectory
		}
	}
	if shell, err = expr.Interpolate(shell, xenv); err != nil {
		return StepOutcome{}, fmt.Errorf("shell: %w", err)
	}
	if wd, err = expr.Interpolate(wd, xenv); err != nil {
		return StepOutcome{}, fmt.Errorf("working-directory: %w", err)
	}
	return j.RunScript(ctx, idx, script, shell, wd, env)
}

// exec runs argv as one step: file-command files are prepared, extra files
// written, output parsed for workflow commands and masked, and the file
// commands applied afterwards.
func (j *Job) exec(ctx context.Context, idx int, argv []string, dir string, env map[string]string, files map[string][]byte) (StepOutcome, error) {
	return j.execIn(ctx, idx, j.Guest.Client, j.processEnv(env), nil, argv, dir, files)
}

// execIn is exec through client (the job's agent or a container's) with
// full as the process's whole environment; view maps a path of the job's
// temp directory to where client sees it (nil: the same).
func (j *Job) execIn(ctx context.Context, idx int, client *agent.Client, full map[string]string, view func(string) string,
	argv []string, dir string, files map[string][]byte) (StepOutcome, error) {
	if view == nil {
		view = func(p string) string { return p }
	}
	// As GitHub's runner does, every step's file-command files are in one
	// directory, each named by its command and an id of its own
	// (set_output_<id>…): no directory to make (and remove) per step. The
	// previous step's files are gone when a step starts, as GitHub's runner
	// deletes them: the agent renames each to its new name and empties it,
	// so a step allocates no inodes for them.
	if j.lastFiles == nil {
		j.lastFiles = map[*agent.Client]map[string]string{}
	}
	last := j.lastFiles[client]
	if last == nil {
		last = map[string]string{}
		j.lastFiles[client] = last
	}
	var rid [8]byte
	rand.Read(rid[:])
	id := hex.EncodeToString(rid[:])
	kinds := map[string]string{} // file name → kind (fileCommands' keys)
	// One round trip: the file-command files and the script go with the
	// request, and the file-command files come back in its trailer.
	req := agent.ExecRequest{Argv: argv, Dir: dir}
	for _, c := range fileCommandFiles {
		name := c.prefix + "_" + id
		kinds[name] = c.kind
		p := view(path.Join(j.fileDir, name))
		full[c.env] = p
		req.Files = append(req.Files, agent.FileSpec{Path: p, Mode: 0o600, From: last[c.kind]})
		req.Collect = append(req.Collect, p)
		last[c.kind] = p
	}
	for p, data := range files {
		req.Files = append(req.Files, agent.FileSpec{Path: p, Data: data, Mode: 0o700}) // scripts may hold secrets
	}
	req.Env = envList(full)
	lw := newLineWriter(j, idx)
	j.execs++
	res, err := client.Exec(ctx, req, lw)
	lw.Flush()
	if err != nil {
		return StepOutcome{}, err
	}
	out := StepOutcome{Outputs: lw.outputs, Failed: res.ExitCode != 0 || lw.failed}
	if res.ExitCode != 0 {
		msg := fmt.Sprintf("Process completed with exit code %d.", res.ExitCode)
		if res.Signal != "" {
			msg = "Process was killed by " + res.Signal + "."
		}
		j.logError(idx, msg)
	}
	fc := fileCommands{contents: map[string][]byte{}, sizes: map[string]int64{}}
	if res.CollectComplete {
		for p, b := range res.Files {
			if kind, ok := kinds[path.Base(p)]; ok {
				fc.contents[kind] = b
				fc.sizes[kind] = int64(len(b))
			}
		}
	} else if fc, err = j.readFileCommands(ctx, j.fileDir, kinds); err != nil {
		return out, err
	}
	j.applyFileCommands(idx, fc, &out)
	return out, nil
}

// fileCommands are a step's file-command files by base name: contents of
// those within their limit, and the size of each.
type fileCommands struct {
	contents map[string][]byte
	sizes    map[string]int64
}

// limit is the most a file-command file (by base name) may hold.
func (j *Job) fileLimit(base string) int64 {
	l := j.Spec.Limits.WithDefaults()
	if base == "summary" {
		return l.SummaryBytes
	}
	return l.FileCommandBytes
}

// processEnv is the environment a step's process sees.
func (j *Job) processEnv(env map[string]string) map[string]string {
	full := map[string]string{
		"HOME": j.Guest.Layout.Home,
		"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG": "C.UTF-8",
	}
	for _, kv := range j.Guest.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			full[k] = v
		}
	}
	if p := j.Guest.Layout.Path; p != "" {
		full["PATH"] = p
	}
	for k, v := range githubEnv(j.github, j.runnerCx) {
		full[k] = v
	}
	full["GITHUB_ACTION"] = expr.String(mustGet(j.github, "action"))
	for k, v := range env {
		full[k] = v
	}
	if len(j.pathAdds) > 0 {
		full["PATH"] = strings.Join(j.pathAdds, ":") + ":" + full["PATH"]
	}
	return full
}

func mustGet(o *expr.Object, k string) expr.Value {
	v, _ := o.Get(k)
	return v
}

func envList(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out
}

// applyFileCommands reads the step's GITHUB_* files back and applies them.
// fileCommandFiles are a step's file-command files: the variable naming
// each, its file name's prefix (GitHub's runner's), and its key in
// fileCommands.
var fileCommandFiles = []struct{ env, prefix, kind string }{
	{"GITHUB_ENV", "set_env", "env"}, {"GITHUB_OUTPUT", "set_output", "output"}, {"GITHUB_PATH", "add_path", "path"},
	{"GITHUB_STATE", "save_state", "state"}, {"GITHUB_STEP_SUMMARY", "step_summary", "summary"},
}

// readFileCommands reads a step's file-command files, those of fcDir named
// in kinds (when they were too big to come back with the exec).
// A file over its limit is not read (only its size is kept).
func (j *Job) readFileCommands(ctx context.Context, fcDir string, kinds map[string]string) (fileCommands, error) {
	fc := fileCommands{contents: map[string][]byte{}, sizes: map[string]int64{}}
	rc, err := j.Guest.Client.GetFiles(ctx, fcDir)
	if err != nil {
		return fc, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fc, &agent.InfraError{Op: "read file commands", Err: err}
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		base, ok := kinds[path.Base(h.Name)]
		if !ok {
			continue // another step's
		}
		fc.sizes[base] = h.Size
		if h.Size > j.fileLimit(base) {
			continue // the tar reader skips the body
		}
		b, err := io.ReadAll(io.LimitReader(tr, j.fileLimit(base)+1))
		if err != nil {
			return fc, &agent.InfraError{Op: "read file commands", Err: err}
		}
		fc.contents[base] = b
		fc.sizes[base] = int64(len(b))
	}
	return fc, nil
}

// applyFileCommands applies a step's GITHUB_* files (by base name).
func (j *Job) applyFileCommands(idx int, fc fileCommands, out *StepOutcome) {
	if out.Outputs == nil {
		out.Outputs = map[string]string{}
	}
	contents := fc.contents
	for _, file := range []string{"env", "output", "state", "path"} {
		if size, limit := fc.sizes[file], j.fileLimit(file); size > limit {
			j.logError(idx, tooBig(file, size, limit))
			out.Failed = true
			delete(contents, file)
		}
	}
	apply := func(file string, fn func(k, v string)) {
		kvs, err := ParseEnvFile(contents[file])
		if err != nil {
			j.logError(idx, "GITHUB_"+strings.ToUpper(file)+": "+err.Error())
			out.Failed = true
		}
		for _, kv := range kvs {
			fn(kv[0], kv[1])
		}
	}
	apply("env", func(k, v string) { j.envAdds[k] = v })
	apply("output", func(k, v string) { out.Outputs[k] = v })
	apply("state", func(k, v string) { j.saveState(k, v) })
	for _, p := range ParsePathFile(contents["path"]) {
		j.pathAdds = append([]string{p}, j.pathAdds...)
	}
	if size, limit := fc.sizes["summary"], j.fileLimit("summary"); size > limit {
		// GitHub's words; the step does not fail, an error annotation says why.
		msg := fmt.Sprintf("$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of %dk, got %dk.", limit>>10, size>>10)
		j.sink.StepLog(idx, "##[error]"+msg)
		j.result.Annotations = append(j.result.Annotations, store.Annotation{Level: "error", Message: msg})
		delete(contents, "summary")
	}
	if s, limit := contents["summary"], j.Spec.Limits.WithDefaults().JobSummaryBytes; int64(len(j.result.Summary)+len(s)) > limit {
		j.sink.StepLog(idx, fmt.Sprintf("##[warning]$GITHUB_STEP_SUMMARY of %d bytes dropped: the job's summaries would exceed %s.", len(s), sizeString(limit)))
		delete(contents, "summary")
	}
	if s := contents["summary"]; len(s) > 0 {
		j.result.Summary += j.Masker.Mask(string(s))
		if !strings.HasSuffix(j.result.Summary, "\n") {
			j.result.Summary += "\n"
		}
	}
}

// saveState records GITHUB_STATE / ::save-state:: values of the current
// step, which the post step of the same action sees as STATE_<name>.
func (j *Job) saveState(k, v string) {
	if j.state == nil {
		j.state = map[int]map[string]string{}
	}
	if j.state[j.stepIdx] == nil {
		j.state[j.stepIdx] = map[string]string{}
	}
	j.state[j.stepIdx][k] = v
}

// State returns the state saved by step idx (for an action's post step).
func (j *Job) State(idx int) map[string]string { return j.state[idx] }

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

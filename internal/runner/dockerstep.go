package runner

import (
	"context"
	"fmt"
	"strings"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/workflow"
)

// ContainerStep is a step run in a container of its own: a `docker://`
// step or a Docker action's pre-entrypoint, entrypoint or post-entrypoint.
type ContainerStep struct {
	What  string // for messages: the step's uses
	Image string // reference, without docker://
	// Entrypoint replaces the image's ENTRYPOINT when not "" (and then
	// the image's CMD is not used).
	Entrypoint string
	// Args replace the image's CMD when not nil.
	Args []string
	// Env is the step's environment (job env, step env, INPUT_*).
	Env map[string]string
	// Built is the image when it was built for the step (a Dockerfile
	// action), not pulled by Image.
	Built *Image
}

// Where a step container sees the job's directories (GitHub's layout for
// Docker actions; the runner's temp directory holds the event file and
// the file-command files).
const (
	stepWorkspace = "/github/workspace"
	stepHome      = "/github/home"
	stepTemp      = "/github/runner_temp"
)

// RunContainerStep runs cs as (part of) step idx in a new container of
// the job's sandbox: the workspace at /github/workspace (the working
// directory), the job's home at /github/home, GITHUB_OUTPUT and the other
// file commands applied as for any step. The container is stopped after.
func (j *Job) RunContainerStep(ctx context.Context, idx int, cs ContainerStep) (StepOutcome, error) {
	if j.Guest.Containers == nil {
		return StepOutcome{}, fmt.Errorf("%s: the %s sandbox cannot run containers (use the namespace or microvm backend)", cs.What, j.Guest.Backend)
	}
	if j.Spec.Images == nil && cs.Built == nil {
		return StepOutcome{}, fmt.Errorf("%s: container images cannot be pulled: no image store is configured", cs.What)
	}
	img := cs.Built
	if img == nil {
		j.Log(idx, "Pulling "+cs.Image)
		var err error
		if img, err = j.Spec.Images(ctx, cs.Image, nil); err != nil {
			return StepOutcome{}, fmt.Errorf("%s: pulling image %s: %w", cs.What, cs.Image, err)
		}
	}
	if err := checkPlatform(img); err != nil {
		return StepOutcome{}, fmt.Errorf("%s: %w", cs.What, err)
	}
	uid, gid, err := resolveUser(img.RootFS, img.User)
	if err != nil {
		return StepOutcome{}, fmt.Errorf("%s: %w", cs.What, err)
	}
	j.execs++
	ctr, err := j.Guest.Containers(ctx, ContainerRequest{Name: fmt.Sprintf("step%d-%d", idx, j.execs), RootFS: img.RootFS, UID: uid, GID: gid,
		Mounts: []ContainerMount{
			{Source: "workspace", Target: stepWorkspace},
			{Source: "home", Target: stepHome},
			{Source: "temp", Target: stepTemp},
		}})
	if err != nil {
		return StepOutcome{}, fmt.Errorf("%s: starting its container: %w", cs.What, err)
	}
	defer ctr.Close()
	argv := img.Entrypoint
	args := img.Cmd
	if cs.Entrypoint != "" {
		argv, args = []string{cs.Entrypoint}, nil
	}
	if cs.Args != nil {
		args = cs.Args
	}
	argv = append(append([]string{}, argv...), args...)
	if len(argv) == 0 {
		return StepOutcome{}, fmt.Errorf("%s: the image has no entrypoint or command and none was given", cs.What)
	}
	view := func(p string) string {
		if rest, ok := strings.CutPrefix(p, j.Guest.Layout.Temp); ok {
			return stepTemp + rest
		}
		return p
	}
	full := map[string]string{}
	for _, kv := range img.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			full[k] = v
		}
	}
	if full["PATH"] == "" {
		full["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	for k, v := range githubEnv(j.github, j.runnerCx) {
		full[k] = v
	}
	full["GITHUB_ACTION"] = expr.String(mustGet(j.github, "action"))
	full["GITHUB_WORKSPACE"], full["HOME"] = stepWorkspace, stepHome
	full["RUNNER_TEMP"] = stepTemp
	full["GITHUB_EVENT_PATH"] = view(j.Guest.Layout.Temp + "/_github_workflow/event.json")
	full["GITHUB_ACTIONS"], full["CI"] = "true", "true"
	for k, v := range cs.Env {
		full[k] = v
	}
	out, err := j.execIn(ctx, idx, ctr.Client, full, view, argv, stepWorkspace, nil)
	return out, containerFault(err)
}

// RunDockerStep runs a `uses: docker://image` step: `with.entrypoint`
// and `with.args` (split as a shell splits words) as GitHub takes them,
// every other input as INPUT_<NAME>.
func (j *Job) RunDockerStep(ctx context.Context, idx int, uses string, with, env map[string]string) (StepOutcome, error) {
	cs := ContainerStep{What: uses, Image: strings.TrimPrefix(uses, "docker://"), Env: map[string]string{}}
	for k, v := range env {
		cs.Env[k] = v
	}
	for k, v := range with {
		switch strings.ToLower(k) {
		case "entrypoint":
			cs.Entrypoint = v
		case "args":
			args, err := workflow.SplitArgs(v)
			if err != nil {
				return StepOutcome{}, fmt.Errorf("%s: with.args: %w", uses, err)
			}
			cs.Args = args
		default:
			cs.Env["INPUT_"+strings.ToUpper(strings.ReplaceAll(k, " ", "_"))] = v
		}
	}
	return j.RunContainerStep(ctx, idx, cs)
}

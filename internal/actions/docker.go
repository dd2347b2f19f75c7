package actions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/runner"
)

// runDockerImage runs a Docker action whose runs.image is a prebuilt
// `docker://` image in a container of the job's sandbox, as GitHub does:
// runs.args (with ${{ inputs.* }} evaluated) replace the image's CMD,
// runs.entrypoint its ENTRYPOINT, runs.env and INPUT_<NAME> are in the
// environment; pre-entrypoint runs in its own container at job start (a
// pre step, as GitHub runs it; see PreSteps), post-entrypoint as a post
// step. A Dockerfile action runs the same way with the image built for it
// (built; dockerbuild.go).
func (r *Executor) runDockerImage(ctx context.Context, j *runner.Job, idx int, act *action, inputs, env map[string]string, built *runner.Image) (runner.StepOutcome, error) {
	m := act.meta.Runs
	step, args, err := dockerStep(j, act, inputs, env, built)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	if _, preRan := j.PreState(); m.PreEntrypoint != "" && !preRan {
		// Not run at job start (e.g. an action inside a composite one):
		// just before the main entry point.
		out, err := j.RunContainerStep(ctx, idx, step(m.PreEntrypoint, nil))
		if err != nil || out.Failed {
			return out, err
		}
	}
	if m.PostEntrypoint != "" {
		j.AddPost(runner.PostStep{Name: "Post " + act.ref.Raw, If: m.PostIf, Run: func(ctx context.Context, idx int) (runner.StepOutcome, error) {
			return j.RunContainerStep(ctx, idx, step(m.PostEntrypoint, nil))
		}})
	}
	return j.RunContainerStep(ctx, idx, step(m.Entrypoint, args))
}

// dockerPre runs a Docker action's pre-entrypoint as a pre step at job
// start (PreSteps), in its own container.
func (r *Executor) dockerPre(ctx context.Context, j *runner.Job, idx int, act *action, inputs, env map[string]string) (runner.StepOutcome, error) {
	step, _, err := dockerStep(j, act, inputs, env, nil)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	return j.RunContainerStep(ctx, idx, step(act.meta.Runs.PreEntrypoint, nil))
}

// isDockerImage reports whether an action runs a prebuilt docker:// image.
func isDockerImage(m Runs) bool {
	return m.Using == "docker" && strings.HasPrefix(m.Image, "docker://")
}

// dockerStep evaluates a Docker action's runs.env and runs.args and returns
// how to make one of its container steps.
func dockerStep(j *runner.Job, act *action, inputs, env map[string]string, built *runner.Image) (func(string, []string) runner.ContainerStep, []string, error) {
	m := act.meta.Runs
	xenv := j.ExprEnv(env)
	xenv.Contexts["inputs"] = inputsValue(inputs)
	stepEnv := actionEnv(env, act)
	delete(stepEnv, "GITHUB_ACTION_PATH") // the action's files are not in the container
	for _, v := range m.Env {
		val, err := expr.Interpolate(v.Value, xenv)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: runs.env.%s: %w", act.ref.Raw, v.Name, err)
		}
		stepEnv[v.Name] = val
	}
	for k, v := range inputs {
		stepEnv[inputEnvName(k)] = v
	}
	var args []string
	for _, a := range m.Args {
		val, err := expr.Interpolate(a, xenv)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: runs.args: %w", act.ref.Raw, err)
		}
		args = append(args, val)
	}
	image := strings.TrimPrefix(m.Image, "docker://")
	return func(entrypoint string, args []string) runner.ContainerStep {
		return runner.ContainerStep{What: act.ref.Raw, Image: image, Entrypoint: entrypoint, Args: args, Env: stepEnv, Built: built}
	}, args, nil
}

// DockerImages returns the images the given uses: references (as a job's
// steps write them) will run in containers: `docker://` steps and Docker
// actions with a prebuilt `docker://` image, looking inside composite
// actions down to GitHub's nesting limit. A microVM gets its container
// images as disks when it boots, so dispatch asks this before the job's VM
// starts. Remote actions are fetched as a job fetches them (cached by
// commit), presenting no token: a private action is not looked into here;
// readLocal reads a repository-relative file at the job's commit for
// `./path` actions. An action that cannot be read is skipped (the job
// reports it when it runs); the result has no duplicates.
func (r *Executor) DockerImages(ctx context.Context, uses []string, readLocal func(ctx context.Context, name string) ([]byte, error)) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(uses []string, depth int)
	walk = func(uses []string, depth int) {
		if depth > maxDepth {
			return
		}
		for _, u := range uses {
			ref, err := ParseRef(u)
			if err != nil || builtin(ref) != nil {
				continue
			}
			var images []string
			var nested []string
			switch ref.Kind {
			case RefDocker:
				images = append(images, ref.Image)
			default:
				meta, err := r.peekMeta(ctx, ref, readLocal)
				if err != nil {
					r.cfg.Logger.Debug("action not looked into for container images", "action", u, "err", err)
					continue
				}
				if isDockerImage(meta.Runs) {
					images = append(images, strings.TrimPrefix(meta.Runs.Image, "docker://"))
				}
				for _, st := range meta.Runs.Steps {
					if st != nil && st.Uses != "" {
						nested = append(nested, st.Uses)
					}
				}
			}
			for _, img := range images {
				if img != "" && !strings.Contains(img, "${{") && !seen[img] {
					seen[img] = true
					out = append(out, img)
				}
			}
			walk(nested, depth+1)
		}
	}
	walk(uses, 0)
	return out
}

// peekMeta reads an action's metadata without a job: a local action
// through readLocal, a remote one from its fetched tree (no token).
func (r *Executor) peekMeta(ctx context.Context, ref Ref, readLocal func(ctx context.Context, name string) ([]byte, error)) (*Metadata, error) {
	if ref.Kind == RefLocal {
		if readLocal == nil {
			return nil, errors.New("no way to read the repository")
		}
		dir, err := safeRel(ref.Path)
		if err != nil {
			return nil, err
		}
		return r.readMeta(func(name string) ([]byte, error) {
			return readLocal(ctx, path.Join(dir, name))
		}, ref.Path)
	}
	ra, err := r.fetchRemote(ctx, ref, "")
	if err != nil {
		return nil, err
	}
	return r.readMeta(func(name string) ([]byte, error) {
		return readTreeFile(ra.Dir, path.Join(cmp.Or(ref.Path, "."), name))
	}, ref.Raw)
}

package runner

import (
	"context"
	"path"
	"strings"

	"github.com/hookci/hookci/internal/expr"
)

// This file extends the runner's surface for action runners (see api.go):
// scripts with GitHub's shells, and a private copy of the github context.

// RunScript runs script as part of step idx with shell (a name such as
// "bash" or "sh", or a template containing {0}; "" is GitHub's default
// "bash -e {0}") in dir (absolute, or relative to the workspace; "" is the
// workspace). It is what a run: step does once its script is interpolated.
func (j *Job) RunScript(ctx context.Context, idx int, script, shell, dir string, env map[string]string) (StepOutcome, error) {
	if strings.TrimSpace(shell) == "" && j.ctrs != nil && j.ctrs.job != nil && !j.ctrs.bash {
		shell = "sh" // GitHub: bash, falling back to sh where the container has none
	}
	argvTmpl, ext, err := shellCommand(shell)
	if err != nil {
		return StepOutcome{}, err
	}
	wd := j.Guest.Layout.Workspace
	if dir != "" {
		if path.IsAbs(dir) {
			wd = path.Clean(dir)
		} else {
			wd = path.Join(wd, dir)
		}
	}
	scriptPath := path.Join(j.Guest.Layout.Temp, randomID()+ext)
	argv := make([]string, len(argvTmpl))
	for i, a := range argvTmpl {
		argv[i] = strings.ReplaceAll(a, "{0}", scriptPath)
	}
	if ext == ".sh" || ext == "" {
		script = strings.TrimRight(script, "\n") + "\n"
	}
	return j.exec(ctx, idx, argv, wd, env, map[string][]byte{scriptPath: []byte(script)})
}

// GitHubCopy returns a copy of the github context, for an action to set
// its own action_path, action_repository and action_ref in.
func (j *Job) GitHubCopy() *expr.Object {
	o := expr.NewObject()
	j.github.Range(func(k string, v expr.Value) bool {
		o.Set(k, v)
		return true
	})
	return o
}

// ProcessEnv is the environment a process started with env would see (the
// GITHUB_* variables, HOME, PATH with GITHUB_PATH additions, then env).
func (j *Job) ProcessEnv(env map[string]string) map[string]string { return j.processEnv(env) }

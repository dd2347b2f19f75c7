package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"sort"
	"strings"

	"github.com/hookci/hookci/internal/expr"
	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/runner"
)

// inputs resolves an action's inputs from the step's with: and the
// declared defaults (which may be expressions such as ${{ github.token }}),
// warning as GitHub does about unexpected and missing required inputs.
// Names are matched case-insensitively; the result is keyed by the declared
// name (or the name as given, for undeclared inputs).
func (r *Executor) inputs(j *runner.Job, idx int, act *action, with, env map[string]string) map[string]string {
	out := map[string]string{}
	given := map[string]string{}
	for k, v := range with {
		given[strings.ToLower(k)] = v
	}
	declared := map[string]bool{}
	var valid []string
	for _, in := range act.meta.Inputs {
		if v, ok := given[strings.ToLower(in.Name)]; ok {
			out[in.Name] = v
		}
	}
	// Defaults may refer to the given inputs (default: ${{ inputs.other }}).
	xenv := j.ExprEnv(env)
	xenv.Contexts["inputs"] = inputsValue(maps.Clone(out))
	for _, in := range act.meta.Inputs {
		key := strings.ToLower(in.Name)
		declared[key] = true
		valid = append(valid, in.Name)
		if _, ok := given[key]; ok {
			continue
		}
		if in.HasDefault {
			v, err := expr.Interpolate(in.Default, xenv)
			if err != nil {
				j.Log(idx, fmt.Sprintf("##[warning]input %s: default: %v", in.Name, err))
			}
			out[in.Name] = v
		} else if in.Required {
			j.Log(idx, "##[warning]Input required and not supplied: "+in.Name)
		}
		if in.DeprecationMessage != "" && given[key] != "" {
			j.Log(idx, fmt.Sprintf("##[warning]Input '%s' has been deprecated with message: %s", in.Name, in.DeprecationMessage))
		}
	}
	var unexpected []string
	for k, v := range with {
		if !declared[strings.ToLower(k)] {
			unexpected = append(unexpected, k)
			out[k] = v
		}
	}
	if len(unexpected) > 0 && act.meta.Runs.Using != "docker" {
		sort.Strings(unexpected)
		j.Log(idx, fmt.Sprintf("##[warning]Unexpected input(s) '%s', valid inputs are ['%s']",
			strings.Join(unexpected, "', '"), strings.Join(valid, "', '")))
	}
	return out
}

// inputsValue is the inputs context of a composite action.
func inputsValue(in map[string]string) expr.Value {
	o := expr.NewObject()
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o.Set(k, expr.StringValue(in[k]))
	}
	return expr.ObjectValue(o)
}

// inputEnvName is the INPUT_ variable of an input: upper case, spaces as _.
func inputEnvName(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
}

// putTree copies the host directory dir into the sandbox at dst once per
// sandbox (a marker file records that it is there).
func putTree(ctx context.Context, j *runner.Job, dir, dst string) error {
	marker := path.Join(dst, ".hookci-complete")
	if _, err := j.Guest.Client.ReadFile(ctx, marker); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(gitrepo.TarDir(pw, dir)) }()
	err := j.Guest.Client.PutFiles(ctx, dst, pr)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("copying the action into the sandbox: %w", err)
	}
	return nil
}

package actions

import (
	"context"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/runner"
)

// builtinFunc runs a built-in action natively; major is the action's major
// version from its ref (v5 → 5; latestMajor for a branch or a commit).
type builtinFunc func(r *Executor, ctx context.Context, j *runner.Job, idx, major int, with, env map[string]string) (runner.StepOutcome, error)

// latestMajor stands for "the newest major" when a ref names no version
// (a branch, a commit): behaviour follows the newest release.
const latestMajor = 1 << 20

// refMajor is the major version a ref names: v5, v5.1.0, 5 → 5; anything
// else → latestMajor.
func refMajor(ref string) int {
	s := strings.TrimPrefix(strings.TrimPrefix(ref, "v"), "V")
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 || end > 6 || (end < len(s) && s[end] != '.') {
		return latestMajor
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil {
		return latestMajor
	}
	return n
}

// builtins are the actions run natively, by owner/repo[/path] (any ref).
var builtins = map[string]builtinFunc{
	"actions/checkout":          (*Executor).checkout,
	"actions/cache":             (*Executor).cacheBoth,
	"actions/cache/restore":     (*Executor).cacheRestore,
	"actions/cache/save":        (*Executor).cacheSave,
	"actions/upload-artifact":   (*Executor).uploadArtifact,
	"actions/download-artifact": (*Executor).downloadArtifact,
	"actions/setup-go":          (*Executor).setupGo,
	"actions/setup-node":        (*Executor).setupNode,
	"actions/setup-python":      (*Executor).setupPython,
}

// BuiltinNames lists the actions run natively.
func BuiltinNames() []string {
	out := make([]string, 0, len(builtins))
	for k := range builtins {
		out = append(out, k)
	}
	return out
}

func builtin(ref Ref) builtinFunc {
	if ref.Kind != RefRemote {
		return nil
	}
	name := strings.ToLower(ref.FullName())
	if ref.Path != "" {
		name += "/" + strings.ToLower(ref.Path)
	}
	return builtins[name]
}

// boolInput reads a boolean input ("true"/"false", default def).
func boolInput(with map[string]string, name string, def bool) bool {
	v := strings.ToLower(strings.TrimSpace(with[name]))
	switch v {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

// lines splits a multi-line input into its non-empty, trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

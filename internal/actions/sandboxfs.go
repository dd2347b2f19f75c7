package actions

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/runner"
)

// shell runs a helper script in the sandbox, outside any step's log, and
// returns its output. A non-zero exit is an error carrying the output.
func shell(ctx context.Context, j *runner.Job, script string, args ...string) (string, error) {
	var out bytes.Buffer
	argv := append([]string{"bash", "-c", script, "hookci"}, args...)
	res, err := j.Guest.Client.Exec(ctx, agent.ExecRequest{Argv: argv, Env: envList(j.ProcessEnv(nil)), Dir: j.Guest.Layout.Workspace}, &out)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return out.String(), fmt.Errorf("exit code %d: %s", res.ExitCode, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// absPath resolves a path input: ~ is the home directory, a relative path is
// relative to the workspace.
func absPath(j *runner.Job, p string) string {
	switch {
	case p == "~":
		return j.Guest.Layout.Home
	case strings.HasPrefix(p, "~/"):
		return path.Join(j.Guest.Layout.Home, p[2:])
	case path.IsAbs(p):
		return path.Clean(p)
	}
	return path.Join(j.Guest.Layout.Workspace, p)
}

// expandScript prints every existing path matching each argument (a glob,
// with ** and hidden files when dotglob is asked) NUL-terminated.
const expandScript = `shopt -s globstar nullglob
[ "$HOOKCI_DOTGLOB" = true ] && shopt -s dotglob
for p in "$@"; do
  if [ -e "$p" ] || [ -L "$p" ]; then printf '%s\0' "$p"; continue; fi
  while IFS= read -r -d '' f; do printf '%s\0' "$f"; done < <(compgen -G "$p" | tr '\n' '\0')
done`

// expand resolves path patterns (absolute, ~ or workspace-relative, globs)
// to the existing paths in the sandbox, in order and without duplicates.
func expand(ctx context.Context, j *runner.Job, patterns []string, hidden bool) ([]string, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	abs := make([]string, len(patterns))
	for i, p := range patterns {
		abs[i] = absPath(j, p)
	}
	script := expandScript
	if hidden {
		script = "HOOKCI_DOTGLOB=true\n" + script
	}
	out, err := shell(ctx, j, script, abs...)
	if err != nil {
		return nil, fmt.Errorf("expanding paths: %w", err)
	}
	seen := map[string]bool{}
	var res []string
	for _, f := range strings.Split(out, "\x00") {
		if f != "" && !seen[f] {
			seen[f] = true
			res = append(res, path.Clean(f))
		}
	}
	return res, nil
}

// kinds reports for each path whether it is a directory.
func isDirs(ctx context.Context, j *runner.Job, paths []string) ([]bool, error) {
	out, err := shell(ctx, j, `for p in "$@"; do if [ -d "$p" ]; then echo d; else echo f; fi; done`, paths...)
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(out)
	if len(fields) != len(paths) {
		return nil, fmt.Errorf("stat: unexpected answer %q", out)
	}
	res := make([]bool, len(paths))
	for i, f := range fields {
		res[i] = f == "d"
	}
	return res, nil
}

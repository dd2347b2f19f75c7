package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/runner"
)

// checkout is actions/checkout served from the mirror: the run's own
// commit (the cached tar of Spec.Source when fetch-depth is 1), or any
// repository, ref and depth the configured git server has.
func (r *Runner) checkout(ctx context.Context, j *runner.JobContext, idx int, with, env map[string]string) (runner.StepOutcome, error) {
	ev := j.Spec.Event
	repo := cmpOr(strings.TrimSpace(with["repository"]), ev.Repo)
	own := strings.EqualFold(repo, ev.Repo)
	dest := j.Inst.Layout.Workspace
	if p := strings.TrimSpace(with["path"]); p != "" {
		rel, err := safeRel(p)
		if err != nil {
			return runner.StepOutcome{}, fmt.Errorf("Repository path '%s' is not under '%s'", p, dest)
		}
		dest = path.Join(dest, rel)
	}
	depth := 1
	if v := strings.TrimSpace(with["fetch-depth"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return runner.StepOutcome{}, fmt.Errorf("fetch-depth %q is not a non-negative number", v)
		}
		depth = n
	}
	ref := strings.TrimSpace(with["ref"])
	sha, branch, err := r.checkoutTarget(ctx, repo, own, ref, ev)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	sub := strings.ToLower(strings.TrimSpace(with["submodules"]))
	outputs := map[string]string{"ref": cmpOr(ref, ev.Ref), "commit": sha}
	if own && sha == ev.SHA && depth == 1 && (sub == "" || sub == "false") && dest == j.Inst.Layout.Workspace && j.WorkspacePristine() {
		j.Log(idx, "The workspace already holds "+repo+"@"+sha+" (put there when the job was set up)")
		return runner.StepOutcome{Outputs: outputs}, nil
	}
	if boolInput(with, "clean", true) {
		if _, err := shell(ctx, j, `[ ! -d "$1" ] || find "$1" -mindepth 1 -delete`, dest); err != nil {
			return runner.StepOutcome{}, fmt.Errorf("cleaning %s: %w", dest, err)
		}
	}
	if own && sha == ev.SHA && depth == 1 && (sub == "" || sub == "false") && j.Spec.Source != nil {
		j.Log(idx, "Checking out "+repo+"@"+sha+" into "+dest)
		return runner.StepOutcome{Outputs: outputs}, putStream(ctx, j, dest, j.Spec.Source)
	}
	if r.cfg.Git == nil {
		return runner.StepOutcome{}, fmt.Errorf("checkout of %s@%s needs a git server, and none is configured", repo, cmpOr(ref, sha))
	}
	j.Log(idx, fmt.Sprintf("Checking out %s@%s (depth %d) into %s", repo, sha, depth, dest))
	tmp, err := os.MkdirTemp("", "hookci-checkout-")
	if err != nil {
		return runner.StepOutcome{}, err
	}
	defer os.RemoveAll(tmp)
	if err := r.workingCopy(ctx, repo, sha, branch, depth, sub, tmp); err != nil {
		return runner.StepOutcome{}, fmt.Errorf("checkout %s@%s: %w", repo, sha, err)
	}
	return runner.StepOutcome{Outputs: outputs}, putStream(ctx, j, dest, func(ctx context.Context, w io.Writer) error {
		return gitrepo.TarDir(w, tmp)
	})
}

// checkoutTarget resolves the ref input to a commit (and a branch name when
// it names a branch).
func (r *Runner) checkoutTarget(ctx context.Context, repo string, own bool, ref string, ev runner.EventInfo) (sha, branch string, err error) {
	if own && (ref == "" || ref == ev.SHA || ref == ev.Ref) {
		return ev.SHA, strings.TrimPrefix(ev.Ref, "refs/heads/"), nil
	}
	if gitrepo.ValidSHA(strings.ToLower(ref)) {
		return strings.ToLower(ref), "", nil
	}
	if r.cfg.Git == nil {
		return "", "", fmt.Errorf("cannot resolve %s@%s: no git server is configured", repo, ref)
	}
	var cands []string
	switch {
	case ref == "":
		cands = []string{"HEAD"}
	case strings.HasPrefix(ref, "refs/"):
		cands = []string{ref}
	default:
		cands = []string{"refs/heads/" + ref, "refs/tags/" + ref}
	}
	for _, c := range cands {
		s, err := r.lsRemote(ctx, repo, c)
		if err == nil {
			b := strings.TrimPrefix(c, "refs/heads/")
			if b == c || c == "HEAD" {
				b = ""
			}
			return s, b, nil
		}
	}
	return "", "", fmt.Errorf("A branch or tag with the name '%s' could not be found in %s", ref, repo)
}

func (r *Runner) lsRemote(ctx context.Context, repo, ref string) (string, error) {
	if ref != "HEAD" {
		return r.cfg.Git.ResolveRef(ctx, repo, ref)
	}
	out, err := exec.CommandContext(ctx, "git", "ls-remote", r.cfg.Git.CloneURL(repo), "HEAD").Output()
	if err != nil {
		return "", err
	}
	if f := strings.Fields(string(out)); len(f) >= 1 && gitrepo.ValidSHA(f[0]) {
		return f[0], nil
	}
	return "", errors.New("no HEAD")
}

// workingCopy makes a checkout of sha in dir from the mirror: depth 0 is the
// whole history; submodules ("true" or "recursive") come from the same git
// server (github.com URLs are rewritten to it).
func (r *Runner) workingCopy(ctx context.Context, repo, sha, branch string, depth int, submodules, dir string) error {
	m, err := r.cfg.Git.Fetch(ctx, repo, sha)
	if err != nil {
		return err
	}
	fetch := []string{"fetch", "--quiet", "--no-tags"}
	if depth > 0 {
		fetch = append(fetch, "--depth="+strconv.Itoa(depth))
	}
	fetch = append(fetch, "file://"+m.Dir, sha)
	co := []string{"-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", sha}
	if branch != "" {
		co = []string{"checkout", "--quiet", "-B", branch, sha}
	}
	steps := [][]string{{"init", "--quiet"}, fetch, co, {"remote", "add", "origin", r.cfg.Git.CloneURL(repo)}}
	if submodules == "true" || submodules == "recursive" {
		base := strings.TrimSuffix(r.cfg.Git.CloneURL(repo), "/"+repo+".git")
		sm := []string{"-c", "protocol.file.allow=always", "-c", "url." + base + "/.insteadOf=https://github.com/",
			"submodule", "update", "--init", "--quiet"}
		if submodules == "recursive" {
			sm = append(sm, "--recursive")
		}
		steps = append(steps, sm)
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// putStream streams a tar written by src into dir in the sandbox.
func putStream(ctx context.Context, j *runner.JobContext, dir string, src func(ctx context.Context, w io.Writer) error) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(src(ctx, pw)) }()
	err := j.Inst.Client.PutFiles(ctx, dir, pr)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("putting the repository into %s: %w", dir, err)
	}
	return nil
}

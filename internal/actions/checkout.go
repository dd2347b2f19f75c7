package actions

import (
	"cmp"
	"context"
	"encoding/base64"
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
func (r *Executor) checkout(ctx context.Context, j *runner.Job, idx, major int, with, env map[string]string) (runner.StepOutcome, error) {
	ev := j.Spec.Event
	repo := cmp.Or(strings.TrimSpace(with["repository"]), ev.Repo)
	own := strings.EqualFold(repo, ev.Repo)
	dest := j.Guest.Layout.Workspace
	if p := strings.TrimSpace(with["path"]); p != "" {
		d, err := checkoutDest(dest, p)
		if err != nil {
			return runner.StepOutcome{}, err
		}
		dest = d
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
	token := checkoutToken(ev, with)
	opts := cloneOpts{depth: depth, tags: boolInput(with, "fetch-tags", false), sparse: lines(with["sparse-checkout"]),
		cone: boolInput(with, "sparse-checkout-cone-mode", true), lfs: boolInput(with, "lfs", false)}
	if opts.lfs {
		if _, err := exec.LookPath("git-lfs"); err != nil {
			return runner.StepOutcome{}, errors.New("lfs: true needs git-lfs, which is not installed where hookci makes the working copy " +
				"(install the git-lfs package on the hookci host); the checkout would hold LFS pointer files instead of their content")
		}
	}
	sha, branch, err := r.checkoutTarget(ctx, repo, own, ref, ev, token)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	sub := strings.ToLower(strings.TrimSpace(with["submodules"]))
	outputs := map[string]string{"ref": cmp.Or(ref, ev.Ref), "commit": sha}
	plain := own && sha == ev.SHA && depth == 1 && (sub == "" || sub == "false") && !opts.tags && len(opts.sparse) == 0 && !opts.lfs
	if plain && dest == j.Guest.Layout.Workspace && j.WorkspacePristine() {
		j.Log(idx, "The workspace already holds "+repo+"@"+sha+" (put there when the job was set up)")
		j.WorkspaceChanged() // from now on the checkout owns it: a later one into a sub-path keeps it
		return runner.StepOutcome{Outputs: outputs}, r.persistCredentials(ctx, j, idx, with, token, dest)
	}
	if dest != j.Guest.Layout.Workspace && j.WorkspacePristine() {
		// The commit put at the workspace root when the job was set up is
		// hookci's shortcut, not something GitHub's runner leaves: a
		// checkout into a sub-path finds the root empty there.
		if _, err := shell(ctx, j, `find "$1" -mindepth 1 -delete`, j.Guest.Layout.Workspace); err != nil {
			return runner.StepOutcome{}, fmt.Errorf("emptying the workspace %s: %w", j.Guest.Layout.Workspace, err)
		}
	}
	j.WorkspaceChanged()
	if boolInput(with, "clean", true) {
		if _, err := shell(ctx, j, `[ ! -d "$1" ] || find "$1" -mindepth 1 -delete`, dest); err != nil {
			return runner.StepOutcome{}, fmt.Errorf("cleaning %s: %w", dest, err)
		}
	}
	if plain && j.Spec.Source != nil {
		j.Log(idx, "Checking out "+repo+"@"+sha+" into "+dest)
		if err := putStream(ctx, j, dest, j.Spec.Source); err != nil {
			return runner.StepOutcome{}, err
		}
		return runner.StepOutcome{Outputs: outputs}, r.persistCredentials(ctx, j, idx, with, token, dest)
	}
	if r.cfg.Git == nil {
		return runner.StepOutcome{}, fmt.Errorf("checkout of %s@%s needs a git server, and none is configured", repo, cmp.Or(ref, sha))
	}
	j.Log(idx, fmt.Sprintf("Checking out %s@%s (depth %d) into %s", repo, sha, depth, dest))
	tmp, err := os.MkdirTemp("", "hookci-checkout-")
	if err != nil {
		return runner.StepOutcome{}, err
	}
	defer os.RemoveAll(tmp)
	if err := r.workingCopy(ctx, repo, own, token, sha, branch, opts, sub, tmp); err != nil {
		return runner.StepOutcome{}, fmt.Errorf("checkout %s@%s: %w", repo, sha, err)
	}
	if err := putStream(ctx, j, dest, func(ctx context.Context, w io.Writer) error {
		return gitrepo.TarDir(w, tmp)
	}); err != nil {
		return runner.StepOutcome{}, err
	}
	return runner.StepOutcome{Outputs: outputs}, r.persistCredentials(ctx, j, idx, with, token, dest)
}

// persistCredentials is checkout's persist-credentials (default true): the
// token the checkout used is left in the working copy's .git/config as
// GitHub's http.<server>/.extraheader, so that later git commands of the job
// authenticate; a post step removes it at the end of the job. With false,
// or without a token (a fork), nothing is written.
func (r *Executor) persistCredentials(ctx context.Context, j *runner.Job, idx int, with map[string]string, token, dest string) error {
	if !boolInput(with, "persist-credentials", true) || token == "" {
		return nil
	}
	key := "http." + strings.TrimSuffix(cmp.Or(j.Spec.Event.ServerURL, "https://github.com"), "/") + "/.extraheader"
	header := "AUTHORIZATION: basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
	if out, err := shell(ctx, j, `[ -d "$1/.git" ] || { echo no-git; exit 0; }; git -C "$1" config --local "$2" "$3"`, dest, key, header); err != nil {
		return fmt.Errorf("persisting the credential in %s/.git/config: %w", dest, err)
	} else if strings.TrimSpace(out) == "no-git" {
		return nil // a tree without .git (no repository to configure)
	}
	j.Log(idx, "The token is kept in "+path.Join(dest, ".git/config")+" ("+key+") for the job's git commands; persist-credentials: false leaves none")
	j.AddPost(runner.PostStep{Name: "Post Run actions/checkout (remove the credential)", Run: func(ctx context.Context, pidx int) (runner.StepOutcome, error) {
		_, err := shell(ctx, j, `[ ! -d "$1/.git" ] || git -C "$1" config --local --unset-all "$2" || true`, dest, key)
		return runner.StepOutcome{}, err
	}})
	return nil
}

// cloneOpts are checkout's inputs for making a working copy.
type cloneOpts struct {
	depth  int
	tags   bool     // fetch-tags
	sparse []string // sparse-checkout patterns
	cone   bool     // sparse-checkout-cone-mode
	lfs    bool
}

// checkoutDest is where path p (relative to the workspace, or absolute
// inside it, as actions/checkout accepts) puts the repository.
func checkoutDest(workspace, p string) (string, error) {
	full := path.Clean(p)
	if !path.IsAbs(full) {
		full = path.Join(workspace, full)
	}
	if full != workspace && !strings.HasPrefix(full, strings.TrimSuffix(workspace, "/")+"/") {
		//lint:ignore ST1005 actions/checkout's wording, shown in the step log
		return "", fmt.Errorf("Repository path '%s' is not under '%s'", full, workspace)
	}
	return full, nil
}

// checkoutTarget resolves the ref input to a commit (and a branch name when
// it names a branch): the run's own repository is asked as planning asks
// it, another repository with token only.
func (r *Executor) checkoutTarget(ctx context.Context, repo string, own bool, ref string, ev runner.EventInfo, token string) (sha, branch string, err error) {
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
	var lastErr error
	for _, c := range cands {
		s, err := r.lsRemote(ctx, repo, c, own, token)
		lastErr = err
		if err == nil {
			b := strings.TrimPrefix(c, "refs/heads/")
			if b == c || c == "HEAD" {
				b = ""
			}
			return s, b, nil
		}
	}
	if !own {
		if err := r.cfg.Git.CheckAccess(ctx, repo, token); err != nil {
			return "", "", err
		}
	}
	//lint:ignore ST1005 actions/checkout's wording, shown in the step log
	return "", "", fmt.Errorf("A branch or tag with the name '%s' could not be found in %s: %w", ref, repo, lastErr)
}

func (r *Executor) lsRemote(ctx context.Context, repo, ref string, own bool, token string) (string, error) {
	if own {
		return r.cfg.Git.ResolveRef(ctx, repo, ref)
	}
	return r.cfg.Git.ResolveRefAs(ctx, repo, ref, token)
}

// workingCopy makes a checkout of sha in dir from the mirror: depth 0 is the
// whole history. The run's own repository comes from the planning mirror;
// another repository is fetched with token only (see credential.go).
// Submodules ("true" or "recursive") are checked out by submodules, never by
// git following .gitmodules.
func (r *Executor) workingCopy(ctx context.Context, repo string, own bool, token, sha, branch string, o cloneOpts, submodules, dir string) error {
	var m *gitrepo.Mirror
	var err error
	if own {
		m, err = r.cfg.Git.Fetch(ctx, repo, sha)
	} else {
		m, err = r.cfg.Git.FetchAs(ctx, repo, token, sha)
	}
	if err != nil {
		return err
	}
	if o.tags || o.depth == 0 {
		// fetch-depth 0 brings every tag too, as actions/checkout does.
		if m, err = r.cfg.Git.FetchTags(ctx, repo, token, own); err != nil {
			return err
		}
		o.tags = true
	}
	if err := r.cloneFromMirror(ctx, m, repo, sha, branch, o, dir); err != nil {
		return err
	}
	if o.lfs {
		if err := r.lfsPull(ctx, repo, own, token, dir); err != nil {
			return err
		}
	}
	if submodules == "true" || submodules == "recursive" {
		return r.submodules(ctx, dir, repo, token, o.depth, submodules == "recursive", 0)
	}
	return nil
}

// lfsPull replaces the LFS pointer files of the working copy in dir by their
// content, fetched from the server with token (the server's credential for
// the run's own repository).
func (r *Executor) lfsPull(ctx context.Context, repo string, own bool, token, dir string) error {
	if own && token == "" {
		return fmt.Errorf("lfs: no credential to fetch LFS objects of %s with", repo)
	}
	args := []string{"lfs", "pull", "origin"}
	if token != "" {
		header := "AUTHORIZATION: basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
		args = append([]string{"-c", "http.extraheader=" + header}, args...)
	}
	if _, err := runGit(ctx, dir, "lfs", "install", "--local"); err != nil {
		return err
	}
	_, err := runGit(ctx, dir, args...)
	return err
}

// cloneFromMirror makes dir a working copy of sha from the mirror m.
func (r *Executor) cloneFromMirror(ctx context.Context, m *gitrepo.Mirror, repo, sha, branch string, o cloneOpts, dir string) error {
	fetch := []string{"-c", "protocol.file.allow=always", "fetch", "--quiet", "--no-tags"}
	if o.depth > 0 {
		fetch = append(fetch, "--depth="+strconv.Itoa(o.depth))
	}
	fetch = append(fetch, "file://"+m.Dir, sha)
	if o.tags {
		fetch = append(fetch, "+refs/tags/*:refs/tags/*")
	}
	co := []string{"-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", sha}
	if branch != "" {
		co = []string{"checkout", "--quiet", "-B", branch, sha}
	}
	steps := [][]string{{"init", "--quiet"}, fetch}
	if len(o.sparse) > 0 {
		set := []string{"sparse-checkout", "set"}
		if !o.cone {
			set = append(set, "--no-cone")
		}
		steps = append(steps, append(set, o.sparse...))
	}
	steps = append(steps, co, []string{"remote", "add", "origin", r.cfg.Git.CloneURL(repo)})
	for _, args := range steps {
		if _, err := runGit(ctx, dir, args...); err != nil {
			return err
		}
	}
	return nil
}

// runGit runs git for a job in dir, without the operator's git
// configuration, and returns its output.
func runGit(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := gitrepo.Command(ctx, dir, gitrepo.NoUserConfig(), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// putStream streams a tar written by src into dir in the sandbox.
func putStream(ctx context.Context, j *runner.Job, dir string, src func(ctx context.Context, w io.Writer) error) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(src(ctx, pw)) }()
	// The index gets the stat data of the files as they are in the sandbox,
	// as after git's own checkout (agent.Client.PutCheckout).
	err := j.Guest.Client.PutCheckout(ctx, dir, runner.CheckoutIndex, pr)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("putting the repository into %s: %w", dir, err)
	}
	return nil
}

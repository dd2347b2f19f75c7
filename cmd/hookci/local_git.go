package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hookci/hookci/internal/gitrepo"
)

func gitOut(dir string, args ...string) (string, error) {
	cmd := gitrepo.Command(context.Background(), dir, nil, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(b)), nil
}

// worktree is the repository `hookci run` runs: its top directory, common
// git directory and index file, and (when HEAD has a commit) HEAD's commit,
// its tree and HEAD's full ref name ("HEAD" when detached).
type worktree struct {
	root, gitDir, index string
	head, headTree, ref string
}

// openWorktree finds the repository dir is in and HEAD, with one git
// process (two in a repository without a commit yet: the first asks for
// HEAD and fails).
func openWorktree(dir string) (worktree, error) {
	where := []string{"rev-parse", "--show-toplevel", "--git-common-dir", "--git-path", "index"}
	out, err := gitOut(dir, append(where, "HEAD", "HEAD^{tree}", "--symbolic-full-name", "HEAD")...)
	want := 6
	if err != nil {
		out, err = gitOut(dir, where...)
		want = 3
	}
	if err != nil {
		return worktree{}, fmt.Errorf("%s is not a git repository: %w", dir, err)
	}
	lines := strings.Split(out, "\n")
	if len(lines) != want {
		return worktree{}, fmt.Errorf("%s: git rev-parse: unexpected answer %q", dir, out)
	}
	wt := worktree{root: lines[0], gitDir: lines[1], index: lines[2]}
	if want == 6 {
		wt.head, wt.headTree, wt.ref = lines[3], lines[4], lines[5]
	}
	// --git-common-dir and --git-path are relative to dir unless absolute.
	for _, p := range []*string{&wt.gitDir, &wt.index} {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return wt, nil
}

// snapshot commits the working tree as it is (tracked and untracked files
// that are not ignored) without touching the index, the branch or the
// files, and points refs/hookci/run at it (when it is not HEAD) so it can
// be fetched.
//
// The scratch index starts as a copy of the repository's own, so `git add
// -A` hashes only the files that changed since it was last written rather
// than every file of the tree; the tree written is the same either way.
func snapshot(wt worktree) (sha, branch string, err error) {
	idx, err := os.CreateTemp("", "hookci-index-")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(idx.Name())
	seeded := false
	if src, err := os.Open(wt.index); err == nil {
		_, cerr := io.Copy(idx, src)
		src.Close()
		seeded = cerr == nil
	}
	idx.Close()
	if !seeded {
		os.Remove(idx.Name()) // git wants to create it
	}
	run := func(args ...string) (string, error) {
		cmd := gitrepo.Command(context.Background(), wt.root, []string{"GIT_INDEX_FILE=" + idx.Name()}, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(b)), nil
	}
	if _, err := run("add", "-A"); err != nil {
		return "", "", err
	}
	tree, err := run("write-tree")
	if err != nil {
		return "", "", err
	}
	// HEAD, its tree and its branch came with openWorktree unless HEAD
	// has no commit yet (a new repository).
	head, headTree, ref := wt.head, wt.headTree, wt.ref
	if head == "" {
		if out, err := run("symbolic-ref", "-q", "HEAD"); err == nil {
			ref = out // unborn branch
		}
	}
	commitArgs := []string{"-c", "user.name=hookci", "-c", "user.email=hookci@localhost", "commit-tree", tree, "-m", "hookci run: working tree"}
	if head != "" {
		if headTree == tree {
			sha = head // clean working tree: run the commit itself
		}
		commitArgs = append(commitArgs, "-p", head)
	}
	if sha == "" {
		if sha, err = run(commitArgs...); err != nil {
			return "", "", err
		}
	}
	// A commit of the working tree is named by refs/hookci/run so that a
	// mirror that fetches (a kept --data-dir) can ask for it; HEAD itself
	// is advertised already, so a clean tree needs no ref (one git process
	// less on the local run's path).
	if sha != head {
		if _, err := run("update-ref", "refs/hookci/run", sha); err != nil {
			return "", "", err
		}
	}
	branch = strings.TrimPrefix(ref, "refs/heads/")
	if branch == "" || branch == ref { // detached HEAD, or not a branch
		branch = "main"
	}
	return sha, branch, nil
}

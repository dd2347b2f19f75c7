// Package gittest makes real git repositories for tests: a bare "server"
// repository at <root>/<owner>/<name>.git, served as file://<root>, and a work
// tree to commit into and push from.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a test repository.
type Repo struct {
	t    testing.TB
	Bare string // the served bare repository
	Work string // a work tree whose origin is Bare
}

// New creates owner/name under root (root is then the git base URL file://root).
func New(t testing.TB, root, fullName string) *Repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	r := &Repo{t: t, Bare: filepath.Join(root, fullName+".git"), Work: filepath.Join(t.TempDir(), "work")}
	r.run(root, "init", "--quiet", "--bare", "--initial-branch=main", r.Bare)
	r.run(root, "init", "--quiet", "--initial-branch=main", r.Work)
	r.git("remote", "add", "origin", r.Bare)
	return r
}

func (r *Repo) run(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *Repo) git(args ...string) string { r.t.Helper(); return r.run(r.Work, args...) }

// Commit writes files (path → content; content "" deletes the file), commits
// them on the current branch and returns the commit id.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.t.Helper()
	for p, content := range files {
		full := filepath.Join(r.Work, filepath.FromSlash(p))
		if content == "" {
			os.Remove(full)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "--quiet", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// Branch switches to branch, creating it from the current commit if needed.
func (r *Repo) Branch(name string) {
	r.t.Helper()
	r.git("checkout", "--quiet", "-B", name)
}

// Push pushes the current branch (or refspec) to the bare repository.
func (r *Repo) Push(refspec string) {
	r.t.Helper()
	r.git("push", "--quiet", "--force", "origin", refspec)
}

// Head returns the current commit id.
func (r *Repo) Head() string { r.t.Helper(); return r.git("rev-parse", "HEAD") }

// Git runs git in the work tree and returns its output.
func (r *Repo) Git(args ...string) string { r.t.Helper(); return r.git(args...) }

// GitBare runs git in the served bare repository and returns its output.
func (r *Repo) GitBare(args ...string) string {
	r.t.Helper()
	return r.run(r.Bare, args...)
}

// Symlink makes path (in the work tree) a symlink to target, for the next Commit.
func (r *Repo) Symlink(path, target string) {
	r.t.Helper()
	full := filepath.Join(r.Work, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		r.t.Fatal(err)
	}
	os.Remove(full)
	if err := os.Symlink(target, full); err != nil {
		r.t.Fatal(err)
	}
}

package gitrepo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Borrow makes repo's mirror read the objects of a local repository through
// git's alternates instead of copying them with a fetch: `hookci run`
// throws its mirror away after the run, and the repository it runs already
// holds every object. gitDir is that repository's common git directory
// (`git rev-parse --git-common-dir`). Git only reads an alternate; nothing
// is written into it. A shallow repository's boundary (its shallow file) is
// copied, so the mirror is shallow where a fetch would have made it so.
// Fetch still fetches what the alternate lacks.
func (c *Cache) Borrow(ctx context.Context, repo, gitDir string) error {
	objectsDir := filepath.Join(gitDir, "objects")
	if !repoName.MatchString(repo) || strings.Contains(repo, "..") {
		return fmt.Errorf("gitrepo: invalid repository name %q", repo)
	}
	abs, err := filepath.Abs(objectsDir)
	if err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return fmt.Errorf("gitrepo: borrow: %s is not an object directory", abs)
	}
	dir := filepath.Join(c.dir, filepath.FromSlash(repo)+".git")
	l := c.lock(repo)
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return fmt.Errorf("gitrepo: borrow: the mirror of %s exists already", repo)
	}
	// What `git init --bare` writes, without the process (~15 ms on the
	// local run's critical path): the mirror only reads through its
	// alternate, so git's templates (hooks samples, description) are left out.
	for _, d := range []string{"objects/info", "objects/pack", "refs/heads", "refs/tags"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o700); err != nil {
			return fmt.Errorf("gitrepo: %w", err)
		}
	}
	for _, f := range [][2]string{
		{"config", "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"},
		{"HEAD", "ref: refs/heads/main\n"},
	} {
		if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0o600); err != nil {
			return fmt.Errorf("gitrepo: %w", err)
		}
	}
	if shallow, err := os.ReadFile(filepath.Join(gitDir, "shallow")); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "shallow"), shallow, 0o600); err != nil {
			return fmt.Errorf("gitrepo: %w", err)
		}
	}
	alt := filepath.Join(dir, "objects", "info", "alternates")
	if err := os.WriteFile(alt, []byte(abs+"\n"), 0o600); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	return nil
}

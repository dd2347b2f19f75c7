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
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	if _, err := git(ctx, dir, nil, "init", "--bare", "--quiet"); err != nil {
		return err
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

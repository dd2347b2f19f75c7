package actions

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hookci/hookci/internal/gitrepo"
)

// maxSubmoduleDepth bounds recursive submodules.
const maxSubmoduleDepth = 5

// submodules checks out the submodules of the working copy dir (of repo),
// recursively when asked. git never follows a URL of .gitmodules: each URL
// must name a repository of the configured git server (relative, or on
// github.com, or under the server's http(s) base), which is fetched into the
// mirror with token like any other repository; file://, host paths, other
// hosts and transports are refused.
func (r *Executor) submodules(ctx context.Context, dir, repo, token string, depth int, recursive bool, level int) error {
	if level > maxSubmoduleDepth {
		return fmt.Errorf("submodules are nested more than %d levels deep", maxSubmoduleDepth)
	}
	if fi, err := os.Lstat(filepath.Join(dir, ".gitmodules")); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	out, err := runGit(ctx, dir, "config", "--file", ".gitmodules", "-z", "--get-regexp", `^submodule\..*\.(path|url)$`)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return nil // no entries
		}
		return fmt.Errorf("reading .gitmodules: %w", err)
	}
	paths, urls := map[string]string{}, map[string]string{}
	for _, rec := range strings.Split(out, "\x00") {
		key, val, _ := strings.Cut(rec, "\n")
		name, ok := strings.CutPrefix(key, "submodule.")
		if !ok {
			continue
		}
		if n, ok := strings.CutSuffix(name, ".path"); ok {
			paths[n] = val
		} else if n, ok := strings.CutSuffix(name, ".url"); ok {
			urls[n] = val
		}
	}
	names := make([]string, 0, len(paths))
	for n := range paths {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := r.submodule(ctx, dir, repo, token, n, paths[n], urls[n], depth, recursive, level); err != nil {
			return fmt.Errorf("submodule %s: %w", n, err)
		}
	}
	return nil
}

func (r *Executor) submodule(ctx context.Context, dir, repo, token, name, p, rawURL string, depth int, recursive bool, level int) error {
	rel, err := safeRel(p)
	if err != nil || rel == "" {
		return fmt.Errorf("path %q is not inside the repository", p)
	}
	ls, err := runGit(ctx, dir, "ls-tree", "-z", "HEAD", "--", rel)
	if err != nil {
		return err
	}
	meta, _, _ := strings.Cut(ls, "\t")
	f := strings.Fields(meta)
	if len(f) != 3 || f[0] != "160000" || f[1] != "commit" || !gitrepo.ValidSHA(f[2]) {
		return nil // not a gitlink at that path: git skips it too
	}
	sha := f[2]
	subRepo, err := r.submoduleRepo(repo, rawURL)
	if err != nil {
		return err
	}
	target, err := plainDir(dir, rel)
	if err != nil {
		return err
	}
	m, err := r.cfg.Git.FetchAs(ctx, subRepo, token, sha)
	if err != nil {
		return err
	}
	if err := r.cloneFromMirror(ctx, m, subRepo, sha, "", cloneOpts{depth: depth}, target); err != nil {
		return err
	}
	if recursive {
		return r.submodules(ctx, target, subRepo, token, depth, true, level+1)
	}
	return nil
}

// plainDir returns dir/rel after checking that no component of rel is a
// symlink or a non-directory, so the submodule lands inside the working copy.
func plainDir(dir, rel string) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	parts := strings.Split(rel, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			if err := root.Mkdir(p, 0o755); err != nil {
				return "", err
			}
			continue
		}
		if err != nil {
			return "", err
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("path %s goes through %s, which is not a directory", rel, p)
		}
	}
	return filepath.Join(dir, filepath.FromSlash(rel)), nil
}

// submoduleRepo maps a .gitmodules URL to owner/name on the configured git
// server, refusing URLs that name anything else.
func (r *Executor) submoduleRepo(super, raw string) (string, error) {
	refuse := fmt.Errorf("URL %q is refused: a submodule must be a repository of the git server (a relative URL, https://github.com/owner/name or under the server's URL); file://, host paths and other hosts are not fetched", raw)
	u := strings.TrimSpace(raw)
	var name string
	switch {
	case strings.HasPrefix(u, "../") || strings.HasPrefix(u, "./"):
		name = path.Join(super, u)
	case strings.HasPrefix(u, "git@github.com:"):
		name = strings.TrimPrefix(u, "git@github.com:")
	default:
		pu, err := url.Parse(u)
		if err != nil || pu.User != nil || pu.RawQuery != "" || pu.Fragment != "" {
			return "", refuse
		}
		base := r.cfg.Git.BaseURL()
		switch {
		case pu.Scheme == "https" && pu.Host == "github.com":
			name = strings.TrimPrefix(pu.Path, "/")
		case (pu.Scheme == "https" || pu.Scheme == "http") && strings.HasPrefix(u, base+"/"):
			name = strings.TrimPrefix(u, base+"/")
		default:
			return "", refuse
		}
	}
	name = strings.TrimSuffix(strings.TrimSuffix(name, "/"), ".git")
	parts := strings.Split(name, "/")
	if len(parts) != 2 || !ownerRe.MatchString(parts[0]) || !ownerRe.MatchString(parts[1]) || strings.Contains(name, "..") {
		return "", refuse
	}
	return name, nil
}

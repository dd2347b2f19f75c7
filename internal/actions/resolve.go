package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hookci/hookci/internal/gitrepo"
)

// Ref is a parsed uses: value.
type Ref struct {
	Raw   string
	Kind  RefKind
	Owner string // remote
	Repo  string // remote
	Path  string // remote: sub-directory in the repository; local: the path as written
	Ref   string // remote: tag, branch or full commit id
	Image string // docker://
}

// RefKind says where an action comes from.
type RefKind int

// The kinds of action reference.
const (
	RefRemote RefKind = iota // owner/repo[/path]@ref
	RefLocal                 // ./path in the workspace
	RefDocker                // docker://image
)

// FullName is owner/repo.
func (r Ref) FullName() string { return r.Owner + "/" + r.Repo }

var (
	ownerRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	hexRe   = regexp.MustCompile(`^[0-9a-fA-F]+$`)
)

// ParseRef parses a uses: value of a step.
func ParseRef(uses string) (Ref, error) {
	u := strings.TrimSpace(uses)
	r := Ref{Raw: u}
	switch {
	case u == "":
		return r, errors.New("uses: is empty")
	case strings.HasPrefix(u, "docker://"):
		r.Kind, r.Image = RefDocker, strings.TrimPrefix(u, "docker://")
		return r, nil
	case strings.HasPrefix(u, "./") || u == ".":
		r.Kind, r.Path = RefLocal, u
		return r, nil
	}
	name, ref, ok := strings.Cut(u, "@")
	if !ok || ref == "" {
		return r, fmt.Errorf("%q is not a valid action reference: expected {owner}/{repo}[/path]@{ref}, ./path or docker://image", u)
	}
	parts := strings.Split(name, "/")
	if len(parts) < 2 || !ownerRe.MatchString(parts[0]) || !ownerRe.MatchString(parts[1]) ||
		strings.Trim(parts[0], ".") == "" || strings.Trim(parts[1], ".") == "" {
		return r, fmt.Errorf("%q is not a valid action reference: expected {owner}/{repo}[/path]@{ref}", u)
	}
	r.Kind, r.Owner, r.Repo, r.Ref = RefRemote, parts[0], parts[1], ref
	r.Path = strings.Join(parts[2:], "/")
	if strings.Contains(r.Path, "..") || strings.ContainsAny(ref, " \t\n~^:?*[\\") {
		return r, fmt.Errorf("%q is not a valid action reference", u)
	}
	return r, nil
}

// remoteAction is a fetched remote action's files on the host.
type remoteAction struct {
	SHA string
	Dir string // the repository's tree at SHA (host path)
}

// fetchRemote resolves ref to a commit and returns its tree, exported under
// DataDir/actions/<owner>/<repo>/<sha> (reused without any network access).
// It is fetched with token only (see actionToken): a tree fetched with a
// token is reused only by jobs that would present one for it, a public one
// by any.
func (r *Executor) fetchRemote(ctx context.Context, a Ref, token string) (*remoteAction, error) {
	sha, err := r.resolveSHA(ctx, a, token)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(r.cfg.DataDir, "actions", a.Owner, a.Repo, sha)
	if b, err := os.ReadFile(filepath.Join(dir, verifiedMarker)); err == nil && (string(b) == "public" || token != "") {
		return &remoteAction{SHA: sha, Dir: dir}, nil
	}
	if r.cfg.Git == nil {
		return nil, fmt.Errorf("action %s: no git server is configured to fetch %s from", a.Raw, a.FullName())
	}
	m, err := r.cfg.Git.FetchAs(ctx, a.FullName(), token, sha)
	if err != nil {
		return nil, fmt.Errorf("fetching action %s: %w", a.Raw, err)
	}
	if err := exportTree(ctx, m.Dir, sha, dir, token == ""); err != nil {
		return nil, fmt.Errorf("fetching action %s: %w", a.Raw, err)
	}
	return &remoteAction{SHA: sha, Dir: dir}, nil
}

// resolveSHA turns the ref of a into a full commit id: a full id is taken as
// is, a tag or branch is asked of the server with token (remembered, so
// that a later run works offline), a shortened id is refused as GitHub
// refuses it.
func (r *Executor) resolveSHA(ctx context.Context, a Ref, token string) (string, error) {
	if gitrepo.ValidSHA(strings.ToLower(a.Ref)) {
		return strings.ToLower(a.Ref), nil
	}
	memo := filepath.Join(r.cfg.DataDir, "actions", a.Owner, a.Repo, "refs", refFile(a.Ref))
	var lastErr error
	missing := 0 // how many of the refs the server said it does not have
	if r.cfg.Git != nil {
		for _, full := range []string{"refs/tags/" + a.Ref, "refs/heads/" + a.Ref} {
			sha, err := r.cfg.Git.ResolveRefAs(ctx, a.FullName(), full, token)
			if err == nil {
				os.MkdirAll(filepath.Dir(memo), 0o755)
				os.WriteFile(memo, []byte(sha), 0o644)
				return sha, nil
			}
			if strings.Contains(err.Error(), " has no refs/") {
				missing++
			}
			lastErr = err
		}
	} else {
		lastErr = errors.New("no git server is configured")
	}
	if hexRe.MatchString(a.Ref) && len(a.Ref) >= 4 && len(a.Ref) < 40 {
		full := r.expandShortSHA(ctx, a, token)
		if full == "" {
			full = "<full sha>"
		}
		//lint:ignore ST1005 the GitHub runner's wording, shown in the step log
		return "", fmt.Errorf("Unable to resolve action `%s@%s`, the provided ref `%s` is the shortened version of a commit SHA, which is not supported. Please use the full commit SHA `%s` instead.",
			a.FullName(), a.Ref, a.Ref, full)
	}
	if b, err := os.ReadFile(memo); err == nil && gitrepo.ValidSHA(strings.TrimSpace(string(b))) {
		r.cfg.Logger.Warn("action ref resolved from the local record (server unreachable)", "action", a.Raw, "err", lastErr)
		return strings.TrimSpace(string(b)), nil
	}
	if missing == 2 {
		//lint:ignore ST1005 the GitHub runner's wording, shown in the step log
		return "", fmt.Errorf("Unable to resolve action `%s`, unable to find version `%s`", a.Raw, a.Ref)
	}
	if msg := lastErr.Error(); strings.Contains(msg, "not found") || strings.Contains(msg, "does not appear to be a git repository") {
		//lint:ignore ST1005 the GitHub runner's wording, shown in the step log
		return "", fmt.Errorf("Unable to resolve action `%s`, repository not found (%w)", a.Raw, lastErr)
	}
	//lint:ignore ST1005 the GitHub runner's wording, shown in the step log
	return "", fmt.Errorf("Unable to resolve action `%s`: %w", a.Raw, lastErr)
}

func refFile(ref string) string { return strings.NewReplacer("/", "%2F").Replace(ref) }

// expandShortSHA looks for a branch or tag tip starting with a's ref, for the
// error message ("" when none is found).
func (r *Executor) expandShortSHA(ctx context.Context, a Ref, token string) string {
	if r.cfg.Git == nil {
		return ""
	}
	lines, err := r.cfg.Git.ListRefsAs(ctx, a.FullName(), token)
	if err != nil {
		return ""
	}
	for _, line := range lines {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[0], strings.ToLower(a.Ref)) {
			return f[0]
		}
	}
	return ""
}

// safeRel cleans a relative slash path and refuses one that is absolute or
// leaves its root.
func safeRel(name string) (string, error) {
	if path.IsAbs(name) || strings.HasPrefix(name, `\`) {
		return "", fmt.Errorf("path %q is absolute", name)
	}
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q leaves its directory", name)
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

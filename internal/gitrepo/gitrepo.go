// Package gitrepo owns hookci's git work: one bare mirror per repository in
// the data directory, fetched by exact commit, and what is read from it —
// files at a commit, the files a change touched, and a checked-out copy of a
// commit for a job's workspace. It shells out to the git binary, but for a
// mirror's fetch once the mirror has refs to negotiate from, which speaks
// git's protocol itself (fetchdirect.go).
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/trace"
)

// TokenFunc returns the token to fetch repo ("owner/name") with, or "" for none.
type TokenFunc func(ctx context.Context, repo string) (string, error)

// Cache holds the mirrors.
type Cache struct {
	dir     string
	baseURL string
	token   TokenFunc

	mu        sync.Mutex // guards the fields below
	locks     map[string]*sync.Mutex
	overrides map[string]string
	known     map[string]bool     // repo@sha known to be in the mirror (commits never leave it)
	cats      map[string]*catFile // mirror directory → its batch reader

	onFetch    func(took time.Duration, err error) // set before use by ObserveFetch
	httpConfig map[string]bool                     // URL → git would apply configuration to a fetch from it (fetchdirect.go)

	maintCtx    context.Context // background maintenance (maintain.go), ended by Close
	maintStop   context.CancelFunc
	maintaining map[string]bool // mirror directory → maintenance running (true: run again after)
	maintWG     sync.WaitGroup
}

// ObserveFetch makes c report every git fetch into a mirror (not the
// fetches a mirror already holding the commits saves): how long it took and
// whether it failed. Call it before c is used.
func (c *Cache) ObserveFetch(f func(took time.Duration, err error)) { c.onFetch = f }

// New returns a cache of mirrors under dir, fetching from
// baseURL/<owner>/<name>.git (file://, http:// and https:// all work).
func New(dir, baseURL string, token TokenFunc) *Cache {
	return &Cache{dir: dir, baseURL: strings.TrimRight(baseURL, "/"), token: token, locks: map[string]*sync.Mutex{}}
}

var (
	repoName = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	shaRe    = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

// ValidSHA reports whether s is a full hexadecimal commit id.
func ValidSHA(s string) bool { return shaRe.MatchString(s) }

// Mirror is one repository's bare mirror.
type Mirror struct {
	Repo  string
	Dir   string
	cache *Cache // for locks shared with other users of the mirror
}

func (c *Cache) lock(repo string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.locks[repo]
	if !ok {
		l = &sync.Mutex{}
		c.locks[repo] = l
	}
	return l
}

// BaseURL is the git server's base URL (without a trailing slash).
func (c *Cache) BaseURL() string { return c.baseURL }

// CloneURL is where repo is fetched from (without credentials).
func (c *Cache) CloneURL(repo string) string {
	c.mu.Lock()
	u, ok := c.overrides[repo]
	c.mu.Unlock()
	if ok {
		return u
	}
	return c.baseURL + "/" + repo + ".git"
}

// SetCloneURL makes repo come from url instead of the base URL (hookci run
// fetches the local repository this way).
func (c *Cache) SetCloneURL(repo, url string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.overrides == nil {
		c.overrides = map[string]string{}
	}
	c.overrides[repo] = url
}

// Fetch makes sure the mirror of repo holds every commit in shas, fetching
// them by id with the server's own credential (the TokenFunc), and returns
// it. Only hookci's planning uses it; fetches a job asks for use FetchAs.
func (c *Cache) Fetch(ctx context.Context, repo string, shas ...string) (*Mirror, error) {
	return c.fetch(ctx, repo, shas, func() (fetchCred, error) {
		tok, err := c.serverToken(ctx, repo)
		return fetchCred{env: headerEnv(tok), header: authHeader(tok), operator: true}, err
	})
}

// FetchAs is Fetch for a job: git presents token ("" for none) and never
// the server's credential, and the server is always asked first whether
// token may read repo, so that commits the mirror got with another
// credential are not handed out.
func (c *Cache) FetchAs(ctx context.Context, repo, token string, shas ...string) (*Mirror, error) {
	if err := c.CheckAccess(ctx, repo, token); err != nil {
		return nil, err
	}
	return c.fetch(ctx, repo, shas, func() (fetchCred, error) {
		if !strings.HasPrefix(c.CloneURL(repo), "http") {
			token = ""
		}
		return fetchCred{env: jobEnv(token), header: authHeader(token)}, nil
	})
}

// FetchTags brings the server's tags into the mirror of repo (checkout's
// fetch-tags): with the server's credential when own, else presenting token
// only, after asking the server whether token may read repo.
func (c *Cache) FetchTags(ctx context.Context, repo, token string, own bool) (*Mirror, error) {
	var env []string
	if own {
		e, err := c.authEnv(ctx, repo)
		if err != nil {
			return nil, err
		}
		env = e
	} else {
		if err := c.CheckAccess(ctx, repo, token); err != nil {
			return nil, err
		}
		env = c.tokenEnv(repo, token)
	}
	m := &Mirror{Repo: repo, Dir: filepath.Join(c.dir, filepath.FromSlash(repo)+".git"), cache: c}
	l := c.lock(repo)
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(filepath.Join(m.Dir, "HEAD")); err != nil {
		return nil, fmt.Errorf("gitrepo: no mirror of %s to fetch tags into", repo)
	}
	defer c.maintainLater(m.Dir) // maintain.go
	if _, err := git(ctx, m.Dir, env, fetchArgs("--no-write-fetch-head", c.CloneURL(repo), "+refs/tags/*:refs/tags/*")...); err != nil {
		return nil, fmt.Errorf("gitrepo: fetch tags of %s: %w", repo, err)
	}
	return m, nil
}

// CheckAccess asks the server whether token ("" for none) may read repo.
func (c *Cache) CheckAccess(ctx context.Context, repo, token string) error {
	if !repoName.MatchString(repo) || strings.Contains(repo, "..") {
		return fmt.Errorf("gitrepo: invalid repository name %q", repo)
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	if _, err := git(ctx, c.dir, c.tokenEnv(repo, token), "ls-remote", c.CloneURL(repo), "HEAD"); err != nil {
		how := "without a credential"
		if token != "" {
			how = "with the job's token"
		}
		return fmt.Errorf("gitrepo: %s cannot be read %s: %w", repo, how, err)
	}
	return nil
}

func (c *Cache) tokenEnv(repo, token string) []string {
	if !strings.HasPrefix(c.CloneURL(repo), "http") {
		token = ""
	}
	return jobEnv(token)
}

func (c *Cache) fetch(ctx context.Context, repo string, shas []string, auth func() (fetchCred, error)) (_ *Mirror, err error) {
	if !repoName.MatchString(repo) || strings.Contains(repo, "..") {
		return nil, fmt.Errorf("gitrepo: invalid repository name %q", repo)
	}
	for _, s := range shas {
		if !ValidSHA(s) {
			return nil, fmt.Errorf("gitrepo: invalid commit id %q", s)
		}
	}
	m := &Mirror{Repo: repo, Dir: filepath.Join(c.dir, filepath.FromSlash(repo)+".git"), cache: c}
	if c.allKnown(repo, shas) {
		return m, nil
	}
	l := c.lock(repo)
	l.Lock()
	defer l.Unlock()
	fresh := false
	if _, err := os.Stat(filepath.Join(m.Dir, "HEAD")); err != nil {
		if err := os.MkdirAll(m.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("gitrepo: %w", err)
		}
		if _, err := git(ctx, m.Dir, nil, "init", "--bare", "--quiet"); err != nil {
			return nil, err
		}
		fresh = true
	}
	var missing []string
	for _, s := range shas {
		if fresh || !m.has(ctx, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		c.remember(repo, shas)
		return m, nil
	}
	cred, err := auth()
	if err != nil {
		return nil, err
	}
	env := cred.env
	if c.onFetch != nil {
		t0 := time.Now()
		defer func() { c.onFetch(time.Since(t0), err) }()
	}
	defer c.maintainLater(m.Dir) // maintain.go
	if url := c.CloneURL(repo); c.directOK(m.Dir, url, cred) {
		derr := c.fetchDirect(ctx, m, url, cred, missing) // fetchdirect.go
		if derr == nil {
			c.remember(repo, shas)
			return m, nil
		}
		if ctx.Err() != nil {
			return nil, derr
		}
		slog.Debug("fetching with git instead", "repo", repo, "why", derr)
	}
	// Each commit fetched is kept under refs/hookci/fetched/<i> (a few refs,
	// overwritten by the next fetch): a fetch negotiates from the mirror's
	// refs, and a mirror without any sent none, so the server sent the
	// commit's whole history again on every push (900 objects instead of 3
	// for one new commit of a 300-commit repository).
	args := fetchArgs("--no-tags", "--no-write-fetch-head", c.CloneURL(repo))
	for i, sha := range missing {
		args = append(args, "+"+sha+":"+fetchedRef+strconv.Itoa(i))
	}
	_, err = git(ctx, m.Dir, env, args...)
	if err == nil {
		// A fetch by id fails when an id is not there: no need to check again.
		c.remember(repo, shas)
		return m, nil
	}
	// Servers that refuse unadvertised commits: fetch every branch, tag and pull ref.
	all := fetchArgs("--no-write-fetch-head", c.CloneURL(repo),
		"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", "+refs/pull/*:refs/pull/*")
	if _, err2 := git(ctx, m.Dir, env, all...); err2 != nil {
		return nil, fmt.Errorf("gitrepo: fetch %s: %w", repo, err)
	}
	for _, s := range missing {
		if !m.has(ctx, s) {
			return nil, fmt.Errorf("gitrepo: commit %s not found in %s", s, repo)
		}
	}
	c.remember(repo, shas)
	return m, nil
}

// fetchArgs is `git fetch --quiet` with args, as every fetch into a mirror
// runs: git's auto maintenance off the path (maintain.go), and no hook — a
// fetch that updates refs would run the operator's reference-transaction
// hook (core.hooksPath) with the server's credential in its environment
// (TestAttackGitHookSeesNoServerSecrets).
func fetchArgs(args ...string) []string {
	return append([]string{"-c", "maintenance.auto=false", "-c", "core.hooksPath=/dev/null", "fetch", "--quiet"}, args...)
}

// fetchedRef prefixes the refs a fetch leaves on the commits it fetched.
const fetchedRef = "refs/hookci/fetched/"

func (c *Cache) allKnown(repo string, shas []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range shas {
		if !c.known[repo+"@"+s] {
			return false
		}
	}
	return len(shas) > 0
}

func (c *Cache) remember(repo string, shas []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known == nil || len(c.known) > 100000 {
		c.known = map[string]bool{}
	}
	for _, s := range shas {
		c.known[repo+"@"+s] = true
	}
}

// authEnv is the environment carrying the server's own credential for repo.
func (c *Cache) authEnv(ctx context.Context, repo string) ([]string, error) {
	tok, err := c.serverToken(ctx, repo)
	return headerEnv(tok), err
}

// serverToken is the server's own credential for repo ("" for none, and
// for a URL that is not http(s)).
func (c *Cache) serverToken(ctx context.Context, repo string) (string, error) {
	if c.token == nil || !strings.HasPrefix(c.CloneURL(repo), "http") {
		return "", nil
	}
	tok, err := c.token(ctx, repo)
	if err != nil {
		return "", fmt.Errorf("gitrepo: token for %s: %w", repo, err)
	}
	return tok, nil
}

// ResolveRef returns the commit a ref (refs/heads/x, refs/tags/y) points at
// on the server, asking it directly (git ls-remote).
func (c *Cache) ResolveRef(ctx context.Context, repo, ref string) (string, error) {
	env, err := c.authEnv(ctx, repo)
	if err != nil {
		return "", err
	}
	return c.resolveRef(ctx, repo, ref, env)
}

// ResolveRefAs is ResolveRef for a job: git presents token ("" for none),
// never the server's credential. ref may also be HEAD.
func (c *Cache) ResolveRefAs(ctx context.Context, repo, ref, token string) (string, error) {
	return c.resolveRef(ctx, repo, ref, c.tokenEnv(repo, token))
}

func (c *Cache) resolveRef(ctx context.Context, repo, ref string, env []string) (string, error) {
	if !repoName.MatchString(repo) || strings.Contains(repo, "..") {
		return "", fmt.Errorf("gitrepo: invalid repository name %q", repo)
	}
	if (ref != "HEAD" && !strings.HasPrefix(ref, "refs/")) || strings.ContainsAny(ref, " \t\n*?[") {
		return "", fmt.Errorf("gitrepo: invalid ref %q", ref)
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	out, err := git(ctx, c.dir, env, "ls-remote", c.CloneURL(repo), ref, ref+"^{}")
	if err != nil {
		return "", err
	}
	sha := ""
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if f[1] == ref+"^{}" || sha == "" {
			sha = f[0] // a peeled tag wins
		}
	}
	if sha == "" {
		return "", fmt.Errorf("gitrepo: %s has no %s", repo, ref)
	}
	return sha, nil
}

// ListRefsAs lists the server's refs of repo as "sha ref" lines, asked
// with token ("" for none), never with the server's credential.
func (c *Cache) ListRefsAs(ctx context.Context, repo, token string) ([]string, error) {
	if !repoName.MatchString(repo) || strings.Contains(repo, "..") {
		return nil, fmt.Errorf("gitrepo: invalid repository name %q", repo)
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("gitrepo: %w", err)
	}
	out, err := git(ctx, c.dir, c.tokenEnv(repo, token), "ls-remote", c.CloneURL(repo))
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

func (m *Mirror) has(ctx context.Context, sha string) bool {
	if _, _, err := m.object(ctx, sha+"^{commit}"); !errors.Is(err, errNoBatch) {
		return err == nil
	}
	_, err := git(ctx, m.Dir, nil, "cat-file", "-e", sha+"^{commit}")
	return err == nil
}

// ReadFile returns the file at path in commit sha; a missing file is an
// error wrapping os.ErrNotExist.
func (m *Mirror) ReadFile(ctx context.Context, sha, path string) ([]byte, error) {
	typ, data, err := m.object(ctx, sha+":"+path)
	switch {
	case err == nil && typ == "blob":
		return data, nil
	case err == nil || errors.Is(err, errMissing):
		return nil, fmt.Errorf("%s at %.12s: %w", path, sha, os.ErrNotExist)
	case !errors.Is(err, errNoBatch):
		return nil, err
	}
	out, err := git(ctx, m.Dir, nil, "cat-file", "blob", sha+":"+path)
	if err != nil {
		return nil, fmt.Errorf("%s at %.12s: %w", path, sha, os.ErrNotExist)
	}
	return out, nil
}

// ListFiles lists the files directly in dir at commit sha (none if dir is missing).
func (m *Mirror) ListFiles(ctx context.Context, sha, dir string) ([]string, error) {
	typ, data, err := m.object(ctx, sha+":"+dir)
	switch {
	case err == nil && typ == "tree":
		names, err := treeNames(data, len(sha)/2)
		if err != nil {
			return nil, err
		}
		for i, n := range names {
			names[i] = dir + "/" + n
		}
		return names, nil
	case err == nil || errors.Is(err, errMissing):
		if m.has(ctx, sha) {
			return nil, nil
		}
		return nil, fmt.Errorf("gitrepo: commit %.12s not in %s: %w", sha, m.Repo, errMissing)
	case !errors.Is(err, errNoBatch):
		return nil, err
	}
	out, err := git(ctx, m.Dir, nil, "ls-tree", "--name-only", "-z", sha+":"+dir)
	if err != nil {
		if m.has(ctx, sha) {
			return nil, nil
		}
		return nil, err
	}
	var names []string
	for _, n := range bytes.Split(out, []byte{0}) {
		if len(n) > 0 {
			names = append(names, dir+"/"+string(n))
		}
	}
	return names, nil
}

// ErrUnknownDiff is returned (wrapped) when the mirror lacks the history a
// diff needs: the other side of a shallow clone's boundary, a commit that was
// never fetched. It is not an I/O failure: the diff is simply unknown.
var ErrUnknownDiff = errors.New("the history needed for the diff is not in the mirror (a shallow clone?)")

// ChangedFiles lists the files that differ between base and head; a side
// the mirror does not hold is ErrUnknownDiff.
func (m *Mirror) ChangedFiles(ctx context.Context, base, head string) ([]string, error) {
	for _, c := range []string{base, head} {
		if !m.has(ctx, c) {
			return nil, fmt.Errorf("gitrepo: diff %.12s..%.12s: %w", base, head, ErrUnknownDiff)
		}
	}
	out, err := git(ctx, m.Dir, nil, "diff", "--name-only", "-z", "--no-renames", base, head)
	if err != nil {
		return nil, err
	}
	return splitZ(out), nil
}

// CommitFiles lists the files commit sha changed relative to its first parent
// (all its files for a root commit).
func (m *Mirror) CommitFiles(ctx context.Context, sha string) ([]string, error) {
	typ, raw, err := m.object(ctx, sha+"^{commit}")
	if errors.Is(err, errNoBatch) {
		raw, err = git(ctx, m.Dir, nil, "cat-file", "commit", sha)
	} else if err == nil && typ != "commit" {
		err = fmt.Errorf("gitrepo: %.12s is a %s, not a commit", sha, typ)
	}
	if err != nil {
		return nil, err
	}
	header, _, _ := bytes.Cut(raw, []byte("\n\n"))
	for _, l := range strings.Split(string(header), "\n") {
		if p, ok := strings.CutPrefix(l, "parent "); ok {
			if !m.has(ctx, p) {
				return nil, fmt.Errorf("gitrepo: files of %.12s: parent %.12s: %w", sha, p, ErrUnknownDiff)
			}
			break
		}
	}
	out, err := git(ctx, m.Dir, nil, "diff-tree", "--root", "--no-commit-id", "--name-only", "-r", "-z", "--no-renames", sha)
	if err != nil {
		return nil, err
	}
	return splitZ(out), nil
}

// MergeBase returns the best common ancestor of a and b.
func (m *Mirror) MergeBase(ctx context.Context, a, b string) (string, error) {
	out, err := git(ctx, m.Dir, nil, "merge-base", a, b)
	if err != nil {
		if !m.has(ctx, a) || !m.has(ctx, b) || ctx.Err() == nil && isExit1(err) {
			return "", fmt.Errorf("gitrepo: merge base of %.12s and %.12s: %w", a, b, ErrUnknownDiff)
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Checkout writes a working copy of commit sha into dir (which must not exist
// or be empty): the files plus a shallow .git holding that one commit, with
// HEAD detached at it and origin pointing at cloneURL, as actions/checkout
// leaves a workspace with fetch-depth 1.
func (m *Mirror) Checkout(ctx context.Context, sha, dir, cloneURL string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	// The .git is written here from the mirror's batch reader (one
	// checkout process instead of seven: init, fetch with upload-pack,
	// pack-objects and index-pack, checkout, remote add).
	err := m.initShallow(ctx, sha, dir, cloneURL)
	if err == nil {
		_, err = git(ctx, dir, nil, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", sha)
		return err
	}
	if !errors.Is(err, errNoBatch) {
		return err
	}
	steps := [][]string{
		{"init", "--quiet"},
		// Objects kept as the one pack fetched rather than unpacked into a
		// file and a fan-out directory each (git does that below 100
		// objects): the same repository to git, a few files instead of
		// up to ~200 to copy into a sandbox (a microVM's guest pays per
		// file: bench/microvm -only firststep).
		{"-c", "fetch.unpackLimit=1", "fetch", "--quiet", "--no-tags", "--depth=1", "file://" + m.Dir, sha},
		{"-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", sha},
		{"remote", "add", "origin", cloneURL},
	}
	for i, args := range steps {
		if _, err := git(ctx, dir, nil, args...); err != nil {
			return err
		}
		if i == 0 {
			removeSampleHooks(dir)
		}
	}
	return nil
}

// removeSampleHooks deletes the inert example hooks `git init` copies
// from git's template directory (.git/hooks/*.sample: git never runs a
// hook with that suffix), leaving .git/hooks empty. They were a third of
// a small commit's workspace files and half its bytes, which a microVM's
// guest pays for per file and per byte (bench/microvm -only firststep).
func removeSampleHooks(dir string) {
	samples, _ := filepath.Glob(filepath.Join(dir, ".git", "hooks", "*.sample"))
	for _, p := range samples {
		os.Remove(p)
	}
}

// isExit1 reports whether err is git exiting with status 1 (merge-base: no
// common ancestor in the history held).
func isExit1(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == 1
}

func splitZ(out []byte) []string {
	var names []string
	for _, n := range bytes.Split(out, []byte{0}) {
		if len(n) > 0 {
			names = append(names, string(n))
		}
	}
	return names
}

// git runs git in dir and returns stdout; the error carries stderr.
func git(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	defer trace.Begin(ctx, "git "+subcommand(args))()
	cmd := Command(ctx, dir, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = errors.Join(err, ctxErr)
		}
		return nil, fmt.Errorf("git %s: %w: %s", subcommand(args), err, msg)
	}
	return stdout.Bytes(), nil
}

// subcommand is the git command args run, past any "-c name=value".
func subcommand(args []string) string {
	for len(args) > 2 && args[0] == "-c" {
		args = args[2:]
	}
	return args[0]
}

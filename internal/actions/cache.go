package actions

import (
	"archive/tar"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/runner"
)

// The native actions/cache: same inputs and outputs, entries kept under
// DataDir/caches, scoped like GitHub's: a run restores from its own ref, then
// the base branch (pull requests), then the default branch; it saves to its
// own ref.

type cacheReq struct {
	repo        string
	key         string
	paths       []string
	restoreKeys []string
	version     string
	scopes      []string
}

func (r *Executor) cacheRequest(j *runner.Job, with map[string]string, needKey bool) (*cacheReq, error) {
	q := &cacheReq{repo: j.Spec.Event.Repo, key: strings.TrimSpace(with["key"]), paths: lines(with["path"]),
		restoreKeys: lines(with["restore-keys"])}
	if q.key == "" && needKey {
		return nil, errors.New("Input required and not supplied: key")
	}
	if len(q.paths) == 0 {
		return nil, errors.New("Input required and not supplied: path")
	}
	if len(q.key) > 512 || strings.Contains(q.key, ",") {
		//lint:ignore ST1005 actions/cache's wording, shown in the step log
		return nil, fmt.Errorf("Key Validation Error: %s cannot be larger than 512 characters or contain commas.", q.key)
	}
	q.version = cacheVersion(q.paths)
	q.scopes = cacheScopes(j.Spec.Event)
	return q, nil
}

// cacheVersion is what a cache must match besides its key: its paths and
// the archive format (as GitHub's cache version).
func cacheVersion(paths []string) string {
	h := sha256.Sum256([]byte(strings.Join(paths, "|") + "|gzip|hookci-1"))
	return hex.EncodeToString(h[:])
}

// cacheScopes are the refs whose caches a run may restore, in order.
func cacheScopes(ev runner.EventInfo) []string {
	var out []string
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		if s != "" {
			out = append(out, s)
		}
	}
	add(ev.Ref)
	if ev.BaseRef != "" {
		add("refs/heads/" + strings.TrimPrefix(ev.BaseRef, "refs/heads/"))
	}
	var p struct {
		Repository struct {
			DefaultBranch string `json:"default_branch"`
		} `json:"repository"`
	}
	if json.Unmarshal(ev.Payload, &p) == nil && p.Repository.DefaultBranch != "" {
		add("refs/heads/" + p.Repository.DefaultBranch)
	}
	return out
}

// cacheBoth is actions/cache: restore now, save in a post step on a miss.
func (r *Executor) cacheBoth(ctx context.Context, j *runner.Job, idx, major int, with, env map[string]string) (runner.StepOutcome, error) {
	out, q, exact, err := r.restore(ctx, j, idx, with)
	if err != nil || out.Failed {
		return out, err
	}
	if exact {
		return out, nil
	}
	j.AddPost(runner.PostStep{Name: "Post Cache " + q.key, If: "success()", Run: func(ctx context.Context, pidx int) (runner.StepOutcome, error) {
		return runner.StepOutcome{}, r.save(ctx, j, pidx, q)
	}})
	return out, nil
}

// cacheRestore is actions/cache/restore.
func (r *Executor) cacheRestore(ctx context.Context, j *runner.Job, idx, major int, with, env map[string]string) (runner.StepOutcome, error) {
	out, _, _, err := r.restore(ctx, j, idx, with)
	return out, err
}

// cacheSave is actions/cache/save.
func (r *Executor) cacheSave(ctx context.Context, j *runner.Job, idx, major int, with, env map[string]string) (runner.StepOutcome, error) {
	q, err := r.cacheRequest(j, with, true)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	return runner.StepOutcome{}, r.save(ctx, j, idx, q)
}

func (r *Executor) restore(ctx context.Context, j *runner.Job, idx int, with map[string]string) (runner.StepOutcome, *cacheReq, bool, error) {
	q, err := r.cacheRequest(j, with, true)
	if err != nil {
		return runner.StepOutcome{}, nil, false, err
	}
	out := runner.StepOutcome{Outputs: map[string]string{"cache-hit": "false", "cache-primary-key": q.key, "cache-matched-key": ""}}
	m, exact, err := r.caches.lookup(ctx, q.repo, q.scopes, q.key, q.restoreKeys, q.version)
	if err != nil {
		return out, q, false, fmt.Errorf("looking up caches: %w", err)
	}
	r.observeCache(m != nil, exact)
	if m == nil {
		msg := "Cache not found for input keys: " + strings.Join(append([]string{q.key}, q.restoreKeys...), ", ")
		if boolInput(with, "fail-on-cache-miss", false) {
			return out, q, false, errors.New("Failed to restore cache entry. Exiting as fail-on-cache-miss is set. " + msg)
		}
		j.Log(idx, msg)
		return out, q, false, nil
	}
	out.Outputs["cache-matched-key"] = m.Key
	out.Outputs["cache-hit"] = strconv.FormatBool(exact)
	if boolInput(with, "lookup-only", false) {
		j.Log(idx, "Cache found and can be restored from key: "+m.Key)
		return out, q, exact, nil
	}
	if err := r.caches.touch(ctx, q.repo, m); err != nil {
		j.Log(idx, "##[warning]marking cache "+m.Key+" as used: "+err.Error())
	}
	t0 := time.Now()
	if err := r.restoreInto(ctx, j, q.repo, m); err != nil {
		return out, q, false, fmt.Errorf("restoring cache %s: %w", m.Key, err)
	}
	j.Log(idx, fmt.Sprintf("Cache restored from key: %s (%s, %s, scope %s)", m.Key, sizeString(m.Size), time.Since(t0).Round(time.Millisecond), m.Scope))
	return out, q, exact, nil
}

// restoreInto puts a cache's files back at their paths in the sandbox.
func (r *Executor) restoreInto(ctx context.Context, j *runner.Job, repo string, m *cacheMeta) error {
	f, err := r.caches.open(ctx, repo, m)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	targets := make([]string, len(m.Entries))
	for i, e := range m.Entries {
		p := entryPath(j, e)
		if !e.Dir {
			p = path.Dir(p)
		}
		targets[i] = strings.TrimPrefix(p, "/")
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := retarget(tr(zr), tw, targets)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	err = j.Guest.Client.PutFiles(ctx, "/", pr)
	pr.CloseWithError(err)
	return err
}

func tr(r io.Reader) *tar.Reader { return tar.NewReader(r) }

// retarget renames "<i>/<rest>" entries to "<targets[i]>/<rest>".
func retarget(in *tar.Reader, tw *tar.Writer, targets []string) error {
	for {
		h, err := in.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		num, rest, _ := strings.Cut(h.Name, "/")
		i, err := strconv.Atoi(num)
		if err != nil || i < 0 || i >= len(targets) {
			return fmt.Errorf("cache archive: bad entry %q", h.Name)
		}
		h.Name = path.Join(targets[i], rest)
		if strings.HasSuffix(rest, "/") {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, in); err != nil {
			return err
		}
	}
}

// entryPath is the absolute path of a cache entry in this sandbox.
func entryPath(j *runner.Job, e cacheEntry) string {
	switch e.Root {
	case "workspace":
		return path.Join(j.Guest.Layout.Workspace, e.Rel)
	case "home":
		return path.Join(j.Guest.Layout.Home, e.Rel)
	}
	return path.Join("/", e.Rel)
}

// toEntry records p relative to the workspace or home where it lies there.
func toEntry(j *runner.Job, p string, dir bool) cacheEntry {
	for _, root := range []struct{ name, dir string }{{"workspace", j.Guest.Layout.Workspace}, {"home", j.Guest.Layout.Home}} {
		if p == root.dir || strings.HasPrefix(p, root.dir+"/") {
			return cacheEntry{Root: root.name, Rel: strings.TrimPrefix(strings.TrimPrefix(p, root.dir), "/"), Dir: dir}
		}
	}
	return cacheEntry{Rel: strings.TrimPrefix(p, "/"), Dir: dir}
}

// save archives the cache's paths from the sandbox under q.key in the run's scope.
func (r *Executor) save(ctx context.Context, j *runner.Job, idx int, q *cacheReq) error {
	paths, err := expand(ctx, j, q.paths, true)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		j.Log(idx, "##[warning]Path Validation Error: Path(s) specified in the action for caching do(es) not exist, hence no cache is being saved.")
		return nil
	}
	dirs, err := isDirs(ctx, j, paths)
	if err != nil {
		return err
	}
	m := &cacheMeta{Key: q.key, Version: q.version, Scope: cmp.Or(j.Spec.Event.Ref, "refs/heads/main")}
	for i, p := range paths {
		m.Entries = append(m.Entries, toEntry(j, p, dirs[i]))
	}
	t0 := time.Now()
	err = r.caches.save(ctx, q.repo, m, func(w io.Writer) error {
		tw := tar.NewWriter(w)
		for i, p := range paths {
			rc, err := j.Guest.Client.GetFiles(ctx, p)
			if err != nil {
				return err
			}
			err = prefixTar(tw, rc, strconv.Itoa(i)+"/", nil)
			rc.Close()
			if err != nil {
				return err
			}
		}
		return tw.Close()
	})
	if errors.Is(err, errCacheExists) {
		j.Log(idx, "##[warning]Failed to save: Unable to reserve cache with key "+q.key+", another job may be creating this cache.")
		return nil
	}
	if err != nil {
		return fmt.Errorf("saving cache %s: %w", q.key, err)
	}
	j.Log(idx, fmt.Sprintf("Cache saved with key: %s (%s, %s)", q.key, sizeString(m.Size), time.Since(t0).Round(time.Millisecond)))
	evicted, err := r.caches.evict(ctx, q.repo, m)
	for _, e := range evicted {
		j.Log(idx, fmt.Sprintf("Evicted cache %s (%s, scope %s): %s's caches exceed %s, and it was used least recently",
			e.Key, sizeString(e.Size), e.Scope, q.repo, sizeString(r.caches.limit)))
	}
	if err != nil {
		j.Log(idx, "##[warning]evicting old caches: "+err.Error())
	}
	return nil
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

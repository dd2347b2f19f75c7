package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/sandbox/backends"
	"github.com/hookci/hookci/internal/web"
	"github.com/hookci/hookci/internal/workflow"
)

// The adapters that feed the dashboard (internal/web declares what it needs;
// these give it the server's sandboxes, GitHub client and workflow files).

// dashboardSandboxes is backends.Set as web.Sandboxes.
type dashboardSandboxes struct{ set *backends.Set }

func (d dashboardSandboxes) Snapshot() web.SandboxSnapshot {
	s := d.set.Snapshot()
	out := web.SandboxSnapshot{Default: s.Default}
	for _, b := range s.Backends {
		out.Backends = append(out.Backends, web.BackendState{Name: b.Name, Running: b.Running, Warm: b.Warm, Max: b.Max,
			MemoryMiB: b.MemoryMiB, Error: b.Error})
	}
	for _, l := range s.Live {
		out.Live = append(out.Live, web.LiveSandbox{ID: l.ID, JobID: l.JobID, Backend: l.Backend, Started: l.Started, MemoryMiB: l.MemoryMiB})
	}
	return out
}

func (d dashboardSandboxes) Stop(jobID int64) error { return d.set.Stop(jobID) }

// dashboardGitHub asks GitHub for the server's core rate limit (GET /rate_limit,
// which does not count against it).
type dashboardGitHub struct{ gh *github.Client }

func (d dashboardGitHub) RateLimit(ctx context.Context) (web.RateLimit, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rl, _, err := d.gh.REST().RateLimit.Get(ctx)
	if err != nil {
		return web.RateLimit{}, err
	}
	if rl == nil || rl.Core == nil {
		return web.RateLimit{}, errors.New("GitHub answered /rate_limit without a core limit")
	}
	return web.RateLimit{Remaining: rl.Core.Remaining, Limit: rl.Core.Limit, Reset: rl.Core.Reset.Time}, nil
}

// dashboardGraph reads a run's workflow file at its commit from the
// planning mirror for the run page's job graph; parsed graphs are kept
// (a file at a commit never changes).
type dashboardGraph struct {
	git *gitrepo.Cache

	mu    sync.Mutex
	cache map[string]map[string][]string
}

func (d *dashboardGraph) Needs(ctx context.Context, repo, sha, file string) (map[string][]string, error) {
	key := repo + "@" + sha + ":" + file
	d.mu.Lock()
	n, ok := d.cache[key]
	d.mu.Unlock()
	if ok {
		return n, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := d.git.Fetch(ctx, repo, sha)
	if err != nil {
		return nil, err
	}
	src, err := m.ReadFile(ctx, sha, file)
	if err != nil {
		return nil, err
	}
	wf, err := workflow.Load(file, src)
	if err != nil {
		return nil, err
	}
	n = map[string][]string{}
	for _, j := range wf.Jobs {
		var needs []string
		for _, x := range j.Needs {
			needs = append(needs, strings.ToLower(x))
		}
		n[strings.ToLower(j.ID)] = needs
	}
	d.mu.Lock()
	if d.cache == nil || len(d.cache) >= 256 {
		d.cache = map[string]map[string][]string{}
	}
	d.cache[key] = n
	d.mu.Unlock()
	return n, nil
}

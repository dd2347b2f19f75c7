// Package actions runs `uses:` steps: resolution of local, remote and
// docker:// actions, composite and JavaScript actions, and the built-ins
// that need no network (checkout, cache, artifacts, setup-*), plus an
// opt-in LLM translation of actions that cannot run here.
package actions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync"

	"github.com/hookci/hookci/internal/artifact"
	"github.com/hookci/hookci/internal/blob"
	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/workflow"
)

// Config wires the action runner.
type Config struct {
	// Git fetches remote actions (and other repositories for checkout).
	Git *gitrepo.Cache
	// DataDir is where actions are kept (and caches and artifacts when
	// Blobs is nil).
	DataDir string
	// Blobs keeps caches and artifacts (under "caches/" and "artifacts/");
	// nil is DataDir on this host. An S3 store shares them between hosts.
	Blobs blob.Store
	// ToolCache is the host directory of tools for setup-* (shown read-only to sandboxes).
	ToolCache string
	Logger    *slog.Logger
	// CacheRepoBytes caps one repository's actions/cache entries; past it
	// the least recently used go (0: GitHub's 10 GB).
	CacheRepoBytes int64
	// Dist are the distribution indexes setup-* download from.
	Dist DistURLs
	// LLM, when its Kind is set, translates actions that cannot run here
	// (docker actions) into a bash script. Off by default.
	LLM LLMConfig
}

// Executor runs uses: steps; it implements runner.ActionExecutor.
type Executor struct {
	cfg       Config
	artifacts *artifact.Store
	caches    *cacheStore
	onCache   func(result string) // ObserveCache (observe.go)
	dl        sync.Mutex          // one tool download at a time
}

// maxDepth bounds nested composite actions (GitHub allows 10 levels).
const maxDepth = 10

// NewExecutor returns an Executor.
func NewExecutor(cfg Config) (*Executor, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("actions: DataDir is required")
	}
	if err := cfg.LLM.validate(); err != nil {
		return nil, err
	}
	r := &Executor{cfg: cfg}
	blobs := cfg.Blobs
	if blobs == nil {
		blobs = blob.NewDir(cfg.DataDir)
	}
	r.artifacts = artifact.New(blob.Sub(blobs, "artifacts"))
	r.caches = &cacheStore{b: blob.Sub(blobs, "caches"), limit: cmp.Or(cfg.CacheRepoBytes, defaultCacheRepoBytes)}
	return r, nil
}

// Artifacts is the store of uploaded artifacts (for the web download route).
func (r *Executor) Artifacts() *artifact.Store { return r.artifacts }

// RunAction runs one uses: step.
func (r *Executor) RunAction(ctx context.Context, j *runner.Job, step *workflow.Step, with, env map[string]string) (runner.StepOutcome, error) {
	return r.run(ctx, j, j.StepIndex(), step.Uses, with, env, 0)
}

// run runs the action uses as (part of) step idx, depth levels of composite deep.
func (r *Executor) run(ctx context.Context, j *runner.Job, idx int, uses string, with, env map[string]string, depth int) (runner.StepOutcome, error) {
	if depth > maxDepth {
		return runner.StepOutcome{}, fmt.Errorf("composite actions are nested more than %d levels deep at %s", maxDepth, uses)
	}
	ref, err := ParseRef(uses)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	if b := builtin(ref); b != nil {
		return b(r, ctx, j, idx, refMajor(ref.Ref), with, env)
	}
	if ref.Kind == RefDocker {
		return j.RunDockerStep(ctx, idx, uses, with, env) // runner/dockerstep.go
	}
	act, err := r.load(ctx, j, ref)
	if err != nil {
		return runner.StepOutcome{}, err
	}
	inputs := r.inputs(j, idx, act, with, env)
	switch u := act.meta.Runs.Using; {
	case u == "composite":
		return r.runComposite(ctx, j, idx, act, inputs, env, depth)
	case isNode(u):
		return r.runNode(ctx, j, idx, act, inputs, env)
	default:
		return r.runDocker(ctx, j, idx, act, inputs, env)
	}
}

// action is a loaded action, its files present in the sandbox.
type action struct {
	ref  Ref
	meta *Metadata
	dir  string // GITHUB_ACTION_PATH, in the sandbox
	sha  string // remote actions
}

// repository and refName are github.action_repository and github.action_ref.
func (a *action) repository() string {
	if a.ref.Kind == RefRemote {
		return a.ref.FullName()
	}
	return ""
}

func (a *action) refName() string {
	if a.ref.Kind == RefRemote {
		return a.ref.Ref
	}
	return ""
}

// load finds the action's metadata and makes its files available in the sandbox.
func (r *Executor) load(ctx context.Context, j *runner.Job, ref Ref) (*action, error) {
	if ref.Kind == RefLocal {
		dir := path.Join(j.Guest.Layout.Workspace, ref.Path)
		meta, err := r.readMeta(func(name string) ([]byte, error) {
			return j.Guest.Client.ReadFile(ctx, path.Join(dir, name))
		}, ref.Path)
		if err != nil {
			return nil, err
		}
		return &action{ref: ref, meta: meta, dir: dir}, nil
	}
	ra, err := r.fetchRemote(ctx, ref, actionToken(j.Spec.Event, ref.Owner))
	if err != nil {
		return nil, err
	}
	meta, err := r.readMeta(func(name string) ([]byte, error) {
		return readTreeFile(ra.Dir, path.Join(cmp.Or(ref.Path, "."), name))
	}, ref.Raw)
	if err != nil {
		return nil, err
	}
	root := path.Join(j.Guest.Layout.Temp, "_actions", ref.Owner, ref.Repo, ra.SHA)
	if err := putTree(ctx, j, ra.Dir, root); err != nil {
		return nil, err
	}
	return &action{ref: ref, meta: meta, dir: path.Join(root, ref.Path), sha: ra.SHA}, nil
}

// readMeta reads action.yml (or action.yaml) through read.
func (r *Executor) readMeta(read func(name string) ([]byte, error), where string) (*Metadata, error) {
	for _, name := range []string{"action.yml", "action.yaml"} {
		data, err := read(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s of %s: %w", name, where, err)
		}
		return ParseMetadata(strings.TrimSuffix(where, "/")+"/"+name, data)
	}
	if _, err := read("Dockerfile"); err == nil {
		return &Metadata{File: where + "/Dockerfile", Name: where, Runs: Runs{Using: "docker", Image: "Dockerfile"}}, nil
	}
	if !strings.HasPrefix(where, ".") {
		//lint:ignore ST1005 the GitHub runner's wording, shown in the step log
		return nil, fmt.Errorf("Can't find 'action.yml', 'action.yaml' or 'Dockerfile' for action '%s'.", where)
	}
	//lint:ignore ST1005 the GitHub runner's wording, shown in the step log
	return nil, fmt.Errorf("Can't find 'action.yml', 'action.yaml' or 'Dockerfile' under '%s'. Did you forget to run actions/checkout before running your local action?", where)
}

// actionEnv adds the GITHUB_ACTION_* variables of act to env (a copy).
func actionEnv(env map[string]string, act *action) map[string]string {
	out := make(map[string]string, len(env)+3)
	for k, v := range env {
		out[k] = v
	}
	out["GITHUB_ACTION_PATH"] = act.dir
	out["GITHUB_ACTION_REPOSITORY"] = act.repository()
	out["GITHUB_ACTION_REF"] = act.refName()
	return out
}

// DistURLs are the distribution indexes setup-go, setup-node and
// setup-python download from (empty: the official ones).
type DistURLs struct {
	Go     string // serves ?mode=json&include=all and the archives (https://go.dev/dl/)
	Node   string // serves index.json and v<version>/ archives (https://nodejs.org/dist/)
	Python string // actions/python-versions' versions-manifest.json
}

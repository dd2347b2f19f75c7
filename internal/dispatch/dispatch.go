// Package dispatch owns the path from a stored delivery to finished jobs: it
// plans a delivery into runs (the repository mirror at the exact commit, the
// workflows there, trigger matching against the real diff), activates jobs
// as their needs finish (job-level if, matrix expansion, fail-fast), runs
// each job leg in a fresh sandbox through the runner, and concludes runs.
// Every state change commits together with the queue work it implies.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/trace"
	"github.com/hookci/hookci/internal/workflow"
)

// Config wires a Dispatcher.
type Config struct {
	Store *store.Store
	Git   *gitrepo.Cache
	// Choose picks the sandbox for a job's runs-on labels and origin
	// (repository, fork or not): how to start it and what was chosen
	// (backend, size, network), or why the job may not run there.
	Choose func(labels []string, o sandbox.Origin) (sandbox.StartFunc, sandbox.Choice, error)
	// ServerURL, APIURL and GraphQLURL fill the github context.
	ServerURL, APIURL, GraphQLURL string
	Vars                          map[string]string
	// Secrets returns the secrets context of a repository (nil: none).
	Secrets func(repo string) map[string]string
	// Tokens mints each job's GITHUB_TOKEN (limited to the job's repository
	// and permissions:) and revokes it when the job ends; nil: no token.
	Tokens JobTokens
	// PermissiveDefault gives a workflow without permissions: write on every
	// scope (GitHub's "permissive" setting) instead of the restricted
	// default (contents and packages read).
	PermissiveDefault bool
	// MaxJobsPerRun caps the jobs of one run, matrix legs included
	// (0: DefaultMaxJobsPerRun).
	MaxJobsPerRun int
	// Actions runs uses: steps beyond the built-ins (nil: those steps fail).
	Actions runner.ActionExecutor
	// WorkspaceDiskBytes: a checkout at least this big goes into a microVM
	// as a disk instead of a tar (0: always a tar).
	WorkspaceDiskBytes int64
	// ToolCache is a host directory shown read-only to sandboxes.
	ToolCache string
	// OnlyWorkflows, when set, plans only these workflow files (paths in the
	// repository, e.g. .github/workflows/ci.yml) — hookci run --workflow.
	OnlyWorkflows []string
	// OnlyJob, when set, plans only that job and the jobs it needs (hookci run --job).
	OnlyJob string
	// ExtraEnv is added to every job's environment, below the workflow's env.
	ExtraEnv map[string]string
	// Limits bound each job's stored log, summaries and outputs (zero: defaults).
	Limits runner.Limits
	// Images pulls the images of container:, services: and docker steps
	// (internal/oci); nil: jobs that need one fail saying so.
	Images runner.ImageSource
	// Builds builds Dockerfile actions' images (nil: such actions fail).
	Builds runner.ImageBuilder
	// PublicURL is hookci's own address: workflow_run payloads link runs
	// to their page there ("" : GitHub-shaped links under ServerURL).
	PublicURL string
	// WorkflowRunEvents makes runs send workflow_run events (serve; hookci
	// run plans only the event it was given).
	WorkflowRunEvents bool
	// NoSchedules leaves repositories' schedules, workflow_run listeners and
	// activity (the 60-day rule's pushes) unread and unrecorded: hookci run
	// has no scheduler.
	NoSchedules bool
	// Now is the scheduler's clock (nil: the wall clock); tests set it.
	Now func() time.Time
	// AppID is hookci's GitHub App (0 in token mode): check runs and
	// suites of this App never start workflows.
	AppID int64
	// RunOutputBytes caps the total of all job outputs of one run
	// (0: DefaultRunOutputBytes, GitHub's 50 MB).
	RunOutputBytes int64
	// RepoAccess reads a repository's visibility and Actions access setting
	// from GitHub, for reusable workflows of other private repositories
	// (nil: those are refused).
	RepoAccess func(ctx context.Context, repo string) (RepoAccess, error)
	// Observe is told about finished jobs and runs (metrics); may be nil.
	Observe Observer
	Logger  *slog.Logger
}

// Observer receives figures for metrics.
type Observer interface {
	JobFinished(conclusion string, seconds float64)
	RunFinished(conclusion string)
	// DeliveryFailed counts a delivery that ended failed (reason is one of
	// store.FailureReasons).
	DeliveryFailed(reason string)
	// JobQueued observes how long a job that needs no other job waited
	// from its webhook's receipt to its start (first attempts only).
	JobQueued(backend string, wait time.Duration)
	// SandboxStarted observes one sandbox start (err: it failed).
	SandboxStarted(backend string, took time.Duration, err error)
	// InfrastructureFailure counts a job attempt lost to the
	// infrastructure; retried: the job is tried again on a fresh sandbox.
	InfrastructureFailure(backend string, retried bool)
}

// Dispatcher plans deliveries and runs jobs. Its methods are the queue's handlers.
type Dispatcher struct {
	cfg   Config
	log   *slog.Logger
	bg    sync.WaitGroup // background work (workspace exports) to wait for at shutdown
	lease leaseWatch     // stops jobs this host must not go on running (lease.go)
	// wsSizes: each repository's last workspace tar size (wsdisk.go).
	wsSizes workspaceSizes
	// placing serialises, in this process, the fair-share check and the
	// job's start it allows (placement.go: holdPlacement).
	placing sync.Mutex
	// prefetching bounds the intake's prefetches in flight (Prefetch).
	prefetching chan struct{}

	mu        sync.Mutex // guards the fields below
	running   map[int64]context.CancelCauseFunc
	workflows map[string]*workflow.Workflow // parsed workflow files by repo@sha:path
	// callAccess remembers per run and repository whether a reusable
	// workflow there is read with the server's credential (call_access.go).
	callAccess map[string]bool
}

// New returns a Dispatcher.
func New(cfg Config) *Dispatcher {
	d := &Dispatcher{cfg: cfg, log: cfg.Logger, running: map[int64]context.CancelCauseFunc{},
		workflows: map[string]*workflow.Workflow{}, callAccess: map[string]bool{}, prefetching: make(chan struct{}, maxPrefetches)}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d
}

// Wait waits for background work started by planning (call after the queue stopped).
func (d *Dispatcher) Wait() { d.bg.Wait() }

// Handlers returns the queue handlers backed by d (report may be nil).
func (d *Dispatcher) Handlers(report func(ctx context.Context, runID int64) error) store.Handlers {
	return store.Handlers{Delivery: d.PlanDelivery, Job: d.RunJob, Report: d.withWorkflowRunEvents(report), DeliveryFailed: d.deliveryFailed}
}

// errCancelled is the cause given to a job cancelled by fail-fast or by a user.
var errCancelled = fmt.Errorf("job cancelled")

// errJobDone stops RunJob for a job that completed (was cancelled) after it
// was loaded.
var errJobDone = fmt.Errorf("job already completed")

// loadWorkflow reads and parses a workflow file at a commit, once: the file
// at a commit never changes, and the parsed model is only read.
func (d *Dispatcher) loadWorkflow(ctx context.Context, m *gitrepo.Mirror, sha, file string) (*workflow.Workflow, error) {
	key := m.Repo + "@" + sha + ":" + file
	d.mu.Lock()
	wf, ok := d.workflows[key]
	d.mu.Unlock()
	if ok {
		return wf, nil
	}
	src, err := m.ReadFile(ctx, sha, file)
	if err != nil {
		return nil, err
	}
	if err := workflowSizeOK(file, src); err != nil {
		return nil, err
	}
	endLoad := trace.Begin(ctx, "workflow load (parse, check)")
	wf, err = workflow.Load(file, src)
	endLoad()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if len(d.workflows) >= 512 {
		d.workflows = map[string]*workflow.Workflow{}
	}
	d.workflows[key] = wf
	d.mu.Unlock()
	return wf, nil
}

// cancelRunning cancels a job running in this process, if it is.
func (d *Dispatcher) cancelRunning(jobID int64) {
	d.mu.Lock()
	cancel := d.running[jobID]
	d.mu.Unlock()
	if cancel != nil {
		cancel(errCancelled)
	}
}

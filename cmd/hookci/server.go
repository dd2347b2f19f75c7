package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/actions"
	"github.com/hookci/hookci/internal/blob"
	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/dispatch"
	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/report"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/sandbox/backends"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/trace"
	"github.com/hookci/hookci/internal/web"
	"github.com/hookci/hookci/internal/webhook"
)

// server is hookci assembled: store, queue, dispatcher, reporter, HTTP.
type server struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.Store
	disp     *dispatch.Dispatcher
	git      *gitrepo.Cache
	reporter *report.Reporter
	handler  http.Handler
	web      *web.Server
	reapers  []func(context.Context) error
	gh       *github.Client
	acts     *actions.Executor
	closers  []func() // run at close, after the queue stopped
	sched    bool     // run the scheduler (serverOptions.scheduler)
	scratch  bool     // serverOptions.scratch
	metrics  *web.Metrics
}

// serverOptions are what hookci run sets beyond the config.
type serverOptions struct {
	onlyJob       string
	onlyWorkflows []string
	// scheduler runs on.schedule workflows and sends workflow_run events
	// (serve; not hookci run).
	scheduler bool
	// observe, when set, wraps what the dispatcher tells about jobs and
	// runs.
	observe func(dispatch.Observer) dispatch.Observer
	// scratch: the data directory is new and thrown away at exit (hookci
	// run without --data-dir): no caches, artifacts or images to prune.
	scratch bool
	// noListen: nothing will listen (hookci run), so the webhook intake,
	// the dashboard, the API and the session key are not made (~3 ms).
	noListen bool
}

// newServer wires everything but does not start the queue or listen.
func newServer(ctx context.Context, cfg config.Config, log *slog.Logger, opts serverOptions) (*server, error) {
	endOpen := trace.Begin(ctx, "store open (incl. migrations)")
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "db"), store.Options{MaxJobs: cfg.MaxJobs, Logger: log, Sync: cfg.SQLiteSync, Scratch: opts.scratch,
		DatabaseURL: cfg.DatabaseURL, Lease: time.Duration(cfg.Lease), Host: hostInfo(cfg),
		PlanRetry: store.RetryPolicy{Min: time.Duration(cfg.PlanRetryMin), Max: time.Duration(cfg.PlanRetryMax),
			Budget: time.Duration(cfg.PlanRetryBudget)}})
	endOpen()
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: log, store: st}
	metrics := web.NewMetrics(st.QueueDepth)
	s.metrics = metrics
	var gh *github.Client
	if cfg.GitHubToken != "" || cfg.GitHubAppID != 0 {
		ghc := github.Config{APIURL: cfg.GitHubAPIURL, Token: cfg.GitHubToken, AppID: cfg.GitHubAppID, Logger: log,
			HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: metrics.RoundTripper(http.DefaultTransport)}}
		if cfg.GitHubAppKeyFile != "" {
			if ghc.AppKeyPEM, err = os.ReadFile(cfg.GitHubAppKeyFile); err != nil {
				st.Close()
				return nil, fmt.Errorf("GitHub App key: %w", err)
			}
		}
		if gh, err = github.New(ghc); err != nil {
			st.Close()
			return nil, err
		}
		s.reporter = report.New(gh, st, cfg.PublicURL, log)
		s.gh = gh
	} else {
		log.Warn("no HOOKCI_GITHUB_TOKEN or GitHub App configured: results are not reported to GitHub")
	}
	gitToken := func(ctx context.Context, repo string) (string, error) {
		if gh == nil {
			return "", nil
		}
		owner, name, _ := strings.Cut(repo, "/")
		return gh.GitToken(ctx, github.Repo{Owner: owner, Name: name})
	}
	// Caches and artifacts: the data directory, or a bucket hosts share
	// ([blobs]); a setting that cannot work stops the start here.
	blobs, err := blob.Open(ctx, blob.Options{URL: cfg.Blobs.URL, DataDir: cfg.DataDir, AccessKeyID: cfg.Blobs.AccessKeyID,
		SecretAccessKey: cfg.Blobs.SecretAccessKey, Region: cfg.Blobs.Region, Getenv: os.Getenv})
	if err != nil {
		st.Close()
		return nil, err
	}
	log.Info("caches and artifacts", "store", blobs.String())
	endSandboxes := trace.Begin(ctx, "sandbox backends")
	sandboxes, err := backends.Open(ctx, cfg, log)
	endSandboxes()
	if err != nil {
		st.Close()
		return nil, err
	}
	s.closers = append(s.closers, sandboxes.Close)
	s.reapers = append(s.reapers, sandboxes.Reap)
	s.git = gitrepo.New(filepath.Join(cfg.DataDir, "git"), cfg.GitURL, gitToken)
	s.git.ObserveFetch(metrics.GitFetched)
	acts, err := actions.NewExecutor(actions.Config{Git: s.git, DataDir: cfg.DataDir, ToolCache: cfg.ToolCache, Logger: log, Blobs: blobs,
		CacheRepoBytes: int64(cfg.CacheRepoGiB) << 30,
		Dist:           actions.DistURLs{Go: cfg.GoDistURL, Node: cfg.NodeDistURL, Python: cfg.PythonManifestURL},
		LLM:            actions.LLMConfig{Kind: cfg.LLM.Kind, URL: cfg.LLM.URL, Model: cfg.LLM.Model, APIKey: cfg.LLM.APIKey}})
	if err != nil {
		st.Close()
		return nil, err
	}
	acts.ObserveCache(metrics.CacheLookup)
	var observe dispatch.Observer = metrics
	if opts.observe != nil {
		observe = opts.observe(metrics)
	}
	endImages := trace.Begin(ctx, "image store")
	images, builds, err := imageSource(cfg, log) // images.go
	endImages()
	if err != nil {
		st.Close()
		return nil, err
	}
	s.disp = dispatch.New(dispatch.Config{
		Store: st, Git: s.git, Choose: sandboxes.Choose, OnlyJob: opts.onlyJob, OnlyWorkflows: opts.onlyWorkflows, ExtraEnv: cfg.Env,
		ServerURL: serverURL(cfg.GitURL), APIURL: strings.TrimRight(cfg.GitHubAPIURL, "/"),
		GraphQLURL: strings.TrimRight(cfg.GitHubAPIURL, "/") + "/graphql",
		Vars:       cfg.Vars, Secrets: cfg.SecretsFor, Observe: observe, Logger: log, Actions: acts, ToolCache: cfg.ToolCache,
		WorkspaceDiskBytes: int64(cfg.WorkspaceDiskMiB) << 20,
		Limits:             runner.Limits{StepLogBytes: int64(cfg.LogStepMiB) << 20, JobLogBytes: int64(cfg.LogJobMiB) << 20},
		Tokens:             newJobTokens(gh, cfg, log),
		PermissiveDefault:  cfg.DefaultWorkflowPermissions == "permissive", MaxJobsPerRun: cfg.MaxJobsPerRun,
		AppID: cfg.GitHubAppID, WorkflowRunEvents: opts.scheduler, NoSchedules: !opts.scheduler, PublicURL: cfg.PublicURL,
		RepoAccess: repoAccess(gh),
		Images:     images, Builds: builds,
	})
	s.sched = opts.scheduler
	s.scratch = opts.scratch
	s.acts = acts
	if opts.noListen {
		return s, nil
	}
	endWeb := trace.Begin(ctx, "web handler (session key, dashboard, metrics)")
	defer endWeb()
	prefetch := func(d store.Delivery) { s.disp.Prefetch(ctx, d) } // planning's fetch, started at intake
	hook := webhook.New(cfg.WebhookSecret, st, webhook.Options{Logger: log, Observe: metrics.Delivery, Allowed: cfg.WebhooksAllowed, Accepted: prefetch,
		MaxConcurrent: cfg.IntakeConcurrency, MaxLarge: cfg.IntakeLargeConcurrency, MaxPending: int64(cfg.IntakePendingMiB) << 20, ReplayWindow: replayWindow(cfg)})
	sessionKey, err := web.LoadSessionKey(cfg.DataDir)
	if err != nil {
		st.Close()
		return nil, err
	}
	dash := dashboardSandboxes{sandboxes}
	if err := web.RegisterSandboxGauges(metrics, dash); err != nil {
		log.Warn("sandbox gauges", "err", err)
	}
	if err := web.RegisterHostGauges(metrics, st); err != nil {
		log.Warn("host gauges", "err", err)
	}
	wopts := webAuth(cfg, sessionKey)
	wopts.Logger, wopts.Artifacts = log, web.ArtifactsHandler(acts.Artifacts())
	if gh != nil {
		wopts.GitHubHealth = web.CachedGitHubStatus(dashboardGitHub{gh}, 30*time.Second)
		if gh.IsApp() {
			wopts.Redeliver = appRedeliver(gh) // redeliver.go
		}
	}
	wopts.Sandboxes, wopts.Graph = dash, &dashboardGraph{git: s.git}
	wopts.Controls, wopts.Served = s.disp, cfg.WebhooksAllowed
	s.web = web.New(st, metrics, wopts)
	s.handler = s.web.Handler(hook)
	return s, nil
}

// hostInfo is this host's entry in the host registry: its name, its
// default backend and architecture, the runs-on labels it serves (those of
// the config whose backend can be made here: placement sends a job only to
// hosts serving all its labels, dispatch/placement.go), its job slots.
func hostInfo(cfg config.Config) store.HostInfo {
	name, _ := os.Hostname()
	labels := []string{"sandbox:" + cfg.Sandbox, "arch:" + runtime.GOARCH}
	works := map[string]bool{}
	for l, lc := range cfg.Labels {
		b := lc.Backend
		if b != "" && b != "auto" && b != cfg.Sandbox {
			if _, ok := works[b]; !ok {
				works[b] = backends.Available(cfg, b) == nil
			}
			if !works[b] {
				continue
			}
		}
		labels = append(labels, l)
	}
	slices.Sort(labels[2:])
	return store.HostInfo{Name: name, Labels: labels, MaxJobs: cfg.MaxJobs}
}

// replayWindow is the configured window; 0 turns replay detection off.
func replayWindow(cfg config.Config) time.Duration {
	if cfg.ReplayWindow <= 0 {
		return -1
	}
	return time.Duration(cfg.ReplayWindow)
}

func serverURL(gitURL string) string {
	if strings.HasPrefix(gitURL, "http") {
		return strings.TrimRight(gitURL, "/")
	}
	return "https://github.com"
}

// start reaps leftovers of a crashed predecessor and starts the queue.
func (s *server) start(ctx context.Context) error {
	for _, reap := range s.reapers {
		if err := reap(ctx); err != nil {
			s.log.Warn("reaping sandboxes left by an earlier process", "err", err)
		}
	}
	var rep func(context.Context, int64) error
	if s.reporter != nil {
		rep = s.reporter.Report
	}
	if err := s.store.StartQueue(ctx, s.disp.Handlers(rep)); err != nil {
		return err
	}
	if every := time.Duration(s.cfg.ReconcileInterval); every > 0 && s.gh != nil {
		go s.reconcileLoop(ctx, every)
	}
	if !s.scratch {
		go s.pruneLoop(ctx)
	}
	if s.sched {
		go s.scheduleLoop(ctx)
	}
	return nil
}

// scheduleLoop re-reads the schedules of known repositories whose default
// branch moved while hookci was down, then fires due schedules every 20
// seconds (each at most once, whatever the number of hosts).
func (s *server) scheduleLoop(ctx context.Context) {
	if err := s.disp.RefreshSchedules(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("scheduler: re-reading schedules", "err", err)
	}
	s.disp.RunScheduler(ctx, 20*time.Second)
}

// pruneLoop removes expired caches and artifacts at start and then daily.
// The blob store's pass is claimed per store: hosts sharing an S3 bucket
// prune it once a day between them, a host's own directory store is its
// own. Pulled images are per host.
func (s *server) pruneLoop(ctx context.Context) {
	const every = 24 * time.Hour
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.pruneBlobs(ctx, every)
		s.pruneImages(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneBlobs runs the caches' and artifacts' prune when this host wins the
// period's claim for its blob store.
func (s *server) pruneBlobs(ctx context.Context, every time.Duration) {
	scope := "prune " + s.store.HostID() + " " + s.cfg.DataDir // a directory store: this host's
	if u := s.cfg.Blobs.URL; strings.HasPrefix(u, "s3://") {
		scope = "prune " + u // one bucket (and prefix) shared by every host naming it
	}
	if mine, err := s.store.Claim(ctx, scope, every); err != nil || !mine {
		if err != nil {
			s.log.Warn("pruning caches and artifacts", "err", err)
		}
		return
	}
	if err := s.acts.Prune(time.Now()); err != nil {
		s.log.Warn("pruning caches and artifacts", "err", err)
		return
	}
	s.log.Info("pruned caches and artifacts", "store", cmp.Or(s.cfg.Blobs.URL, s.cfg.DataDir))
}

// pruneImages bounds the pulled-image cache (image_cache_gib,
// image_cache_max_age); images pulled within the last day are kept.
func (s *server) pruneImages(ctx context.Context) {
	st, err := oci.Open(s.cfg.DataDir, s.cfg.Registries, oci.WithLogger(s.log))
	if err == nil {
		_, err = st.Prune(ctx, oci.PruneOptions{MaxBytes: int64(s.cfg.ImageCacheGiB) << 30,
			MaxAge: time.Duration(s.cfg.ImageCacheMaxAge)})
	}
	if err != nil {
		s.log.Warn("pruning pulled images", "err", err)
	}
}

// reconcileLoop runs the missed-delivery reconciler every interval over the
// allowed repositories named in the config and those deliveries came from.
func (s *server) reconcileLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Hosts sharing a database take turns: one reconciles per interval.
		if mine, err := s.store.Claim(ctx, "reconcile", every); err != nil || !mine {
			if err != nil {
				s.log.Warn("reconciler", "err", err)
			}
			continue
		}
		s.log.Info("reconciler pass") // one host's per interval, whatever the number of hosts
		repos := map[string]bool{}
		for _, a := range s.cfg.Allow {
			if strings.Contains(a, "/") {
				repos[a] = true
			}
		}
		seen, err := s.store.Queries().DeliveryRepos(ctx)
		if err != nil {
			s.log.Warn("reconciler", "err", err)
			continue
		}
		for _, r := range seen {
			if s.cfg.WebhooksAllowed(r) {
				repos[r] = true
			}
		}
		list := make([]string, 0, len(repos))
		for r := range repos {
			list = append(list, r)
		}
		n, err := s.disp.Reconcile(ctx, githubHeads{s.gh}, list)
		s.metrics.Reconciled(n)
		if err != nil {
			s.log.Warn("reconciler", "err", err, "started", n)
		} else if n > 0 {
			s.log.Info("reconciler started missed events", "count", n)
		}
	}
}

// githubHeads adapts the GitHub client to the reconciler (dispatch.HeadsSource).
type githubHeads struct{ gh *github.Client }

func splitRepo(full string) github.Repo {
	owner, name, _ := strings.Cut(full, "/")
	return github.Repo{Owner: owner, Name: name}
}

func (f githubHeads) BranchHeads(ctx context.Context, repo string) (map[string]string, error) {
	return f.gh.BranchHeads(ctx, splitRepo(repo))
}

func (f githubHeads) OpenPullRequests(ctx context.Context, repo string) ([]dispatch.PullHead, error) {
	prs, err := f.gh.OpenPullRequests(ctx, splitRepo(repo))
	if err != nil {
		return nil, err
	}
	out := make([]dispatch.PullHead, 0, len(prs))
	for _, p := range prs {
		out = append(out, dispatch.PullHead{Number: p.Number, HeadSHA: p.HeadSHA, HeadRef: p.HeadRef, BaseRef: p.BaseRef,
			HeadRepo: p.HeadRepoFullName})
	}
	return out, nil
}

// listen serves HTTP on l until ctx ends.
func (s *server) serveHTTP(ctx context.Context, l net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		MaxHeaderBytes: webhook.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

func (s *server) close() {
	if s.web != nil {
		s.web.Close() // the refused-webhook records still buffered
	}
	s.store.Close() // stops the queue: no job takes a sandbox after this
	s.disp.Wait()
	for _, c := range s.closers {
		c()
	}
	s.git.Close() // the mirrors' cat-file --batch readers
}

// webAuth is the web server's authentication from the configuration.
func webAuth(cfg config.Config, sessionKey []byte) web.Options {
	o := web.Options{Token: cfg.APIToken, PublicURL: cfg.PublicURL, SessionKey: sessionKey}
	if cfg.GitHubOAuthClientID != "" {
		o.GitHub = &github.OAuth{ClientID: cfg.GitHubOAuthClientID, ClientSecret: cfg.GitHubOAuthClientSecret,
			WebURL: cfg.GitHubWebURL, APIURL: cfg.GitHubAPIURL}
	}
	return o
}

// repoAccess reads a repository's visibility and Actions access setting
// through gh, for reusable workflows of other private repositories (nil
// without a GitHub credential: those are refused).
func repoAccess(gh *github.Client) func(ctx context.Context, repo string) (dispatch.RepoAccess, error) {
	if gh == nil {
		return nil
	}
	return func(ctx context.Context, repo string) (dispatch.RepoAccess, error) {
		owner, name, _ := strings.Cut(repo, "/")
		a, err := gh.ActionsAccess(ctx, github.Repo{Owner: owner, Name: name})
		return dispatch.RepoAccess{Visibility: a.Visibility, AccessLevel: a.AccessLevel}, err
	}
}

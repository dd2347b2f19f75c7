// Package config owns hookci's one configuration struct: defaults, then a TOML
// file, then HOOKCI_* environment overrides. Secrets are never printed: use
// Config.Redacted for anything shown to a person.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is everything the server and the CLI can be told. Each field names its
// TOML key and its environment variable; the environment wins over the file.
type Config struct {
	Listen        string `toml:"listen" env:"HOOKCI_LISTEN"`
	WebhookSecret string `toml:"webhook_secret" env:"HOOKCI_WEBHOOK_SECRET" secret:"true"`
	DataDir       string `toml:"data_dir" env:"HOOKCI_DATA_DIR"`
	// SQLiteSync is "full" (every acknowledged delivery is fsynced) or
	// "normal" (survives hookci crashing, not the machine; faster).
	SQLiteSync string `toml:"sqlite_sync" env:"HOOKCI_SQLITE_SYNC"`
	// DatabaseURL selects the store: empty means SQLite in DataDir;
	// postgres://… puts the store and the queue on PostgreSQL (several
	// hosts may share one).
	DatabaseURL string `toml:"database_url" env:"HOOKCI_DATABASE_URL" secret:"true"`
	// Lease is how long a host sharing the database may go without a
	// heartbeat before its running jobs are given to other hosts.
	Lease Duration `toml:"lease" env:"HOOKCI_LEASE"`

	GitHubAPIURL     string `toml:"github_api_url" env:"HOOKCI_GITHUB_API_URL"`
	GitHubToken      string `toml:"github_token" env:"HOOKCI_GITHUB_TOKEN" secret:"true"`
	GitHubAppID      int64  `toml:"github_app_id" env:"HOOKCI_GITHUB_APP_ID"`
	GitHubAppKeyFile string `toml:"github_app_key_file" env:"HOOKCI_GITHUB_APP_KEY_FILE"`
	// JobToken is what jobs get as GITHUB_TOKEN in token mode (a PAT):
	// "" or "none" (default) gives none; "server" passes the server's own
	// token to every non-fork job (an operator's opt-in, warned at start).
	// App mode always mints a token per job instead.
	JobToken string `toml:"job_token" env:"HOOKCI_JOB_TOKEN"`
	// DefaultWorkflowPermissions is the GITHUB_TOKEN of a workflow without
	// permissions: "restricted" (default: contents and packages read) or
	// "permissive" (write on every scope), as GitHub's repository setting.
	DefaultWorkflowPermissions string `toml:"default_workflow_permissions" env:"HOOKCI_DEFAULT_WORKFLOW_PERMISSIONS"`
	// MaxJobsPerRun caps the jobs of one run, matrix legs included (0: 1000).
	MaxJobsPerRun int `toml:"max_jobs_per_run" env:"HOOKCI_MAX_JOBS_PER_RUN"`
	// GitURL is where repositories are fetched from: $GitURL/<owner>/<repo>.git.
	GitURL string `toml:"git_url" env:"HOOKCI_GIT_URL"`
	// PublicURL is the base of links put into GitHub (run pages).
	PublicURL string `toml:"public_url" env:"HOOKCI_PUBLIC_URL"`
	// LogLevel is the least level logged: debug, info, warn or error.
	LogLevel string `toml:"log_level" env:"HOOKCI_LOG_LEVEL"`

	// Sandbox is the backend for runs-on labels not named in Labels: auto
	// (microvm where QEMU and the guest image are there, else namespace),
	// host (no isolation), namespace, microvm or firecracker.
	Sandbox string `toml:"sandbox" env:"HOOKCI_SANDBOX"`
	// Labels map runs-on labels to a backend and a size.
	Labels map[string]Label `toml:"labels"`
	// AnyLabel runs a job whose runs-on labels no backend serves
	// (windows-latest, macos-latest, arm64 on an x64 host, an unmapped
	// custom label) on the default backend anyway, that is on Linux. Off
	// (the default), such a job fails at once with "no runner for labels
	// [...]" instead of reporting a Linux result under another OS's name.
	AnyLabel bool `toml:"any_label" env:"HOOKCI_ANY_LABEL"`
	// Egress lists repositories ("owner/name") or organisations whose jobs
	// may reach the network; every other sandbox has none.
	Egress []string `toml:"egress" env:"HOOKCI_EGRESS"`
	// ImageDir is the data directory holding the guest image (hookci image
	// build --data-dir); default DataDir.
	ImageDir string `toml:"image_dir" env:"HOOKCI_IMAGE_DIR"`
	// Accel is the microVM accelerator: auto (KVM when it really runs a
	// guest, else TCG), kvm or tcg.
	Accel string `toml:"accel" env:"HOOKCI_ACCEL"`
	// WarmSandboxes is the most sandboxes of the default shape each backend
	// keeps started ahead of jobs (0: start each on demand); within it the
	// number follows demand (sandbox.Pool: one when idle, more while jobs
	// arrive faster than a sandbox starts) and, for microVMs, memory.
	WarmSandboxes int `toml:"warm_sandboxes" env:"HOOKCI_WARM_SANDBOXES"`
	// WorkspaceDiskMiB: a checkout at least this big goes into a microVM as
	// an ext4 disk rather than a tar through the agent (0: always a tar).
	WorkspaceDiskMiB int `toml:"workspace_disk_mib" env:"HOOKCI_WORKSPACE_DISK_MIB"`
	// VMTemplate starts microVMs from a booted snapshot (default true; a
	// job with a tool cache always boots cold).
	VMTemplate bool `toml:"vm_template" env:"HOOKCI_VM_TEMPLATE"`
	// MaxJobs caps the jobs running at once on this host.
	MaxJobs int `toml:"max_jobs" env:"HOOKCI_MAX_JOBS"`
	// LogStepMiB and LogJobMiB cap the log stored for one step and one job
	// (0: 16 and 64 MiB). A step over its cap keeps its first quarter and
	// last three quarters, with a line saying how much was omitted.
	LogStepMiB int `toml:"log_step_mib" env:"HOOKCI_LOG_STEP_MIB"`
	LogJobMiB  int `toml:"log_job_mib" env:"HOOKCI_LOG_JOB_MIB"`
	// AgentPath is the static hookci-agent binary put into sandboxes; empty
	// means "next to the hookci executable, then PATH".
	AgentPath string `toml:"agent_path" env:"HOOKCI_AGENT_PATH"`
	// ToolCache is a host directory of tools (go, node, python by version)
	// that setup-* actions use; shown read-only to sandboxes.
	ToolCache string `toml:"tool_cache" env:"HOOKCI_TOOL_CACHE"`
	// ToolDist are the distribution indexes setup-go/node/python download
	// a version from when the tool cache lacks it and the job has egress
	// (empty: the official ones; see actions.DistURLs).
	GoDistURL         string `toml:"go_dist_url" env:"HOOKCI_GO_DIST_URL"`
	NodeDistURL       string `toml:"node_dist_url" env:"HOOKCI_NODE_DIST_URL"`
	PythonManifestURL string `toml:"python_manifest_url" env:"HOOKCI_PYTHON_MANIFEST_URL"`
	// CacheRepoGiB caps the actions/cache entries of one repository, as
	// GitHub's 10 GB rule: past it the least recently used entries go.
	CacheRepoGiB int `toml:"cache_repo_gib" env:"HOOKCI_CACHE_REPO_GIB"`
	// APIToken guards the dashboard and API when Listen is not loopback.
	APIToken string `toml:"api_token" env:"HOOKCI_API_TOKEN" secret:"true"`
	// GitHubOAuthClientID and GitHubOAuthClientSecret turn on "Sign in with
	// GitHub" (an OAuth app's, or a GitHub App's client id and secret; the
	// callback to register is PublicURL + "/oauth/callback"). A signed-in
	// user sees the repositories they can read on GitHub and controls those
	// they can write.
	GitHubOAuthClientID     string `toml:"github_oauth_client_id" env:"HOOKCI_GITHUB_OAUTH_CLIENT_ID"`
	GitHubOAuthClientSecret string `toml:"github_oauth_client_secret" env:"HOOKCI_GITHUB_OAUTH_CLIENT_SECRET" secret:"true"`
	// GitHubWebURL is GitHub's web base, where the sign-in pages are
	// (https://github.com/, or a GitHub Enterprise server's).
	GitHubWebURL string `toml:"github_web_url" env:"HOOKCI_GITHUB_WEB_URL"`

	// Allow lists the repositories ("owner/name") and organisations
	// ("owner") whose webhooks are run; empty allows every repository the
	// webhook secret vouches for. Others are acknowledged and ignored.
	Allow []string `toml:"allow" env:"HOOKCI_ALLOW"`
	// ReconcileInterval is how often branch and pull request heads of the
	// allowed repositories are compared with what has run (0 turns it off).
	ReconcileInterval Duration `toml:"reconcile_interval" env:"HOOKCI_RECONCILE_INTERVAL"`
	// IntakeConcurrency caps webhook requests read at once (more are answered
	// 503 with Retry-After); IntakeLargeConcurrency caps how many of them may
	// carry a body over 1 MiB (GitHub's cap is 25 MiB).
	IntakeConcurrency      int `toml:"intake_concurrency" env:"HOOKCI_INTAKE_CONCURRENCY"`
	IntakeLargeConcurrency int `toml:"intake_large_concurrency" env:"HOOKCI_INTAKE_LARGE_CONCURRENCY"`
	// IntakePendingMiB caps the memory of verified deliveries (up to 1 MiB
	// each) waiting for their durable write once read, so that a stalled
	// disk holds them rather than refusing them; over it, 503.
	IntakePendingMiB int `toml:"intake_pending_mib" env:"HOOKCI_INTAKE_PENDING_MIB"`
	// ReplayWindow: a signed body seen again under a new delivery id within
	// this window is a replay and is not planned.
	ReplayWindow Duration `toml:"replay_window" env:"HOOKCI_REPLAY_WINDOW"`
	// PlanRetryBudget is how long planning of a delivery is retried after
	// transient failures (git, network, GitHub 5xx) before the delivery ends
	// failed; PlanRetryMin and PlanRetryMax bound the exponential backoff.
	PlanRetryBudget Duration `toml:"plan_retry_budget" env:"HOOKCI_PLAN_RETRY_BUDGET"`
	PlanRetryMin    Duration `toml:"plan_retry_min" env:"HOOKCI_PLAN_RETRY_MIN"`
	PlanRetryMax    Duration `toml:"plan_retry_max" env:"HOOKCI_PLAN_RETRY_MAX"`
	// RepoSecrets and OrgSecrets add secrets for one repository or
	// organisation, over Secrets (repository wins over organisation).
	RepoSecrets map[string]map[string]string `toml:"repo_secrets" secret:"true"`
	OrgSecrets  map[string]map[string]string `toml:"org_secrets" secret:"true"`
	// LLM is the opt-in translator for actions hookci cannot run (docker
	// actions): an Ollama or OpenAI-compatible endpoint. Off when URL is empty.
	LLM LLMConfig `toml:"llm"`
	// Blobs is where caches and artifacts are kept (blobs.go).
	Blobs Blobs `toml:"blobs"`
	// Registries configures image pulls (services, container:, docker://)
	// per registry host ("docker.io", "ghcr.io", "127.0.0.1:5000"): mirrors
	// tried first, credentials, and plain HTTP. Shown redacted as a whole.
	Registries map[string]Registry `toml:"registries" secret:"true"`
	// ImageCacheGiB caps the pulled-image cache (layers, unpacked root
	// filesystems, ext4 images) under DataDir/oci (0: 20); ImageCacheMaxAge
	// removes images unused for that long (0: 30 days).
	ImageCacheGiB    int      `toml:"image_cache_gib" env:"HOOKCI_IMAGE_CACHE_GIB"`
	ImageCacheMaxAge Duration `toml:"image_cache_max_age" env:"HOOKCI_IMAGE_CACHE_MAX_AGE"`
	// Env is added to every job's environment, below the workflow's env.
	Env map[string]string `toml:"env"`
	// Vars is the vars context, and Secrets the secrets context, for every repository.
	Vars    map[string]string `toml:"vars"`
	Secrets map[string]string `toml:"secrets" secret:"true"`
}

// LLMConfig is the action translator's endpoint.
type LLMConfig struct {
	Kind   string `toml:"kind"` // ollama or openai
	URL    string `toml:"url"`
	Model  string `toml:"model"`
	APIKey string `toml:"api_key" secret:"true"`
}

// Registry is one [registries."host"] table. Mirrors are base URLs
// ("https://mirror.example", "http://127.0.0.1:5000") tried in order before
// the registry itself; a mirror or registry reached over plain HTTP needs
// Insecure (an http:// mirror URL says so by itself).
type Registry struct {
	Mirrors  []string `toml:"mirrors"`
	Username string   `toml:"username"`
	Password string   `toml:"password" secret:"true"`
	// Insecure allows plain HTTP (and TLS without verification) to this
	// registry and its mirrors.
	Insecure bool `toml:"insecure"`
}

// Label is what a runs-on label runs on.
type Label struct {
	Backend   string `toml:"backend"` // as Sandbox
	CPUs      int    `toml:"cpus"`
	MemoryMiB int    `toml:"memory_mib"`
	// Repos lists the repositories ("owner/name") or organisations
	// ("owner") whose jobs may use the label (empty: every repository).
	Repos []string `toml:"repos"`
}

// Permits reports whether jobs of repo ("owner/name") may use the label.
func (l Label) Permits(repo string) bool {
	if len(l.Repos) == 0 {
		return true
	}
	owner, _, _ := strings.Cut(repo, "/")
	for _, a := range l.Repos {
		if strings.EqualFold(a, repo) || (!strings.Contains(a, "/") && strings.EqualFold(a, owner)) {
			return true
		}
	}
	return false
}

// Default returns the embedded defaults.
func Default() Config {
	return Config{
		Listen:           "127.0.0.1:8080",
		LogLevel:         "info",
		DataDir:          defaultDataDir(),
		GitHubAPIURL:     "https://api.github.com/",
		GitHubWebURL:     "https://github.com/",
		GitURL:           "https://github.com",
		Sandbox:          "auto",
		VMTemplate:       true,
		WarmSandboxes:    4,
		WorkspaceDiskMiB: 8,
		MaxJobs:          4,
		MaxJobsPerRun:    1000,

		IntakeConcurrency:      32,
		IntakeLargeConcurrency: 2,
		IntakePendingMiB:       64,
		ReplayWindow:           Duration(time.Hour),
		PlanRetryBudget:        Duration(6 * time.Hour),
		PlanRetryMin:           Duration(5 * time.Second),
		CacheRepoGiB:           10,
		PlanRetryMax:           Duration(10 * time.Minute),
		Lease:                  Duration(30 * time.Second),
	}
}

func defaultDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "hookci")
	}
	return ".hookci"
}

// Load reads defaults, then the TOML file at path (if path is not empty), then
// the environment (lookup is os.LookupEnv in production).
func Load(path string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	if path != "" {
		md, err := toml.DecodeFile(path, &cfg)
		if err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return cfg, fmt.Errorf("config %s: unknown key %q", path, und[0].String())
		}
	}
	if err := applyEnv(&cfg, lookup); err != nil {
		return cfg, err
	}
	applyBlobsEnv(&cfg.Blobs, lookup)
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + cfg.Listen
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	cfg.GitURL = strings.TrimRight(cfg.GitURL, "/")
	if !strings.HasSuffix(cfg.GitHubAPIURL, "/") {
		cfg.GitHubAPIURL += "/"
	}
	return cfg, nil
}

func applyEnv(cfg *Config, lookup func(string) (string, bool)) error {
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("env")
		if name == "" {
			continue
		}
		s, ok := lookup(name)
		if !ok {
			continue
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(s)
		case reflect.Bool:
			b, err := strconv.ParseBool(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("%s: want true or false, got %q", name, s)
			}
			f.SetBool(b)
		case reflect.Int, reflect.Int64:
			if f.Type() == reflect.TypeOf(Duration(0)) {
				var d Duration
				if err := d.UnmarshalText([]byte(s)); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				f.SetInt(int64(d))
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return fmt.Errorf("%s: want a whole number, got %q", name, s)
			}
			f.SetInt(n)
		case reflect.Slice:
			var items []string
			for _, it := range strings.Split(s, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
			f.Set(reflect.ValueOf(items))
		}
	}
	return nil
}

// Duration is a time.Duration written as "5m" in TOML and the environment.
type Duration time.Duration

// UnmarshalText parses a Go duration ("90s", "5m").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("want a duration like 5m, got %q", b)
	}
	*d = Duration(v)
	return nil
}

// WebhooksAllowed reports whether webhooks of repo ("owner/name") are run.
func (c Config) WebhooksAllowed(repo string) bool {
	if len(c.Allow) == 0 {
		return true
	}
	owner, _, _ := strings.Cut(repo, "/")
	for _, a := range c.Allow {
		if strings.EqualFold(a, repo) || (!strings.Contains(a, "/") && strings.EqualFold(a, owner)) {
			return true
		}
	}
	return false
}

// EgressAllowed reports whether jobs of repo may reach the network.
func (c Config) EgressAllowed(repo string) bool {
	owner, _, _ := strings.Cut(repo, "/")
	for _, a := range c.Egress {
		if strings.EqualFold(a, repo) || (!strings.Contains(a, "/") && strings.EqualFold(a, owner)) {
			return true
		}
	}
	return false
}

// SecretsFor is the secrets context of repo: Secrets, then the
// organisation's, then the repository's.
func (c Config) SecretsFor(repo string) map[string]string {
	out := map[string]string{}
	for k, v := range c.Secrets {
		out[k] = v
	}
	owner, _, _ := strings.Cut(repo, "/")
	for o, m := range c.OrgSecrets {
		if strings.EqualFold(o, owner) {
			for k, v := range m {
				out[k] = v
			}
		}
	}
	for r, m := range c.RepoSecrets {
		if strings.EqualFold(r, repo) {
			for k, v := range m {
				out[k] = v
			}
		}
	}
	return out
}

// SlogLevel is LogLevel as a slog level.
func (c Config) SlogLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return l, fmt.Errorf("HOOKCI_LOG_LEVEL (log_level) %q: want debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// ValidateServe checks what `hookci serve` cannot start without.
func (c Config) ValidateServe() error {
	var errs []error
	if _, err := c.SlogLevel(); err != nil {
		errs = append(errs, err)
	}
	if c.DatabaseURL != "" {
		// The URL may hold a password: name only its scheme.
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			scheme := ""
			if err == nil {
				scheme = u.Scheme
			}
			errs = append(errs, fmt.Errorf("HOOKCI_DATABASE_URL (database_url): scheme %q is not supported: "+
				"want postgres://user:password@host/database, or unset it for the embedded SQLite store", scheme))
		}
	}
	if (c.GitHubOAuthClientID == "") != (c.GitHubOAuthClientSecret == "") {
		errs = append(errs, errors.New("sign-in with GitHub needs both HOOKCI_GITHUB_OAUTH_CLIENT_ID and HOOKCI_GITHUB_OAUTH_CLIENT_SECRET"))
	}
	if c.WebhookSecret == "" {
		errs = append(errs, errors.New("HOOKCI_WEBHOOK_SECRET (webhook_secret) is required: refusing to accept unsigned webhooks"))
	}
	if c.Lease < Duration(time.Second) {
		errs = append(errs, fmt.Errorf("HOOKCI_LEASE (lease) must be at least 1s, got %s", time.Duration(c.Lease)))
	}
	if c.MaxJobs < 1 {
		errs = append(errs, fmt.Errorf("HOOKCI_MAX_JOBS must be at least 1, got %d", c.MaxJobs))
	}
	switch c.Sandbox {
	case "auto", "host", "namespace", "microvm", "firecracker":
	default:
		errs = append(errs, fmt.Errorf("HOOKCI_SANDBOX %q: want auto, host, namespace, microvm or firecracker", c.Sandbox))
	}
	for name, l := range c.Labels {
		switch l.Backend {
		case "", "auto", "host", "namespace", "microvm", "firecracker":
		default:
			errs = append(errs, fmt.Errorf("labels.%s.backend %q: want auto, host, namespace, microvm or firecracker", name, l.Backend))
		}
		for _, r := range l.Repos {
			if owner, repo, _ := strings.Cut(r, "/"); owner == "" || strings.Contains(repo, "/") || strings.HasSuffix(r, "/") {
				errs = append(errs, fmt.Errorf("labels.%s.repos %q: want \"owner/name\" or \"owner\"", name, r))
			}
		}
	}
	switch c.JobToken {
	case "", "none", "server":
	default:
		errs = append(errs, fmt.Errorf("HOOKCI_JOB_TOKEN %q: want none or server", c.JobToken))
	}
	switch c.DefaultWorkflowPermissions {
	case "", "restricted", "permissive":
	default:
		errs = append(errs, fmt.Errorf("HOOKCI_DEFAULT_WORKFLOW_PERMISSIONS %q: want restricted or permissive", c.DefaultWorkflowPermissions))
	}
	if c.MaxJobsPerRun < 0 {
		errs = append(errs, fmt.Errorf("HOOKCI_MAX_JOBS_PER_RUN must be at least 1 (0: the default), got %d", c.MaxJobsPerRun))
	}
	if c.IntakeConcurrency < 1 || c.IntakeLargeConcurrency < 1 {
		errs = append(errs, fmt.Errorf("intake_concurrency and intake_large_concurrency must be at least 1, got %d and %d",
			c.IntakeConcurrency, c.IntakeLargeConcurrency))
	}
	if c.IntakePendingMiB < 1 {
		errs = append(errs, fmt.Errorf("intake_pending_mib must be at least 1, got %d", c.IntakePendingMiB))
	}
	if c.CacheRepoGiB < 0 {
		errs = append(errs, fmt.Errorf("cache_repo_gib must not be negative (0: the default, 10), got %d", c.CacheRepoGiB))
	}
	if c.PlanRetryMin <= 0 || c.PlanRetryMax < c.PlanRetryMin || c.PlanRetryBudget <= 0 {
		errs = append(errs, fmt.Errorf("plan_retry_min (%s), plan_retry_max (%s), plan_retry_budget (%s): want 0 < min <= max and a budget",
			time.Duration(c.PlanRetryMin), time.Duration(c.PlanRetryMax), time.Duration(c.PlanRetryBudget)))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("HOOKCI_DATA_DIR is empty"))
	}
	if (c.GitHubAppID != 0) != (c.GitHubAppKeyFile != "") {
		errs = append(errs, errors.New("GitHub App mode needs both HOOKCI_GITHUB_APP_ID and HOOKCI_GITHUB_APP_KEY_FILE"))
	}
	return errors.Join(errs...)
}

// Redacted returns a copy with every secret field replaced, for printing.
// Nested structs (such as LLM) are redacted by the same tags.
func (c Config) Redacted() Config {
	redact(reflect.ValueOf(&c).Elem())
	return c
}

// redact replaces the fields of the struct v that are tagged secret:"true",
// recursing into nested structs.
func redact(v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if t.Field(i).Tag.Get("secret") != "true" {
			if f.Kind() == reflect.Struct && f.CanSet() {
				redact(f)
			}
			continue
		}
		switch f.Kind() {
		case reflect.String:
			if f.String() != "" {
				f.SetString("***")
			}
		case reflect.Map:
			if f.Len() > 0 {
				f.Set(reflect.Zero(f.Type())) // names of secrets are not shown either
			}
		}
	}
}

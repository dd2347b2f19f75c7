package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadLayers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookci.toml")
	os.WriteFile(path, []byte(`
listen = "0.0.0.0:9000"
webhook_secret = "from-file"
max_jobs = 2
allow = ["octo", "other/repo"]
reconcile_interval = "5m"
[secrets]
TOKEN = "global"
[org_secrets.octo]
TOKEN = "org"
[repo_secrets."octo/hello"]
TOKEN = "repo"
`), 0o600)
	cfg, err := Load(path, env(map[string]string{"HOOKCI_WEBHOOK_SECRET": "from-env", "HOOKCI_MAX_JOBS": "8",
		"HOOKCI_SANDBOX": "namespace"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:9000" || cfg.WebhookSecret != "from-env" || cfg.MaxJobs != 8 || cfg.Sandbox != "namespace" {
		t.Errorf("layers: got listen %s secret %s max %d sandbox %s", cfg.Listen, cfg.WebhookSecret, cfg.MaxJobs, cfg.Sandbox)
	}
	if time.Duration(cfg.ReconcileInterval) != 5*time.Minute {
		t.Errorf("reconcile_interval = %v", time.Duration(cfg.ReconcileInterval))
	}
	if cfg.PublicURL != "http://0.0.0.0:9000" {
		t.Errorf("public URL default = %s", cfg.PublicURL)
	}
	for repo, want := range map[string]bool{"octo/hello": true, "OCTO/x": true, "other/repo": true, "other/else": false} {
		if got := cfg.WebhooksAllowed(repo); got != want {
			t.Errorf("WebhooksAllowed(%s) = %v, want %v", repo, got, want)
		}
	}
	for repo, want := range map[string]string{"octo/hello": "repo", "octo/x": "org", "else/y": "global"} {
		if got := cfg.SecretsFor(repo)["TOKEN"]; got != want {
			t.Errorf("SecretsFor(%s) = %s, want %s", repo, got, want)
		}
	}
	red := cfg.Redacted()
	if red.WebhookSecret != "***" || len(red.Secrets) != 0 || len(red.RepoSecrets) != 0 {
		t.Errorf("Redacted leaks: %+v", red)
	}
	if cfg.WebhookSecret != "from-env" {
		t.Error("Redacted changed the original")
	}
}

func TestLoadErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(path, []byte("listen = \"x\"\nno_such_key = 1\n"), 0o600)
	if _, err := Load(path, env(nil)); err == nil || !strings.Contains(err.Error(), "no_such_key") {
		t.Errorf("unknown key: err = %v", err)
	}
	if _, err := Load("", env(map[string]string{"HOOKCI_MAX_JOBS": "many"})); err == nil {
		t.Error("bad number accepted")
	}
	cfg, _ := Load("", env(map[string]string{"HOOKCI_ALLOW": "a, b/c ,"}))
	if diff := cmp.Diff([]string{"a", "b/c"}, cfg.Allow); diff != "" {
		t.Errorf("HOOKCI_ALLOW (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{MaxJobs: 1, Sandbox: "host", DataDir: "d"}, "HOOKCI_WEBHOOK_SECRET"},
		{Config{WebhookSecret: "s", MaxJobs: 0, Sandbox: "host", DataDir: "d"}, "HOOKCI_MAX_JOBS"},
		{Config{WebhookSecret: "s", MaxJobs: 1, Sandbox: "docker", DataDir: "d"}, "HOOKCI_SANDBOX"},
		{Config{WebhookSecret: "s", MaxJobs: 1, Sandbox: "auto", DataDir: "d", Labels: map[string]Label{"x": {Backend: "vm"}}}, "labels.x"},
		{Config{WebhookSecret: "s", MaxJobs: 1, Sandbox: "auto", DataDir: "d", Labels: map[string]Label{"y": {Repos: []string{"a/b/c"}}}}, "labels.y.repos"},
		{Config{WebhookSecret: "s", MaxJobs: 1, Sandbox: "auto", DataDir: "d", Labels: map[string]Label{"z": {Repos: []string{"/b"}}}}, "labels.z.repos"},
		{Config{WebhookSecret: "s", MaxJobs: 1, Sandbox: "host", DataDir: "d", GitHubAppID: 3}, "App mode"},
		{Config{WebhookSecret: "s", MaxJobs: 1, Sandbox: "host", DataDir: "d", JobToken: "pat"}, "HOOKCI_JOB_TOKEN"},
		{Config{WebhookSecret: "s", MaxJobs: 1, Sandbox: "host", DataDir: "d", DefaultWorkflowPermissions: "open"}, "HOOKCI_DEFAULT_WORKFLOW_PERMISSIONS"},
		{Config{WebhookSecret: "s", MaxJobs: 1, Sandbox: "host", DataDir: "d", MaxJobsPerRun: -1}, "HOOKCI_MAX_JOBS_PER_RUN"},
	} {
		if err := tc.cfg.ValidateServe(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateServe(%+v) = %v, want an error mentioning %s", tc.cfg, err, tc.want)
		}
	}
}

// TestRedactedNested: a secret inside a nested struct (the LLM key) is
// redacted too, and printing the redacted config shows no secret.
func TestRedactedNested(t *testing.T) {
	cfg := Default()
	cfg.LLM.APIKey = "sk-llm-secret"
	cfg.GitHubToken = "ghp_server_token"
	cfg.WebhookSecret = "hook-secret"
	printed := fmt.Sprintf("%+v", cfg.Redacted())
	for _, s := range []string{"sk-llm-secret", "ghp_server_token", "hook-secret"} {
		if strings.Contains(printed, s) {
			t.Errorf("Redacted config shows %q: %s", s, printed)
		}
	}
	if cfg.LLM.APIKey != "sk-llm-secret" {
		t.Error("Redacted changed the original's LLM key")
	}
}

// TestValidateServeSettings: a log level or a database URL that cannot take
// effect is an error naming the setting, not silently ignored.
func TestValidateServeSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"debug", func(c *Config) { c.LogLevel = "debug" }, ""},
		{"bad level", func(c *Config) { c.LogLevel = "loud" }, "HOOKCI_LOG_LEVEL"},
		{"database url scheme", func(c *Config) { c.DatabaseURL = "mysql://u:pw@x/y" }, `HOOKCI_DATABASE_URL (database_url): scheme "mysql"`},
		{"postgres", func(c *Config) { c.DatabaseURL = "postgres://hookci:pw@db/hookci" }, ""},
		{"postgresql", func(c *Config) { c.DatabaseURL = "postgresql:///hookci?host=/run/postgresql" }, ""},
	} {
		cfg := Default()
		cfg.WebhookSecret = "s"
		tc.edit(&cfg)
		err := cfg.ValidateServe()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: got %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
}

func TestLabelPermits(t *testing.T) {
	for _, tc := range []struct {
		repos []string
		repo  string
		want  bool
	}{
		{nil, "any/repo", true},
		{[]string{"octo/hello"}, "octo/hello", true},
		{[]string{"octo/hello"}, "Octo/Hello", true},
		{[]string{"octo/hello"}, "octo/other", false},
		{[]string{"octo"}, "octo/other", true},
		{[]string{"octo"}, "evil/octo", false},
		{[]string{"octo/hello", "org"}, "org/x", true},
	} {
		if got := (Label{Repos: tc.repos}).Permits(tc.repo); got != tc.want {
			t.Errorf("Label{Repos: %q}.Permits(%q): got %v, want %v", tc.repos, tc.repo, got, tc.want)
		}
	}
}

// TestGitHubSignInSettings: the OAuth client comes from the environment,
// half of it is an error naming both settings, and the secret is redacted.
func TestGitHubSignInSettings(t *testing.T) {
	cfg, err := Load("", env(map[string]string{"HOOKCI_GITHUB_OAUTH_CLIENT_ID": "Iv1.abc",
		"HOOKCI_GITHUB_OAUTH_CLIENT_SECRET": "oauth-secret-value", "HOOKCI_WEBHOOK_SECRET": "s"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GitHubOAuthClientID != "Iv1.abc" || cfg.GitHubOAuthClientSecret != "oauth-secret-value" || cfg.GitHubWebURL != "https://github.com/" {
		t.Errorf("got id %q secret %q web %q, want Iv1.abc, oauth-secret-value, https://github.com/",
			cfg.GitHubOAuthClientID, cfg.GitHubOAuthClientSecret, cfg.GitHubWebURL)
	}
	if err := cfg.ValidateServe(); err != nil {
		t.Errorf("ValidateServe with both: %v", err)
	}
	if printed := fmt.Sprintf("%+v", cfg.Redacted()); strings.Contains(printed, "oauth-secret-value") {
		t.Errorf("Redacted shows the OAuth client secret: %s", printed)
	}
	cfg.GitHubOAuthClientSecret = ""
	if err := cfg.ValidateServe(); err == nil || !strings.Contains(err.Error(), "HOOKCI_GITHUB_OAUTH_CLIENT_SECRET") {
		t.Errorf("ValidateServe with the id only: got %v, want an error naming HOOKCI_GITHUB_OAUTH_CLIENT_SECRET", err)
	}
}

// TestBlobsSettings: [blobs] from the file, HOOKCI_BLOB_URL and HOOKCI_S3_*
// over it, and the secret key redacted.
func TestBlobsSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookci.toml")
	os.WriteFile(path, []byte("[blobs]\nurl = \"s3://file-bucket\"\naccess_key_id = \"file-id\"\nsecret_access_key = \"file-secret\"\n"), 0o600)
	env := map[string]string{"HOOKCI_BLOB_URL": "s3://env-bucket?endpoint=http://127.0.0.1:9000", "HOOKCI_S3_SECRET_ACCESS_KEY": "env-secret"}
	cfg, err := Load(path, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	want := Blobs{URL: env["HOOKCI_BLOB_URL"], AccessKeyID: "file-id", SecretAccessKey: "env-secret"}
	if cfg.Blobs != want {
		t.Errorf("got %+v, want %+v", cfg.Blobs, want)
	}
	if printed := fmt.Sprintf("%+v", cfg.Redacted()); strings.Contains(printed, "env-secret") {
		t.Errorf("the redacted config shows the S3 secret: %s", printed)
	}
}

// TestRegistries: [registries."host"] tables load (mirrors, credentials,
// insecure), the image cache bounds take HOOKCI_* overrides, and the
// printed config shows no registry password.
func TestRegistries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookci.toml")
	os.WriteFile(path, []byte(`
image_cache_gib = 5
[registries."docker.io"]
mirrors = ["http://127.0.0.1:5000", "https://mirror.example"]
[registries."ghcr.io"]
username = "bot"
password = "hunter2"
[registries."10.0.0.5:5000"]
insecure = true
`), 0o600)
	cfg, err := Load(path, env(map[string]string{"HOOKCI_IMAGE_CACHE_MAX_AGE": "72h"}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Registry{
		"docker.io":     {Mirrors: []string{"http://127.0.0.1:5000", "https://mirror.example"}},
		"ghcr.io":       {Username: "bot", Password: "hunter2"},
		"10.0.0.5:5000": {Insecure: true},
	}
	if d := cmp.Diff(want, cfg.Registries); d != "" {
		t.Errorf("registries (-want +got):\n%s", d)
	}
	if cfg.ImageCacheGiB != 5 || time.Duration(cfg.ImageCacheMaxAge) != 72*time.Hour {
		t.Errorf("image cache: got %d GiB, %s; want 5 GiB, 72h", cfg.ImageCacheGiB, time.Duration(cfg.ImageCacheMaxAge))
	}
	if s := fmt.Sprintf("%+v", cfg.Redacted()); strings.Contains(s, "hunter2") {
		t.Errorf("redacted config shows the registry password: %s", s)
	}
}

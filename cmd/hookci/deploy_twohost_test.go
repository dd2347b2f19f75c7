package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/config"
)

// TestTwoHostCaddyfileValidates runs `caddy validate` on
// deploy/two-host/Caddyfile with two upstreams, for ACME and internal TLS.
func TestTwoHostCaddyfileValidates(t *testing.T) {
	caddy := needTool(t, "caddy")
	path, err := filepath.Abs(filepath.Join(deployDir, "two-host", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tls := range []string{"ops@example.com", "internal"} {
		dir := t.TempDir()
		out := runTool(t, dir, caddyEnv(dir, map[string]string{"HOOKCI_DOMAIN": "ci.example.com", "HOOKCI_TLS": tls,
			"HOOKCI_CADDY_ADMIN": "127.0.0.1:0", "HOOKCI_UPSTREAMS": "10.0.0.11:8080 10.0.0.12:8080"}),
			caddy, "validate", "--config", path, "--adapter", "caddyfile")
		if !strings.Contains(out, "Valid configuration") {
			t.Errorf("caddy validate (tls %s): %s", tls, out)
		}
	}
}

// TestTwoHostUnitDropIn verifies the single-host unit with the two-host
// drop-in through systemd-analyze (any warning fails).
func TestTwoHostUnitDropIn(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unit := readFile(t, filepath.Join(deployDir, "systemd", "hookci.service"))
	unitPath := filepath.Join(dir, "hookci.service")
	if err := os.WriteFile(unitPath, []byte(strings.ReplaceAll(unit, "/usr/local/bin/hookci serve", self+" serve")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "hookci.service.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	dropIn := readFile(t, filepath.Join(deployDir, "two-host", "hookci.service.d", "two-host.conf"))
	if err := os.WriteFile(filepath.Join(dir, "hookci.service.d", "two-host.conf"), []byte(dropIn), 0o644); err != nil {
		t.Fatal(err)
	}
	// The drop-in alone, as a unit of its own, catches unknown directives.
	merged := unit + "\n" + dropIn
	mergedPath := filepath.Join(dir, "hookci-merged.service")
	if err := os.WriteFile(mergedPath, []byte(strings.ReplaceAll(merged, "/usr/local/bin/hookci serve", self+" serve")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{unitPath, mergedPath} {
		out, err := exec.Command(analyze, "verify", p).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", filepath.Base(p), err, out)
		}
	}
}

// TestTwoHostEnvExampleIsAValidConfig loads deploy/two-host/hookci.env.example
// as the unit would and validates it as hookci serve does: PostgreSQL, a
// lease, a shared S3 bucket, a private listener with an API token.
func TestTwoHostEnvExampleIsAValidConfig(t *testing.T) {
	env := parseEnvFile(t, filepath.Join(deployDir, "two-host", "hookci.env.example"))
	cfg, err := config.Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("hookci.env.example: %v", err)
	}
	if err := cfg.ValidateServe(); err != nil {
		t.Errorf("two-host hookci.env.example is not a valid server configuration: %v", err)
	}
	if !strings.HasPrefix(cfg.Blobs.URL, "s3://") {
		t.Errorf("blob store %q: want a shared S3 bucket", cfg.Blobs.URL)
	}
	if !strings.HasPrefix(cfg.DatabaseURL, "postgres://") || cfg.APIToken == "" {
		t.Errorf("database %q, API token set %v: want PostgreSQL and a token (the listener is not loopback)",
			cfg.DatabaseURL, cfg.APIToken != "")
	}
}

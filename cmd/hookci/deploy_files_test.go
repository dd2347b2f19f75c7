package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/config"
)

// deployDir is the repository's deploy/ directory, seen from cmd/hookci.
const deployDir = "../../deploy"

// needTool returns the path of a tool the deployment tests run; missing, the
// test is skipped, or fails under CI=true (scripts/deps.sh installs it).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI (scripts/deps.sh test installs it): %v", name, err)
		}
		t.Skipf("skipping: %s is not installed: %v", name, err)
	}
	return p
}

// runTool runs a tool and fails the test with its output when it fails.
func runTool(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAlertRules checks deploy/prometheus/alerts.yml with promtool and runs
// its unit tests (alerts_test.yml: each alert fires on a synthetic history
// and stays quiet on a healthy one).
func TestAlertRules(t *testing.T) {
	promtool := needTool(t, "promtool")
	dir := filepath.Join(deployDir, "prometheus")
	out := runTool(t, dir, nil, promtool, "check", "rules", "alerts.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules: %s", out)
	}
	out = runTool(t, dir, nil, promtool, "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules: %s", out)
	}
	// Every alert has at least one firing case in the unit tests.
	rules, tests := readFile(t, filepath.Join(dir, "alerts.yml")), readFile(t, filepath.Join(dir, "alerts_test.yml"))
	for _, name := range alertNames(rules) {
		if !strings.Contains(tests, "alertname: "+name+"\n        exp_alerts:\n          - exp_labels") {
			t.Errorf("alerts_test.yml has no case where %s fires", name)
		}
	}
	// The scrape config, installed as its comments say: the rules beside it
	// as hookci-alerts.yml.
	etc := t.TempDir()
	for src, dst := range map[string]string{"prometheus.yml": "prometheus.yml", "alerts.yml": "hookci-alerts.yml"} {
		if err := os.WriteFile(filepath.Join(etc, dst), []byte(readFile(t, filepath.Join(dir, src))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(etc, "hookci-token"), []byte("token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = runTool(t, etc, nil, promtool, "check", "config", "prometheus.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check config: %s", out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// alertNames lists the "- alert: NAME" entries of a rules file.
func alertNames(rules string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(rules))
	for sc.Scan() {
		if name, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "- alert: "); ok {
			out = append(out, name)
		}
	}
	return out
}

// grafanaDashboard is the part of Grafana's dashboard JSON model the tests read.
type grafanaDashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name, Type, Query string
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type, UID string
	} `json:"datasource"`
	GridPos *struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// readDashboard parses deploy/grafana/hookci.json strictly enough to catch a
// broken file: known fields, unique panel ids, every panel on the grid, every
// graph with a PromQL target on the dashboard's Prometheus variable.
func readDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(deployDir, "grafana", "hookci.json"))), &d); err != nil {
		t.Fatalf("hookci.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 || len(d.Panels) == 0 {
		t.Fatalf("hookci.json: title %q, uid %q, schemaVersion %d, %d panels: not a dashboard", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Type != "datasource" || d.Templating.List[0].Query != "prometheus" {
		t.Errorf("hookci.json: the first template variable must be the Prometheus data source, got %+v", d.Templating.List)
	}
	ids := map[int]bool{}
	cells := map[[2]int]string{} // grid cell → the panel covering it
	for _, p := range d.Panels {
		if p.GridPos != nil {
			if p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: x %d + w %d leaves Grafana's 24 columns", p.Title, p.GridPos.X, p.GridPos.W)
			}
			for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
				for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
					if other, ok := cells[[2]int{x, y}]; ok {
						t.Errorf("panel %q overlaps panel %q at (%d, %d)", p.Title, other, x, y)
					}
					cells[[2]int{x, y}] = p.Title
				}
			}
		}
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q has no place on the grid", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: target %+v: want a PromQL expr and a unique refId", p.Title, tg)
			}
			refs[tg.RefID] = true
		}
	}
	return d
}

// dashboardExprs returns every panel query, by panel title, with Grafana's
// $__rate_interval replaced by window so that Prometheus can run it.
func dashboardExprs(d grafanaDashboard, window string) map[string]string {
	out := map[string]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out[p.Title+" / "+tg.RefID] = strings.ReplaceAll(tg.Expr, "$__rate_interval", window)
		}
	}
	return out
}

// TestGrafanaDashboard parses the dashboard and has promtool parse every
// panel's query as PromQL (as a recording rule of a generated rules file).
func TestGrafanaDashboard(t *testing.T) {
	d := readDashboard(t)
	promtool := needTool(t, "promtool")
	var rules bytes.Buffer
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	exprs := dashboardExprs(d, "5m")
	i := 0
	for title, e := range exprs {
		q, _ := json.Marshal(e) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      # %s\n      - record: hookci:dashboard_%d\n        expr: %s\n", strings.ReplaceAll(title, "\n", " "), i, q)
		i++
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, rules.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runTool(t, "", nil, promtool, "check", "rules", path)
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(exprs)); !strings.Contains(out, want) {
		t.Errorf("promtool check rules on the dashboard's queries: got %q, want %q", out, want)
	}
}

// TestSystemdUnit verifies deploy/systemd/hookci.service with
// systemd-analyze (any warning, such as an unknown directive, fails) and
// checks the directives the deployment relies on.
func TestSystemdUnit(t *testing.T) {
	unit := readFile(t, filepath.Join(deployDir, "systemd", "hookci.service"))
	for _, want := range []string{"Restart=on-failure", "Delegate=yes", "EnvironmentFile=/etc/hookci/hookci.env",
		"ExecStart=/usr/local/bin/hookci serve", "NoNewPrivileges=yes", "ProtectSystem=full"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("hookci.service lacks %q", want)
		}
	}
	for _, never := range []string{"PrivateDevices=yes", "ProtectControlGroups=yes", "MemoryDenyWriteExecute=yes", "DynamicUser=yes"} {
		if strings.Contains(unit, "\n"+never+"\n") {
			t.Errorf("hookci.service sets %q, which breaks a sandbox backend", never)
		}
	}
	analyze := needTool(t, "systemd-analyze")
	// verify checks that ExecStart's binary exists: point it at this test
	// binary, an executable that surely does.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hookci.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/hookci serve", self+" serve")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestEnvExampleIsAValidConfig loads deploy/hookci.env.example as the unit
// would (EnvironmentFile) and validates it as hookci serve does.
func TestEnvExampleIsAValidConfig(t *testing.T) {
	env := parseEnvFile(t, filepath.Join(deployDir, "hookci.env.example"))
	for _, k := range []string{"HOOKCI_WEBHOOK_SECRET", "HOOKCI_API_TOKEN", "HOOKCI_LISTEN", "HOOKCI_PUBLIC_URL", "HOOKCI_DATA_DIR"} {
		if env[k] == "" {
			t.Errorf("hookci.env.example does not set %s", k)
		}
	}
	cfg, err := config.Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("hookci.env.example: %v", err)
	}
	if err := cfg.ValidateServe(); err != nil {
		t.Errorf("hookci.env.example is not a valid server configuration: %v", err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.DataDir != "/var/lib/hookci" {
		t.Errorf("listen %q, data dir %q: want loopback behind Caddy and the unit's StateDirectory", cfg.Listen, cfg.DataDir)
	}
}

// parseEnvFile reads KEY=VALUE lines as systemd's EnvironmentFile does
// (comments and blank lines skipped; no quoting is used in the example).
func parseEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for n, line := range strings.Split(readFile(t, path), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(v, `"'`) {
			t.Fatalf("%s:%d: %q is not KEY=VALUE", path, n+1, line)
		}
		env[k] = v
	}
	return env
}

// caddyEnv is the environment the Caddyfile reads, with Caddy's own state
// (certificates, its internal CA, autosaved config) under dir.
func caddyEnv(dir string, vars map[string]string) []string {
	env := []string{"HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config")}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// TestCaddyfileValidates runs `caddy validate` on deploy/caddy/Caddyfile,
// once for ACME and once with Caddy's internal CA.
func TestCaddyfileValidates(t *testing.T) {
	caddy := needTool(t, "caddy")
	path, err := filepath.Abs(filepath.Join(deployDir, "caddy", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tls := range []string{"ops@example.com", "internal"} {
		dir := t.TempDir()
		out := runTool(t, dir, caddyEnv(dir, map[string]string{"HOOKCI_DOMAIN": "ci.example.com", "HOOKCI_TLS": tls,
			"HOOKCI_CADDY_ADMIN": "127.0.0.1:0"}),
			caddy, "validate", "--config", path, "--adapter", "caddyfile")
		if !strings.Contains(out, "Valid configuration") {
			t.Errorf("caddy validate (tls %s): %s", tls, out)
		}
	}
}

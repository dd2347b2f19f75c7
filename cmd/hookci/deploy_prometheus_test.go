package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/config"
)

// freeAddr returns a loopback address with a port free at the time of the
// call (Debian's prometheus and caddy services may hold 9090, 80, 443, 2019).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// promServer is a real Prometheus started for a test.
type promServer struct {
	t    *testing.T
	url  string
	logs *bytes.Buffer
}

// startPrometheus runs /usr/bin/prometheus on a free loopback port with
// config (rule files beside it in dir), storing its data under dir.
func startPrometheus(t *testing.T, dir, cfg string) *promServer {
	t.Helper()
	bin := needTool(t, "prometheus")
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := &promServer{t: t, url: "http://" + addr, logs: &bytes.Buffer{}}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.logs)
		}
	})
	waitFor(t, "prometheus ready", func() bool {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// promResult is the data of an instant query.
type promResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	} `json:"result"`
}

// query runs an instant query through the HTTP API; a query Prometheus
// refuses fails the test.
func (p *promServer) query(q string) promResult {
	p.t.Helper()
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		Status string     `json:"status"`
		Error  string     `json:"error"`
		Data   promResult `json:"data"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Status != "success" {
		p.t.Fatalf("query %s: HTTP %d, %s %s", q, resp.StatusCode, body.Error, b)
	}
	return body.Data
}

// empty reports whether a query result holds no sample.
func (r promResult) empty() bool { return r.ResultType != "scalar" && len(r.Result) == 0 }

// scalar is the value of the first sample (NaN as the string says).
func (r promResult) first() float64 {
	if len(r.Result) == 0 {
		return -1
	}
	s, _ := r.Result[0].Value[1].(string)
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

// alertProbes: for each alert of deploy/prometheus/alerts.yml, the series
// under its condition. An alert's own expression is naturally empty while
// hookci is healthy (that is what "not firing" means), so the test runs the
// expression (Prometheus must accept it) and requires data from these: the
// same aggregation without the threshold.
var alertProbes = map[string][]string{
	"HookciDown": {`up{job="hookci"}`},
	"HookciHighRunFailureRate": {`sum by (instance) (increase(hookci_runs_total{conclusion="failure"}[1h])) / ` +
		`sum by (instance) (increase(hookci_runs_total[1h]))`},
	"HookciQueueWaitHigh": {`histogram_quantile(0.9, sum by (instance, le) (rate(hookci_queue_wait_seconds_bucket[15m])))`},
	"HookciWebhooksRejected": {`sum by (instance, outcome) (increase(hookci_webhook_deliveries_total` +
		`{outcome=~"bad_signature|malformed|too_large|busy|error"}[15m]))`},
	"HookciDeliveriesFailed":       {`sum by (instance, reason) (increase(hookci_deliveries_failed_total[1h]))`},
	"HookciSandboxStartFailures":   {`sum by (instance, backend) (increase(hookci_sandbox_start_failures_total[15m]))`},
	"HookciInfrastructureFailures": {`sum by (instance, backend) (increase(hookci_job_infrastructure_failures_total[1h]))`},
	"HookciGitHubAPIErrors": {`sum by (instance) (rate(hookci_github_requests_total{code=~"5..|429|error"}[15m])) / ` +
		`sum by (instance) (rate(hookci_github_requests_total[15m]))`},
	"HookciGitHubRateLimitLow": {`min by (instance, resource) (hookci_github_rate_limit_remaining) / ` +
		`min by (instance, resource) (hookci_github_rate_limit_limit)`},
	"HookciWebhooksMissing": {`time() - hookci_webhook_last_received_timestamp_seconds`,
		`time() - process_start_time_seconds`, `increase(hookci_reconciler_deliveries_total[1h])`},
}

const cacheWorkflow = `name: Cache
on: push
jobs:
  cache:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@v4
        with:
          path: deps
          key: deps-v1
      - run: mkdir -p deps && echo cached > deps/file
`

// TestPrometheusScrapesHookci (issue 10 §4): a real Prometheus (Debian's
// package) scrapes a real hookci serve (host backend, the fake GitHub) with
// the bearer token, as deploy/prometheus/prometheus.yml does, and loads
// deploy/prometheus/alerts.yml. Runs pass and fail through signed webhooks,
// one webhook is refused, and the reconciler finds a push no webhook
// announced. Then every query of deploy/grafana/hookci.json and every alert
// expression goes through Prometheus's HTTP API: each is accepted, every
// dashboard query returns data, and each alert's underlying series
// (alertProbes) return data. The rules are loaded and evaluate without error.
func TestPrometheusScrapesHookci(t *testing.T) {
	needTool(t, "prometheus")
	const apiToken = "metrics-scrape-token"
	h := newHarnessWith(t, func(h *harness) {
		h.cfg.APIToken = apiToken
		h.cfg.Allow = []string{e2eRepo}
		h.cfg.ReconcileInterval = config.Duration(300 * time.Millisecond)
	})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), []byte(readFile(t, filepath.Join(deployDir, "prometheus", "alerts.yml"))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(h.url, "http://")
	prom := startPrometheus(t, dir, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: hookci
    authorization:
      type: Bearer
      credentials_file: token
    static_configs:
      - targets: [%q]
`, target))
	waitFor(t, "the hookci target up", func() bool { return prom.query(`up{job="hookci"}`).first() == 1 })

	zero := strings.Repeat("0", 40)
	pass := h.repo.Commit("pass", map[string]string{".github/workflows/ci.yml": twoJobWorkflow,
		".github/workflows/cache.yml": cacheWorkflow, "src/main.sh": "#!/bin/sh\necho main works\n"})
	h.repo.Push("main")
	h.sendSigned("push", "prom-1", pushPayload(t, zero, pass))
	if sts := h.waitStatus(pass); sts[len(sts)-1].State != "success" {
		t.Fatalf("passing run: %+v", sts)
	}
	fail := h.repo.Commit("fail", map[string]string{"src/main.sh": "#!/bin/sh\necho broken; exit 1\n"})
	h.repo.Push("main")
	h.sendSigned("push", "prom-2", pushPayload(t, pass, fail))
	if sts := h.waitStatus(fail); sts[len(sts)-1].State != "failure" {
		t.Fatalf("failing run: %+v", sts)
	}
	// A push GitHub knows of but whose webhook never came: the reconciler runs it.
	missed := h.repo.Commit("missed", map[string]string{"src/main.sh": "#!/bin/sh\necho fixed\n"})
	h.repo.Push("HEAD:refs/heads/missed")
	h.gh.SetBranch(e2eRepo, "missed", missed)
	h.waitContext(missed, "hookci/Cache") // ci.yml runs on main only
	// A webhook with a wrong signature is refused.
	if code, _ := h.send("push", "prom-bad", pushPayload(t, zero, pass), "sha256="+strings.Repeat("0", 64)); code != 401 {
		t.Fatalf("badly signed webhook answered %d, want 401", code)
	}

	// The hooks really report: each of these counts events that happened
	// above (not just the zero every series starts at), as Prometheus saw them.
	wired := map[string]float64{
		`sum(hookci_runs_total{conclusion="success"})`:                                  2,
		`sum(hookci_runs_total{conclusion="failure"})`:                                  1,
		`sum(hookci_webhook_deliveries_total{outcome="accepted"})`:                      2,
		`sum(hookci_webhook_deliveries_total{outcome="bad_signature"})`:                 1,
		`sum(hookci_webhook_ack_duration_seconds_count{code="2xx"})`:                    2,
		`sum(hookci_webhook_ack_duration_seconds_count{code="4xx"})`:                    1,
		`hookci_webhook_last_received_timestamp_seconds`:                                1,
		`sum(hookci_reconciler_deliveries_total)`:                                       1,
		`sum(hookci_queue_wait_seconds_count{backend="host"})`:                          3,
		`sum(hookci_sandbox_start_duration_seconds_count{backend="host"})`:              3,
		`sum(hookci_job_duration_seconds_count)`:                                        5,
		`sum(hookci_git_fetch_duration_seconds_count{outcome="ok"})`:                    1,
		`sum(hookci_github_requests_total)`:                                             1,
		`min(hookci_github_rate_limit_limit{resource="core"})`:                          5000,
		`sum(hookci_cache_lookups_total{result=~"hit|partial|miss"})`:                   3,
		`sum(hookci_github_rate_limit_limit) - sum(hookci_github_rate_limit_remaining)`: 1,
	}
	for q, atLeast := range wired {
		waitFor(t, q+" >= "+strconv.FormatFloat(atLeast, 'f', -1, 64), func() bool { return prom.query(q).first() >= atLeast })
	}

	// A series born in the last scrape has one sample, and rate() needs two:
	// let Prometheus scrape the final state three more times.
	since := prom.query(`timestamp(up{job="hookci"})`).first()
	waitFor(t, "three more scrapes", func() bool { return prom.query(`timestamp(up{job="hookci"})`).first() >= since+3 })

	// Exact counts: 7 jobs ran (pass: build, test, cache; fail: the same;
	// missed: cache), each in a sandbox of its own; the queue wait is observed
	// for the 5 that need no other job (test waits for build by design).
	for q, want := range map[string]float64{
		`sum(hookci_job_duration_seconds_count)`:                           7,
		`sum(hookci_sandbox_start_duration_seconds_count{backend="host"})`: 7,
		`sum(hookci_queue_wait_seconds_count{backend="host"})`:             5,
		`sum(hookci_reconciler_deliveries_total)`:                          1,
		`sum(hookci_runs_total)`:                                           5,
	} {
		if got := prom.query(q).first(); got != want {
			t.Errorf("%s = %v, want %v", q, got, want)
		}
	}

	// Every dashboard query returns data.
	exprs := dashboardExprs(readDashboard(t), "1m")
	titles := make([]string, 0, len(exprs))
	for title := range exprs {
		titles = append(titles, title)
	}
	sort.Strings(titles)
	for _, title := range titles {
		if r := prom.query(exprs[title]); r.empty() {
			t.Errorf("dashboard panel %q: %s returned no data", title, exprs[title])
		}
	}

	// Every hookci series Prometheus scraped is on the dashboard.
	all := strings.Join(titles, "\n")
	for _, title := range titles {
		all += "\n" + exprs[title]
	}
	for _, r := range prom.query(`count by (__name__) ({__name__=~"hookci_.+"})`).Result {
		name := r.Metric["__name__"]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			name = strings.TrimSuffix(name, suffix)
		}
		if !strings.Contains(all, name) {
			t.Errorf("metric %s is on no dashboard panel", name)
		}
	}

	// Every alert expression is accepted; its underlying series have data.
	rules := readFile(t, filepath.Join(deployDir, "prometheus", "alerts.yml"))
	names := alertNames(rules)
	if len(names) != len(alertProbes) {
		t.Errorf("alerts.yml has %d alerts, alertProbes %d: keep them in step", len(names), len(alertProbes))
	}
	loaded := ruleExprs(t, prom)
	for _, name := range names {
		probes, ok := alertProbes[name]
		if !ok {
			t.Errorf("alert %s has no probe in alertProbes", name)
			continue
		}
		expr, ok := loaded[name]
		if !ok {
			t.Errorf("alert %s is not loaded by Prometheus", name)
			continue
		}
		prom.query(expr) // accepted on real data (empty while healthy)
		for _, q := range probes {
			if r := prom.query(q); r.empty() {
				t.Errorf("alert %s: its series %s returned no data", name, q)
			}
		}
	}
	// The rules evaluate without error on the real series.
	waitFor(t, "every rule evaluated", func() bool {
		for _, health := range ruleHealth(t, prom) {
			if health == "unknown" {
				return false
			}
		}
		return true
	})
	for name, health := range ruleHealth(t, prom) {
		if health != "ok" {
			t.Errorf("alert %s: health %q, want ok", name, health)
		}
	}
}

// promRules is /api/v1/rules.
type promRules struct {
	Data struct {
		Groups []struct {
			Rules []struct {
				Name, Query, Health, Type string
			} `json:"rules"`
		} `json:"groups"`
	} `json:"data"`
}

func fetchRules(t *testing.T, prom *promServer) promRules {
	t.Helper()
	resp, err := http.Get(prom.url + "/api/v1/rules?type=alert")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r promRules
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// ruleExprs maps each loaded alerting rule to its expression.
func ruleExprs(t *testing.T, prom *promServer) map[string]string {
	out := map[string]string{}
	for _, g := range fetchRules(t, prom).Data.Groups {
		for _, r := range g.Rules {
			out[r.Name] = r.Query
		}
	}
	return out
}

// ruleHealth maps each loaded alerting rule to its health (ok, err, unknown).
func ruleHealth(t *testing.T, prom *promServer) map[string]string {
	out := map[string]string{}
	for _, g := range fetchRules(t, prom).Data.Groups {
		for _, r := range g.Rules {
			out[r.Name] = r.Health
		}
	}
	return out
}

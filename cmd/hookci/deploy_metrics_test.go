package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// metricValue is the value of the exposition line starting with series
// (name and labels as hookci writes them), or -1 when there is none.
func (h *harness) metricValue(series string) float64 {
	l := h.metricLine(series + " ")
	if l == "" {
		return -1
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(l, series)), 64)
	if err != nil {
		return -1
	}
	return v
}

// TestInfrastructureFailureMetrics: when the sandbox cannot start (its agent
// binary is broken), the failed starts, the lost attempts and the one retry
// are counted for the backend, and the job ends as a failure.
func TestInfrastructureFailureMetrics(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "hookci-agent")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'not an agent' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(h *harness) {
		h.cfg.AgentPath = broken
		h.cfg.WarmSandboxes = 0
	})
	zero := strings.Repeat("0", 40)
	sha := h.repo.Commit("first", map[string]string{".github/workflows/ci.yml": twoJobWorkflow, "src/main.sh": "#!/bin/sh\n"})
	h.repo.Push("main")
	h.sendSigned("push", "infra-1", pushPayload(t, zero, sha))
	if sts := h.waitStatus(sha); sts[len(sts)-1].State == "success" {
		t.Fatalf("a job whose sandbox cannot start succeeded: %+v", sts)
	}
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`hookci_sandbox_start_failures_total{backend="host"}`, 2},      // the first attempt and the retry
		{`hookci_job_infrastructure_failures_total{backend="host"}`, 2}, // both attempts lost
		{`hookci_job_retries_total{backend="host"}`, 1},                 // retried once
		{`hookci_sandbox_start_failures_total{backend="microvm"}`, 0},
	} {
		if got := h.metricValue(c.series); got != c.want {
			t.Errorf("%s = %v, want %v", c.series, got, c.want)
		}
	}
}

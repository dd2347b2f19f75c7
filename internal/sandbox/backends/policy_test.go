package backends

import (
	"errors"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/sandbox"
)

func TestDecide(t *testing.T) {
	labels := map[string]config.Label{
		"big":     {Backend: "microvm", CPUs: 4, MemoryMiB: 8192},
		"evil":    {Backend: "host"},
		"sized":   {CPUs: 2}, // default backend, own size
		"any":     {Backend: "auto"},
		"ours":    {Backend: "namespace", Repos: []string{"octo/hello", "acme"}},
		"trusted": {Backend: "host", Repos: []string{"octo/hello"}},
	}
	own := sandbox.Origin{Repo: "octo/hello"}
	fork := sandbox.Origin{Repo: "octo/hello", Fork: true}
	tests := []struct {
		name    string
		def     string // HOOKCI_SANDBOX
		auto    string // what auto resolves to
		labels  []string
		origin  sandbox.Origin
		want    sandbox.Choice
		wantErr string
	}{
		{"label mapped", "namespace", "namespace", []string{"big"}, own, sandbox.Choice{Name: "microvm", Label: "big", CPUs: 4, MemoryMiB: 8192}, ""},
		{"first named label wins", "namespace", "namespace", []string{"self-hosted", "big", "evil"}, own, sandbox.Choice{Name: "microvm", Label: "big", CPUs: 4, MemoryMiB: 8192}, ""},
		{"unknown label: default", "namespace", "namespace", []string{"ubuntu-latest"}, own, sandbox.Choice{Name: "namespace"}, ""},
		{"no labels: default", "microvm", "namespace", nil, own, sandbox.Choice{Name: "microvm"}, ""},
		{"label without backend: default", "microvm", "namespace", []string{"sized"}, own, sandbox.Choice{Name: "microvm", Label: "sized", CPUs: 2}, ""},
		{"default auto resolved", "auto", "namespace", []string{"ubuntu-latest"}, own, sandbox.Choice{Name: "namespace"}, ""},
		{"default empty is auto", "", "microvm", nil, own, sandbox.Choice{Name: "microvm"}, ""},
		{"label auto resolved", "namespace", "microvm", []string{"any"}, own, sandbox.Choice{Name: "microvm", Label: "any"}, ""},
		{"label without backend, default auto", "auto", "namespace", []string{"sized"}, own, sandbox.Choice{Name: "namespace", Label: "sized", CPUs: 2}, ""},
		{"host label for own repo", "namespace", "namespace", []string{"evil"}, own, sandbox.Choice{Name: "host", Label: "evil"}, ""},
		{"repos: listed repo", "host", "host", []string{"ours"}, own, sandbox.Choice{Name: "namespace", Label: "ours"}, ""},
		{"repos: listed org", "host", "host", []string{"ours"}, sandbox.Origin{Repo: "ACME/tool"}, sandbox.Choice{Name: "namespace", Label: "ours"}, ""},
		{"repos: other repo refused", "namespace", "namespace", []string{"ours"}, sandbox.Origin{Repo: "octo/other"},
			sandbox.Choice{}, "runs-on ours: repository octo/other may not use this label (labels.ours.repos)"},
		{"repos: other repo refused even as a fork", "namespace", "namespace", []string{"trusted"}, sandbox.Origin{Repo: "evil/x", Fork: true},
			sandbox.Choice{}, "runs-on trusted: repository evil/x may not use this label"},
		{"fork: host label refused", "namespace", "namespace", []string{"evil"}, fork,
			sandbox.Choice{}, "runs-on evil: the host backend is not available to pull requests from forks"},
		{"fork: host label with repos refused", "namespace", "namespace", []string{"trusted"}, fork,
			sandbox.Choice{}, "runs-on trusted: the host backend is not available to pull requests from forks"},
		{"fork: default host refused", "host", "namespace", []string{"ubuntu-latest"}, fork,
			sandbox.Choice{}, "runs-on ubuntu-latest: the host backend is not available to pull requests from forks"},
		{"fork: auto fallen back to host refused", "auto", "host", []string{"ubuntu-latest", "x64"}, fork,
			sandbox.Choice{}, "runs-on ubuntu-latest, x64: the host backend is not available to pull requests from forks"},
		{"fork: label auto fallen back to host refused", "namespace", "host", []string{"any"}, fork,
			sandbox.Choice{}, "runs-on any: the host backend is not available to pull requests from forks"},
		{"fork: isolated label runs", "host", "host", []string{"big"}, fork, sandbox.Choice{Name: "microvm", Label: "big", CPUs: 4, MemoryMiB: 8192}, ""},
		{"fork: isolated default runs", "namespace", "host", nil, fork, sandbox.Choice{Name: "namespace"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Config{Sandbox: tt.def, Labels: labels}
			got, err := decide(cfg, tt.labels, tt.origin, func() string { return tt.auto })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %+v, %v; want error %q", got, err, tt.wantErr)
				}
				if strings.Contains(tt.wantErr, "forks") && !errors.Is(err, ErrForkHost) {
					t.Errorf("got %v, want it to wrap ErrForkHost", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestDecideNetwork(t *testing.T) {
	cfg := config.Config{Sandbox: "namespace", Egress: []string{"octo"}}
	for _, tt := range []struct {
		repo string
		want bool
	}{{"octo/hello", true}, {"other/hello", false}} {
		c, err := decide(cfg, nil, sandbox.Origin{Repo: tt.repo}, func() string { return "namespace" })
		if err != nil || c.Network != tt.want {
			t.Errorf("repo %s: got network %v (%v), want %v", tt.repo, c.Network, err, tt.want)
		}
	}
}

// An auto that is never needed is never resolved (resolving probes a sandbox).
func TestDecideResolvesAutoOnlyWhenNeeded(t *testing.T) {
	cfg := config.Config{Sandbox: "auto", Labels: map[string]config.Label{"vm": {Backend: "microvm"}}}
	calls := 0
	if _, err := decide(cfg, []string{"vm"}, sandbox.Origin{Repo: "a/b"}, func() string { calls++; return "host" }); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Errorf("auto resolved %d times for a label naming its backend, want 0", calls)
	}
}

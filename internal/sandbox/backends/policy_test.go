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
		// windows-2022 run on Linux on purpose.
		"windows-2022": {Backend: "microvm"},
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
		// Labels the default backends do not serve (issue 13 item 0): the
		// job does not run on Linux under another OS's name.
		{"windows refused", "namespace", "namespace", []string{"windows-latest"}, own,
			sandbox.Choice{}, "no runner for labels [windows-latest]: no backend here serves windows-latest (hookci's sandboxes run Linux x64"},
		{"macos refused", "host", "host", []string{"macos-latest"}, own, sandbox.Choice{}, "no runner for labels [macos-latest]"},
		{"macos intel refused", "host", "host", []string{"macos-15-intel"}, own, sandbox.Choice{}, "no runner for labels [macos-15-intel]"},
		{"windows arm refused", "host", "host", []string{"windows-11-arm"}, own, sandbox.Choice{}, "no runner for labels [windows-11-arm]"},
		{"ubuntu arm on x64 refused", "namespace", "namespace", []string{"ubuntu-24.04-arm"}, own, sandbox.Choice{}, "no runner for labels [ubuntu-24.04-arm]"},
		{"arm64 on x64 refused", "namespace", "namespace", []string{"self-hosted", "linux", "ARM64"}, own,
			sandbox.Choice{}, "no runner for labels [self-hosted, linux, ARM64]: no backend here serves ARM64"},
		{"unmapped custom label refused", "namespace", "namespace", []string{"self-hosted", "gpu-box"}, own,
			sandbox.Choice{}, "no runner for labels [self-hosted, gpu-box]: no backend here serves gpu-box"},
		{"every label must be served", "namespace", "namespace", []string{"ubuntu-latest", "windows-latest"}, own,
			sandbox.Choice{}, "no runner for labels [ubuntu-latest, windows-latest]: no backend here serves windows-latest"},
		{"mapped label does not excuse another", "namespace", "namespace", []string{"big", "macos-latest"}, own,
			sandbox.Choice{}, "no runner for labels [big, macos-latest]: no backend here serves macos-latest"},
		{"dotted label quoted in the hint", "namespace", "namespace", []string{"ubuntu-24.04-arm"}, own,
			sandbox.Choice{}, `a [labels."ubuntu-24.04-arm"] section`},
		{"group name unmapped refused", "namespace", "namespace", []string{"large-runners"}, own, sandbox.Choice{}, "no runner for labels [large-runners]"},
		{"refused before the fork check", "host", "host", []string{"windows-latest"}, fork, sandbox.Choice{}, "no runner for labels [windows-latest]"},
		{"ubuntu labels served", "namespace", "namespace", []string{"ubuntu-24.04"}, own, sandbox.Choice{Name: "namespace"}, ""},
		{"ubuntu-22.04 served", "namespace", "namespace", []string{"ubuntu-22.04"}, own, sandbox.Choice{Name: "namespace"}, ""},
		{"ubuntu-20.04 served", "namespace", "namespace", []string{"ubuntu-20.04"}, own, sandbox.Choice{Name: "namespace"}, ""},
		{"ubuntu-slim served", "namespace", "namespace", []string{"ubuntu-slim"}, own, sandbox.Choice{Name: "namespace"}, ""},
		{"larger runner served", "namespace", "namespace", []string{"ubuntu-latest-4-cores"}, own, sandbox.Choice{Name: "namespace"}, ""},
		{"labels match without case", "namespace", "namespace", []string{"Ubuntu-Latest"}, own, sandbox.Choice{Name: "namespace"}, ""},
		{"self-hosted linux x64 served", "namespace", "namespace", []string{"self-hosted", "Linux", "X64"}, own, sandbox.Choice{Name: "namespace"}, ""},
		{"mapped windows runs on purpose", "namespace", "namespace", []string{"windows-2022"}, own, sandbox.Choice{Name: "microvm", Label: "windows-2022"}, ""},
		{"mapped label matched without case", "namespace", "namespace", []string{"BIG"}, own, sandbox.Choice{Name: "microvm", Label: "big", CPUs: 4, MemoryMiB: 8192}, ""},
		{"mapped label with served labels", "namespace", "namespace", []string{"self-hosted", "linux", "big"}, own, sandbox.Choice{Name: "microvm", Label: "big", CPUs: 4, MemoryMiB: 8192}, ""},
		{"repos checked on every mapped label", "namespace", "namespace", []string{"big", "ours"}, sandbox.Origin{Repo: "octo/other"},
			sandbox.Choice{}, "runs-on ours: repository octo/other may not use this label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Config{Sandbox: tt.def, Labels: labels}
			got, err := decide(cfg, tt.labels, tt.origin, "amd64", func() string { return tt.auto })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %+v, %v; want error %q", got, err, tt.wantErr)
				}
				if strings.Contains(tt.wantErr, "forks") && !errors.Is(err, ErrForkHost) {
					t.Errorf("got %v, want it to wrap ErrForkHost", err)
				}
				if strings.HasPrefix(tt.wantErr, "no runner for labels") && (!errors.Is(err, ErrNoRunner) || !strings.HasPrefix(err.Error(), tt.wantErr)) {
					t.Errorf("got %v, want it to wrap ErrNoRunner and start with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// With any_label, a label no backend serves runs on the default backend
// (hookci run --run-any-label); off, the same labels are refused.
func TestDecideAnyLabel(t *testing.T) {
	for _, labels := range [][]string{{"windows-latest"}, {"macos-latest"}, {"self-hosted", "gpu-box"}, {"ubuntu-24.04-arm"}} {
		for _, anyLabel := range []bool{false, true} {
			cfg := config.Config{Sandbox: "namespace", AnyLabel: anyLabel}
			got, err := decide(cfg, labels, sandbox.Origin{Repo: "octo/hello"}, "amd64", func() string { return "namespace" })
			if anyLabel && (err != nil || got.Name != "namespace") {
				t.Errorf("any_label, %v: got %+v, %v; want namespace", labels, got, err)
			}
			if !anyLabel && !errors.Is(err, ErrNoRunner) {
				t.Errorf("%v: got %+v, %v; want ErrNoRunner", labels, got, err)
			}
		}
	}
	// The fork rule still holds with any_label.
	cfg := config.Config{Sandbox: "host", AnyLabel: true}
	if _, err := decide(cfg, []string{"windows-latest"}, sandbox.Origin{Repo: "a/b", Fork: true}, "amd64", func() string { return "host" }); !errors.Is(err, ErrForkHost) {
		t.Errorf("any_label, fork on host: got %v, want ErrForkHost", err)
	}
}

// On an arm64 host the arm64 labels are served and the x64 ones are not.
func TestLinuxServes(t *testing.T) {
	tests := []struct {
		label, goarch string
		want          bool
	}{
		{"ubuntu-latest", "amd64", true},
		{"ubuntu-latest", "arm64", false},
		{"ubuntu-24.04-arm", "arm64", true},
		{"ubuntu-22.04-arm", "amd64", false},
		{"x64", "amd64", true},
		{"x64", "arm64", false},
		{"arm64", "arm64", true},
		{"ARM64", "amd64", false},
		{"self-hosted", "arm64", true},
		{"linux", "amd64", true},
		{"windows-latest", "amd64", false},
		{"windows-2025", "amd64", false},
		{"macos-latest", "arm64", false},
		{"macos-26", "arm64", false},
		{"ubuntu-", "amd64", false},
		{"ubuntu", "amd64", false},
		{"", "amd64", false},
		{"ubuntu-latest", "riscv64", false},
		{"ubuntu-latest-4-cores", "amd64", true},
		{"ubuntu-22.04-16core", "amd64", true},
		{"ubuntu-24.04-arm-4-cores", "arm64", true},
		{"ubuntu-slim", "amd64", true},
		{"ubuntu-18.04", "amd64", true},
		{"ubuntu-gpu", "amd64", false},     // a custom label, not GitHub's
		{"ubuntu-runners", "amd64", false}, // a runner group's name
		{"ubuntu-latest-windows", "amd64", false},
	}
	for _, tt := range tests {
		if got := linuxServes(tt.label, tt.goarch); got != tt.want {
			t.Errorf("linuxServes(%q, %s): got %v, want %v", tt.label, tt.goarch, got, tt.want)
		}
	}
}

func TestDecideNetwork(t *testing.T) {
	cfg := config.Config{Sandbox: "namespace", Egress: []string{"octo"}}
	for _, tt := range []struct {
		repo string
		want bool
	}{{"octo/hello", true}, {"other/hello", false}} {
		c, err := decide(cfg, nil, sandbox.Origin{Repo: tt.repo}, "amd64", func() string { return "namespace" })
		if err != nil || c.Network != tt.want {
			t.Errorf("repo %s: got network %v (%v), want %v", tt.repo, c.Network, err, tt.want)
		}
	}
}

// An auto that is never needed is never resolved (resolving probes a sandbox).
func TestDecideResolvesAutoOnlyWhenNeeded(t *testing.T) {
	cfg := config.Config{Sandbox: "auto", Labels: map[string]config.Label{"vm": {Backend: "microvm"}}}
	calls := 0
	if _, err := decide(cfg, []string{"vm"}, sandbox.Origin{Repo: "a/b"}, "amd64", func() string { calls++; return "host" }); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Errorf("auto resolved %d times for a label naming its backend, want 0", calls)
	}
}

// Package backends chooses the sandbox a job runs in. It owns the runs-on
// label policy of the server's config ([labels.<label>] backend, size and
// the repositories allowed to use it; HOOKCI_SANDBOX for the Linux labels
// the default backends serve; no runner for any other label), the
// trust rule that a pull request from a fork never runs on the host, the
// resolution of "auto" (microvm, else namespace when a bubblewrap sandbox
// really starts, else host with a warning), and the life of the backends it
// makes: created once on first use, kept warm (sandbox.Pool), reaped at
// start, closed at shutdown.
package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/sandbox"
)

// names are the backends a Set can make.
var names = []string{"host", "namespace", "microvm", "firecracker"}

// Set makes each backend once, on first use, and maps runs-on labels to them.
type Set struct {
	cfg       config.Config
	agentPath string
	log       *slog.Logger
	def       string // what cfg.Sandbox resolved to

	mu       sync.Mutex // guards the fields below
	starters map[string]sandbox.StartFunc
	backends map[string]backend // the backends under the pools (for Reap)
	pools    []*sandbox.Pool
	errs     map[string]error
	auto     string // what "auto" resolved to

	track tracker // live sandboxes (snapshot.go)
}

// Open resolves the default backend (probing for "auto"), makes it and
// every backend an earlier process left work directories for (so Reap
// removes what it left), and warns at Warn level when jobs can run on the
// host: the default is host (chosen or fallen back to), or labels map to it.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Set, error) {
	if log == nil {
		log = discard()
	}
	agentPath, err := LocateAgent(cfg.AgentPath)
	if err != nil {
		return nil, err
	}
	s := &Set{cfg: cfg, agentPath: agentPath, log: log, starters: map[string]sandbox.StartFunc{},
		backends: map[string]backend{}, errs: map[string]error{}}
	s.def = cfg.Sandbox
	if s.def == "" || s.def == "auto" {
		s.def = s.resolveAuto(ctx)
	} else if s.def == "host" {
		log.Warn("sandbox host (HOOKCI_SANDBOX): jobs run WITHOUT isolation, as the server's user with its files and network; " +
			"pull requests from forks are refused")
	}
	if _, err := s.get(s.def); err != nil {
		s.Close()
		return nil, fmt.Errorf("sandbox %s: %w", s.def, err)
	}
	if hl := hostLabels(cfg); len(hl) > 0 {
		log.Warn("runs-on labels mapped to the host backend run jobs WITHOUT isolation; pull requests from forks are refused",
			"labels", strings.Join(hl, ","))
	}
	if cfg.AnyLabel {
		log.Warn("any_label: jobs on runs-on labels no backend serves (windows-*, macos-*, other architectures, custom labels) " +
			"run on " + DefaultPlatform() + "; their results say nothing about those platforms")
	}
	log.Info("sandboxes", "default", s.def, "platform", DefaultPlatform(), "any_label", cfg.AnyLabel)
	for _, name := range names {
		if _, err := os.Stat(s.workDir(name)); err == nil {
			s.get(name)
		}
	}
	return s, nil
}

// Default is the backend for labels the config does not name.
func (s *Set) Default() string { return s.def }

// Choose returns how to start the sandbox of a job with these runs-on
// labels from o, and what was chosen. It fails, naming the label, when no
// backend serves one of the labels (ErrNoRunner), when the label's repos do
// not include o.Repo, when o is a fork and the choice is
// host, or when the chosen backend cannot run here.
func (s *Set) Choose(labels []string, o sandbox.Origin) (sandbox.StartFunc, sandbox.Choice, error) {
	c, err := decide(s.cfg, labels, o, runtime.GOARCH, func() string { return s.resolveAuto(context.Background()) })
	if err != nil {
		return nil, c, err
	}
	start, err := s.get(c.Name)
	if err != nil {
		return nil, c, fmt.Errorf("runs-on %v: sandbox %s: %w", labels, c.Name, err)
	}
	return start, c, nil
}

// resolveAuto turns "auto" into microvm (QEMU and a built guest image
// present), else namespace (bubblewrap present and a sandbox really
// starts), else host with a warning: a server with no isolation available
// still runs jobs, and says so.
func (s *Set) resolveAuto(ctx context.Context) string {
	s.mu.Lock()
	resolved := s.auto
	s.mu.Unlock()
	if resolved != "" {
		return resolved
	}
	resolved = "host"
	if _, err := s.get("microvm"); err == nil {
		resolved = "microvm"
	} else if start, err := s.get("namespace"); err == nil {
		if err := probe(ctx, start); err == nil {
			resolved = "namespace"
		} else {
			s.log.Warn("bubblewrap is installed but a namespace sandbox does not start here", "err", err)
		}
	}
	if resolved == "host" {
		s.log.Warn("no isolated sandbox can run here (microvm needs qemu-system-x86_64 and `hookci image build`; " +
			"namespace needs bubblewrap): sandbox auto falls back to host, jobs run WITHOUT isolation; " +
			"pull requests from forks are refused")
	}
	s.mu.Lock()
	if s.auto == "" {
		s.auto = resolved
	}
	resolved = s.auto
	s.mu.Unlock()
	return resolved
}

// get returns the start function of a backend, making it (and its warm
// pool) on first use; a backend that cannot be made keeps its error.
func (s *Set) get(name string) (sandbox.StartFunc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.starters[name]; ok {
		return st, nil
	}
	if err, ok := s.errs[name]; ok {
		return nil, err
	}
	b, err := s.make(name, s.workDir(name))
	if err != nil {
		s.errs[name] = err
		return nil, err
	}
	s.backends[name] = b
	start := s.track.track(name, b.Start)
	if s.cfg.WarmSandboxes > 0 {
		pool := sandbox.NewPool(name, start, s.cfg.WarmSandboxes, s.log.With("backend", name))
		if m, ok := b.(interface{ SandboxMemoryMiB() int }); ok { // a VM backend: warm VMs must fit in memory
			pool.SetSandboxMemory(m.SandboxMemoryMiB())
		}
		s.pools = append(s.pools, pool)
		start = pool.Start
	}
	start = s.track.assign(start)
	s.starters[name] = start
	return start, nil
}

// workDir is a backend's directory (short: unix socket paths are limited to 107 bytes).
func (s *Set) workDir(name string) string {
	return filepath.Join(s.cfg.DataDir, "sb", name[:2])
}

// Close destroys the warm sandboxes. The backends' own state (microVM
// templates) stays for the next process.
func (s *Set) Close() {
	s.mu.Lock()
	pools := s.pools
	s.pools = nil
	s.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}

// Reap removes what a crashed predecessor left in every backend in use.
func (s *Set) Reap(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name, b := range s.backends {
		if r, ok := b.(interface{ Reap(context.Context) error }); ok {
			if err := r.Reap(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/dispatch"
	"github.com/hookci/hookci/internal/image"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/firecracker"
	"github.com/hookci/hookci/internal/sandbox/host"
	"github.com/hookci/hookci/internal/sandbox/microvm"
	"github.com/hookci/hookci/internal/sandbox/namespace"
)

// sandboxSet makes each backend once, on first use, and maps runs-on
// labels to them.
type sandboxSet struct {
	cfg       config.Config
	agentPath string
	logf      func(string, ...any)

	mu       sync.Mutex // guards the fields below
	starters map[string]dispatch.Starter
	backends map[string]dispatch.Starter // the backends under the pools (for Reap)
	pools    []*sandbox.Pool
	errs     map[string]error
	auto     string // what "auto" resolved to
}

func newSandboxSet(cfg config.Config, agentPath string, logf func(string, ...any)) *sandboxSet {
	return &sandboxSet{cfg: cfg, agentPath: agentPath, logf: logf, starters: map[string]dispatch.Starter{},
		backends: map[string]dispatch.Starter{}, errs: map[string]error{}}
}

// sandboxes builds the label → backend mapping and reaps what a crashed
// predecessor left in every backend that exists.
func (s *server) sandboxes(ctx context.Context) (dispatch.Backends, error) {
	agentPath, err := locateAgent(s.cfg.AgentPath)
	if err != nil {
		return nil, err
	}
	set := newSandboxSet(s.cfg, agentPath, func(f string, a ...any) { s.log.Info(fmt.Sprintf(f, a...)) })
	s.closers = append(s.closers, set.close)
	def, err := set.resolve(s.cfg.Sandbox)
	if err != nil {
		return nil, err
	}
	if _, err := set.get(def); err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", def, err)
	}
	s.log.Info("sandboxes", "default", def)
	// Backends used by an earlier process get made now, so that what it left is reaped at start.
	for _, name := range []string{"host", "namespace", "microvm", "firecracker"} {
		if _, err := os.Stat(set.workDir(name)); err == nil {
			set.get(name)
		}
	}
	s.reapers = append(s.reapers, set.reap)
	return func(labels []string, repo string) (dispatch.Starter, dispatch.BackendChoice, error) {
		name, choice := def, dispatch.BackendChoice{}
		for _, l := range labels {
			if lc, ok := s.cfg.Labels[l]; ok {
				name, choice.CPUs, choice.MemoryMiB = lc.Backend, lc.CPUs, lc.MemoryMiB
				if name == "" {
					name = def
				}
				break
			}
		}
		name, err := set.resolve(name)
		if err != nil {
			return nil, choice, err
		}
		st, err := set.get(name)
		if err != nil {
			return nil, choice, fmt.Errorf("runs-on %v: sandbox %s: %w", labels, name, err)
		}
		choice.Name = name
		choice.Network = s.cfg.EgressAllowed(repo)
		return st, choice, nil
	}, nil
}

// resolve turns "auto" into microvm (QEMU and a built guest image present),
// else namespace (bubblewrap present and a sandbox really starts), else host
// with a loud warning: a server with no isolation available still runs jobs,
// and says so.
func (set *sandboxSet) resolve(name string) (string, error) {
	if name != "auto" && name != "" {
		return name, nil
	}
	set.mu.Lock()
	resolved := set.auto
	set.mu.Unlock()
	if resolved != "" {
		return resolved, nil
	}
	resolved = "host"
	if _, err := set.get("microvm"); err == nil {
		resolved = "microvm"
	} else if st, err := set.get("namespace"); err == nil {
		if err := probe(st); err == nil {
			resolved = "namespace"
		} else {
			set.logf("WARNING: bubblewrap is installed but a namespace sandbox does not start here: %v", err)
		}
	}
	if resolved == "host" {
		set.logf("WARNING: no isolated sandbox can run here (microvm needs qemu-system-x86_64 and `hookci image build`; " +
			"namespace needs bubblewrap and root): jobs run WITHOUT isolation (sandbox host)")
	}
	set.mu.Lock()
	set.auto = resolved
	set.mu.Unlock()
	return resolved, nil
}

// probe starts and closes one sandbox.
func probe(st dispatch.Starter) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inst, err := st.Start(ctx, sandbox.Spec{ID: fmt.Sprintf("probe-%d", os.Getpid())})
	if err != nil {
		return err
	}
	return inst.Close()
}

func (set *sandboxSet) get(name string) (dispatch.Starter, error) {
	set.mu.Lock()
	defer set.mu.Unlock()
	if st, ok := set.starters[name]; ok {
		return st, nil
	}
	if err, ok := set.errs[name]; ok {
		return nil, err
	}
	st, err := set.make(name)
	if err != nil {
		set.errs[name] = err
		return nil, err
	}
	set.backends[name] = st
	if set.cfg.WarmSandboxes > 0 {
		pool := sandbox.NewPool(name, st.Start, set.cfg.WarmSandboxes, set.logf)
		set.pools = append(set.pools, pool)
		st = pool
	}
	set.starters[name] = st
	return st, nil
}

// close destroys the warm sandboxes.
func (set *sandboxSet) close() {
	set.mu.Lock()
	pools := set.pools
	set.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}

func (set *sandboxSet) imageDir() string {
	if set.cfg.ImageDir != "" {
		return set.cfg.ImageDir
	}
	return set.cfg.DataDir
}

// workDir is a backend's directory (short: unix socket paths are limited to 107 bytes).
func (set *sandboxSet) workDir(name string) string {
	return filepath.Join(set.cfg.DataDir, "sb", name[:2])
}

// make creates one backend. WorkDirs stay short: unix socket paths are limited to 107 bytes.
func (set *sandboxSet) make(name string) (dispatch.Starter, error) {
	work := set.workDir(name)
	switch name {
	case "host":
		return host.New(host.Config{AgentPath: set.agentPath, WorkDir: work})
	case "namespace":
		if _, err := exec.LookPath("bwrap"); err != nil {
			return nil, errors.New("bubblewrap (bwrap) is not installed")
		}
		nc := namespace.Config{AgentPath: set.agentPath, WorkDir: work}
		if img, err := image.Latest(set.imageDir()); err == nil {
			nc.RootFS = img.RootFSDir
		}
		return namespace.New(nc)
	case "microvm":
		if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
			return nil, errors.New("qemu-system-x86_64 is not installed")
		}
		img, err := image.Latest(set.imageDir())
		if err != nil {
			return nil, fmt.Errorf("no guest image in %s (hookci image build): %w", set.imageDir(), err)
		}
		accel := set.cfg.Accel
		if accel == "" {
			accel = "auto"
		}
		return microvm.New(microvm.Config{AgentPath: set.agentPath, WorkDir: work, Kernel: img.Kernel, Initrd: img.Initrd,
			RootDisk: img.RootDisk, Cmdline: img.Cmdline, Accel: accel, Template: set.cfg.VMTemplate, Logf: set.logf})
	case "firecracker":
		if _, err := exec.LookPath("firecracker"); err != nil {
			return nil, errors.New("no firecracker binary on PATH")
		}
		img, err := image.Latest(set.imageDir())
		if err != nil {
			return nil, fmt.Errorf("no guest image in %s (hookci image build): %w", set.imageDir(), err)
		}
		return firecracker.New(firecracker.Config{AgentPath: set.agentPath, WorkDir: work, Kernel: img.Kernel,
			Initrd: img.Initrd, RootDisk: img.RootDisk, Cmdline: img.Cmdline, Logf: set.logf})
	}
	return nil, fmt.Errorf("unknown sandbox %q", name)
}

// reap removes what a crashed predecessor left in every backend in use.
func (set *sandboxSet) reap(ctx context.Context) error {
	set.mu.Lock()
	defer set.mu.Unlock()
	var errs []error
	for name, st := range set.backends {
		if r, ok := st.(interface{ Reap(context.Context) error }); ok {
			if err := r.Reap(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

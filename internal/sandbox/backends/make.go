package backends

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/image"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/firecracker"
	"github.com/hookci/hookci/internal/sandbox/host"
	"github.com/hookci/hookci/internal/sandbox/microvm"
	"github.com/hookci/hookci/internal/sandbox/namespace"
)

// backend is what every sandbox backend offers.
type backend interface {
	Start(ctx context.Context, spec sandbox.Spec) (*sandbox.Instance, error)
}

func (s *Set) imageDir() string {
	if s.cfg.ImageDir != "" {
		return s.cfg.ImageDir
	}
	return s.cfg.DataDir
}

// make creates one backend working in work.
func (s *Set) make(name, work string) (backend, error) {
	log := s.log.With("backend", name)
	switch name {
	case "host":
		return host.New(host.Config{AgentPath: s.agentPath, WorkDir: work})
	case "namespace":
		if _, err := exec.LookPath("bwrap"); err != nil {
			return nil, errors.New("bubblewrap (bwrap) is not installed")
		}
		nc := namespace.Config{AgentPath: s.agentPath, WorkDir: work, NodeBundleDir: filepath.Join(s.cfg.DataDir, "node-bundle")}
		if img, err := image.Latest(s.imageDir()); err == nil {
			nc.RootFS = img.RootFSDir
		}
		return namespace.New(nc)
	case "microvm":
		if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
			return nil, errors.New("qemu-system-x86_64 is not installed")
		}
		img, err := image.Latest(s.imageDir())
		if err != nil {
			return nil, fmt.Errorf("no guest image in %s (hookci image build): %w", s.imageDir(), err)
		}
		accel := s.cfg.Accel
		if accel == "" {
			accel = "auto"
		}
		return microvm.New(microvm.Config{AgentPath: s.agentPath, WorkDir: work, Kernel: img.Kernel, Initrd: img.Initrd,
			RootDisk: img.RootDisk, Cmdline: img.Cmdline, Accel: accel, Template: s.cfg.VMTemplate, Logger: log,
			NodeBundle: img.NodeBundle})
	case "firecracker":
		if _, err := exec.LookPath("firecracker"); err != nil {
			return nil, errors.New("no firecracker binary on PATH")
		}
		img, err := image.Latest(s.imageDir())
		if err != nil {
			return nil, fmt.Errorf("no guest image in %s (hookci image build): %w", s.imageDir(), err)
		}
		return firecracker.New(firecracker.Config{AgentPath: s.agentPath, WorkDir: work, Kernel: img.Kernel,
			Initrd: img.Initrd, RootDisk: img.RootDisk, Cmdline: img.Cmdline, Logger: log})
	}
	return nil, fmt.Errorf("unknown sandbox %q", name)
}

// probe starts and closes one sandbox.
func probe(ctx context.Context, start sandbox.StartFunc) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	inst, err := start(ctx, sandbox.Spec{ID: fmt.Sprintf("probe-%d", os.Getpid())})
	if err != nil {
		return err
	}
	return inst.Close()
}

// Available reports why backend name cannot be made here with cfg (its
// tools, the guest image), without starting a sandbox; nil when it can.
func Available(cfg config.Config, name string) error {
	return tryBackend(cfg, name, nil)
}

// Probe makes backend name as the server would (cfg's agent and guest
// image) in a temporary work directory and starts and closes one sandbox:
// the check "auto" makes before choosing namespace, for hookci doctor.
func Probe(ctx context.Context, cfg config.Config, name string) error {
	return tryBackend(cfg, name, func(b backend) error { return probe(ctx, b.Start) })
}

// tryBackend makes backend name in a temporary work directory and, unless
// nil, calls then with it.
func tryBackend(cfg config.Config, name string, then func(backend) error) error {
	agentPath, err := LocateAgent(cfg.AgentPath)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "hookci-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if cfg.ImageDir == "" {
		cfg.ImageDir = cfg.DataDir
	}
	cfg.DataDir = tmp
	s := &Set{cfg: cfg, agentPath: agentPath, log: discard()}
	b, err := s.make(name, filepath.Join(tmp, name[:2]))
	if err != nil || then == nil {
		return err
	}
	return then(b)
}

// LocateAgent finds the static hookci-agent binary: the configured path,
// next to this executable, or on PATH.
func LocateAgent(configured string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("HOOKCI_AGENT_PATH: %w", err)
		}
		return configured, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "hookci-agent")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("hookci-agent"); err == nil {
		return p, nil
	}
	return "", errors.New("hookci-agent not found (next to hookci, on PATH, or HOOKCI_AGENT_PATH): build it with " +
		"CGO_ENABLED=0 go build -o bin/ ./cmd/hookci-agent")
}

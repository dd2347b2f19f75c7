// Command microvm measures the microVM sandbox: cold boot against a start
// from a template snapshot (time until the agent answers Info, p50/p95),
// host memory per idle VM (RSS and PSS of the QEMU process), guest CPU
// overhead (a shell loop inside against outside), and delivering a ~60 MB
// workspace as a tar through the agent against an ext4 scratch disk, and
// (firststep) what a template clone spends before and in its first step. It
// prints every figure with the hardware and the accelerator (KVM or TCG).
//
//	go run ./bench/microvm [-n 10] [-only cold,template,memory,cpu,workspace,firststep]
//
// The guest image is the one `hookci image build` made last (or -kernel,
// -initrd, -rootdisk).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookci/hookci/bench/hw"
	"github.com/hookci/hookci/internal/image"
	"github.com/hookci/hookci/internal/sandbox/microvm"
)

type config struct {
	n                        int
	only                     string
	kernel, initrd, rootDisk string
	agent                    string
	accel                    string
	tree                     string
	treeMiB                  int
}

func main() {
	var cfg config
	flag.IntVar(&cfg.n, "n", 10, "starts per measurement")
	flag.StringVar(&cfg.only, "only", "cold,template,memory,cpu,workspace", "measurements to run")
	flag.StringVar(&cfg.kernel, "kernel", "", "guest kernel (default: latest built image)")
	flag.StringVar(&cfg.initrd, "initrd", "", "guest modules initramfs")
	flag.StringVar(&cfg.rootDisk, "rootdisk", "", "guest root disk")
	flag.StringVar(&cfg.agent, "agent", "", "static hookci-agent (default: built from ./cmd/hookci-agent)")
	flag.StringVar(&cfg.accel, "accel", "auto", "auto, kvm or tcg")
	flag.StringVar(&cfg.tree, "tree", "/usr/local/go/src", "source of the workspace tree")
	flag.IntVar(&cfg.treeMiB, "tree-mib", 60, "workspace size to copy from -tree")
	flag.Parse()
	if err := run(context.Background(), cfg); err != nil {
		fmt.Fprintln(os.Stderr, "microvm bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	dir, err := os.MkdirTemp("", "mvb")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := resolveImage(&cfg, dir); err != nil {
		return err
	}
	newBackend := func(template bool) (*microvm.Backend, string, error) {
		wd, err := os.MkdirTemp(dir, "w")
		if err != nil {
			return nil, "", err
		}
		b, err := microvm.New(microvm.Config{
			AgentPath: cfg.agent, WorkDir: wd, Kernel: cfg.kernel, Initrd: cfg.initrd, RootDisk: cfg.rootDisk,
			Accel: cfg.accel, Template: template, DefaultCPUs: 2, DefaultMemoryMiB: 2048,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		return b, wd, err
	}
	probe, _, err := newBackend(false)
	if err != nil {
		return err
	}
	cfg.accel = probe.Accel()
	fmt.Printf("microvm benchmark\n  hardware: %s\n  accelerator: %s\n  kernel: %s\n  guest: 2 vCPUs, 2048 MiB\n\n", hw.Describe(), strings.ToUpper(cfg.accel), cfg.kernel)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"cold", func() error { return benchStarts(ctx, cfg, newBackend, false) }},
		{"template", func() error { return benchStarts(ctx, cfg, newBackend, true) }},
		{"memory", func() error { return benchMemory(ctx, newBackend) }},
		{"cpu", func() error { return benchCPU(ctx, newBackend) }},
		{"gobuild", func() error { return benchGoBuild(ctx, newBackend) }},
		{"workspace", func() error { return benchWorkspace(ctx, cfg, dir, newBackend) }},
		{"firststep", func() error { return benchFirstStep(ctx, cfg, dir, newBackend) }},
	}
	for _, s := range steps {
		if !strings.Contains(","+cfg.only+",", ","+s.name+",") {
			continue
		}
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// resolveImage fills the image paths from the latest built image and
// builds the agent if not given.
func resolveImage(cfg *config, dir string) error {
	if cfg.kernel == "" {
		data := os.Getenv("HOOKCI_DATA_DIR") // as the tests: the shared image
		if data == "" {
			cache, _ := os.UserCacheDir()
			data = filepath.Join(cache, "hookci")
		}
		img, err := image.Latest(data)
		if err != nil {
			return fmt.Errorf("no guest image (run `hookci image build` or pass -kernel/-rootdisk): %w", err)
		}
		cfg.kernel, cfg.initrd, cfg.rootDisk = img.Kernel, img.Initrd, img.RootDisk
	}
	if cfg.agent == "" {
		cfg.agent = filepath.Join(dir, "hookci-agent")
		cmd := exec.Command("go", "build", "-o", cfg.agent, "./cmd/hookci-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building the agent: %v\n%s", err, out)
		}
	}
	return nil
}

// percentile returns the p-th percentile (nearest rank) of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(p/100*float64(len(ds))+0.5) - 1
	i = max(0, min(i, len(ds)-1))
	return ds[i]
}

package microvm

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hookci/hookci/internal/sandbox/netjail"
	"github.com/hookci/hookci/internal/sandbox/uidpool"
)

// Config configures the microVM backend.
type Config struct {
	// AgentPath is the static hookci-agent binary; it becomes /init of the
	// initramfs the backend generates.
	AgentPath string
	// WorkDir is owned by the backend: VM directories, templates, initramfs.
	WorkDir string
	// QEMUPath is qemu-system-x86_64 (default: looked up in PATH).
	QEMUPath string
	// Kernel is the guest kernel: an uncompressed vmlinux with a PVH note
	// (fastest to boot) or a bzImage.
	Kernel string
	// Initrd is an optional initramfs placed before the generated one:
	// kernel modules for a modular kernel, listed in /etc/hookci/modules.
	Initrd string
	// RootDisk is the guest's root filesystem, an ext4 image attached
	// read-only.
	RootDisk string
	// Cmdline is appended to the kernel command line.
	Cmdline string
	// Accel is "auto" (default), "kvm" or "tcg".
	Accel string
	// DefaultCPUs and DefaultMemoryMiB apply when a Spec leaves them 0
	// (defaults 2 and 2048).
	DefaultCPUs      int
	DefaultMemoryMiB int
	// Template starts jobs from a booted snapshot (see the package doc).
	Template bool
	// StartTimeout bounds one boot until the agent answers (default 60 s).
	StartTimeout time.Duration
	// Logger receives warnings (Warn) and progress (default: discarded).
	Logger *slog.Logger
	// RunAs is the "uid:gid" QEMU switches to (-runas) once it has opened
	// its files, when hookci runs as root. Default "" (RunAsPool): each
	// VM's QEMU gets a uid (and the same gid) of its own from UIDs, the
	// range the namespace backend's sandboxes take theirs from, so a QEMU
	// that a guest took over shares its uid with no other VM, sandbox or
	// host service and can neither signal nor trace them. A fixed
	// "uid:gid" runs every VM as that one id; "root" keeps QEMU as root
	// (not recommended). A tool cache shared into the guest must be
	// readable by all.
	RunAs string
	// UIDs is the pool RunAsPool takes from (default: uidpool.New over
	// uidpool's defaults, shared through its lock directory with every
	// hookci process and backend of the host).
	UIDs *uidpool.Pool
	// Egress configures the network namespace a VM granted egress runs in
	// (see package netjail): its user networking then reaches only what the
	// namespace lets out, and 10.0.2.2 is the namespace's empty loopback,
	// not the host's.
	Egress netjail.Config
	// NodeBundle is the guest path of the image's self-contained node
	// (image.Image.NodeBundle), bound read-only into job containers for
	// JavaScript actions; "" (an image built without one): such a step
	// fails saying so.
	NodeBundle string
}

// RunAsPool (the default RunAs) gives each VM's QEMU a uid of its own.
const RunAsPool = ""

// Accelerators Config.Accel accepts.
const (
	AccelAuto = "auto"
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// withDefaults fills defaults and checks cfg.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Accel == "" {
		cfg.Accel = AccelAuto
	}
	switch cfg.Accel {
	case AccelAuto, AccelKVM, AccelTCG:
	default:
		return cfg, fmt.Errorf("microvm: Accel %q: want auto, kvm or tcg", cfg.Accel)
	}
	if cfg.DefaultCPUs == 0 {
		cfg.DefaultCPUs = 2
	}
	if cfg.DefaultMemoryMiB == 0 {
		cfg.DefaultMemoryMiB = 2048
	}
	if cfg.DefaultCPUs < 0 || cfg.DefaultMemoryMiB < 64 {
		return cfg, fmt.Errorf("microvm: DefaultCPUs %d / DefaultMemoryMiB %d out of range", cfg.DefaultCPUs, cfg.DefaultMemoryMiB)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RunAs == RunAsPool && cfg.UIDs == nil && os.Geteuid() == 0 {
		uids, err := uidpool.New(uidpool.DefaultBase, uidpool.DefaultCount, uidpool.DefaultSubBase, uidpool.DefaultLockDir)
		if err != nil {
			return cfg, fmt.Errorf("microvm: %w", err)
		}
		cfg.UIDs = uids
	}
	if cfg.RunAs != RunAsPool && cfg.RunAs != "root" {
		var uid, gid uint32
		if n, err := fmt.Sscanf(cfg.RunAs, "%d:%d", &uid, &gid); err != nil || n != 2 || uid == 0 || fmt.Sprintf("%d:%d", uid, gid) != cfg.RunAs {
			return cfg, fmt.Errorf("microvm: RunAs %q: want \"uid:gid\" with a uid other than 0, or \"root\"", cfg.RunAs)
		}
	}
	if cfg.QEMUPath == "" {
		p, err := exec.LookPath("qemu-system-x86_64")
		if err != nil {
			return cfg, fmt.Errorf("microvm: %w", err)
		}
		cfg.QEMUPath = p
	}
	if !filepath.IsAbs(cfg.WorkDir) {
		return cfg, fmt.Errorf("microvm: WorkDir %q is not absolute", cfg.WorkDir)
	}
	files := map[string]string{"QEMUPath": cfg.QEMUPath, "AgentPath": cfg.AgentPath, "Kernel": cfg.Kernel, "RootDisk": cfg.RootDisk}
	if cfg.Initrd != "" {
		files["Initrd"] = cfg.Initrd
	}
	for name, p := range files {
		if err := isFile(p); err != nil {
			return cfg, fmt.Errorf("microvm: %s: %w", name, err)
		}
	}
	return cfg, nil
}

func isFile(p string) error {
	if p == "" {
		return errors.New("not set")
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	return nil
}

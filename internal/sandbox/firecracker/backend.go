// Package firecracker is the sandbox backend that runs each job in a
// Firecracker microVM, used where a `firecracker` binary is on the host. It
// boots the same kernel, root disk and agent as package microvm: the
// initramfs with the agent as /init (microvm.BuildInitramfs), the root disk
// read-only under a tmpfs overlay, and the agent listening on vsock port
// AgentPort (kernel command line hookci.vsock=PORT), which the host reaches
// through Firecracker's vsock-over-unix-socket ("CONNECT <port>\n" →
// "OK <host port>\n").
//
// Firecracker is configured through its REST API on a unix socket:
// PUT /machine-config, /boot-source, /drives/rootfs, /vsock, then
// /actions InstanceStart. Networking needs a TAP device, which this backend
// does not set up: Spec.Network and Spec.ToolCache are refused.
package firecracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/microvm"
)

// AgentPort is the vsock port the guest agent listens on.
const AgentPort = 1024

// Config configures the Firecracker backend.
type Config struct {
	AgentPath       string // static hookci-agent, /init of the generated initramfs
	WorkDir         string // owned by the backend: one directory per VM
	FirecrackerPath string // default: firecracker from PATH
	Kernel          string // uncompressed vmlinux
	Initrd          string // optional modules initramfs (see microvm.Config.Initrd)
	RootDisk        string // ext4 root image, attached read-only
	Cmdline         string // appended to the kernel command line
	DefaultCPUs     int    // default 2
	// DefaultMemoryMiB defaults to 2048.
	DefaultMemoryMiB int
	StartTimeout     time.Duration // default 30 s
	Logger           *slog.Logger  // warnings and progress (default: discarded)
}

// Backend starts Firecracker sandboxes.
type Backend struct {
	cfg       Config
	initramfs string
}

// New checks cfg (a missing firecracker binary is an error) and writes the
// initramfs.
func New(cfg Config) (*Backend, error) {
	if cfg.FirecrackerPath == "" {
		p, err := exec.LookPath("firecracker")
		if err != nil {
			return nil, fmt.Errorf("firecracker: %w", err)
		}
		cfg.FirecrackerPath = p
	}
	if !filepath.IsAbs(cfg.WorkDir) {
		return nil, fmt.Errorf("firecracker: WorkDir %q is not absolute", cfg.WorkDir)
	}
	for name, p := range map[string]string{"Kernel": cfg.Kernel, "RootDisk": cfg.RootDisk, "AgentPath": cfg.AgentPath} {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("firecracker: %s %q is not a file (%v)", name, p, err)
		}
	}
	if cfg.DefaultCPUs == 0 {
		cfg.DefaultCPUs = 2
	}
	if cfg.DefaultMemoryMiB == 0 {
		cfg.DefaultMemoryMiB = 2048
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("firecracker: %w", err)
	}
	initramfs, err := microvm.BuildInitramfs(cfg.WorkDir, cfg.Initrd, cfg.AgentPath)
	if err != nil {
		return nil, err
	}
	return &Backend{cfg: cfg, initramfs: initramfs}, nil
}

// Files of one VM under WorkDir/<id>.
const (
	apiSock   = "api.sock"
	vsockSock = "vsock.sock"
	pidName   = "firecracker.pid"
	logName   = "console.log"
)

// Start boots a VM for spec and returns once its agent answers.
func (b *Backend) Start(ctx context.Context, spec sandbox.Spec) (*sandbox.Instance, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.Network || spec.ToolCache != "" {
		return nil, fmt.Errorf("firecracker %s: Network and ToolCache are not supported by this backend", spec.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.StartTimeout)
	defer cancel()
	dir := filepath.Join(b.cfg.WorkDir, spec.ID)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("firecracker %s: %w", spec.ID, err)
	}
	cmd, err := b.launch(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("firecracker %s: %w", spec.ID, err)
	}
	destroy := func() error {
		cmd.Process.Kill()
		cmd.Wait()
		return os.RemoveAll(dir)
	}
	c, err := b.boot(ctx, dir, spec)
	if err != nil {
		tail := tailFile(filepath.Join(dir, logName), 2048)
		destroy()
		return nil, fmt.Errorf("firecracker %s: %w\n--- console (tail) ---\n%s", spec.ID, err, tail)
	}
	layout := agent.Layout{Workspace: "/home/runner/work/w", Temp: "/home/runner/work/_temp", Home: "/home/runner"}
	return sandbox.NewInstance(c, layout, "firecracker", destroy), nil
}

// launch starts firecracker with its API socket in dir; console to a file.
func (b *Backend) launch(dir string) (*exec.Cmd, error) {
	log, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(b.cfg.FirecrackerPath, "--api-sock", filepath.Join(dir, apiSock))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	os.WriteFile(filepath.Join(dir, pidName), fmt.Appendf(nil, "%d\n", cmd.Process.Pid), 0o644)
	return cmd, nil
}

// boot configures and starts the VM, then connects to the agent.
func (b *Backend) boot(ctx context.Context, dir string, spec sandbox.Spec) (*agent.Client, error) {
	if err := waitForSocket(ctx, filepath.Join(dir, apiSock)); err != nil {
		return nil, err
	}
	s := vmSetup{
		cpus: spec.CPUs, memMiB: spec.MemoryMiB,
		kernel: b.cfg.Kernel, initrd: b.initramfs, rootDisk: b.cfg.RootDisk,
		bootArgs:  strings.TrimSpace(fmt.Sprintf("console=ttyS0 quiet panic=-1 reboot=k rdinit=/init hookci.vsock=%d %s", AgentPort, b.cfg.Cmdline)),
		vsockPath: filepath.Join(dir, vsockSock),
	}
	if s.cpus == 0 {
		s.cpus = b.cfg.DefaultCPUs
	}
	if s.memMiB == 0 {
		s.memMiB = b.cfg.DefaultMemoryMiB
	}
	if err := newAPIClient(filepath.Join(dir, apiSock)).configure(ctx, s); err != nil {
		return nil, err
	}
	for {
		conn, err := dialVsock(ctx, s.vsockPath, AgentPort)
		if err == nil {
			return agent.NewClient(conn)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("agent did not answer on vsock port %d: %w (%v)", AgentPort, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func waitForSocket(ctx context.Context, path string) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("API socket %s: %w", path, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Reap kills the firecracker processes recorded in WorkDir (only if the pid
// still runs firecracker with that directory's API socket) and removes
// every VM directory. Call it at startup, before any Start.
func (b *Backend) Reap(ctx context.Context) error {
	dirs, err := filepath.Glob(filepath.Join(b.cfg.WorkDir, "*", pidName))
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range dirs {
		dir := filepath.Dir(p)
		raw, _ := os.ReadFile(p)
		var pid int
		fmt.Sscan(string(raw), &pid)
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if pid > 0 && strings.Contains(string(cmdline), filepath.Join(dir, apiSock)) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

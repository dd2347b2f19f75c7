package microvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hookci/hookci/internal/sandbox/netjail"
)

// Reap removes what an earlier, crashed process left in WorkDir: it kills
// each QEMU whose pid file is there (only if that pid still runs QEMU with
// that directory on its command line, so a reused pid is never hit) and
// removes VM and template directories this Backend is not using.
func (b *Backend) Reap(ctx context.Context) error {
	var errs []error
	for _, sub := range []string{"vms", "templates"} {
		dirs, err := filepath.Glob(filepath.Join(b.cfg.WorkDir, sub, "*"))
		if err != nil {
			return fmt.Errorf("microvm reap: %w", err)
		}
		for _, dir := range dirs {
			if b.inUse(dir) {
				continue
			}
			if err := reapDir(ctx, dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(b.cfg.WorkDir, "initramfs-*.tmp"))
	for _, t := range tmps {
		os.Remove(t)
	}
	// Workspace disks of VMs that are not running.
	disks, _ := filepath.Glob(filepath.Join(b.cfg.WorkDir, "disks", "*.ext4"))
	for _, d := range disks {
		if !b.inUse(filepath.Join(b.cfg.WorkDir, "vms", strings.TrimSuffix(filepath.Base(d), ".ext4"))) {
			os.Remove(d)
		}
	}
	return errors.Join(errs...)
}

func (b *Backend) inUse(dir string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.live[dir]
}

// reapDir kills the QEMU of one directory, if any, and removes it.
func reapDir(ctx context.Context, dir string) error {
	if pid := qemuPid(dir); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
		for processExists(pid) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("microvm reap: qemu %d in %s: %w", pid, dir, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if err := netjail.Reap(dir); err != nil {
		return fmt.Errorf("microvm reap: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("microvm reap: %w", err)
	}
	return nil
}

// qemuPid returns the pid in dir's pid file if that process is a QEMU
// started for dir, else 0.
func qemuPid(dir string) int {
	raw, err := os.ReadFile(filepath.Join(dir, pidName))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(filepath.Join(dir, pidName))) {
		return 0
	}
	return pid
}

// processExists reports whether pid exists and is not a zombie.
func processExists(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name's closing parenthesis.
	i := bytes.LastIndexByte(raw, ')')
	return i < 0 || i+2 >= len(raw) || raw[i+2] != 'Z'
}

package namespace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hookci/hookci/internal/sandbox/netjail"
)

// ownerFile records which hookci process owns a sandbox directory:
// "<pid> <start time in clock ticks>", identifying it across pid reuse.
const ownerFile = "owner"

func writeOwner(dir string) error {
	start, _ := startTime(os.Getpid())
	line := fmt.Sprintf("%d %d\n", os.Getpid(), start)
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(line), 0o600)
}

// ownerAlive reports whether the process that wrote dir's owner file runs.
func ownerAlive(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return false
	}
	var pid, start int
	if n, err := fmt.Sscanf(string(data), "%d %d", &pid, &start); err != nil || n != 2 {
		return false
	}
	got, ok := startTime(pid)
	return ok && got == start
}

// startTime reads field 22 of /proc/<pid>/stat.
func startTime(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	j := bytes.LastIndexByte(b, ')')
	if j < 0 {
		return 0, false
	}
	f := bytes.Fields(b[j+1:])
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.Atoi(string(f[19]))
	return v, err == nil
}

// Reap removes what earlier hookci processes left behind: sandboxes (their
// processes, cgroup and directory) whose owner is gone, and cgroups without a
// directory. Sandboxes of live owners, this process included, are kept.
func (b *Backend) Reap(ctx context.Context) error {
	var errs []error
	ents, err := os.ReadDir(b.cfg.WorkDir)
	if err != nil {
		return fmt.Errorf("namespace sandbox reap: %w", err)
	}
	live := map[string]bool{}
	for _, e := range ents {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		dir := filepath.Join(b.cfg.WorkDir, e.Name())
		if !e.IsDir() {
			continue
		}
		if ownerAlive(dir) {
			live[e.Name()] = true
			continue
		}
		cg := b.cgroups.open(e.Name())
		errs = append(errs, cg.kill(), cg.remove(), netjail.Reap(dir), os.RemoveAll(dir))
	}
	for _, name := range b.cgroups.names() {
		if !live[name] {
			cg := b.cgroups.open(name)
			errs = append(errs, cg.kill(), cg.remove())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("namespace sandbox reap: %w", err)
	}
	return nil
}

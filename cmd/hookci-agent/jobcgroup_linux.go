package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// jobReserveBytes is the memory kept out of the job cgroup's reach for the
// agent and the guest itself.
const jobReserveBytes = 96 << 20

// setupJobCgroup creates the cgroup v2 directory dir for job processes: the
// pids and memory controllers enabled, at most 1024 processes, and memory up
// to what the machine has less a reserve, so that a fork bomb or a memory hog
// is stopped inside the cgroup while the agent (outside it) keeps answering.
func setupJobCgroup(dir string) error {
	parent := filepath.Dir(dir)
	if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+pids +memory"), 0o644); err != nil {
		return fmt.Errorf("enabling controllers in %s: %w", parent, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte("1024"), 0o644); err != nil {
		return err
	}
	total, err := memTotal()
	if err != nil {
		return err
	}
	limit := total - jobReserveBytes
	if limit < total/2 {
		limit = total / 2
	}
	return os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(limit, 10)), 0o644)
}

func memTotal() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no MemTotal in /proc/meminfo")
}

package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Reap removes what earlier processes left in WorkDir: for every sandbox
// directory whose owner (the hookci process that started it, recorded in the
// pid file with its start time) is gone, it kills the processes of the
// agent's session (and of any process still running in the directory: an
// owner killed before it wrote the pid file) and removes the directory.
// Sandboxes of live owners, this process included, are left alone.
func (b *Backend) Reap(ctx context.Context) error {
	ents, err := os.ReadDir(b.cfg.WorkDir)
	if err != nil {
		return fmt.Errorf("host sandbox reap: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(b.cfg.WorkDir, e.Name())
		agentPid, owner, ok := readPidFile(dir)
		if ok && owner.alive() {
			continue
		}
		if ok {
			if err := killSession(agentPid); err != nil {
				errs = append(errs, err)
			}
		}
		// An owner killed before it wrote the pid file leaves an agent
		// nobody recorded: found by its working directory.
		for _, sid := range sessionsIn(dir) {
			if err := killSession(sid); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// process identifies a process across pid reuse.
type process struct{ pid, start int }

func self() process {
	start, _ := startTime(os.Getpid())
	return process{os.Getpid(), start}
}

func (p process) alive() bool {
	start, ok := startTime(p.pid)
	return ok && start == p.start
}

// pidLine is the content of the pid file: "<agent pid> <owner pid> <owner start>".
func pidLine(agentPid int, owner process) string {
	return fmt.Sprintf("%d %d %d\n", agentPid, owner.pid, owner.start)
}

func readPidFile(dir string) (agentPid int, owner process, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, pidName))
	if err != nil {
		return 0, owner, false
	}
	n, err := fmt.Sscanf(string(b), "%d %d %d", &agentPid, &owner.pid, &owner.start)
	return agentPid, owner, err == nil && n == 3 && agentPid > 1
}

//go:build linux

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setNoDump makes the agent non-dumpable: /proc/<agent>/mem, fd, environ
// and the like then belong to root, and processes of the agent's own uid
// (a namespace sandbox's job) can neither read nor write its memory nor
// reach its descriptors (ptrace itself is refused them by the sandbox's
// seccomp filter). The processes it starts are dumpable again after
// execve, as usual.
func setNoDump() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("--no-dump: %w", err)
	}
	return nil
}

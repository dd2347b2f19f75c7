//go:build linux

package main

import (
	"fmt"
	"os"
	"strconv"

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

// closeInheritedFDs closes every descriptor from 3 up that the agent
// inherited (a descriptor its starter's parent leaked: a host file, a pipe),
// except keep (-1: none), so that neither the agent nor the processes it
// starts hold it. Inherited descriptors are the ones without close-on-exec:
// the Go runtime opens its own with it, and execve closed the ones that
// had it.
func closeInheritedFDs(keep int) error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("closing inherited descriptors: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 || fd == keep {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue // gone (the directory's own descriptor) or the runtime's
		}
		unix.Close(fd)
	}
	return nil
}

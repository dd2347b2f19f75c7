//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// sandboxInitArg is os.Args[1] of PID 1 in a namespace sandbox or one of
// its containers: bubblewrap runs it with --as-pid-1 in place of its own
// reaper, which is dumpable and so open to the job's uid (through
// /proc/1/mem a job could write bubblewrap's memory and run code as PID
// 1, which holds the host's log file open).
const sandboxInitArg = "sandbox-init"

// sandboxInit is PID 1 of a namespace sandbox's pid namespace: it makes
// itself non-dumpable before anything of the job exists (so the job's uid
// can neither open its /proc memory, descriptors or environment nor
// attach to it), starts this binary again with args (the agent proper,
// handing down every descriptor it inherited at the same number), reaps
// every orphan of the sandbox, and exits with the agent's status when the
// agent ends (the kernel then kills what is left in the namespace).
// Signals sent from inside the sandbox are caught and dropped, so a job
// cannot end its own init with kill -TERM 1 (SIGKILL from inside is
// ignored by the kernel for a namespace's init); the host ends a sandbox
// by killing its cgroup.
func sandboxInit(args []string) error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("non-dumpable: %w", err)
	}
	signal.Notify(make(chan os.Signal, 1)) // every signal, dropped
	files, inherited, err := inheritedFiles()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("the agent's path: %w", err)
	}
	attr := &syscall.ProcAttr{Env: os.Environ(), Dir: "/", Files: files}
	child, err := syscall.ForkExec(exe, append([]string{exe}, args...), attr)
	if err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	for _, fd := range inherited {
		if fd > 2 {
			unix.Close(fd) // the agent's alone now (its listener)
		}
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		if pid != child {
			continue // an orphan of the job, reaped
		}
		if ws.Signaled() {
			os.Exit(128 + int(ws.Signal()))
		}
		os.Exit(ws.ExitStatus())
	}
}

// inheritedFiles returns the child's descriptor table: every descriptor
// this process inherited (the ones without close-on-exec; the Go runtime
// opens its own with it) at its own number, the gaps closed; and the
// inherited descriptors' numbers.
func inheritedFiles() ([]uintptr, []int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, nil, fmt.Errorf("listing inherited descriptors: %w", err)
	}
	var fds []int
	top := 2
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		fds = append(fds, fd)
		top = max(top, fd)
	}
	files := make([]uintptr, top+1)
	for i := range files {
		files[i] = ^uintptr(0) // closed in the child
	}
	for _, fd := range fds {
		files[fd] = uintptr(fd)
	}
	return files, fds, nil
}

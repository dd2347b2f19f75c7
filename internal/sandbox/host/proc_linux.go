package host

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sessionMembers returns the pids of the live (not zombie) processes in
// session sid. Each process's stat is read once, into one buffer, with three
// system calls (open, read, close): the scan covers every process on the
// machine at each sandbox close.
func sessionMembers(sid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	var buf [512]byte
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		after, ok := readStat(pid, buf[:])
		if !ok {
			continue
		}
		if s, ok := field(after, 3); ok && s == sid && after[0] != 'Z' {
			pids = append(pids, pid)
		}
	}
	return pids
}

// readStat reads /proc/<pid>/stat into buf and returns what follows the
// command name (the name is in parentheses and may contain anything): the
// state, then the numeric fields, space-separated.
func readStat(pid int, buf []byte) ([]byte, bool) {
	fd, err := syscall.Open("/proc/"+strconv.Itoa(pid)+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	n, err := syscall.Read(fd, buf)
	syscall.Close(fd)
	if err != nil || n <= 0 {
		return nil, false
	}
	b := buf[:n]
	j := bytes.LastIndexByte(b, ')')
	if j < 0 || len(b) < j+3 {
		return nil, false
	}
	return b[j+2:], true
}

// field returns numeric field i (0 = state) of a stat line's tail (see
// readStat) without allocating.
func field(after []byte, i int) (int, bool) {
	for ; i > 0; i-- {
		sp := bytes.IndexByte(after, ' ')
		if sp < 0 {
			return 0, false
		}
		after = after[sp+1:]
	}
	if sp := bytes.IndexByte(after, ' '); sp >= 0 {
		after = after[:sp]
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(after)))
	return v, err == nil
}

// sessionOf reads the session id of pid.
func sessionOf(pid int) (int, bool) {
	return statField(pid, 3) // after ")": state ppid pgrp session
}

// zombie reports whether pid has exited and waits to be reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	j := bytes.LastIndexByte(b, ')')
	return j >= 0 && len(b) > j+2 && b[j+2] == 'Z'
}

// startTime reads the start time of pid (clock ticks since boot), which
// together with the pid identifies a process across pid reuse.
func startTime(pid int) (int, bool) {
	return statField(pid, 19) // field 22 of /proc/<pid>/stat
}

// statField returns field i (0 = state) after the command name of /proc/<pid>/stat.
func statField(pid, i int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may contain anything.
	j := bytes.LastIndexByte(b, ')')
	if j < 0 {
		return 0, false
	}
	f := bytes.Fields(b[j+1:])
	if len(f) <= i {
		return 0, false
	}
	v, err := strconv.Atoi(string(f[i]))
	return v, err == nil
}

// killSession SIGKILLs every process of session sid, repeating while
// processes (forked meanwhile) remain, for at most 5 s.
func killSession(sid int) error {
	if sid <= 1 {
		return fmt.Errorf("refusing to kill session %d", sid)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := sessionMembers(sid)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("session %d: processes %v survive SIGKILL", sid, pids)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sessionsIn returns the sessions of the live processes whose working
// directory is dir or below it, other than this process's own session. An
// agent whose owner was killed between starting it and writing its pid file
// is found this way: startAgent runs it in its sandbox directory.
func sessionsIn(dir string) []int {
	own, _ := sessionOf(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	seen := map[int]bool{}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err != nil {
			continue
		}
		cwd = strings.TrimSuffix(cwd, " (deleted)")
		if cwd != dir && !strings.HasPrefix(cwd, dir+"/") {
			continue
		}
		if sid, ok := sessionOf(pid); ok && sid > 1 && sid != own && !seen[sid] && !zombie(pid) {
			seen[sid] = true
			out = append(out, sid)
		}
	}
	return out
}

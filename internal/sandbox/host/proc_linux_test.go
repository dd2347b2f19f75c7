package host

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

// TestCloseKillsEscapedProcessGroup is an attack: a step leaves a process in
// a process group of its own (setpgrp), which the agent's SIGTERM
// handling (it kills its process groups) does not reach, under a command
// name built to mislead a /proc/<pid>/stat parser (a ')', a 'Z' state and
// numbers in it). Close must still find it by its session and kill it.
func TestCloseKillsEscapedProcessGroup(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("perl"); err != nil {
		t.Fatal(err) // perl-base is Essential on Debian
	}
	b := newBackend(t)
	ctx := context.Background()
	inst, err := b.Start(ctx, sandbox.Spec{ID: "escape"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	tricky := filepath.Join(t.TempDir(), "x) Z 1 2 3 4")
	raw, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tricky, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	// perl leaves the shell's process group, then writes its pid (the file
	// appears whole, by rename) and becomes the tricky-named sleep.
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := `setpgrp(0, 0); open(F, ">", "$ARGV[1].tmp") or die; print F "$$\n"; close F; rename("$ARGV[1].tmp", $ARGV[1]) or die; exec $ARGV[0], "1000"`
	res, err := inst.Client.Exec(ctx, agent.ExecRequest{
		Argv: []string{"sh", "-c", `perl -e "$2" "$0" "$1" </dev/null >/dev/null 2>&1 &`, tricky, pidFile, script},
		Env:  env(), Dir: inst.Layout.Workspace,
	}, io.Discard)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Exec: %+v %v", res, err)
	}
	var pid int
	for deadline := time.Now().Add(30 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				t.Fatalf("pid file %q: %v", b, err)
			}
		} else if time.Now().After(deadline) {
			t.Fatal("the escaping process never wrote its pid")
		}
	}
	t.Cleanup(func() { // a failed test leaves nothing running
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	pgid, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatalf("left-behind process %d not running before Close: %v", pid, err)
	}
	if pgid != pid {
		t.Fatalf("process %d: got process group %d, want its own", pid, pgid)
	}
	if err := inst.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) && !isZombie(pid) {
		t.Errorf("process %d in its own process group after Close: kill(0) got %v, want it gone", pid, err)
	}
}

// TestReadStatMatchesProc checks the one-read stat parser used by the
// session scan against the plain reads for every process on the machine:
// the same session and the same zombie state.
func TestReadStatMatchesProc(t *testing.T) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var buf [512]byte
	checked := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		after, ok := readStat(pid, buf[:])
		want, wantOK := sessionOf(pid)
		if !ok || !wantOK {
			continue // exited meanwhile
		}
		got, ok := field(after, 3)
		if !ok || got != want {
			t.Errorf("pid %d: got session %d (%v), want %d", pid, got, ok, want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no process checked")
	}
	// A child that has exited and is not yet waited for is a zombie.
	child := exec.Command("true")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	var info [128]byte // siginfo_t; WNOWAIT leaves the child a zombie
	if _, _, errno := syscall.Syscall6(syscall.SYS_WAITID, 1 /* P_PID */, uintptr(child.Process.Pid),
		uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|0x01000000 /* WNOWAIT */, 0, 0); errno != 0 {
		t.Fatal(errno)
	}
	for _, c := range []struct {
		pid  int
		want byte
	}{{child.Process.Pid, 'Z'}, {os.Getpid(), 'R'}} {
		after, ok := readStat(c.pid, buf[:])
		if !ok || (after[0] == 'Z') != (c.want == 'Z') {
			t.Errorf("pid %d: got state %q (%v), want %c", c.pid, after[:1], ok, c.want)
		}
	}
}

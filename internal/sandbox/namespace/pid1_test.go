//go:build linux && amd64

package namespace

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

// The tests in this file attack the processes of a sandbox (or container)
// that are not the job's: its PID 1 and its agent. Both run as the job's
// own uid, so only their being non-dumpable (and the seccomp filter) keeps
// the job out of their memory and descriptors.

// pid1Attack adds the PID 1 modes to the attacker:
//
//	procs               for PID 1 ("init") and the attacker's parent
//	                    ("agent"), one line "<op> <target> <result>" per
//	                    attack of procAttacks
//	signals             send PID 1 every terminating signal; one line
//	                    "kill <signal> <result>" each
//	find MARKER         "found <pid>" for each visible process whose
//	                    command line holds MARKER, then "done"
//	hold MARKER         sleep 60 s (MARKER is only in the command line)
func pid1Attack(args []string) (int, bool) {
	switch args[0] {
	case "procs":
		for _, target := range []struct {
			name string
			pid  int
		}{{"init", 1}, {"agent", os.Getppid()}} {
			for _, a := range procAttacks() {
				fmt.Printf("%s %s %s\n", a.name, target.name, a.try(target.pid))
			}
		}
		return 0, true
	case "signals":
		for _, s := range []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGALRM, unix.SIGPIPE, unix.SIGSEGV, unix.SIGKILL} {
			fmt.Printf("kill %s %s\n", unix.SignalName(s), result(unix.Kill(1, s)))
		}
		return 0, true
	case "find":
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.Contains(string(b), args[1]) {
				fmt.Println("found", pid)
			}
		}
		fmt.Println("done")
		return 0, true
	case "hold":
		fmt.Println("holding")
		time.Sleep(60 * time.Second)
		return 0, true
	}
	return 0, false
}

// procAttack is one way into another process of the same uid; try returns
// "ok" when it worked, else the errno's name.
type procAttack struct {
	name string
	try  func(pid int) string
}

func procAttacks() []procAttack {
	p := func(pid int, rest string) string { return fmt.Sprintf("/proc/%d/%s", pid, rest) }
	open := func(path string, flags int) string {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return result(err)
	}
	return []procAttack{
		// The attack proper: write PID 1's memory (the same bytes back,
		// so that a sandbox that lets it through still works).
		{"mem-write", func(pid int) string { return memWrite(p(pid, "mem"), p(pid, "maps")) }},
		{"task-mem-write", func(pid int) string { return memWrite(p(pid, fmt.Sprintf("task/%d/mem", pid)), p(pid, "maps")) }},
		{"mem-read", func(pid int) string { return open(p(pid, "mem"), unix.O_RDONLY) }},
		{"maps", func(pid int) string { return open(p(pid, "maps"), unix.O_RDONLY) }},
		{"environ", func(pid int) string { return open(p(pid, "environ"), unix.O_RDONLY) }},
		{"fd-list", func(pid int) string { return open(p(pid, "fd"), unix.O_RDONLY|unix.O_DIRECTORY) }},
		// Descriptor 1 of PID 1 is the host's log of the sandbox.
		{"fd1-append", func(pid int) string { return open(p(pid, "fd/1"), unix.O_WRONLY|unix.O_APPEND) }},
		{"root", func(pid int) string { return open(p(pid, "root/"), unix.O_RDONLY|unix.O_DIRECTORY) }},
		{"ptrace-attach", func(pid int) string {
			err := unix.PtraceAttach(pid)
			if err == nil {
				var ws unix.WaitStatus
				unix.Wait4(pid, &ws, unix.WALL, nil)
				unix.PtraceDetach(pid)
			}
			return result(err)
		}},
		{"ptrace-seize", func(pid int) string {
			err := unix.PtraceSeize(pid)
			if err == nil {
				unix.PtraceDetach(pid)
			}
			return result(err)
		}},
		{"process_vm_writev", func(pid int) string {
			b := make([]byte, 8)
			_, err := unix.ProcessVMWritev(pid, []unix.Iovec{{Base: &b[0], Len: 8}}, []unix.RemoteIovec{{Base: 0x400000, Len: 8}}, 0)
			return result(err)
		}},
		{"pidfd_getfd", func(pid int) string {
			pfd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				return result(err)
			}
			defer unix.Close(pfd)
			fd, err := unix.PidfdGetfd(pfd, 1, 0)
			if err == nil {
				unix.Close(fd)
			}
			return result(err)
		}},
	}
}

// memWrite opens mem for writing and writes 8 bytes of the first mapping
// listed in maps back where they were; "ok" means the target's memory was
// written.
func memWrite(mem, maps string) string {
	fd, err := unix.Open(mem, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return result(err)
	}
	defer unix.Close(fd)
	f, err := os.Open(maps)
	if err != nil {
		return "opened-rw, maps " + result(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return "opened-rw, maps empty"
	}
	start, _, _ := strings.Cut(sc.Text(), "-")
	addr, err := strconv.ParseInt(start, 16, 64)
	if err != nil {
		return "opened-rw, maps " + err.Error()
	}
	b := make([]byte, 8)
	if _, err := unix.Pread(fd, b, addr); err != nil {
		return "opened-rw, read " + result(err)
	}
	if _, err := unix.Pwrite(fd, b, addr); err != nil {
		return "opened-rw, write " + result(err)
	}
	return "ok"
}

// procAttackWants are the answers a sandbox must give: the /proc files of
// a non-dumpable process belong to the host's root, and ptrace,
// process_vm_writev and pidfd_getfd are refused by the seccomp filter.
var procAttackWants = map[string]string{
	"mem-write": "EACCES", "task-mem-write": "EACCES", "mem-read": "EACCES", "maps": "EACCES", "environ": "EACCES",
	"fd-list": "EACCES", "fd1-append": "EACCES", "root": "EACCES",
	"ptrace-attach": "EPERM", "ptrace-seize": "EPERM", "process_vm_writev": "EPERM", "pidfd_getfd": "EPERM",
}

// checkProcAttacks fails the test for every attack of out (the "procs"
// mode's output) whose result is not its want (procAttackWants, or
// override's), and if an attack is missing.
func checkProcAttacks(t *testing.T, where, out string, override map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			t.Fatalf("%s: attacker output %q", where, out)
		}
		got[f[0]+" "+f[1]] = f[2]
	}
	for _, target := range []string{"init", "agent"} {
		for op, want := range procAttackWants {
			if o, ok := override[op]; ok {
				want = o
			}
			if g := got[op+" "+target]; g != want {
				t.Errorf("%s: %s on %s: got %q, want %s", where, op, target, g, want)
			}
		}
	}
}

// TestAttackSandboxPID1: the job cannot reach into its sandbox's PID 1
// (bubblewrap's reaper used to be dumpable and the job's uid: its memory
// was writable through /proc/1/mem) nor into its agent: no memory, maps,
// environment, descriptors (PID 1's stdout is the host's agent.log), root,
// ptrace, process_vm_writev or pidfd_getfd. Signals the job sends PID 1 do
// not end the sandbox, and PID 1 still reaps the job's orphans.
func TestAttackSandboxPID1(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "pid1"})
	installAttacker(t, b, "pid1")
	if code, out := run(t, inst, "tr '\\0' ' ' < /proc/1/cmdline"); code != 0 || !strings.Contains(out, "sandbox-init") {
		t.Errorf("PID 1's command line: got %q (exit %d), want the agent's sandbox-init", out, code)
	}
	logBefore, _ := os.ReadFile(filepath.Join(b.cfg.WorkDir, "pid1", "agent.log"))
	checkProcAttacks(t, "job", attack(t, inst, "procs"), nil)
	out := attack(t, inst, "signals")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(line, " ok") {
			t.Errorf("signal to PID 1: got %q, want ok (sent, and dropped)", line)
		}
	}
	// The sandbox outlives the signals, and orphans are reaped: a
	// double-forked process that exits leaves no zombie behind.
	script := `(true &); for i in $(seq 200); do z=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l); [ "$z" = 0 ] && break; sleep 0.05; done; echo zombies=$z`
	if code, out := run(t, inst, script); code != 0 || strings.TrimSpace(out) != "zombies=0" {
		t.Errorf("after the signals, an orphan: got exit %d, %q, want exit 0, zombies=0", code, out)
	}
	logAfter, _ := os.ReadFile(filepath.Join(b.cfg.WorkDir, "pid1", "agent.log"))
	if strings.Contains(string(logAfter[min(len(logBefore), len(logAfter)):]), "attacker") {
		t.Errorf("the host's agent.log got the attacker's lines: %q", logAfter)
	}
}

// TestAttackContainerPID1: the same attacks from a container (one that
// starts as the job's user, one that starts as root with its few
// capabilities) against its own PID 1 and agent fail; and a container sees
// no process of another container nor of the job (its own pid namespace),
// nor the job those of its containers, though all run as one host uid.
func TestAttackContainerPID1(t *testing.T) {
	b := newBackend(t, Config{})
	job := start(t, b, sandbox.Spec{ID: "ctr-pid1"})
	installAttacker(t, b, "ctr-pid1")
	user := startContainer(t, job, sandbox.ContainerSpec{Name: "user", RootFS: containerRootFS(t), UID: 1001, GID: 1001})
	root := startContainer(t, job, sandbox.ContainerSpec{Name: "root", RootFS: containerRootFS(t)})
	for _, c := range []struct {
		name     string
		inst     *sandbox.Instance
		override map[string]string
	}{
		{"user container", user, nil},
		// The root container's PID 1 and agent were started in its user
		// namespace, whose root owns their /proc directories then: it lists
		// their descriptors' numbers, and reaches none of them (fd1-append).
		{"root container", root, map[string]string{"fd-list": "ok"}},
	} {
		code, out := inContainer(t, c.inst, "attacker", "procs")
		if code != 0 {
			t.Fatalf("%s: exit %d: %q", c.name, code, out)
		}
		checkProcAttacks(t, c.name, out, c.override)
		if _, out := inContainer(t, c.inst, "attacker", "read", "/proc/1/cmdline"); !strings.Contains(out, "sandbox-init") {
			t.Errorf("%s: PID 1's command line: got %q, want the agent's sandbox-init", c.name, out)
		}
	}

	// Processes that hold a marker in each container and in the job.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hold := func(inst *sandbox.Instance, argv0, marker string) {
		go inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{argv0, "hold", marker}, Env: append(env(), attackerEnv+"=1"), Dir: "/"}, &strings.Builder{})
	}
	hold(user, "attacker", "MARK-user")
	hold(root, "attacker", "MARK-root")
	hold(job, guestWork+"/attacker", "MARK-job")
	find := func(inst *sandbox.Instance, argv0, marker string) string {
		var out strings.Builder
		res, err := inst.Client.Exec(context.Background(), agent.ExecRequest{Argv: []string{argv0, "find", marker}, Env: append(env(), attackerEnv+"=1"), Dir: "/"}, &out)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("find %s: exit %d, %v, %q", marker, res.ExitCode, err, out.String())
		}
		return out.String()
	}
	// Each holder is visible where it runs (so that "not found" elsewhere
	// means something) ...
	for _, w := range []struct {
		inst          *sandbox.Instance
		argv0, marker string
	}{{user, "attacker", "MARK-user"}, {root, "attacker", "MARK-root"}, {job, guestWork + "/attacker", "MARK-job"}} {
		found := false
		for i := 0; i < 500 && !found; i++ {
			found = strings.HasPrefix(find(w.inst, w.argv0, w.marker), "found ")
			if !found {
				time.Sleep(10 * time.Millisecond)
			}
		}
		if !found {
			t.Fatalf("%s: its holder never showed up where it runs", w.marker)
		}
	}
	// ... and nowhere else.
	for _, c := range []struct {
		where         string
		inst          *sandbox.Instance
		argv0, marker string
	}{
		{"user container", user, "attacker", "MARK-root"}, {"user container", user, "attacker", "MARK-job"},
		{"root container", root, "attacker", "MARK-user"}, {"root container", root, "attacker", "MARK-job"},
		{"job", job, guestWork + "/attacker", "MARK-user"}, {"job", job, guestWork + "/attacker", "MARK-root"},
	} {
		if got := find(c.inst, c.argv0, c.marker); got != "done\n" {
			t.Errorf("%s looking for %s: got %q, want done (nothing visible)", c.where, c.marker, got)
		}
	}
}

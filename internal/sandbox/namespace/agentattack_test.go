//go:build linux && amd64

package namespace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
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

// The attacks in this file go for the job's own agent: it runs as the
// job's uid in the job's sandbox and holds the host's connection, and the
// agent binary also has routes (/containers) meant for the microVM guest
// only, which start processes with the agent's privileges outside the
// job's namespaces. A step must reach none of it.

// oldAgentSock is where the namespace agent's socket was bound inside the
// sandbox before the agent got its listener from the host: the attacker
// tries it even when no file is there.
const oldAgentSock = "/run/hookci/agent.sock"

// agentAttack adds the "agent" mode to the attacker. It prints one line per
// attempt:
//
//	reach PATH RESULT   a connection to the unix socket at PATH (every
//	                    socket file under /run, /tmp, /home, /var, /dev, the
//	                    old agent socket path, and /proc/PID/fd/N of every
//	                    socket any visible process holds): "refused ERRNO",
//	                    "not-agent ERR" (connected, but no agent answered), or
//	                    "agent containers=X exec=Y" (an agent answered: X is
//	                    what POST /containers did, Y what /exec of id -u did)
//	fds PID RESULT      listing /proc/PID/fd: "ok" or the errno
//	fd PID N TARGET     each descriptor listed, and where it leads
//	own N CONTENT       each descriptor from 3 up the attacker inherited,
//	                    and the first bytes read from it (quoted)
//	mem PID RESULT      opening /proc/PID/mem read-write (PID 1, the
//	                    sandbox's init, and the agent, the attacker's parent)
func agentAttack(args []string) (int, bool) {
	if args[0] != "agent" {
		return 0, false
	}
	own, _ := os.ReadDir("/proc/self/fd")
	for _, e := range own {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		buf := make([]byte, 64)
		n, err := unix.Pread(fd, buf, 0)
		if err != nil {
			n, _ = unix.Read(fd, buf) // a pipe or socket: no offset
		}
		fmt.Printf("own %d %q\n", fd, buf[:max(n, 0)])
	}
	socks := map[string]bool{oldAgentSock: true}
	for _, top := range []string{"/run", "/tmp", "/home", "/var", "/dev"} {
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type()&fs.ModeSocket != 0 {
				socks[p] = true
			}
			return nil
		})
	}
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		fmt.Printf("fds %d %s\n", pid, result(err))
		for _, fd := range fds {
			p := fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())
			target, err := os.Readlink(p)
			fmt.Printf("fd %d %s %s\n", pid, fd.Name(), strings.ReplaceAll(target, " ", "_"))
			if err == nil && strings.HasPrefix(target, "socket:") {
				socks[p] = true
			}
		}
	}
	for p := range socks {
		fmt.Printf("reach %s %s\n", p, tryAgent(p))
	}
	for _, pid := range []int{1, os.Getppid()} {
		// PID 1 is bubblewrap's init: the job's uid, no capability, the
		// job's seccomp filter; reported, not judged.
		f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), os.O_RDWR, 0)
		if err == nil {
			f.Close()
		}
		fmt.Printf("mem %d %s\n", pid, result(err))
	}
	return 0, true
}

// tryAgent connects to the unix socket at path and, should an agent
// answer, asks it to start a container that binds the sandbox's / (as
// root) and to run id -u.
func tryAgent(path string) string {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			return "refused " + unix.ErrnoName(errno)
		}
		return "refused " + strings.ReplaceAll(err.Error(), " ", "_")
	}
	c, err := agent.NewClient(conn)
	if err != nil {
		conn.Close()
		return "not-agent " + strings.ReplaceAll(err.Error(), " ", "_")
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Info(ctx); err != nil {
		return "not-agent " + strings.ReplaceAll(err.Error(), " ", "_")
	}
	ctr := "ok"
	if err := c.StartContainer(ctx, agent.ContainerStart{Name: "escape", DiskSerial: "x", Hostname: "escape",
		Binds: []agent.ContainerBind{{Source: "/", Target: "/host"}}}); err != nil {
		ctr = strings.ReplaceAll(err.Error(), " ", "_")
	}
	var out strings.Builder
	res, err := c.Exec(ctx, agent.ExecRequest{Argv: []string{"id", "-u"}, Env: env()}, &out)
	ex := fmt.Sprintf("%d:%s", res.ExitCode, strings.TrimSpace(out.String()))
	if err != nil {
		ex = strings.ReplaceAll(err.Error(), " ", "_")
	}
	return "agent containers=" + ctr + " exec=" + ex
}

// checkAgentAttack fails t for every line of an "agent" attack that reached
// an agent, opened the agent's memory or came upon the host's secret, and
// for an attack that tried nothing.
func checkAgentAttack(t *testing.T, where, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s: a process of the job holds a descriptor of the host's secret file (%q seen)", where, s)
		}
	}
	reached := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Errorf("%s: malformed attacker line %q", where, line)
			continue
		}
		switch f[0] {
		case "reach":
			reached++
			if f[2] != "refused" && f[2] != "not-agent" {
				t.Errorf("%s: a step reached an agent at %s: got %q, want refused", where, f[1], strings.Join(f[2:], " "))
			}
		case "mem":
			if f[1] != "1" && f[2] == "ok" {
				t.Errorf("%s: a step opened /proc/%s/mem read-write: got ok, want EACCES or EPERM", where, f[1])
			}
		}
	}
	if !strings.Contains(out, "reach "+oldAgentSock+" ") || reached == 0 {
		t.Errorf("%s: the attack tried nothing: got %q", where, out)
	}
	t.Logf("%s:\n%s", where, out)
}

// TestAttackOwnAgent: a step in a namespace sandbox (and a process in one of
// the job's containers) looks for its agent everywhere it could be reached
// (socket files, other processes' descriptors through /proc) and tries to
// make it start a container binding / as root; it also tries to open the
// agent's memory. None of it may work: the agent's listener exists only on
// the host, the agent is not dumpable, and the agent serves no /containers
// routes at all (the host's own connection gets 404 for them). And a
// descriptor the server inherited without close-on-exec (here a host file
// holding a secret) reaches no process of the job.
func TestAttackOwnAgent(t *testing.T) {
	b := newBackend(t, Config{})
	secret := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(secret, []byte("HOSTFDSECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No O_CLOEXEC: inherited by every child. A high number, past the
	// descriptors the launch hands down (lower ones it closes in the child).
	fd, err := unix.Open(secret, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaked := 200
	for ; leaked < 240; leaked++ {
		if _, err := unix.FcntlInt(uintptr(leaked), unix.F_GETFD, 0); err != nil {
			break // free
		}
	}
	if err := unix.Dup3(fd, leaked, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	defer unix.Close(leaked)
	job := start(t, b, sandbox.Spec{ID: "own-agent"})
	installAttacker(t, b, "own-agent")
	// A background process of an earlier step, as a job would leave one.
	if code, out := run(t, job, "sleep 1000 >/dev/null 2>&1 & echo started"); code != 0 {
		t.Fatalf("background step: exit %d %q", code, out)
	}
	checkAgentAttack(t, "job step", attack(t, job, "agent"), "HOSTFDSECRET", secret)

	ctr := startContainer(t, job, sandbox.ContainerSpec{Name: "svc", RootFS: containerRootFS(t),
		Mounts: []sandbox.ContainerMount{{Source: "workspace", Target: "/github/workspace"}}})
	code, out := inContainer(t, ctr, "attacker", "agent")
	if code != 0 {
		t.Fatalf("attacker in the container: exit %d %q", code, out)
	}
	checkAgentAttack(t, "job's container", out, "HOSTFDSECRET", secret)

	// The routes themselves: not served, even to the host.
	ctx := context.Background()
	for name, c := range map[string]*agent.Client{"job agent": job.Client, "container agent": ctr.Client} {
		err := c.StopContainer(ctx, "svc")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: DELETE /containers: got %v, want 404 (route not served)", name, err)
		}
		err = c.StartContainer(ctx, agent.ContainerStart{Name: "escape", DiskSerial: "x", Binds: []agent.ContainerBind{{Source: "/", Target: "/host"}}})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: POST /containers: got %v, want 404 (route not served)", name, err)
		}
	}
}

package namespace

import (
	"bufio"
	"context"
	"fmt"
	"io"
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

// containerAttack adds the container modes to the attacker:
//
//	listen PORT     serve "hello from <hostname>" on 127.0.0.1:PORT, forever
//	dial ADDR       print what ADDR answers
//	ids             print "uid=<ruid>/<euid> caps=<CapEff> nnp=<NoNewPrivs>"
//	read PATH       print PATH's content or the errno
func containerAttack(args []string) (int, bool) {
	switch args[0] {
	case "listen":
		l, err := net.Listen("tcp", "127.0.0.1:"+args[1])
		if err != nil {
			fmt.Println("attacker:", err)
			return 2, true
		}
		host, _ := os.Hostname()
		for {
			c, err := l.Accept()
			if err != nil {
				return 2, true
			}
			fmt.Fprintf(c, "hello from %s\n", host)
			c.Close()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", args[1], 5*time.Second)
		if err != nil {
			fmt.Println("refused", err)
			return 0, true
		}
		b, _ := io.ReadAll(c)
		fmt.Printf("ok %s", b)
		return 0, true
	case "ids":
		status, _ := os.ReadFile("/proc/self/status")
		var caps, nnp string
		sc := bufio.NewScanner(strings.NewReader(string(status)))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
				caps = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(sc.Text(), "NoNewPrivs:"); ok {
				nnp = strings.TrimSpace(v)
			}
		}
		fmt.Printf("uid=%d/%d caps=%s nnp=%s\n", unix.Getuid(), unix.Geteuid(), caps, nnp)
		return 0, true
	case "alloc": // alloc MiB: touch that much memory, then say so
		n, _ := strconv.Atoi(args[1])
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("allocated", n)
		return 0, true
	case "read":
		b, err := os.ReadFile(args[1])
		if err != nil {
			fmt.Println("refused", result(err))
			return 0, true
		}
		fmt.Printf("ok %q\n", b)
		return 0, true
	}
	return 0, false
}

// containerRootFS returns an image-like root: the minimal root plus the
// attacker, installed root-owned and setuid in /usr/bin.
func containerRootFS(t *testing.T) string {
	t.Helper()
	root := minimalRootFS(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "usr/bin/attacker")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o4755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "var/lib/data"), 0o755); err != nil {
		t.Fatal(err)
	}
	// /tmp as images ship it (a container's /tmp tmpfs takes its mode).
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return root
}

func startContainer(t *testing.T, inst *sandbox.Instance, cs sandbox.ContainerSpec) *sandbox.Instance {
	t.Helper()
	c, err := inst.Containers(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func inContainer(t *testing.T, c *sandbox.Instance, argv ...string) (int, string) {
	t.Helper()
	var out strings.Builder
	res, err := c.Client.Exec(context.Background(), agent.ExecRequest{Argv: argv, Env: append(env(), attackerEnv+"=1"), Dir: "/"}, &out)
	if err != nil {
		t.Fatalf("exec %v in the container: %v (output %q)", argv, err, out.String())
	}
	return res.ExitCode, out.String()
}

// TestContainerInSandbox: a container of a job runs in the image's root,
// shares the job's network (a service's port is the job's localhost, and
// the job's port the service's), sees the job's workspace where it is
// mounted, writes it as the job's host uid, and its service labels resolve.
func TestContainerInSandbox(t *testing.T) {
	b := newBackend(t, Config{})
	job := start(t, b, sandbox.Spec{ID: "ctr-job"})
	root := containerRootFS(t)
	svc := startContainer(t, job, sandbox.ContainerSpec{Name: "svc", RootFS: root, Tmpfs: []string{"/var/lib/data"}})
	ctr := startContainer(t, job, sandbox.ContainerSpec{Name: "main", RootFS: root, UID: 1001, GID: 1001, Hosts: []string{"svc"},
		Mounts: []sandbox.ContainerMount{{Source: "workspace", Target: "/__w/r/r"}}})
	go svc.Client.Exec(context.Background(), agent.ExecRequest{Argv: []string{"attacker", "listen", "15432"}, Env: append(env(), attackerEnv+"=1")}, io.Discard)
	want := "ok hello from svc\n"
	var got string
	for i := 0; i < 100 && got != want; i++ {
		_, got = inContainer(t, ctr, "attacker", "dial", "svc:15432")
		time.Sleep(20 * time.Millisecond)
	}
	if got != want {
		t.Errorf("container dialling the service as svc:15432: got %q, want %q", got, want)
	}
	if code, out := run(t, job, "bash -c 'exec 3<>/dev/tcp/127.0.0.1/15432 && cat <&3'"); code != 0 || out != "hello from svc\n" {
		t.Errorf("job dialling the service at localhost:15432: got %d %q, want the service's greeting", code, out)
	}
	if code, out := inContainer(t, ctr, "sh", "-c", "echo from-container > /__w/r/r/made && echo x > /var/lib/data/y"); code == 0 {
		t.Errorf("writing a directory of the read-only image succeeded (%q), want refused", out)
	}
	if code, out := inContainer(t, svc, "sh", "-c", "echo x > /var/lib/data/y && echo x > /tmp/y && read v < /var/lib/data/y && echo $v"); code != 0 || out != "x\n" {
		t.Errorf("writing the service's tmpfs: got %d %q, want 0 \"x\\n\"", code, out)
	}
	if code, out := inContainer(t, ctr, "sh", "-c", "echo from-container > /__w/r/r/made"); code != 0 {
		t.Fatalf("writing the workspace from the container: exit %d %q", code, out)
	}
	p := filepath.Join(b.cfg.WorkDir, "ctr-job", "workspace", "made")
	if b, err := os.ReadFile(p); err != nil || string(b) != "from-container\n" {
		t.Errorf("the job's workspace after the container wrote it: got %q, %v", b, err)
	}
	if jobUID, ctrUID := fileOwner(t, filepath.Join(b.cfg.WorkDir, "ctr-job", "workspace")), fileOwner(t, p); b.uids != nil && jobUID != ctrUID {
		t.Errorf("the container wrote as host uid %d, want the job's %d", ctrUID, jobUID)
	}
}

// TestAttackContainer: an image cannot give its container more than the
// job has. A root-owned setuid binary in the image runs with the
// container's own uid and no capability; the container has no_new_privs,
// the job's seccomp filter (mounts, chroot, pivot_root refused), and sees
// neither the host's files nor the job's other directories.
func TestAttackContainer(t *testing.T) {
	b := newBackend(t, Config{})
	job := start(t, b, sandbox.Spec{ID: "ctr-attack"})
	secret := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(secret, []byte("HOSTSECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := run(t, job, "echo JOBHOME > /home/runner/h"); code != 0 {
		t.Fatal(out)
	}
	ctr := startContainer(t, job, sandbox.ContainerSpec{Name: "evil", RootFS: containerRootFS(t), UID: 1001, GID: 1001,
		Mounts: []sandbox.ContainerMount{{Source: "workspace", Target: "/github/workspace"}}})
	if _, out := inContainer(t, ctr, "attacker", "ids"); out != "uid=1001/1001 caps=0000000000000000 nnp=1\n" {
		t.Errorf("setuid-root binary of the image: got %q, want uid=1001/1001 caps=0000000000000000 nnp=1", out)
	}
	for _, path := range []string{secret, "/proc/1/root" + secret, "/home/runner/h", "/proc/1/root/home/runner/h", "/etc/shadow"} {
		if _, out := inContainer(t, ctr, "attacker", "read", path); !strings.HasPrefix(out, "refused") {
			t.Errorf("reading %s from the container: got %q, want refused", path, out)
		}
	}
	_, out := inContainer(t, ctr, "attacker", "syscalls")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		for _, call := range []string{"mount ", "pivot_root", "chroot", "open_tree", "move_mount", "unshare", "setns"} {
			if strings.HasPrefix(line, call) && !strings.Contains(line, "(allowed)") && !strings.HasSuffix(line, " EPERM") {
				t.Errorf("%s in the container: want EPERM", line)
			}
		}
	}
	if !strings.Contains(out, "chroot EPERM") {
		t.Errorf("syscalls in the container: got %q, want chroot EPERM among them", out)
	}
}

// TestAttackContainerLimitsAndOtherJobs: a job's containers share the job's
// memory limit (a service cannot take more than the job may), and a
// container of one job reaches neither another job's service port nor its
// files.
func TestAttackContainerLimitsAndOtherJobs(t *testing.T) {
	b := newBackend(t, Config{})
	root := containerRootFS(t)
	jobA := start(t, b, sandbox.Spec{ID: "ctr-a", MemoryMiB: 64})
	jobB := start(t, b, sandbox.Spec{ID: "ctr-b"})
	a := startContainer(t, jobA, sandbox.ContainerSpec{Name: "svc", RootFS: root})
	if code, out := inContainer(t, a, "attacker", "alloc", "16"); code != 0 || out != "allocated 16\n" {
		t.Fatalf("a small allocation in the container: got %d %q", code, out)
	}
	if code, out := inContainer(t, a, "attacker", "alloc", "256"); code == 0 || strings.Contains(out, "allocated") {
		t.Errorf("256 MiB in a container of a 64 MiB job: got %d %q, want killed", code, out)
	}
	if code, _ := run(t, jobB, "echo BSECRET > secret"); code != 0 {
		t.Fatal("job b cannot write its workspace")
	}
	svcB := startContainer(t, jobB, sandbox.ContainerSpec{Name: "svc", RootFS: root})
	go svcB.Client.Exec(context.Background(), agent.ExecRequest{Argv: []string{"attacker", "listen", "15433"}, Env: append(env(), attackerEnv+"=1")}, io.Discard)
	want := "ok hello from svc\n"
	var got string
	for i := 0; i < 100 && got != want; i++ {
		_, got = inContainer(t, svcB, "attacker", "dial", "127.0.0.1:15433")
		time.Sleep(20 * time.Millisecond)
	}
	if got != want {
		t.Fatalf("job b's own service: got %q, want %q", got, want)
	}
	if _, out := inContainer(t, a, "attacker", "dial", "127.0.0.1:15433"); !strings.HasPrefix(out, "refused") {
		t.Errorf("job a's container dialling job b's service port: got %q, want refused", out)
	}
	bFile := filepath.Join(b.cfg.WorkDir, "ctr-b", "workspace", "secret")
	for _, p := range []string{bFile, "/proc/1/root" + bFile} {
		if _, out := inContainer(t, a, "attacker", "read", p); !strings.HasPrefix(out, "refused") {
			t.Errorf("job a's container reading %s: got %q, want refused", p, out)
		}
	}
}

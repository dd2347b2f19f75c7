package microvm

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/netjail/netjailtest"
	"github.com/hookci/hookci/internal/sandbox/uidpool"
)

var guestEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/runner"}

// run executes a bash script in the guest and returns its output and exit code.
func run(t *testing.T, inst *sandbox.Instance, script string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", script}, Env: guestEnv, Dir: inst.Layout.Workspace}, &out)
	if err != nil {
		t.Fatalf("Exec %q: %v (output %q)", script, err, out.String())
	}
	return out.String(), res.ExitCode
}

// TestVM runs the single-VM checks on one cold-booted VM (boots are slow
// under TCG).
func TestVM(t *testing.T) {
	b := newTestBackend(t, nil)
	inst := startVM(t, b, sandbox.Spec{ID: "vm"})
	t.Run("Exec", func(t *testing.T) { testExec(t, inst) })
	t.Run("Files", func(t *testing.T) { testFiles(t, inst) })
	t.Run("NoNetwork", func(t *testing.T) { testNetwork(t, inst, nil) })
	t.Run("HostFilesInvisible", func(t *testing.T) { testHostFilesInvisible(t, inst) })
	t.Run("ExecDeadline", func(t *testing.T) { testExecDeadline(t, inst) })
	t.Run("Close", func(t *testing.T) { testClose(t, b, inst, "vm") })
}

func testExec(t *testing.T, inst *sandbox.Instance) {
	for _, tc := range []struct {
		name, script string
		wantOut      string
		wantCode     int
	}{
		{"uname", "uname -s", "Linux\n", 0},
		{"multi-line", "set -e\nx=1\nfor i in 1 2 3; do x=$((x*2)); done\necho $x\necho done >&2\n", "8\ndone\n", 0},
		{"exit code", "echo before; exit 3", "before\n", 3},
		{"layout", "pwd; echo $HOME; test -d /home/runner/work/_temp && echo temp", "/home/runner/work/w\n/home/runner\ntemp\n", 0},
		{"writable root overlay", "echo x > /usr/local/hookci-test && cat /usr/local/hookci-test", "x\n", 0},
		{"killed by signal", "kill -9 $$", "", -1},
		{"orphans reaped by init", "(sleep 0.2 &); sleep 1.5; grep -l '^State:.*zombie' /proc/[0-9]*/status 2>/dev/null | wc -l", "0\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, inst, tc.script)
			if out != tc.wantOut || code != tc.wantCode {
				t.Errorf("got %q exit %d, want %q exit %d", out, code, tc.wantOut, tc.wantCode)
			}
		})
	}
}

func testFiles(t *testing.T, inst *sandbox.Instance) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := map[string]string{"a.txt": "alpha\n", "sub/b.txt": strings.Repeat("b", 100000)}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range want {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	dir := inst.Layout.Workspace + "/files"
	if err := inst.Client.PutFiles(ctx, dir, &buf); err != nil {
		t.Fatalf("PutFiles: %v", err)
	}
	if out, _ := run(t, inst, "cat "+dir+"/a.txt; wc -c < "+dir+"/sub/b.txt"); out != "alpha\n100000\n" {
		t.Errorf("files in the guest: got %q", out)
	}
	rc, err := inst.Client.GetFiles(ctx, dir)
	if err != nil {
		t.Fatalf("GetFiles: %v", err)
	}
	defer rc.Close()
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			got[h.Name] = string(b)
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GetFiles round trip (-want +got):\n%s", d)
	}
}

// testNetwork attacks the host from the guest: a listener on the host's
// 127.0.0.1 must not be reachable through QEMU's 10.0.2.2 (nor the guest's
// own 127.0.0.1), with or without egress. With egress (out != nil) the
// guest must reach a listener in the stand-in internet, and neither the
// host's own address nor the metadata address.
func testNetwork(t *testing.T, inst *sandbox.Instance, out *netjailtest.Outside) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	netjailtest.Serve(t, l)
	port := l.Addr().(*net.TCPAddr).Port
	type probe struct {
		addr string
		port int
	}
	blocked := []probe{{"10.0.2.2", port}, {"127.0.0.1", port}}
	var inet probe
	if out != nil {
		inet = probe{out.Addr, out.Listen(t, out.Addr+":0").Addr().(*net.TCPAddr).Port}
		out.Listen(t, netjailtest.MetadataAddr+":80")
		all, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		netjailtest.Serve(t, all)
		allPort := all.Addr().(*net.TCPAddr).Port
		blocked = append(blocked, probe{netjailtest.MetadataAddr, 80}, probe{out.HostAddr, allPort}, probe{"10.0.2.3", allPort})
		for _, a := range netjailtest.HostAddrs(t) {
			blocked = append(blocked, probe{a, allPort})
		}
	}
	// One call per probe: a refused connection may hang in QEMU's slirp
	// until the timeout, which counts as not reached.
	try := func(p probe) string {
		got, _ := run(t, inst, fmt.Sprintf("timeout 10 bash -c 'exec 3<>/dev/tcp/%s/%d && head -c 2 <&3' 2>/dev/null; true", p.addr, p.port))
		return got
	}
	for _, p := range blocked {
		if got := try(p); got != "" {
			t.Errorf("the guest reached %s:%d: got %q, want nothing", p.addr, p.port, got)
		}
	}
	if out != nil {
		if got := try(inet); got != "ok" {
			t.Errorf("egress: the guest reaching the outside listener %s:%d: got %q, want ok", inet.addr, inet.port, got)
		}
	}
}

// assertQEMUConfined checks that the VM's QEMU runs as an unprivileged uid
// under a seccomp filter.
func assertQEMUConfined(t *testing.T, b *Backend, id string) {
	t.Helper()
	pid := qemuPid(vmDir(b, id))
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("qemu of %s: %v", id, err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	if os.Geteuid() == 0 {
		// One uid of the sandbox range per VM (TestQEMUUIDsAttack), the
		// same gid.
		if uid, gid := qemuIDs(t, pid); uid < uidpool.DefaultBase || uid >= uidpool.DefaultBase+uidpool.DefaultCount || gid != uid {
			t.Errorf("qemu %d uid:gid %d:%d, want a uid of the sandbox range %d+%d and the same gid", pid, uid, gid, uidpool.DefaultBase, uidpool.DefaultCount)
		}
	}
	if fields["Seccomp"] != "2" || fields["CapEff"] != "0000000000000000" || fields["NoNewPrivs"] != "1" {
		t.Errorf("qemu %d: got Seccomp %q CapEff %q NoNewPrivs %q, want 2, 0000000000000000, 1", pid, fields["Seccomp"], fields["CapEff"], fields["NoNewPrivs"])
	}
}

func testHostFilesInvisible(t *testing.T, inst *sandbox.Instance) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("host-only"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, inst, "cat "+secret+" /root/.cache/hookci 2>&1; grep -r host-only /tmp /home 2>/dev/null; echo end")
	if strings.Contains(out, "host-only") || code != 0 {
		t.Errorf("guest read a host file: %q (exit %d)", out, code)
	}
}

func testExecDeadline(t *testing.T, inst *sandbox.Instance) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out syncBuffer
	_, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", "echo $$; exec sleep 1234"}, Env: guestEnv}, &out)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Exec past its deadline: got %v, want an error wrapping context.DeadlineExceeded", err)
	}
	var infra *agent.InfraError
	if errors.As(err, &infra) {
		t.Errorf("deadline reported as an infrastructure error: %v", err)
	}
	deadline, _ := ctx.Deadline()
	pid := strings.TrimSpace(out.String())
	if pid == "" {
		t.Fatal("the step printed no pid")
	}
	// One Exec that returns when the process is gone (or after 10 s).
	got, _ := run(t, inst, "for i in $(seq 500); do test -d /proc/"+pid+" || { echo gone; exit; }; sleep 0.02; done; echo alive")
	late := time.Since(deadline)
	if got != "gone\n" {
		t.Fatalf("process %s still running %v after the deadline", pid, late)
	}
	t.Logf("process gone at most %v after the deadline", late.Round(time.Millisecond))
	if late > 2*time.Second {
		t.Errorf("process %s outlived the deadline by %v, want at most 2s", pid, late)
	}
}

// syncBuffer is a bytes.Buffer safe for a concurrent writer and reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testClose checks that Close leaves no QEMU, socket or file behind.
func testClose(t *testing.T, b *Backend, inst *sandbox.Instance, id string) {
	dir := vmDir(b, id)
	pid := qemuPid(dir)
	if pid == 0 {
		t.Fatalf("no running qemu recorded in %s", dir)
	}
	if err := inst.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if processExists(pid) {
		t.Errorf("qemu %d still running after Close", pid)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after Close: got %v, want it gone", dir, err)
	}
	if err := inst.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestNetworkEnabled: a VM granted egress reaches the outside, not the
// host (see testNetwork); its QEMU is confined.
func TestNetworkEnabled(t *testing.T) {
	netjailtest.Need(t)
	b := newTestBackend(t, nil)
	out := netjailtest.NewOutside(t)
	inst := startVM(t, b, sandbox.Spec{ID: "net", Network: true})
	assertQEMUConfined(t, b, "net")
	testNetwork(t, inst, out)
}

// TestQEMUKilled checks that a VM dying under a running step is an
// infrastructure error, not a step failure.
func TestQEMUKilled(t *testing.T) {
	b := newTestBackend(t, nil)
	inst := startVM(t, b, sandbox.Spec{ID: "killed"})
	pid := qemuPid(vmDir(b, "killed"))
	done := make(chan error, 1)
	go func() {
		_, err := inst.Client.Exec(context.Background(), agent.ExecRequest{Argv: []string{"sleep", "600"}, Env: guestEnv}, io.Discard)
		done <- err
	}()
	time.Sleep(time.Second) // let the step start
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var infra *agent.InfraError
		if !errors.As(err, &infra) {
			t.Errorf("Exec after kill -9 qemu: got %v (%T), want *agent.InfraError", err, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Exec did not return after qemu was killed")
	}
	if err := inst.Close(); err != nil {
		t.Errorf("Close after crash: %v", err)
	}
	logs, _ := filepath.Glob(filepath.Join(b.cfg.WorkDir, "crashed", "killed-*.log"))
	if len(logs) != 1 {
		t.Errorf("crash logs: got %q, want one killed-*.log", logs)
	}
}

// TestReap simulates a crashed hookci: a second backend on the same WorkDir
// reaps the first one's VM.
func TestReap(t *testing.T) {
	b := newTestBackend(t, nil)
	inst := startVM(t, b, sandbox.Spec{ID: "orphan"})
	dir := vmDir(b, "orphan")
	pid := qemuPid(dir)
	cfg := b.cfg
	b2, err := New(cfg) // what the restarted process would do
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Reap(context.Background()); err != nil {
		t.Fatalf("Reap: %v", err)
	}
	if processExists(pid) {
		t.Errorf("qemu %d survived Reap", pid)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after Reap: got %v, want it gone", dir, err)
	}
	inst.Close() // the "crashed" backend's handle must still be safe to close
}

// TestToolCache checks that Spec.ToolCache is visible read-only at
// Layout.ToolCache.
func TestToolCache(t *testing.T) {
	b := newTestBackend(t, nil)
	tc := t.TempDir()
	// QEMU reads the tool cache as its own uid: it must be readable by
	// all, as an operator's tool cache is.
	os.Chmod(tc, 0o755)
	os.Chmod(filepath.Dir(tc), 0o755)
	os.MkdirAll(filepath.Join(tc, "go", "1.22"), 0o755)
	os.WriteFile(filepath.Join(tc, "go", "1.22", "VERSION"), []byte("go1.22\n"), 0o644)
	inst := startVM(t, b, sandbox.Spec{ID: "toolcache", ToolCache: tc})
	if inst.Layout.ToolCache != "/opt/hostedtoolcache" {
		t.Errorf("Layout.ToolCache = %q, want /opt/hostedtoolcache", inst.Layout.ToolCache)
	}
	out, _ := run(t, inst, "cat "+inst.Layout.ToolCache+"/go/1.22/VERSION; touch "+inst.Layout.ToolCache+"/x 2>/dev/null && echo writable || echo read-only")
	if want := "go1.22\nread-only\n"; out != want {
		t.Errorf("tool cache in the guest: got %q, want %q", out, want)
	}
	if _, err := os.Stat(filepath.Join(tc, "x")); err == nil {
		t.Error("the guest created a file in the host's tool cache")
	}
}

// TestPowerOff checks the guest init's clean shutdown: SIGTERM to PID 1
// powers the VM off and QEMU exits on its own.
func TestPowerOff(t *testing.T) {
	b := newTestBackend(t, nil)
	inst := startVM(t, b, sandbox.Spec{ID: "poweroff"})
	pid := qemuPid(vmDir(b, "poweroff"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The step may or may not see its own exit before the VM is gone.
	inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"kill", "-TERM", "1"}, Env: guestEnv}, io.Discard)
	for processExists(pid) {
		if ctx.Err() != nil {
			t.Fatalf("qemu %d still running 30 s after SIGTERM to the guest's init", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

package namespace

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/sandbox"
)

// newBackend returns a backend on a fresh WorkDir, or skips the test where
// bubblewrap or root is missing (failing instead when CI=true).
func newBackend(t testing.TB, cfg Config) *Backend {
	t.Helper()
	skip := func(reason string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("namespace sandbox tests need %s (CI=true: not skipping)", reason)
		}
		t.Skipf("namespace sandbox tests need %s", reason)
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		skip("bubblewrap (apt-get install bubblewrap)")
	}
	if os.Geteuid() != 0 {
		skip("root (for cgroups)")
	}
	cfg.AgentPath = agenttest.Binary(t)
	cfg.WorkDir = t.TempDir()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Runs after the sandboxes' own cleanups (registered later, run earlier).
	t.Cleanup(b.cgroups.removeParents)
	return b
}

func start(t testing.TB, b *Backend, spec sandbox.Spec) *sandbox.Instance {
	t.Helper()
	inst, err := b.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return inst
}

func env() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
}

// run runs a shell script in the sandbox and returns its exit code and output.
func run(t testing.TB, inst *sandbox.Instance, script string) (int, string) {
	t.Helper()
	var out strings.Builder
	res, err := inst.Client.Exec(context.Background(), agent.ExecRequest{Argv: []string{"sh", "-c", script}, Env: env(), Dir: inst.Layout.Workspace}, &out)
	if err != nil {
		t.Fatalf("Exec %q: %v (output %q)", script, err, out.String())
	}
	return res.ExitCode, out.String()
}

func TestStartExecClose(t *testing.T) {
	b := newBackend(t, Config{})
	inst, err := b.Start(context.Background(), sandbox.Spec{ID: "job-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := agent.Layout{Workspace: "/home/runner/work/w", Temp: "/home/runner/work/_temp", Home: "/home/runner"}
	if inst.Layout != want || inst.Backend != "namespace" {
		t.Errorf("got layout %+v backend %q, want %+v and namespace", inst.Layout, inst.Backend, want)
	}
	tests := []struct {
		script   string
		wantCode int
		wantOut  string
	}{
		{"hostname", 0, "hookci\n"},
		{"pwd", 0, "/home/runner/work/w\n"},
		{"echo hi > f && cat f && echo t > /home/runner/work/_temp/t && echo h > /home/runner/h && echo ok", 0, "hi\nok\n"},
		{"touch /usr/hookci-x 2>/dev/null", 1, ""},
		{"touch /hookci-x 2>/dev/null", 1, ""},
		{"touch /etc/hookci-x 2>/dev/null", 1, ""},
		{"echo x > /tmp/x && cat /tmp/x", 0, "x\n"},
	}
	for _, tt := range tests {
		code, out := run(t, inst, tt.script)
		if code != tt.wantCode || out != tt.wantOut {
			t.Errorf("%q: got %d %q, want %d %q", tt.script, code, out, tt.wantCode, tt.wantOut)
		}
	}
	// Own pid namespace: bwrap's init, the agent and this shell (a glob
	// forks nothing).
	if _, out := run(t, inst, "set -- /proc/[0-9]*; echo $#"); out != "3\n" {
		t.Errorf("processes visible in the sandbox: got %q, want 3", out)
	}
	if _, err := os.Stat(filepath.Join(b.cfg.WorkDir, "job-1", "workspace", "f")); err != nil {
		t.Errorf("workspace file not on the host side: %v", err)
	}
	cgDirs := b.cgroups.open("job-1").dirs
	if err := inst.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	assertGone(t, b, "job-1", cgDirs)
	if err := inst.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// assertGone checks that nothing of sandbox id is left.
func assertGone(t testing.TB, b *Backend, id string, cgDirs []string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(b.cfg.WorkDir, id)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sandbox directory after Close: stat got %v, want not exist", err)
	}
	for _, d := range cgDirs {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cgroup %s after Close: stat got %v, want not exist", d, err)
		}
	}
	// No process anywhere still runs the agent of this WorkDir's sandbox.
	out, _ := exec.Command("ps", "-eo", "pid,args").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, filepath.Join(b.cfg.WorkDir, id)) {
			t.Errorf("process of the sandbox after Close: %s", line)
		}
	}
}

func TestCannotReadHostFiles(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "reader"})
	hostTmp := filepath.Join(t.TempDir(), "secret")
	rootDir, err := os.MkdirTemp("/root", "hookci-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(rootDir)
	rootFile := filepath.Join(rootDir, "secret")
	for _, f := range []string{hostTmp, rootFile} {
		if err := os.WriteFile(f, []byte("TOPSECRET\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{hostTmp, rootFile, "/etc/shadow", filepath.Join(b.cfg.WorkDir, "reader", "owner")} {
		code, out := run(t, inst, "cat "+f)
		if code == 0 && strings.TrimSpace(out) != "" || strings.Contains(out, "TOPSECRET") || strings.Contains(out, "root:") {
			t.Errorf("cat %s in the sandbox: got exit %d and %q, want no content", f, code, out)
		}
	}
	for _, d := range []string{"/root", "/work", "/home/runner/work/w/..", "/opt"} {
		_, out := run(t, inst, "ls -A "+d+" 2>/dev/null | grep -v -x -e runner -e work -e w -e _temp")
		if strings.TrimSpace(out) != "" {
			t.Errorf("ls %s in the sandbox: got %q, want nothing of the host", d, out)
		}
	}
}

func TestSandboxesIsolated(t *testing.T) {
	b := newBackend(t, Config{})
	a := start(t, b, sandbox.Spec{ID: "a"})
	c := start(t, b, sandbox.Spec{ID: "c"})
	if code, out := run(t, a, "echo mine > a-file; sleep 1000 >/dev/null 2>&1 & echo started"); code != 0 {
		t.Fatalf("sandbox a: exit %d %q", code, out)
	}
	_, out := run(t, c, "ls /home/runner/work/w; cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
	if strings.Contains(out, "a-file") || strings.Contains(out, "sleep 1000") {
		t.Errorf("sandbox c sees sandbox a's files or processes: %q", out)
	}
	hostA := filepath.Join(b.cfg.WorkDir, "a", "workspace", "a-file")
	if code, _ := run(t, c, "cat "+hostA); code == 0 {
		t.Errorf("sandbox c can read %s", hostA)
	}
}

func TestNewBadConfig(t *testing.T) {
	agentPath := "/bin/true"
	private := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(private, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	bad := []Config{
		{AgentPath: "/nonexistent", WorkDir: t.TempDir()},
		{AgentPath: "relative", WorkDir: t.TempDir()},
		{AgentPath: agentPath, WorkDir: "relative"},
		{AgentPath: agentPath, WorkDir: t.TempDir(), RootFS: t.TempDir()},
		{AgentPath: agentPath, WorkDir: t.TempDir(), Pids: -1},
	}
	if os.Geteuid() == 0 { // sandboxes get uids of their own
		bad = append(bad,
			Config{AgentPath: private, WorkDir: t.TempDir()},                  // the sandbox's uid cannot run it
			Config{AgentPath: agentPath, WorkDir: t.TempDir(), UIDBase: 1000}, // the host's users' uids
			Config{AgentPath: agentPath, WorkDir: t.TempDir(), UIDBase: 1<<31 - 10, UIDCount: 100},
			Config{AgentPath: agentPath, WorkDir: t.TempDir(), UIDLockDir: "relative"},
			Config{AgentPath: agentPath, WorkDir: t.TempDir(), SubUIDBase: DefaultUIDBase + 10}, // overlaps the sandbox uids
			Config{AgentPath: agentPath, WorkDir: t.TempDir(), SubUIDBase: 1000},                // the host's users' uids
			Config{AgentPath: agentPath, WorkDir: t.TempDir(), SubUIDBase: 1<<32 - 100},         // no room for one range
		)
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): got nil error", cfg)
		}
	}
}

package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/sandbox"
)

func newBackend(t testing.TB) *Backend {
	t.Helper()
	b, err := New(Config{AgentPath: agenttest.Binary(t), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func env() []string {
	return []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
}

func TestStartExecClose(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	inst, err := b.Start(ctx, sandbox.Spec{ID: "job-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	dir := filepath.Join(b.cfg.WorkDir, "job-1")
	want := agent.Layout{
		Workspace: filepath.Join(dir, "workspace"),
		Temp:      filepath.Join(dir, "temp"),
		Home:      filepath.Join(dir, "home"),
		Path:      os.Getenv("PATH"),
	}
	if inst.Layout != want || inst.Backend != "host" {
		t.Errorf("got layout %+v backend %q, want %+v and host", inst.Layout, inst.Backend, want)
	}
	var out strings.Builder
	res, err := inst.Client.Exec(ctx, agent.ExecRequest{
		Argv: []string{"sh", "-c", "pwd; echo $$; sleep 1000 >/dev/null 2>&1 & echo $!"},
		Env:  env(), Dir: inst.Layout.Workspace,
	}, &out)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Exec: %+v %v", res, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || lines[0] != inst.Layout.Workspace {
		t.Fatalf("output: got %q, want the workspace and two pids", out.String())
	}
	bg, _ := strconv.Atoi(lines[2])
	if err := syscall.Kill(bg, 0); err != nil {
		t.Fatalf("background process %d not running before Close: %v", bg, err)
	}
	if err := inst.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := inst.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sandbox directory after Close: stat got %v, want not exist", err)
	}
	if err := syscall.Kill(bg, 0); !errors.Is(err, syscall.ESRCH) && !isZombie(bg) {
		t.Errorf("background process %d after Close: kill(0) got %v, want it gone", bg, err)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}

func TestStartBadSpec(t *testing.T) {
	b := newBackend(t)
	for _, id := range []string{"", "Upper", "../x", "a/b", strings.Repeat("a", 64)} {
		if _, err := b.Start(context.Background(), sandbox.Spec{ID: id}); err == nil {
			t.Errorf("Start with id %q: got nil error", id)
		}
	}
	inst, err := b.Start(context.Background(), sandbox.Spec{ID: "dup"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if _, err := b.Start(context.Background(), sandbox.Spec{ID: "dup"}); err == nil {
		t.Error("Start with a duplicate id: got nil error")
	}
}

func TestNewBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{AgentPath: "/nonexistent/agent", WorkDir: t.TempDir()},
		{AgentPath: agenttest.Binary(t), WorkDir: "relative"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): got nil error", cfg)
		}
	}
}

func TestStartAgentFails(t *testing.T) {
	// A program that exits at once instead of serving.
	b, err := New(Config{AgentPath: "/bin/false", WorkDir: t.TempDir(), StartTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start(context.Background(), sandbox.Spec{ID: "x"}); err == nil {
		t.Fatal("Start with a failing agent: got nil error")
	}
	if ents, _ := os.ReadDir(b.cfg.WorkDir); len(ents) != 0 {
		t.Errorf("WorkDir after a failed Start: got %d entries, want none", len(ents))
	}
}

func TestReap(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	live, err := b.Start(ctx, sandbox.Spec{ID: "live"})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	// A sandbox whose owner died: start it, then pretend a dead process owned it.
	crashed, err := b.Start(ctx, sandbox.Spec{ID: "crashed"})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if _, err := crashed.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!"}, Env: env()}, &out); err != nil {
		t.Fatal(err)
	}
	bg, _ := strconv.Atoi(strings.TrimSpace(out.String()))
	crashedDir := filepath.Join(b.cfg.WorkDir, "crashed")
	agentPid, _, ok := readPidFile(crashedDir)
	if !ok {
		t.Fatal("no pid file")
	}
	if err := os.WriteFile(filepath.Join(crashedDir, pidName), []byte(pidLine(agentPid, process{pid: 1, start: -1})), 0o644); err != nil {
		t.Fatal(err)
	}
	// A leftover directory without a pid file.
	if err := os.MkdirAll(filepath.Join(b.cfg.WorkDir, "partial", "workspace"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An owner killed between starting its agent and writing the pid file:
	// a session leader running in its sandbox directory, unrecorded.
	unrecorded := filepath.Join(b.cfg.WorkDir, "unrecorded")
	if err := os.MkdirAll(unrecorded, 0o755); err != nil {
		t.Fatal(err)
	}
	orphan := exec.Command("sleep", "1000")
	orphan.Dir = unrecorded
	orphan.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	orphanDone := make(chan struct{})
	go func() { orphan.Wait(); close(orphanDone) }()
	if err := b.Reap(ctx); err != nil {
		t.Fatalf("Reap: %v", err)
	}
	var got []string
	ents, _ := os.ReadDir(b.cfg.WorkDir)
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "live" {
		t.Errorf("WorkDir after Reap: got %v, want [live]", got)
	}
	for _, pid := range []int{agentPid, bg} {
		if err := syscall.Kill(pid, 0); err == nil && !isZombie(pid) {
			t.Errorf("process %d of the reaped sandbox still alive", pid)
		}
	}
	select {
	case <-orphanDone:
	case <-time.After(5 * time.Second):
		t.Errorf("the agent of a sandbox without a pid file (pid %d) survived Reap", orphan.Process.Pid)
		orphan.Process.Kill()
	}
	if _, err := live.Client.Info(ctx); err != nil {
		t.Errorf("live sandbox after Reap: %v", err)
	}
	crashed.Close()
}

// BenchmarkStart measures Start until the agent answers and reports the median.
func BenchmarkStart(b *testing.B) {
	be := newBackend(b)
	var times []time.Duration
	i := 0
	for b.Loop() {
		i++
		t0 := time.Now()
		inst, err := be.Start(context.Background(), sandbox.Spec{ID: fmt.Sprintf("b%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
		b.StopTimer()
		inst.Close()
		b.StartTimer()
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
}

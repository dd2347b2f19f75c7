package namespace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/sandbox"
)

// inCgroup checks that the sandbox's processes are in its cgroup, so that a
// limit test can never run unlimited on the host.
func inCgroup(t *testing.T, b *Backend, id string) {
	t.Helper()
	if n := len(b.cgroups.open(id).procs()); n < 2 {
		t.Fatalf("cgroup of sandbox %s holds %d processes, want bwrap and the agent", id, n)
	}
}

func TestPidsLimit(t *testing.T) {
	const maxPids = 48
	b := newBackend(t, Config{Pids: maxPids})
	// Gentle first, in a sandbox of its own: 100 background sleeps cannot all start.
	gentle := start(t, b, sandbox.Spec{ID: "sleeps"})
	inCgroup(t, b, "sleeps")
	run(t, gentle, `for i in $(seq 100); do sleep 100 2>/dev/null & done; true`)
	if n := len(b.cgroups.open("sleeps").procs()); n > maxPids || n < maxPids/2 {
		t.Errorf("processes in the cgroup: got %d, want the limit %d reached but not exceeded", n, maxPids)
	}
	if n := forkFailures(b, "sleeps"); n == 0 {
		t.Errorf("forks refused by the pids limit: got %d, want some", n)
	}
	gentle.Close()

	// The classic fork bomb, its processes waiting for their children so
	// that they pile up even on a loaded host (the classic one's exit as
	// fast as they fork); the pids limit contains it.
	inst := start(t, b, sandbox.Spec{ID: "bomb"})
	inCgroup(t, b, "bomb")
	code, out := run(t, inst, `timeout -s KILL 3 sh -c 'bomb() { bomb | bomb & wait; }; bomb' >/dev/null 2>&1; echo done`)
	if !strings.HasSuffix(out, "done\n") {
		t.Logf("fork bomb: exit %d, output %q", code, out)
	}
	if n := len(b.cgroups.open("bomb").procs()); n > maxPids {
		t.Errorf("processes in the cgroup after the bomb: got %d, want at most %d", n, maxPids)
	}
	if n := forkFailures(b, "bomb"); n == 0 {
		t.Errorf("forks refused by the pids limit during the bomb: got %d, want some", n)
	} else {
		t.Logf("pids limit refused %d forks of the bomb", n)
	}
	// The host still forks.
	if err := exec.Command("true").Run(); err != nil {
		t.Errorf("host cannot run a process after the bomb: %v", err)
	}
	cgDirs := b.cgroups.open("bomb").dirs
	if err := inst.Close(); err != nil {
		t.Fatalf("Close after the bomb: %v", err)
	}
	assertGone(t, b, "bomb", cgDirs)
}

func TestMemoryLimit(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "hog", MemoryMiB: 64})
	inCgroup(t, b, "hog")
	// tail buffers a newline-free stream whole: 512 MiB against a 64 MiB limit.
	code, out := run(t, inst, "head -c 512M /dev/zero | tail >/dev/null")
	if code == 0 {
		t.Errorf("memory hog: got exit 0 (%q), want it killed by the memory limit", out)
	}
	if peak := b.cgroups.open("hog").memoryPeak(); peak > 64<<20 {
		t.Errorf("peak memory of the sandbox: got %d MiB, want at most 64 MiB", peak>>20)
	}
	// The sandbox itself survives: the OOM killer took the hog.
	if code, out := run(t, inst, "echo alive"); code != 0 || out != "alive\n" {
		t.Errorf("after the hog: got %d %q, want the agent still serving", code, out)
	}
}

// forkFailures reads how often the pids controller refused a fork.
func forkFailures(b *Backend, id string) int {
	// v1 and v2: pids.events holds "max N".
	f := strings.Fields(b.cgroups.open(id).read("pids.events"))
	if len(f) != 2 || f[0] != "max" {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func TestLimitsWritten(t *testing.T) {
	b := newBackend(t, Config{MemoryMiB: 512, Pids: 100, CPUs: 2})
	tests := []struct {
		spec                 sandbox.Spec
		wantMem, wantPids    string
		wantQuota, wantCPUv2 string
	}{
		{sandbox.Spec{ID: "defaults"}, "536870912", "100", "200000", "200000 100000"},
		{sandbox.Spec{ID: "custom", MemoryMiB: 256, CPUs: 1}, "268435456", "100", "100000", "100000 100000"},
	}
	for _, tt := range tests {
		start(t, b, tt.spec)
		cg := b.cgroups.open(tt.spec.ID)
		var got, want []string
		if cg.v2 {
			got = []string{cg.read("memory.max"), cg.read("pids.max"), cg.read("cpu.max")}
			want = []string{tt.wantMem, tt.wantPids, tt.wantCPUv2}
		} else {
			got = []string{cg.read("memory.limit_in_bytes"), cg.read("pids.max"), cg.read("cpu.cfs_quota_us")}
			want = []string{tt.wantMem, tt.wantPids, tt.wantQuota}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: limits got %v, want %v", tt.spec.ID, got, want)
		}
	}
}

// TestStopKillsForkingJob: Stop, which ends a job before its end is
// recorded, leaves no process of the sandbox behind even when the job is
// forking as fast as it can (the kill rounds give way to the freezer), and
// leaves the files for Close.
func TestStopKillsForkingJob(t *testing.T) {
	b := newBackend(t, Config{Pids: 64})
	inst := start(t, b, sandbox.Spec{ID: "forker"})
	inCgroup(t, b, "forker")
	// All three are started by one exec and spin until its last line (no
	// fork) lets them go: started one exec each, the first ones filled the
	// pids limit before the agent could fork the next (EAGAIN).
	script := ""
	for _, loop := range []string{
		`while :; do (:) & done`,               // forks and reaps as fast as it can
		`while :; do sleep 1000 & done`,        // piles up to the pids limit
		`bomb() { bomb | bomb & wait; }; bomb`, // the classic
	} {
		body := `while [ ! -e /tmp/go ]; do :; done; ` + loop
		// bash, not dash: dash exits when a fork fails at the pids limit,
		// so the loops could die off before Stop had anything to kill.
		script += "setsid bash -c '" + strings.ReplaceAll(body, "'", `'\''`) + "' </dev/null >/dev/null 2>&1 &\n"
	}
	script += ": > /tmp/go; echo started"
	if code, out := run(t, inst, script); code != 0 || !strings.Contains(out, "started") {
		t.Fatalf("starting the loops: exit %d, %q", code, out)
	}
	time.Sleep(300 * time.Millisecond)
	cg := b.cgroups.open("forker")
	if n := len(cg.procs()); n < 10 {
		t.Fatalf("processes in the cgroup before Stop: %d, want the loops running", n)
	}
	stopped, err := inst.Stop()
	if !stopped || err != nil {
		t.Fatalf("Stop: %v, %v; want true, nil", stopped, err)
	}
	if pids := cg.procs(); len(pids) != 0 {
		t.Errorf("processes in the cgroup after Stop: %v, want none", pids)
	}
	if _, err := os.Stat(filepath.Join(b.cfg.WorkDir, "forker")); err != nil {
		t.Errorf("sandbox directory after Stop: %v, want it kept for Close", err)
	}
	cgDirs := cg.dirs
	if err := inst.Close(); err != nil {
		t.Fatalf("Close after Stop: %v", err)
	}
	assertGone(t, b, "forker", cgDirs)
}

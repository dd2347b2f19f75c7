package microvm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

// TestContainment: in a small VM (256 MiB, 1 vCPU) job processes live in the
// guest's job cgroup (pids and memory limits): a memory hog is killed there
// while the agent keeps answering. A fork bomb stays inside the VM: the
// guest may be lost to it under TCG (the job then fails as an infrastructure
// failure) but the host is untouched: QEMU stays within the VM's memory, the
// host still runs processes, and Close cleans up.
func TestContainment(t *testing.T) {
	b := newTestBackend(t, nil)
	inst := startVM(t, b, sandbox.Spec{ID: "contain", MemoryMiB: 256, CPUs: 1})
	pid := qemuPid(vmDir(b, "contain"))

	// Memory: a hog growing 16 MiB at a time in a 256 MiB guest.
	out, code := run(t, inst, "python3 -c 'a = []\nwhile True: a.append(bytearray(16 << 20))'; echo exit=$?")
	if strings.Contains(out, "exit=0") || code != 0 {
		t.Errorf("memory hog: output %q exit %d, want the hog killed or refused", out, code)
	}
	if out, code := run(t, inst, "cat /sys/fs/cgroup/jobs/memory.events | grep oom_kill; echo alive"); !strings.HasSuffix(out, "alive\n") || code != 0 {
		t.Errorf("after the memory hog: %q exit %d, want alive", out, code)
	} else if strings.Contains(out, "oom_kill 0") {
		t.Errorf("the hog was not stopped by the job cgroup: memory.events %q", out)
	}

	// Processes: a fork bomb, stopped with its step after 5 s (the agent kills the process group).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	var buf bytes.Buffer
	_, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", "bomb() { bomb | bomb & }; bomb; wait"},
		Env: guestEnv}, &buf)
	cancel()
	t.Logf("fork bomb step ended: %v", err) // with the pids limit its forks fail; either way it ends
	ictx, icancel := context.WithTimeout(context.Background(), 60*time.Second)
	_, ierr := inst.Client.Info(ictx)
	icancel()
	t.Logf("guest after the fork bomb: agent answer error = %v", ierr)
	hostStart := time.Now()
	if err := exec.Command("true").Run(); err != nil || time.Since(hostStart) > 5*time.Second {
		t.Errorf("host: running a process took %v (err %v)", time.Since(hostStart), err)
	}
	// The host: QEMU's resident memory stays within the VM's memory plus QEMU's own.
	if rss := rssKiB(t, pid); rss > (256+200)<<10 {
		t.Errorf("qemu RSS %d KiB, want at most the VM's 256 MiB plus 200 MiB", rss)
	}
	if err := inst.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if processExists(pid) {
		t.Error("qemu still running after Close")
	}
}

func rssKiB(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0 // gone
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	return 0
}

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

// TestContainment: in a small VM (256 MiB, 1 vCPU) a memory hog is killed
// by the guest's own OOM killer and the agent still answers; a fork bomb
// stays inside the VM — the guest may be lost to it (the job then fails as
// an infrastructure failure), the host is not: QEMU stays within the VM's
// memory, the host still runs processes, and Close cleans up.
func TestContainment(t *testing.T) {
	b := newTestBackend(t, nil)
	inst := startVM(t, b, sandbox.Spec{ID: "contain", MemoryMiB: 256, CPUs: 1})
	pid := qemuPid(vmDir(b, "contain"))

	// Memory: a 1 GiB allocation in a 256 MiB guest.
	out, code := run(t, inst, "python3 -c 'b = bytearray(1 << 30); print(len(b))'; echo exit=$?")
	if strings.Contains(out, "exit=0") || code != 0 {
		t.Errorf("memory hog: output %q exit %d, want the hog killed or refused", out, code)
	}
	if out, code := run(t, inst, "echo alive"); out != "alive\n" || code != 0 {
		t.Errorf("after the memory hog: %q exit %d, want alive", out, code)
	}

	// Processes: a fork bomb, stopped with its step after 5 s (the agent kills the process group).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	var buf bytes.Buffer
	_, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", "bomb() { bomb | bomb & }; bomb; wait"},
		Env: guestEnv}, &buf)
	cancel()
	if err == nil {
		t.Error("fork bomb: Exec returned without the deadline")
	}
	ictx, icancel := context.WithTimeout(context.Background(), 20*time.Second)
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

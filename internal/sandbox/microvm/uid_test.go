package microvm

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/uidpool"
)

// qemuIDs returns the real uid and gid of process pid, failing unless its
// real, effective, saved and filesystem ids agree.
func qemuIDs(t *testing.T, pid int) (uid, gid int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("qemu %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "Uid" && k != "Gid") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 4 || f[0] != f[1] || f[0] != f[2] || f[0] != f[3] {
			t.Fatalf("qemu %d %s: got %q, want four equal ids (real, effective, saved, fs)", pid, k, v)
		}
		n, _ := strconv.Atoi(f[0])
		if k == "Uid" {
			uid = n
		} else {
			gid = n
		}
	}
	return uid, gid
}

// asUID runs script under bash as uid:gid with no supplementary groups, the
// position of a QEMU process a guest has taken over.
func asUID(uid, gid int, script string) (string, error) {
	cmd := exec.Command("bash", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestQEMUUIDsAttack is the attack of a guest that escaped into its QEMU
// process: from that QEMU's uid and gid it tries to kill another VM's QEMU,
// read that QEMU's environment, and signal a host service running as
// nobody (the uid every QEMU used to share). Each VM's QEMU has a uid of its
// own from the sandbox range, so all of it must fail; the control shows the
// same commands work where the uid is shared.
func TestQEMUUIDsAttack(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("QEMU's uid per VM applies when hookci runs as root; CI runs as root")
		}
		t.Skip("QEMU's uid per VM applies when hookci runs as root")
	}
	b := newTestBackend(t, func(c *Config) { c.Template = true })
	instA := startVM(t, b, sandbox.Spec{ID: "uid-a"})
	instB := startVM(t, b, sandbox.Spec{ID: "uid-b"})
	pidA, pidB := qemuPid(vmDir(b, "uid-a")), qemuPid(vmDir(b, "uid-b"))
	uidA, gidA := qemuIDs(t, pidA)
	uidB, gidB := qemuIDs(t, pidB)
	for _, u := range [][2]int{{uidA, gidA}, {uidB, gidB}} {
		if u[0] < uidpool.DefaultBase || u[0] >= uidpool.DefaultBase+uidpool.DefaultCount || u[1] != u[0] {
			t.Errorf("qemu uid:gid %d:%d: want a uid of the sandbox range %d+%d and the same gid", u[0], u[1], uidpool.DefaultBase, uidpool.DefaultCount)
		}
	}
	if uidA == uidB {
		t.Errorf("both VMs' QEMU run as uid %d, want one uid each", uidA)
	}

	// A host service running as nobody.
	victim := exec.Command("sleep", "300")
	victim.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })

	// Control: from the shared uid of old, the method reaches the victim.
	if out, err := asUID(65534, 65534, fmt.Sprintf("kill -0 %d && echo reached", victim.Process.Pid)); err != nil || !strings.Contains(out, "reached") {
		t.Fatalf("control: nobody signalling nobody's process: got %q, %v; want reached (the attack method does not work here)", out, err)
	}

	attacks := []struct{ name, script string }{
		{"kill the other VM's QEMU", fmt.Sprintf("kill -KILL %d", pidB)},
		{"read the other QEMU's environment", fmt.Sprintf("head -c 64 /proc/%d/environ", pidB)},
		{"read the other QEMU's memory", fmt.Sprintf("head -c 64 /proc/%d/mem", pidB)},
		{"list the other QEMU's descriptors", fmt.Sprintf("ls /proc/%d/fd", pidB)},
		{"signal a host service running as nobody", fmt.Sprintf("kill -0 %d", victim.Process.Pid)},
	}
	for _, a := range attacks {
		if out, err := asUID(uidA, gidA, a.script); err == nil {
			t.Errorf("%s as VM A's QEMU (uid %d): succeeded (%q), want it refused", a.name, uidA, out)
		}
	}
	if out, code := run(t, instB, "echo alive"); out != "alive\n" || code != 0 {
		t.Errorf("VM B after the attacks: got %q (exit %d), want alive", out, code)
	}
	if out, code := run(t, instA, "echo alive"); out != "alive\n" || code != 0 {
		t.Errorf("VM A after the attacks: got %q (exit %d), want alive", out, code)
	}
}

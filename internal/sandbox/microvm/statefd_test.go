package microvm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startBareQEMU starts a device-less QEMU (-M none) confined as VMs are,
// with its QMP socket in dir; enough to exercise state save and restore
// without a guest image.
func startBareQEMU(t *testing.T, dir string, incoming bool) *vm {
	t.Helper()
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs qemu-system-x86_64 (Debian package qemu-system-x86): %v", err)
		}
		t.Skipf("needs qemu-system-x86_64 (Debian package qemu-system-x86): %v", err)
	}
	os.MkdirAll(dir, 0o755)
	args := []string{"-M", "none", "-nodefaults", "-nographic", "-no-user-config", "-monitor", "none", "-serial", "none",
		"-qmp", "unix:" + filepath.Join(dir, qmpSock) + ",server=on,wait=off", "-sandbox", qemuSandbox}
	if os.Geteuid() == 0 {
		args = append(args, "-runas", "65534:65534")
	}
	if incoming {
		args = append(args, "-incoming", "defer")
	}
	cmd := exec.Command(qemu, args...)
	out, _ := os.Create(filepath.Join(dir, "qemu.log"))
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v := &vm{dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		v.waitErr = cmd.Wait()
		close(v.exited)
	}()
	t.Cleanup(v.kill)
	return v
}

// TestStateThroughDescriptors: a confined QEMU (seccomp without spawn, an
// unprivileged uid) saves its state into a file only root may write, and
// another restores from it: the files are opened by hookci and passed over
// QMP, as the template snapshots are.
func TestStateThroughDescriptors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := shortTempDir(t) // 0700, root's: QEMU as RunAs could not create files here
	state := filepath.Join(root, "state")
	b := &Backend{}
	src := startBareQEMU(t, filepath.Join(root, "a"), false)
	if err := b.saveState(ctx, src, state); err != nil {
		t.Fatalf("save: %v (qemu: %s)", err, tailFile(filepath.Join(src.dir, "qemu.log"), 500))
	}
	if fi, err := os.Stat(state); err != nil || fi.Size() == 0 {
		t.Fatalf("state file: %v, size %v", err, fi)
	}
	dst := startBareQEMU(t, filepath.Join(root, "b"), true)
	if err := b.restoreState(ctx, dst, state); err != nil {
		t.Fatalf("restore: %v (qemu: %s)", err, tailFile(filepath.Join(dst.dir, "qemu.log"), 500))
	}
	if err := dst.alive(); err != nil {
		t.Errorf("restored qemu: %v", err)
	}
}

package microvm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/oci/ocitest"
	"github.com/hookci/hookci/internal/sandbox"
)

// ctrRun executes a shell command through c and returns its output and exit code.
func ctrRun(t *testing.T, c *agent.Client, cmd string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := c.Exec(ctx, agent.ExecRequest{Argv: []string{"/bin/sh", "-c", cmd},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Dir: "/"}, &out)
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	return strings.TrimSpace(out.String()), res.ExitCode
}

// pullDisk pulls ref from the test registry and returns it as an ImageDisk.
func pullDisk(t *testing.T, st *oci.Store, ref string) ImageDisk {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img, err := st.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	disk, err := img.Ext4(ctx)
	if err != nil {
		t.Fatalf("ext4 of %s: %v", ref, err)
	}
	return ImageDisk{RootFS: img.RootFS, Disk: disk}
}

// TestContainersInVM starts, in one real VM, a Redis service container and
// a job container from the test registry's images: the service answers at
// localhost:6379 from the job (and at localhost:16379 through its agent's
// relay, as `ports: ["16379:6379"]`) and at redis:6379 from the job container,
// the workspace is shared both ways, the container has the image's root
// (Debian) with its own user, hostname and pid namespace, and its writes to
// the image stay in its own overlay.
func TestContainersInVM(t *testing.T) {
	b := newTestBackend(t, nil)
	reg := ocitest.Registry(t)
	imgs := ocitest.PushImages(t, reg)
	st, err := oci.Open(shortTempDir(t), reg.Mirror())
	if err != nil {
		t.Fatal(err)
	}
	_ = imgs
	redis := pullDisk(t, st, "redis:7") // through the docker.io mirror entry
	debian := pullDisk(t, st, "debian:bookworm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	inst, err := b.StartWith(ctx, sandbox.Spec{ID: "ctr-vm"}, StartOptions{Images: []ImageDisk{redis, debian}})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	t.Logf("VM with 2 image disks started in %v", time.Since(start).Round(time.Millisecond))
	if inst.Containers == nil {
		t.Fatal("microvm instance has no container starter")
	}
	before, _ := ctrRun(t, inst.Client, "free -k | awk '/Mem:/{print $3}'")
	start = time.Now()
	svc, err := inst.Containers(ctx, sandbox.ContainerSpec{Name: "svc-redis", RootFS: redis.RootFS, Hostname: "redis"})
	if err != nil {
		t.Fatalf("service container: %v", err)
	}
	defer svc.Close()
	if out, code := ctrRun(t, svc.Client, "redis-server --daemonize yes --save '' --port 6379 && for i in $(seq 100); do redis-cli ping 2>/dev/null | grep -q PONG && exit 0; sleep 0.2; done; exit 1"); code != 0 {
		t.Fatalf("redis did not come up: %s", out)
	}
	t.Logf("container start to healthy redis (TCG): %v", time.Since(start).Round(time.Millisecond))
	// The job reaches the service at localhost.
	if out, _ := ctrRun(t, inst.Client, `bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379; printf "PING\r\n" >&3; head -c 5 <&3'`); out != "+PONG" {
		t.Errorf("job -> localhost:6379: got %q, want +PONG", out)
	}
	// `ports: ["16379:6379"]`: the service's agent relays 16379 to 6379.
	if err := svc.Client.Forward(ctx, agent.ForwardRequest{Port: 16379, TargetPort: 6379}); err != nil {
		t.Fatalf("forward 16379 -> 6379: %v", err)
	}
	if out, _ := ctrRun(t, inst.Client, `bash -c 'exec 3<>/dev/tcp/127.0.0.1/16379; printf "PING\r\n" >&3; head -c 5 <&3'`); out != "+PONG" {
		t.Errorf("job -> localhost:16379 (relayed to 6379): got %q, want +PONG", out)
	}
	if err := inst.Client.WriteFile(ctx, inst.Layout.Workspace+"/from-job", []byte("hello container"), 0o644); err != nil {
		t.Fatal(err)
	}
	job, err := inst.Containers(ctx, sandbox.ContainerSpec{Name: "job", RootFS: debian.RootFS, UID: 1000, GID: 1000,
		Hosts:  []string{"redis"},
		Mounts: []sandbox.ContainerMount{{Source: "workspace", Target: "/__w/w"}, {Source: "temp", Target: "/__w/_temp", ReadOnly: true}}})
	if err != nil {
		t.Fatalf("job container: %v", err)
	}
	defer job.Close()
	if job.Layout.Workspace != "/__w/w" {
		t.Errorf("job container workspace: got %q, want /__w/w", job.Layout.Workspace)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"grep -c bookworm /etc/os-release >/dev/null && echo debian", "debian"},
		{"id -u; id -g", "1000\n1000"},
		{"hostname", "job"},
		{"cat /proc/1/cmdline | tr '\\0' ' '", "/proc/self/exe container-init"},
		{"cat /__w/w/from-job", "hello container"},
		{"getent hosts redis | cut -f1 -d' '", "127.0.0.1"},
		{`bash -c 'exec 3<>/dev/tcp/redis/6379; printf "PING\r\n" >&3; head -c 5 <&3'`, "+PONG"},
		{"touch /__w/_temp/x 2>/dev/null && echo writable || echo read-only", "read-only"},
		{"echo mine >/tmp/t && cat /tmp/t", "mine"},
	} {
		if got, _ := ctrRun(t, job.Client, tc.cmd); got != tc.want {
			t.Errorf("job container %q: got %q, want %q", tc.cmd, got, tc.want)
		}
	}
	// The image's user may write its overlay; another container of the
	// same image does not see it, nor does the job.
	// A root container is the guest's root: its entrypoint may hand files
	// to its service user (official images chown, then drop privileges).
	if out, _ := ctrRun(t, svc.Client, "chown 999:999 /data && setpriv --reuid=999 --regid=999 --clear-groups sh -c 'id -u; touch /data/x && echo ok'"); out != "999\nok" {
		t.Errorf("root container chown + drop to uid 999: got %q, want \"999\\nok\"", out)
	}
	if out, code := ctrRun(t, svc.Client, "echo changed >/etc/motd && cat /etc/motd"); code != 0 || out != "changed" {
		t.Errorf("write to the image's overlay as root: got %q (exit %d)", out, code)
	}
	if out, _ := ctrRun(t, job.Client, "echo written >/__w/w/from-container"); out != "" {
		t.Errorf("write to workspace: %s", out)
	}
	got, err := inst.Client.ReadFile(ctx, inst.Layout.Workspace+"/from-container")
	if err != nil || strings.TrimSpace(string(got)) != "written" {
		t.Errorf("job reads the container's workspace file: got %q, %v", got, err)
	}
	after, _ := ctrRun(t, inst.Client, "free -k | awk '/Mem:/{print $3}'")
	t.Logf("guest memory used (KiB): %s before the containers, %s with redis running and a job container (figure, not checked)", before, after)
	// Stopping the service kills its processes: redis no longer answers.
	if err := svc.Close(); err != nil {
		t.Errorf("stop service: %v", err)
	}
	for _, port := range []string{"6379", "16379"} {
		if out, _ := ctrRun(t, inst.Client, `bash -c '(exec 3<>/dev/tcp/127.0.0.1/`+port+`) 2>/dev/null && echo open || echo closed'`); out != "closed" {
			t.Errorf("after stopping the service, localhost:%s is %s, want closed", port, out)
		}
	}
	// An image that was not attached is refused with the reason.
	if _, err := inst.Containers(ctx, sandbox.ContainerSpec{Name: "other", RootFS: "/nonexistent/rootfs"}); err == nil || !strings.Contains(err.Error(), "not attached") {
		t.Errorf("unattached image: got %v, want an error saying it was not attached", err)
	}
}

// maliciousDisk builds an ext4 image of a hand-made root filesystem: a
// static busybox, a setuid-root copy of it, world-writable device nodes of
// the guest's disks and memory, and symlinks that point out of the root.
func maliciousDisk(t *testing.T) ImageDisk {
	t.Helper()
	root := busyboxRoot(t, []string{"bin", "suid", "evil", "etc", "tmp", "proc", "sys", "dev"},
		"sh", "cat", "id", "ls", "head", "echo", "tr", "grep", "wc")
	data, err := os.ReadFile(filepath.Join(root, "bin/busybox"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "suid/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "suid/busybox"), 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	// Virtio disks are block major 254 (or 253), /dev/mem is char 1:1.
	for name, dev := range map[string][3]uint32{"vda": {0o060000, 254, 0}, "vda253": {0o060000, 253, 0}, "mem": {0o020000, 1, 1}, "kmsg": {0o020000, 1, 11}} {
		mknod(t, filepath.Join(root, "evil", name), dev)
	}
	os.Symlink("/../../../../", filepath.Join(root, "escape"))
	os.Symlink("/../../../etc/shadow", filepath.Join(root, "etc/hosts"))
	return ImageDisk{RootFS: root, Disk: ext4Of(t, root, 256<<20)}
}

// busyboxRoot makes a root filesystem of the static busybox (bin/busybox
// and a link per applet) with dirs (tmp 1777), or skips without busybox
// (fails under CI=true: scripts/deps.sh test installs busybox-static).
func busyboxRoot(t *testing.T, dirs []string, applets ...string) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("busybox is missing (scripts/deps.sh test installs busybox-static)")
		}
		t.Skip("busybox is missing")
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range append([]string{"bin", "tmp"}, dirs...) {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// ext4Of builds an ext4 image of size bytes holding the tree at root.
func ext4Of(t *testing.T, root string, size int64) string {
	t.Helper()
	disk := filepath.Join(t.TempDir(), "image.ext4")
	if err := makeSparse(disk, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-d", root, disk).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	return disk
}

// TestAttackMaliciousImage runs a malicious image's container in a real VM
// as an unprivileged user and as root: its setuid-root binary gives no
// privilege, its device nodes open nothing (the image disk and overlay are
// nodev, nosuid), its symlinks out of the root (one of them where the
// agent writes /etc/hosts) lead back into the container, and neither the
// guest's files nor the job's processes are visible.
func TestAttackMaliciousImage(t *testing.T) {
	b := newTestBackend(t, nil)
	evil := maliciousDisk(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inst, err := b.StartWith(ctx, sandbox.Spec{ID: "ctr-attack"}, StartOptions{Images: []ImageDisk{evil}})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if err := inst.Client.WriteFile(ctx, inst.Layout.Workspace+"/secret", []byte("job-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []int{1000, 0} {
		name := "evil-" + strconv.Itoa(uid)
		c, err := inst.Containers(ctx, sandbox.ContainerSpec{Name: name, RootFS: evil.RootFS, UID: uid, GID: uid})
		if err != nil {
			t.Fatalf("uid %d: start: %v", uid, err)
		}
		for _, tc := range []struct{ cmd, want string }{
			{"/suid/busybox id -u", strconv.Itoa(uid)},
			{"grep NoNewPrivs /proc/self/status | tr -d ' \t'", "NoNewPrivs:1"},
			{"head -c 16 /evil/vda >/dev/null 2>&1 && echo READ || echo denied", "denied"},
			{"head -c 16 /evil/vda253 >/dev/null 2>&1 && echo READ || echo denied", "denied"},
			{"head -c 16 /evil/mem >/dev/null 2>&1 && echo READ || echo denied", "denied"},
			{"head -c 16 /evil/kmsg >/dev/null 2>&1 && echo READ || echo denied", "denied"},
			{"cat /escape/home/runner/work/w/secret 2>/dev/null || echo absent", "absent"},
			{"cat /proc/1/root/home/runner/work/w/secret 2>/dev/null || echo absent", "absent"},
			{"ls /escape/ | tr '\\n' ' '", "bin dev escape etc evil lost+found proc suid sys tmp"},
			{"test -L /etc/hosts && echo link || echo file", "file"},
		} {
			got, _ := ctrRun(t, c.Client, tc.cmd)
			if got != tc.want {
				t.Errorf("uid %d: %q: got %q, want %q", uid, tc.cmd, got, tc.want)
			}
		}
		if got, _ := ctrRun(t, c.Client, "cat /proc/1/cmdline | tr '\\0' ' '"); !strings.Contains(got, "container-init") {
			t.Errorf("uid %d: /proc/1 is %q, want the container's own init (pid namespace)", uid, got)
		}
		c.Close()
	}
	// The guest's /etc/shadow (target of the image's /etc/hosts symlink)
	// was not overwritten.
	if out, _ := ctrRun(t, inst.Client, "grep -c localhost /etc/shadow || true"); out != "0" {
		t.Errorf("guest /etc/shadow has hosts lines: %q", out)
	}
}

// mknod makes a device node (mode type bits, major, minor) with mode 0666.
func mknod(t *testing.T, path string, dev [3]uint32) {
	t.Helper()
	if err := unixMknod(path, dev[0]|0o666, dev[1], dev[2]); err != nil {
		t.Fatalf("mknod %s: %v", path, err)
	}
	os.Chmod(path, 0o666)
}

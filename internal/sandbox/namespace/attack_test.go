//go:build linux && amd64

package namespace

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/mountinfo"
	"github.com/hookci/hookci/internal/sandbox"
)

// The tests in this file are attacks: a job inside a real bubblewrap
// sandbox tries to take the host (issue 9, item 1), and each fails if the
// attack works.

// installAttacker copies this test binary into sandbox id's workspace; the
// job runs it with attackerEnv set (see attackerMain).
func installAttacker(t *testing.T, b *Backend, id string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.cfg.WorkDir, id, "workspace", "attacker"), data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// attack runs the attacker in the sandbox with args and returns its output.
func attack(t *testing.T, inst *sandbox.Instance, args ...string) string {
	t.Helper()
	var out strings.Builder
	req := agent.ExecRequest{Argv: append([]string{guestWork + "/attacker"}, args...), Env: append(env(), attackerEnv+"=1"), Dir: guestWork}
	res, err := inst.Client.Exec(context.Background(), req, &out)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("attacker %v: exit %d, %v (output %q)", args, res.ExitCode, err, out.String())
	}
	return out.String()
}

// fileOwner returns the host uid that owns path.
func fileOwner(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

// TestAttackPrivileges: the job holds no capability in any set, runs with
// no_new_privs under a seccomp filter, as uid 1001 inside and, on the host,
// as an unprivileged uid of the sandbox range that is neither root nor the
// server's.
func TestAttackPrivileges(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "privs"})
	code, out := run(t, inst, "grep -E '^(Cap[A-Za-z]+|NoNewPrivs|Seccomp):' /proc/self/status; id -u; id -un; touch created-by-job")
	if code != 0 {
		t.Fatalf("exit %d: %q", code, out)
	}
	t.Logf("inside the sandbox:\n%s", out)
	status := map[string]string{}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ":"); ok {
			status[k] = strings.TrimSpace(v)
		}
	}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if got := status[k]; got != "0000000000000000" {
			t.Errorf("%s: got %q, want 0000000000000000", k, got)
		}
	}
	if got := status["NoNewPrivs"]; got != "1" {
		t.Errorf("NoNewPrivs: got %q, want 1", got)
	}
	if got := status["Seccomp"]; got != "2" {
		t.Errorf("Seccomp: got %q, want 2 (filter)", got)
	}
	if n := len(lines); n < 2 || lines[n-2] != "1001" || lines[n-1] != "runner" {
		t.Errorf("id -u, id -un: got %q, want 1001 and runner", lines[max(n-2, 0):])
	}
	uid := fileOwner(t, filepath.Join(b.cfg.WorkDir, "privs", "workspace", "created-by-job"))
	if uid == 0 || uid == os.Getuid() || uid < DefaultUIDBase || uid >= DefaultUIDBase+DefaultUIDCount {
		t.Errorf("host owner of a file the job created: got uid %d, want one of [%d, %d), not 0 nor the server's %d",
			uid, DefaultUIDBase, DefaultUIDBase+DefaultUIDCount, os.Getuid())
	}
	t.Logf("the job's files belong to host uid %d", uid)
}

// TestAttackKernelSettings: the job cannot write kernel settings, neither
// global ones (core_pattern: a root shell for the next crash) nor ones of
// its own namespaces (hostname); /proc/sys is mounted read-only.
func TestAttackKernelSettings(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "sysctl"})
	files := []struct{ file, value string }{
		{"/proc/sys/kernel/core_pattern", "|/home/runner/work/w/pwn %p"},
		{"/proc/sys/kernel/randomize_va_space", "0"},
		{"/proc/sys/kernel/hostname", "pwned"},
		{"/proc/sys/vm/drop_caches", "3"},
	}
	host := map[string][]byte{} // drop_caches is write-only
	for _, f := range files[:3] {
		data, err := os.ReadFile(f.file)
		if err != nil {
			t.Fatal(err)
		}
		host[f.file] = data
	}
	t.Cleanup(func() { // should an attack have worked, undo it on the host
		for file, data := range host {
			if now, _ := os.ReadFile(file); string(now) != string(data) {
				os.WriteFile(file, data, 0o644)
			}
		}
	})
	for _, tt := range files {
		code, out := run(t, inst, fmt.Sprintf("echo '%s' > %s", tt.value, tt.file))
		if code == 0 {
			t.Errorf("writing %s in the sandbox: got exit 0, want refused", tt.file)
		} else {
			t.Logf("writing %s: refused: %s", tt.file, strings.TrimSpace(out))
		}
	}
	for file, data := range host {
		if now, _ := os.ReadFile(file); string(now) != string(data) {
			t.Errorf("host %s: got %q, want %q unchanged", file, now, data)
		}
	}
	if _, out := run(t, inst, "hostname"); out != "hookci\n" {
		t.Errorf("hostname after the attack: got %q, want hookci", out)
	}
	_, out := run(t, inst, "grep ' /proc/sys ' /proc/self/mountinfo")
	if f := strings.Fields(out); len(f) < 6 || !slices.Contains(strings.Split(f[5], ","), "ro") {
		t.Errorf("/proc/sys mount in the sandbox: got %q, want read-only", out)
	}
}

// TestAttackMountsAndHostPaths: the job cannot remount the host's /usr
// read-write (with mount(8), or in a user namespace of its own), and no
// host path is writable in the sandbox but the job's own directories.
func TestAttackMountsAndHostPaths(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "mounts"})
	hostUsr := mountOptions(t, "/proc/self/mountinfo", "/usr")
	for _, script := range []string{
		"mount -o remount,rw /usr",
		"mount -o remount,bind,rw /usr",
		"unshare -r sh -c 'mount -o remount,rw /usr'",
		"unshare -rm sh -c 'mount --bind /home/runner/work/w /usr'",
		"mount -t tmpfs none /usr",
	} {
		if code, out := run(t, inst, script+" 2>&1"); code == 0 {
			t.Errorf("%q in the sandbox: got exit 0 (%q), want refused", script, out)
		}
		if code, _ := run(t, inst, "touch /usr/hookci-attack 2>/dev/null"); code == 0 {
			t.Errorf("after %q: /usr is writable in the sandbox", script)
		}
	}
	if _, err := os.Stat("/usr/hookci-attack"); err == nil {
		os.Remove("/usr/hookci-attack")
		t.Errorf("the job created /usr/hookci-attack on the host")
	}
	if got := mountOptions(t, "/proc/self/mountinfo", "/usr"); got != hostUsr {
		t.Errorf("host /usr mount: got %q, want %q unchanged", got, hostUsr)
	}
	// Every writable mount is a kernel filesystem of the sandbox's own or
	// one of the job's directories.
	_, out := run(t, inst, "cat /proc/self/mountinfo")
	own := filepath.Join(b.cfg.WorkDir, "mounts")
	virtual := map[string]bool{"tmpfs": true, "proc": true, "devpts": true, "mqueue": true}
	devices := map[string]bool{"/dev/null": true, "/dev/zero": true, "/dev/full": true, "/dev/random": true, "/dev/urandom": true, "/dev/tty": true}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		pre, post, _ := strings.Cut(line, " - ")
		f, pf := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(pf) < 1 || slices.Contains(strings.Split(f[5], ","), "ro") {
			continue
		}
		root, point, fstype := f[3], f[4], pf[0]
		switch {
		case virtual[fstype]:
		case fstype == "devtmpfs" && devices[point]:
		case strings.HasPrefix(root, own+"/"):
		default:
			t.Errorf("writable host mount in the sandbox: %s (%s from %s)", point, fstype, root)
		}
	}
}

// mountOptions returns the per-mount options of the mount at point, or of
// the root when point is not a mount of its own.
func mountOptions(t *testing.T, path, point string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := mountinfo.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	opts := map[string]string{}
	for _, m := range ms {
		opts[m.MountPoint] = strings.Join(m.Options, ",")
	}
	if o, ok := opts[point]; ok {
		return o
	}
	return opts["/"]
}

// TestAttackOpenByHandle: open_by_handle_at through the workspace's bind
// mount reaches any file of the same filesystem by its handle, past every
// mount (the attack read the server's configuration). A secret
// file of the host's is read with it outside the sandbox (as root: the
// attack works there), and must not be inside.
func TestAttackOpenByHandle(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "handle"})
	installAttacker(t, b, "handle")
	secret := filepath.Join(t.TempDir(), "server-config.toml")
	if err := os.WriteFile(secret, []byte("webhook_secret = \"TOPSECRET\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"handle", fmt.Sprint(h.Type()), hex.EncodeToString(h.Bytes())}

	// The control: the same attack on the host, from the workspace directory.
	cmd := exec.Command(filepath.Join(b.cfg.WorkDir, "handle", "workspace", "attacker"), args...)
	cmd.Dir = filepath.Join(b.cfg.WorkDir, "handle", "workspace")
	cmd.Env = append(env(), attackerEnv+"=1")
	hostOut, err := cmd.Output()
	if err != nil || !strings.Contains(string(hostOut), "TOPSECRET") {
		t.Fatalf("control on the host: got %q (%v), want the secret read: the attack itself is broken", hostOut, err)
	}
	out := attack(t, inst, args...)
	if strings.Contains(out, "TOPSECRET") || !strings.HasPrefix(out, "refused EPERM") {
		t.Errorf("open_by_handle_at of a host file in the sandbox: got %q, want refused EPERM", out)
	}
}

// TestAttackSyscalls: every system call of the filter's list, and a few
// the missing capabilities refuse, is tried with harmful arguments; each
// must be refused with the expected errno (EPERM where a call would
// otherwise work unprivileged proves the filter itself).
func TestAttackSyscalls(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "syscalls"})
	installAttacker(t, b, "syscalls")
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(attack(t, inst, "syscalls")), "\n") {
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			got[line[:i]] = line[i+1:]
		}
	}
	attacked := map[string]bool{}
	for _, a := range syscallAttacks() {
		name, _, _ := strings.Cut(a.name, " ")
		attacked[name] = true
		if got[a.name] != a.want {
			t.Errorf("%s in the sandbox: got %q, want %s", a.name, got[a.name], a.want)
		}
	}
	for _, r := range deniedSyscalls() {
		if !attacked[r.name] {
			t.Errorf("the filter denies %s, but no attack tries it", r.name)
		}
	}
	// The job still works: a process, a thread (clone falls back from
	// clone3), a pipe, a file.
	if code, out := run(t, inst, "echo ok | cat > f && cat f && (sleep 0 & wait) && python3 -c 'import threading; t=threading.Thread(target=print, args=(\"thread\",)); t.start(); t.join()'"); code != 0 || out != "ok\nthread\n" {
		t.Errorf("ordinary work under the filter: got %d %q, want 0 \"ok\\nthread\\n\"", code, out)
	}
}

// TestAttackOtherSandbox: a second sandbox cannot see, read or reach by
// handle the first one's workspace, and runs as another host uid.
func TestAttackOtherSandbox(t *testing.T) {
	b := newBackend(t, Config{})
	first := start(t, b, sandbox.Spec{ID: "first"})
	second := start(t, b, sandbox.Spec{ID: "second"})
	installAttacker(t, b, "second")
	if code, out := run(t, first, "echo FIRSTSECRET > mine; sleep 1000 >/dev/null 2>&1 & echo started"); code != 0 {
		t.Fatalf("first sandbox: exit %d %q", code, out)
	}
	firstFile := filepath.Join(b.cfg.WorkDir, "first", "workspace", "mine")
	if code, _ := run(t, second, "touch theirs"); code != 0 {
		t.Fatal("second sandbox cannot write its workspace")
	}
	u1, u2 := fileOwner(t, firstFile), fileOwner(t, filepath.Join(b.cfg.WorkDir, "second", "workspace", "theirs"))
	if u1 == u2 {
		t.Errorf("both sandboxes run as host uid %d, want one uid each", u1)
	}
	for _, script := range []string{
		"cat " + firstFile,
		"cat /proc/*/root" + guestWork + "/mine",
		"grep -rs FIRSTSECRET /home /tmp /run",
		"ls -a " + guestWork,
	} {
		if _, out := run(t, second, script+" 2>/dev/null"); strings.Contains(out, "FIRSTSECRET") || strings.Contains(out, "mine") {
			t.Errorf("%q in the second sandbox: got %q, want nothing of the first", script, out)
		}
	}
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, firstFile, 0)
	if err != nil {
		t.Fatal(err)
	}
	if out := attack(t, second, "handle", fmt.Sprint(h.Type()), hex.EncodeToString(h.Bytes())); !strings.HasPrefix(out, "refused EPERM") {
		t.Errorf("open_by_handle_at of the first sandbox's file: got %q, want refused EPERM", out)
	}
}

// TestJobDirectoryModes (issue 9, item 13): on the host, the sandbox's
// directory is root's (searchable, not listable); the job's directories are its uid's alone
// (0700); the files the backend keeps there are 0600. Inside, the job sees
// its directories as its own.
func TestJobDirectoryModes(t *testing.T) {
	b := newBackend(t, Config{})
	inst := start(t, b, sandbox.Spec{ID: "modes"})
	dir := filepath.Join(b.cfg.WorkDir, "modes")
	jobUID := fileOwner(t, filepath.Join(dir, "workspace"))
	tests := []struct {
		path string
		uid  int
		mode os.FileMode
	}{
		{dir, 0, 0o711 | os.ModeDir},
		{filepath.Join(dir, "workspace"), jobUID, 0o700 | os.ModeDir},
		{filepath.Join(dir, "temp"), jobUID, 0o700 | os.ModeDir},
		{filepath.Join(dir, "home"), jobUID, 0o700 | os.ModeDir},
		{filepath.Join(dir, agentSockName), 0, 0o600 | os.ModeSocket},
		{filepath.Join(dir, "agent.log"), 0, 0o600},
		{filepath.Join(dir, ownerFile), 0, 0o600},
		{filepath.Join(dir, "seccomp.bpf"), 0, 0o600},
	}
	for _, tt := range tests {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Errorf("%s: %v", tt.path, err)
			continue
		}
		if uid := int(fi.Sys().(*syscall.Stat_t).Uid); uid != tt.uid || fi.Mode() != tt.mode {
			t.Errorf("%s: got uid %d mode %v, want uid %d mode %v", tt.path, uid, fi.Mode(), tt.uid, tt.mode)
		}
	}
	if jobUID == 0 {
		t.Errorf("job directories belong to root")
	}
	_, out := run(t, inst, "stat -c '%u %a %n' /home/runner /home/runner/work/w /home/runner/work/_temp")
	want := "1001 700 /home/runner\n1001 700 /home/runner/work/w\n1001 700 /home/runner/work/_temp\n"
	if out != want {
		t.Errorf("the job's directories inside: got %q, want %q", out, want)
	}
}

//go:build linux && amd64

package namespace

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/uidpool"
)

// rootAttack adds the "try" mode to the attacker:
//
//	try UID GID OP:PATH...   switch to UID and GID first (gosu-style:
//	                         setgroups none, setgid, setuid; -1 stays),
//	                         printing "switch RESULT", then do each OP on
//	                         PATH, printing "OP PATH RESULT":
//	                         read, write (append), chown (to the current
//	                         user), chown999, chmod (0666), hold (sleep 60 s)
func rootAttack(args []string) (int, bool) {
	if args[0] != "try" || len(args) < 3 {
		return 0, false
	}
	uid, _ := strconv.Atoi(args[1])
	gid, _ := strconv.Atoi(args[2])
	if uid >= 0 {
		err := syscall.Setgroups(nil)
		if err == nil {
			err = syscall.Setgid(gid)
		}
		if err == nil {
			err = syscall.Setuid(uid)
		}
		fmt.Printf("switch %s\n", result(err))
		if err != nil {
			return 0, true
		}
	}
	for _, a := range args[3:] {
		op, path, _ := strings.Cut(a, ":")
		var err error
		switch op {
		case "read":
			_, err = os.ReadFile(path)
		case "write":
			var f *os.File
			if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
				_, err = f.WriteString("x")
				f.Close()
			}
		case "chown":
			err = os.Chown(path, os.Getuid(), os.Getgid())
		case "chown999":
			err = os.Chown(path, 999, 999)
		case "chmod":
			err = os.Chmod(path, 0o666)
		case "hold":
			fmt.Println("holding")
			time.Sleep(60 * time.Second)
		default:
			fmt.Println("attacker: unknown op", op)
			return 2, true
		}
		fmt.Printf("%s %s %s\n", op, path, result(err))
	}
	return 0, true
}

// uidMapLines parses a uid_map or gid_map into its lines of three numbers.
func uidMapLines(t *testing.T, data string) [][3]int {
	t.Helper()
	var lines [][3]int
	for _, l := range strings.Split(strings.TrimSpace(data), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("map line %q: want 3 fields", l)
		}
		var n [3]int
		for i := range f {
			v, err := strconv.Atoi(f[i])
			if err != nil {
				t.Fatalf("map line %q: %v", l, err)
			}
			n[i] = v
		}
		lines = append(lines, n)
	}
	return lines
}

// TestRootContainerSwitchesUser (issue 12): an image that starts as root
// chowns its data directory and switches to its service user (uid 999) the
// way gosu does; it works. And the attacks of such a container's root and
// of its service user fail: the container's root is the job's host uid
// (never the host's root), its other users are the sandbox's subordinate
// range, and neither reads, writes, chowns or chmods a host file of root
// placed in the job's workspace, nor switches to an id outside its map; the
// service user cannot enter the job's workspace.
func TestRootContainerSwitchesUser(t *testing.T) {
	b := newBackend(t, Config{})
	job := start(t, b, sandbox.Spec{ID: "rootctr"})
	ws := filepath.Join(b.cfg.WorkDir, "rootctr", "workspace")
	if code, out := run(t, job, "echo JOBFILE > jobfile && chmod 600 jobfile"); code != 0 {
		t.Fatal(out)
	}
	rootFile := filepath.Join(ws, "rootfile") // the host's root's, in reach of the container
	if err := os.WriteFile(rootFile, []byte("HOSTROOTSECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	jobUID := fileOwner(t, ws)
	if b.uids == nil {
		t.Fatal("the test runs as root, but the backend has no uid pool")
	}
	sub, err := b.uids.SubRange(jobUID)
	if err != nil {
		t.Fatal(err)
	}
	ctr := startContainer(t, job, sandbox.ContainerSpec{Name: "pg", RootFS: containerRootFS(t),
		Mounts: []sandbox.ContainerMount{{Source: "workspace", Target: "/github/workspace"}},
		Tmpfs:  []string{"/var/lib/data"}})

	// The container's root: uid 0 with the few capabilities a switch needs.
	if _, out := inContainer(t, ctr, "attacker", "ids"); out != "uid=0/0 caps=00000000000000fb nnp=1\n" {
		t.Errorf("root of the container: got %q, want uid=0/0 caps=00000000000000fb nnp=1", out)
	}
	for _, m := range []string{"/proc/self/uid_map", "/proc/self/gid_map"} {
		_, out := inContainer(t, ctr, "attacker", "read", m)
		q, ok := strings.CutPrefix(strings.TrimSpace(out), "ok ")
		data, err := strconv.Unquote(q)
		if !ok || err != nil {
			t.Fatalf("reading %s in the container: %q", m, out)
		}
		got := uidMapLines(t, data)
		want := [][3]int{{0, jobUID, 1}, {1, sub + 1, subUIDSize - 1}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v (container root = the job's uid %d, the rest the subordinate range from %d)", m, got, want, jobUID, sub)
		}
		for _, l := range got {
			if l[1] == 0 {
				t.Errorf("%s maps the host's root: %v", m, l)
			}
		}
	}

	// Root of the container against the host's root's file, and a switch
	// outside the map.
	wsRoot := "/github/workspace/rootfile"
	defer func() { t.Logf("uid %d, subordinate range from %d", jobUID, sub) }()
	_, out := inContainer(t, ctr, "attacker", "try", "-1", "-1", "read:"+wsRoot, "write:"+wsRoot, "chown:"+wsRoot, "chmod:"+wsRoot,
		"write:/github/workspace/jobfile", "chown999:/var/lib/data")
	for _, want := range []string{
		"read " + wsRoot + " EACCES", "write " + wsRoot + " EACCES", "chown " + wsRoot + " EPERM", "chmod " + wsRoot + " EPERM",
		"write /github/workspace/jobfile ok", // the job's own file: the container's root is the job
		"chown999 /var/lib/data ok",          // the entrypoint's chown of its data
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("root of the container: got %q, want a line %q", out, want)
		}
	}
	// Its capabilities do not reach the calls the job's filter refuses.
	_, out = inContainer(t, ctr, "attacker", "syscalls")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		for _, call := range []string{"mount ", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "unshare", "clone(", "setns", "ptrace"} {
			if strings.HasPrefix(line, call) && !strings.Contains(line, "(allowed)") && !strings.HasSuffix(line, " EPERM") {
				t.Errorf("%s in the root container: want EPERM", line)
			}
		}
	}
	if !strings.Contains(out, "unshare(CLONE_NEWUSER) EPERM") {
		t.Errorf("syscalls in the root container: got %q, want unshare(CLONE_NEWUSER) EPERM among them", out)
	}
	if _, out := inContainer(t, ctr, "attacker", "try", "70000", "70000"); out != "switch EINVAL\n" {
		t.Errorf("switching to uid 70000 (not mapped): got %q, want switch EINVAL", out)
	}

	// The gosu-style switch to the service user, and what it may then do.
	// Like the official postgres entrypoint's mktemp, the service user
	// writes in /tmp (mode 1777, as an image's /tmp is).
	_, out = inContainer(t, ctr, "attacker", "try", "999", "999", "write:/var/lib/data/PG_VERSION", "write:/tmp/pwfile",
		"read:/github/workspace/jobfile", "write:/github/workspace/new", "read:"+wsRoot)
	for _, want := range []string{
		"switch ok", "write /var/lib/data/PG_VERSION ok", "write /tmp/pwfile ok",
		"read /github/workspace/jobfile EACCES", "write /github/workspace/new EACCES", "read " + wsRoot + " EACCES",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("service user 999 of the container: got %q, want a line %q", out, want)
		}
	}
	if _, out := inContainer(t, ctr, "attacker", "try", "999", "999"); out != "switch ok\n" {
		t.Fatalf("switch: got %q", out)
	}
	// On the host, the service user is an id of the subordinate range.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ctr.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"attacker", "try", "999", "999", "hold:-"}, Env: append(env(), attackerEnv+"=1"), Dir: "/"}, &strings.Builder{})
	want := strconv.Itoa(sub + 999)
	found := false
	for i := 0; i < 500 && !found; i++ {
		found = uidpool.InUse()[sub+999]
		time.Sleep(10 * time.Millisecond)
	}
	if !found {
		t.Errorf("no process runs as host uid %s (the container's 999) while the service user holds", want)
	}
	if b, err := os.ReadFile(rootFile); err != nil || string(b) != "HOSTROOTSECRET" {
		t.Errorf("the host's root's file after the attacks: got %q %v, want it untouched", b, err)
	}
	if fi, err := os.Stat(rootFile); err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the host's root's file after the attacks: got %v %v, want mode 0600 owned by root", fi.Mode(), err)
	}
}

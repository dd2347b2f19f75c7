//go:build linux && amd64

package namespace

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
)

// copyUpRootFS is containerRootFS with a postgres-like VOLUME directory
// (/var/lib/postgresql/data, 0700, owned by 999 and holding its files), a
// root-owned /srv/conf with a file and a symlink to a host file, and
// /var/lib/hostvol, a symlink to a host directory.
func copyUpRootFS(t *testing.T, hostFile, hostDir string) string {
	t.Helper()
	root := containerRootFS(t)
	pg := filepath.Join(root, "var/lib/postgresql/data")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "var/lib/postgresql"), 0o755))
	must(os.MkdirAll(filepath.Join(pg, "base"), 0o700))
	must(os.WriteFile(filepath.Join(pg, "PG_VERSION"), []byte("16\n"), 0o600))
	must(os.WriteFile(filepath.Join(pg, "base/1"), []byte("rel"), 0o600))
	for _, p := range []string{"", "base", "base/1", "PG_VERSION"} {
		must(os.Chown(filepath.Join(pg, p), 999, 999))
	}
	must(os.Chmod(pg, 0o700))
	must(os.MkdirAll(filepath.Join(root, "srv/conf"), 0o755))
	must(os.WriteFile(filepath.Join(root, "srv/conf/app.conf"), []byte("image conf"), 0o644))
	must(os.Symlink(hostFile, filepath.Join(root, "srv/conf/leak")))
	must(os.Symlink(hostDir, filepath.Join(root, "var/lib/hostvol")))
	return root
}

// TestContainerVolumeCopyUp (issue 12): a new volume is Docker's copy-up
// of the image's directory. A root container whose image holds a
// postgres-like VOLUME (0700, owned by 999, with files) sees the files,
// their owners and modes there, and after its gosu-style switch to 999
// reads and writes them; on the host the copy belongs to the sandbox's
// subordinate uid for 999. A `volumes:` entry of a root-owned image
// directory is its copy too, which 999 may not write. An image symlink in
// a volume stays a symlink inside the container (the host file it names
// is never read). A container of one uid owns its whole copy. The jobs's
// processes and a running container of it, racing the copy by planting
// symlinks where the container's volume is made on the host, reach
// nothing there.
func TestContainerVolumeCopyUp(t *testing.T) {
	b := newBackend(t, Config{})
	job := start(t, b, sandbox.Spec{ID: "copyup"})
	hostDir := t.TempDir()
	hostFile := filepath.Join(hostDir, "secret")
	if err := os.WriteFile(hostFile, []byte("HOST SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs := copyUpRootFS(t, hostFile, hostDir)
	vols := []string{"/var/lib/postgresql/data", "/srv/conf"}
	jobUID := fileOwner(t, filepath.Join(b.cfg.WorkDir, "copyup", "workspace"))
	sub, err := b.uids.SubRange(jobUID)
	if err != nil {
		t.Fatal(err)
	}

	// The attackers: the job, and a running root container of it, keep
	// planting symlinks to the host file and directory where the next
	// container's volume copies are made on the host, while it starts.
	first := startContainer(t, job, sandbox.ContainerSpec{Name: "first", RootFS: containerRootFS(t), Tmpfs: []string{"/var/lib/data"}})
	ctrDir := filepath.Join(b.cfg.WorkDir, "copyup", "ctr-pg")
	plant := fmt.Sprintf(`for i in $(seq 60); do ln -s %[3]s %[1]s 2>/dev/null && echo PLANTED; for v in vol0 vol1; do mkdir -p %[1]s/$v 2>/dev/null; ln -s %[2]s %[1]s/$v/PG_VERSION 2>/dev/null && echo PLANTED; ln -s %[3]s %[1]s/$v/base 2>/dev/null && echo PLANTED; ln -s %[3]s %[1]s/$v 2>/dev/null && echo PLANTED; done; done; echo done`, ctrDir+"/vol", hostFile, hostDir)
	type res struct {
		who string
		out string
	}
	results := make(chan res, 2)
	go func() { _, out := run(t, job, plant); results <- res{"job", out} }()
	go func() {
		var out strings.Builder
		first.Client.Exec(context.Background(), agent.ExecRequest{Argv: []string{"attacker", "plant", ctrDir + "/vol", hostFile, hostDir, "60"},
			Env: append(env(), attackerEnv+"=1"), Dir: "/"}, &out)
		results <- res{"running container", out.String()}
	}()
	pg := startContainer(t, job, sandbox.ContainerSpec{Name: "pg", RootFS: rootfs, Tmpfs: vols})
	for i := 0; i < 2; i++ {
		// What they plant lands in their own views (the job's /tmp is
		// its own tmpfs), never on the host: checked below on the host.
		r := <-results
		if !strings.Contains(r.out, "done") {
			t.Errorf("%s: the planting did not run: %q", r.who, r.out)
		}
		t.Logf("%s planted %d symlinks in its own view", r.who, strings.Count(r.out, "PLANTED"))
	}

	owners := func(c *sandbox.Instance, paths ...string) map[string]string {
		t.Helper()
		code, out := inContainer(t, c, append([]string{"attacker", "owners"}, paths...)...)
		if code != 0 {
			t.Fatalf("owners: exit %d, %q", code, out)
		}
		got := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if p, v, ok := strings.Cut(l, " "); ok {
				got[p] = v
			}
		}
		return got
	}
	d := "/var/lib/postgresql/data"
	got := owners(pg, d, d+"/PG_VERSION", d+"/base", d+"/base/1", "/srv/conf", "/srv/conf/app.conf")
	for p, want := range map[string]string{d: "999:999 0700", d + "/PG_VERSION": "999:999 0600", d + "/base": "999:999 0700", d + "/base/1": "999:999 0600",
		"/srv/conf": "0:0 0755", "/srv/conf/app.conf": "0:0 0644"} {
		if got[p] != want {
			t.Errorf("root container: %s: got %q, want %s (the image's)", p, got[p], want)
		}
	}
	if _, out := inContainer(t, pg, "attacker", "read", d+"/PG_VERSION"); out != "ok \"16\\n\"\n" {
		t.Errorf("root container reads the copied PG_VERSION: got %q", out)
	}
	_, out := inContainer(t, pg, "attacker", "try", "999", "999", "read:"+d+"/PG_VERSION", "write:"+d+"/PG_VERSION", "write:"+d+"/base/2",
		"write:"+d+"/postmaster.pid", "write:/srv/conf/app.conf", "read:/srv/conf/leak")
	for _, w := range []string{"switch ok", "read " + d + "/PG_VERSION ok", "write " + d + "/PG_VERSION ok", "write " + d + "/base/2 ok",
		"write " + d + "/postmaster.pid ok", "write /srv/conf/app.conf EACCES", "read /srv/conf/leak ENOENT"} {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("service user 999 of the root container: got %q, want a line %q", out, w)
		}
	}
	// On the host, 999's copy is the subordinate range's, never root's.
	var st unix.Stat_t
	found := 0
	filepath.Walk(ctrDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !strings.Contains(p, "/vol") {
			return nil
		}
		if fi.Mode()&os.ModeSymlink != 0 && filepath.Base(p) != "leak" {
			t.Errorf("host copy %s is a symlink: planted", p)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid == 0 || st.Gid == 0 {
			t.Errorf("host copy %s is owned by %d:%d: root's", p, st.Uid, st.Gid)
		}
		if filepath.Base(p) == "PG_VERSION" {
			found++
			if int(st.Uid) != sub+999 {
				t.Errorf("host copy %s: owner %d, want %d (the subordinate uid for 999)", p, st.Uid, sub+999)
			}
		}
		return nil
	})
	// Other host users do not reach the copies: their directory is the
	// job uid's, 0700.
	if err := unix.Lstat(filepath.Join(ctrDir, "vol"), &st); err != nil || st.Mode != unix.S_IFDIR|0o700 || int(st.Uid) != jobUID {
		t.Errorf("host: the volumes' directory: mode %o owner %d (%v), want a 0700 directory of the job's uid %d", st.Mode, st.Uid, err, jobUID)
	}
	if found != 1 {
		t.Errorf("host: %d copies of PG_VERSION under %s, want 1", found, ctrDir)
	}

	// A container of one uid owns its whole copy, and writes it.
	one := startContainer(t, job, sandbox.ContainerSpec{Name: "one", RootFS: rootfs, UID: 1001, GID: 1001, Tmpfs: vols})
	got = owners(one, d, d+"/PG_VERSION", "/srv/conf/app.conf")
	for p, want := range map[string]string{d: "1001:1001 0700", d + "/PG_VERSION": "1001:1001 0600", "/srv/conf/app.conf": "1001:1001 0644"} {
		if got[p] != want {
			t.Errorf("uid 1001 container: %s: got %q, want %s", p, got[p], want)
		}
	}
	if _, out := inContainer(t, one, "attacker", "try", "-1", "-1", "read:"+d+"/PG_VERSION", "write:"+d+"/new", "read:/srv/conf/leak"); !strings.Contains(out, "read "+d+"/PG_VERSION ok\n") ||
		!strings.Contains(out, "write "+d+"/new ok\n") || !strings.Contains(out, "read /srv/conf/leak ENOENT\n") {
		t.Errorf("uid 1001 container: got %q, want PG_VERSION read, new written, leak ENOENT", out)
	}
	// Each container has its own copy: the first one's writes are not here.
	if _, out := inContainer(t, one, "attacker", "read", d+"/postmaster.pid"); !strings.HasPrefix(out, "refused ENOENT") {
		t.Errorf("uid 1001 container sees the pg container's volume write: %q", out)
	}

	// A VOLUME through an image symlink to a host directory is not the
	// host's directory: resolved in the image, it does not exist there.
	if _, err := job.Containers(context.Background(), sandbox.ContainerSpec{Name: "hostvol", RootFS: rootfs, Tmpfs: []string{"/var/lib/hostvol"}}); err == nil {
		t.Errorf("a container with a volume through an image symlink to a host directory started")
	}
	if b, err := os.ReadFile(hostFile); err != nil || string(b) != "HOST SECRET" {
		t.Errorf("the host file after the attacks: %q %v", b, err)
	}
	if ents, _ := os.ReadDir(hostDir); len(ents) != 1 {
		t.Errorf("the host directory holds %d entries after the attacks, want 1", len(ents))
	}
	if err := unix.Stat(hostFile, &st); err != nil || st.Uid != 0 || st.Mode&0o7777 != 0o644 {
		t.Errorf("the host file's owner or mode changed: %d %o %v", st.Uid, st.Mode&0o7777, err)
	}
}

// TestContainerVolumeCopyBound: a container whose volumes' image
// directories hold more than the bound does not start, and the error
// names the volume and the bound (bytes, then entries).
func TestContainerVolumeCopyBound(t *testing.T) {
	b := newBackend(t, Config{VolumeCopyBytes: 4096, VolumeCopyEntries: 50})
	job := start(t, b, sandbox.Spec{ID: "copybound"})
	rootfs := copyUpRootFS(t, "/nonexistent", "/nonexistent")
	big := filepath.Join(rootfs, "var/lib/big")
	if err := os.MkdirAll(big, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(big, "blob"), make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	many := filepath.Join(rootfs, "var/lib/many")
	for i := 0; i < 60; i++ {
		if err := os.MkdirAll(filepath.Join(many, fmt.Sprint(i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ vol, want string }{{"/var/lib/big", "4096 bytes"}, {"/var/lib/many", "50 entries"}} {
		_, err := job.Containers(context.Background(), sandbox.ContainerSpec{Name: filepath.Base(c.vol), RootFS: rootfs, Tmpfs: []string{"/var/lib/postgresql/data", c.vol}})
		if err == nil || !strings.Contains(err.Error(), "volume "+c.vol+": ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("volume %s over the bound: got %v, want an error naming it and %s", c.vol, err, c.want)
		}
	}
	// Within the bound it starts.
	startContainer(t, job, sandbox.ContainerSpec{Name: "ok", RootFS: rootfs, Tmpfs: []string{"/var/lib/postgresql/data"}})
}

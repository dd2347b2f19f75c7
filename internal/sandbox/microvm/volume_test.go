package microvm

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/sandbox"
)

// volumeDisk builds an ext4 image of a hand-made root filesystem (static
// busybox) with a postgres-like VOLUME directory, /var/lib/postgresql/data
// (0700, owned by 999, holding files and a hard link), a root-owned
// /srv/conf with a file and a symlink to the guest's /etc/shadow, and
// /var/lib/out, a symlink out of the root (to /opt/data, which only the
// image has).
func volumeDisk(t *testing.T) ImageDisk {
	t.Helper()
	root := busyboxRoot(t, []string{"etc", "proc", "sys", "dev", "var/lib/postgresql/data/base", "srv/conf", "opt/data"},
		"sh", "cat", "stat", "setpriv", "echo", "ls", "id", "test", "grep", "uniq", "wc", "su")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	pg := filepath.Join(root, "var/lib/postgresql/data")
	must(os.WriteFile(filepath.Join(pg, "PG_VERSION"), []byte("16\n"), 0o600))
	must(os.WriteFile(filepath.Join(pg, "base/1"), []byte("rel"), 0o600))
	must(os.Link(filepath.Join(pg, "base/1"), filepath.Join(pg, "base/1.link")))
	for _, p := range []string{"", "base", "base/1", "PG_VERSION"} {
		must(os.Chown(filepath.Join(pg, p), 999, 999))
		mode := os.FileMode(0o600)
		if fi, _ := os.Stat(filepath.Join(pg, p)); fi.IsDir() {
			mode = 0o700
		}
		must(os.Chmod(filepath.Join(pg, p), mode))
	}
	must(os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\npostgres:x:999:\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "srv/conf/app.conf"), []byte("image conf"), 0o644))
	must(os.Symlink("/etc/shadow", filepath.Join(root, "srv/conf/leak")))
	must(os.WriteFile(filepath.Join(root, "opt/data/in-image"), nil, 0o644))
	must(os.Symlink("/../../../../opt/data", filepath.Join(root, "var/lib/out")))
	return ImageDisk{RootFS: root, Disk: ext4Of(t, root, 64<<20)}
}

// TestContainerVolumeCopyUpInVM (issue 12): in a real VM, a container's
// volumes are Docker's copy-up, made by the guest's container-init from
// the read-only image disk onto the volume's tmpfs. A root container sees
// the postgres-like VOLUME's files with the image's owners and modes
// (hard link kept) and writes them as 999 after a switch, but not the
// root-owned /srv/conf copy; an image symlink stays a symlink, resolved in
// the container (the guest's /etc/shadow is not read into it); a volume
// through a symlink out of the root is the image's own directory; a
// container of uid 1000 owns its whole copy. Each container has its own
// copy.
func TestContainerVolumeCopyUpInVM(t *testing.T) {
	b := newTestBackend(t, nil)
	img := volumeDisk(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inst, err := b.StartWith(ctx, sandbox.Spec{ID: "ctr-vol"}, StartOptions{Images: []ImageDisk{img}})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	vols := []string{"/var/lib/postgresql/data", "/srv/conf", "/var/lib/out"}
	pg, err := inst.Containers(ctx, sandbox.ContainerSpec{Name: "pg", RootFS: img.RootFS, Tmpfs: vols})
	if err != nil {
		t.Fatalf("root container: %v", err)
	}
	defer pg.Close()
	d := "/var/lib/postgresql/data"
	for _, tc := range []struct{ cmd, want string }{
		{"stat -c '%u:%g %a %n' " + d + " " + d + "/PG_VERSION " + d + "/base " + d + "/base/1 /srv/conf /srv/conf/app.conf",
			"999:999 700 " + d + "\n999:999 600 " + d + "/PG_VERSION\n999:999 700 " + d + "/base\n999:999 600 " + d + "/base/1\n0:0 755 /srv/conf\n0:0 644 /srv/conf/app.conf"},
		{"cat " + d + "/PG_VERSION", "16"},
		{"stat -c %i " + d + "/base/1 " + d + "/base/1.link | uniq | wc -l", "1"},
		{"stat -c %h " + d + "/base/1", "2"},
		{"su -s /bin/sh postgres -c 'id -u && cat " + d + "/PG_VERSION && echo x >>" + d + "/PG_VERSION && echo w >" + d + "/postmaster.pid && echo wrote'", "999\n16\nwrote"},
		{"su -s /bin/sh postgres -c 'echo x >>/srv/conf/app.conf' 2>/dev/null && echo WROTE || echo denied", "denied"},
		{"test -L /srv/conf/leak && echo link", "link"},
		{"grep -c root: /srv/conf/leak 2>/dev/null || echo none", "none"}, // the container's /etc has no shadow
		{"grep -c : /etc/shadow 2>/dev/null || echo none", "none"},
		{"ls /var/lib/out", "in-image"}, // the image's /opt/data, not the guest's
	} {
		if got, code := ctrRun(t, pg.Client, tc.cmd); got != tc.want {
			t.Errorf("root container %q: got %q (exit %d), want %q", tc.cmd, got, code, tc.want)
		}
	}
	one, err := inst.Containers(ctx, sandbox.ContainerSpec{Name: "one", RootFS: img.RootFS, UID: 1000, GID: 1000, Tmpfs: vols})
	if err != nil {
		t.Fatalf("uid 1000 container: %v", err)
	}
	defer one.Close()
	for _, tc := range []struct{ cmd, want string }{
		{"stat -c '%u:%g %a' " + d + " " + d + "/PG_VERSION /srv/conf/app.conf", "1000:1000 700\n1000:1000 600\n1000:1000 644"},
		{"cat " + d + "/PG_VERSION && echo y >" + d + "/new && echo wrote", "16\nwrote"},
		{"test -e " + d + "/postmaster.pid && echo shared || echo own", "own"},
	} {
		if got, code := ctrRun(t, one.Client, tc.cmd); got != tc.want {
			t.Errorf("uid 1000 container %q: got %q (exit %d), want %q", tc.cmd, got, code, tc.want)
		}
	}
}

//go:build linux && amd64

package namespace

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hookci/hookci/internal/sandbox"
)

// volumeAttack adds the "stat" mode to the attacker:
//
//	stat PATH...   one line "PATH MODE" per PATH (permission bits with
//	               setuid, setgid and sticky, in octal), or "PATH ERRNO"
//	plant DIR FILE HOSTDIR N
//	               N times, for v in vol0 vol1: create DIR/v and symlinks
//	               DIR/v/PG_VERSION → FILE, DIR/v/base and DIR/v → HOSTDIR;
//	               "PLANTED PATH" for each that worked, then "done"
//	owners PATH... one line "PATH UID:GID MODE" per PATH (not followed;
//	               MODE as for stat), or "PATH ERRNO"
func volumeAttack(args []string) (int, bool) {
	if args[0] == "owners" {
		for _, p := range args[1:] {
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				fmt.Println(p, result(err))
				continue
			}
			fmt.Printf("%s %d:%d %04o\n", p, st.Uid, st.Gid, st.Mode&0o7777)
		}
		return 0, true
	}
	if args[0] == "plant" && len(args) == 5 {
		n, _ := strconv.Atoi(args[4])
		for i := 0; i < n; i++ {
			for _, v := range []string{"vol0", "vol1"} {
				d := filepath.Join(args[1], v)
				os.MkdirAll(d, 0o777)
				for _, l := range [][2]string{{args[2], d + "/PG_VERSION"}, {args[3], d + "/base"}, {args[3], d}} {
					if os.Symlink(l[0], l[1]) == nil {
						fmt.Println("PLANTED", l[1])
					}
				}
			}
		}
		fmt.Println("done")
		return 0, true
	}
	if args[0] != "stat" {
		return 0, false
	}
	for _, p := range args[1:] {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			fmt.Println(p, result(err))
			continue
		}
		fmt.Printf("%s %04o\n", p, st.Mode&0o7777)
	}
	return 0, true
}

// volumeRootFS is containerRootFS with directories of several modes to
// mount volumes on, and a symlink to one of them.
func volumeRootFS(t *testing.T) string {
	t.Helper()
	root := containerRootFS(t)
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{"vol/sticky", 0o777 | os.ModeSticky}, {"vol/private", 0o700}, {"vol/setgid", 0o775 | os.ModeSetgid}} {
		p := filepath.Join(root, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/vol/sticky", filepath.Join(root, "vol/link")); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestContainerVolumeModes: a container's volumes (`volumes:` and the
// image's VOLUMEs, each a fresh tmpfs) take the mode of the image's
// directory, as Docker gives a new volume the image directory's
// permissions (its copy-up), where they all used to be 0755. A root
// container's service user then writes its 1777 data directory after the
// switch, and still not a 0700 one. A volume through an image symlink
// takes the mode of the symlink's target in the image.
func TestContainerVolumeModes(t *testing.T) {
	b := newBackend(t, Config{})
	job := start(t, b, sandbox.Spec{ID: "vols"})
	vols := []string{"/vol/sticky", "/vol/private", "/vol/setgid", "/var/lib/data", "/vol/link"}
	want := map[string]string{"/vol/sticky": "1777", "/vol/private": "0700", "/vol/setgid": "2775", "/var/lib/data": "0755", "/vol/link": "1777"}
	for _, c := range []struct {
		name     string
		uid, gid int
	}{{"user", 1001, 1001}, {"root", 0, 0}} {
		ctr := startContainer(t, job, sandbox.ContainerSpec{Name: c.name, RootFS: volumeRootFS(t), UID: c.uid, GID: c.gid, Tmpfs: vols})
		code, out := inContainer(t, ctr, append([]string{"attacker", "stat"}, vols...)...)
		if code != 0 {
			t.Fatalf("%s container: exit %d, %q", c.name, code, out)
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if p, m, ok := strings.Cut(line, " "); ok {
				got[p] = m
			}
		}
		for _, v := range vols {
			if got[v] != want[v] {
				t.Errorf("%s container: volume %s: got mode %q, want %s (the image's)", c.name, v, got[v], want[v])
			}
		}
		// Volumes are tmpfs of the container (not the image's read-only dirs).
		if code, out := inContainer(t, ctr, "attacker", "try", "-1", "-1", "write:/vol/setgid/f", "write:/vol/link/f"); code != 0 ||
			!strings.Contains(out, "write /vol/setgid/f ok\n") || !strings.Contains(out, "write /vol/link/f ok\n") {
			t.Errorf("%s container: writing its volumes: got exit %d, %q, want both ok", c.name, code, out)
		}
		if c.uid != 0 {
			continue
		}
		_, out = inContainer(t, ctr, "attacker", "try", "999", "999", "write:/vol/sticky/pg", "write:/vol/private/pg")
		for _, w := range []string{"switch ok", "write /vol/sticky/pg ok", "write /vol/private/pg EACCES"} {
			if !strings.Contains(out, w+"\n") {
				t.Errorf("root container's service user 999: got %q, want a line %q", out, w)
			}
		}
	}
}

// TestImageModeStaysInImage: imageMode resolves a path inside the image:
// a symlink of the image to a host directory gives the default mode, not
// the host directory's.
func TestImageModeStaysInImage(t *testing.T) {
	root := t.TempDir()
	host := t.TempDir() // a host directory of a mode the image has nowhere
	if err := os.Chmod(host, 0o701); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "data"), 0o750); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(root, "data"), 0o750)
	for name, target := range map[string]string{"abs": host, "rel": "../../../../../../.." + host, "in": "/data"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ name, want string }{
		{"data", "0750"}, {"/data", "0750"}, {"in", "0750"}, {"abs", "0755"}, {"rel", "0755"}, {"missing", "0755"}, {"abs/x", "0755"},
	} {
		if got := imageMode(root, c.name, 0o755); got != c.want {
			t.Errorf("imageMode(%s): got %s, want %s", c.name, got, c.want)
		}
	}
	for name, want := range map[string]string{"in": "/data", "/data": "/data", ".": "/", "abs": ""} {
		if got, _, _ := imageDir(root, name); got != want {
			t.Errorf("imageDir(%s): got path %q, want %q", name, got, want)
		}
	}
}

package copyup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain doubles as the attacker of TestAttackCopyDestination: with
// COPYUP_ATTACK=DIR:HOSTFILE:HOSTDIR it runs as an unprivileged uid and,
// until DIR/../stop exists, keeps planting symlinks to the host file and
// directory under every name in DIR and its subdirectories, and renaming
// directories away to put a symlink in their place.
func TestMain(m *testing.M) {
	if a := os.Getenv("COPYUP_ATTACK"); a != "" {
		f := strings.Split(a, ":")
		attack(f[0], f[1], f[2])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func attack(dir, hostFile, hostDir string) {
	stop := filepath.Join(filepath.Dir(dir), "stop")
	for i := 0; ; i++ {
		if _, err := os.Stat(stop); err == nil {
			return
		}
		for _, n := range imageNames {
			p := filepath.Join(dir, n)
			os.Symlink(hostFile, p)
			if strings.HasPrefix(n, "d") {
				if os.Rename(p, p+fmt.Sprintf(".away%d", i)) == nil {
					os.Symlink(hostDir, p)
				}
				os.Symlink(hostFile, filepath.Join(p, "f"))
			}
		}
	}
}

// imageNames are the entries of the attacked image directory.
var imageNames = func() []string {
	var n []string
	for i := 0; i < 40; i++ {
		n = append(n, fmt.Sprintf("f%d", i), fmt.Sprintf("d%d", i), fmt.Sprintf("p%d", i), fmt.Sprintf("h%d", i))
	}
	return n
}()

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("copy-up tests need root (CI=true: not skipping)")
		}
		t.Skip("copy-up tests need root (owners)")
	}
}

func openRoot(t *testing.T, p string) int {
	t.Helper()
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func openDir(t *testing.T, p string) int {
	t.Helper()
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func lstat(t *testing.T, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return &st
}

// TestCopy: the copy holds the image directory's files, subdirectories,
// symlinks (as symlinks: a host file they name is not read), hard links
// (one inode), fifos, with their modes (setuid, setgid, sticky) and mapped
// owners; a device is left out; a setuid or setgid bit is dropped where
// the map leaves the owner to the copier; a volume through an image
// symlink to a host directory is resolved in the image.
func TestCopy(t *testing.T) {
	needRoot(t)
	img, host := t.TempDir(), t.TempDir()
	must(t, os.WriteFile(filepath.Join(host, "secret"), []byte("HOST SECRET"), 0o600))
	d := filepath.Join(img, "var/lib/data")
	must(t, os.MkdirAll(filepath.Join(d, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(d, "PG_VERSION"), []byte("16\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(d, "sub/conf"), []byte("conf"), 0o640))
	must(t, os.WriteFile(filepath.Join(d, "suid"), []byte("#!/bin/sh\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(d, "far"), []byte("far"), 0o755))
	must(t, os.Link(filepath.Join(d, "sub/conf"), filepath.Join(d, "conf.link")))
	must(t, os.Symlink(filepath.Join(host, "secret"), filepath.Join(d, "leak")))
	must(t, unix.Mkfifo(filepath.Join(d, "fifo"), 0o620))
	must(t, unix.Mknod(filepath.Join(d, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, os.Symlink(host, filepath.Join(img, "hostvol")))
	must(t, os.Symlink("/var/lib/data", filepath.Join(img, "link")))
	for p, o := range map[string][3]int{"": {999, 999, 0o700}, "PG_VERSION": {999, 999, 0o600}, "sub": {999, 998, 0o2750}, "sub/conf": {0, 999, 0o640},
		"suid": {0, 0, 0o4755}, "far": {4_000_000_000, 4_000_000_000, 0o6755}, "fifo": {999, 999, 0o620}} {
		must(t, os.Chown(filepath.Join(d, p), o[0], o[1]))
		must(t, unix.Chmod(filepath.Join(d, p), uint32(o[2])))
	}
	must(t, os.Lchown(filepath.Join(d, "leak"), 999, 999))
	// The map of a root container: image id i is 100000+i, ids past the
	// range are left to the copier.
	m := func(id uint32) int {
		if id < 65536 {
			return 100000 + int(id)
		}
		return -1
	}
	root := openRoot(t, img)
	for _, name := range []string{"/var/lib/data", "link"} {
		out := filepath.Join(t.TempDir(), "v")
		if err := Copy(root, name, openDir(t, out), m, m, NewBudget(Default)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for p, want := range map[string][3]uint32{"": {100999, 100999, unix.S_IFDIR | 0o700}, "PG_VERSION": {100999, 100999, unix.S_IFREG | 0o600},
			"sub": {100999, 100998, unix.S_IFDIR | 0o2750}, "sub/conf": {100000, 100999, unix.S_IFREG | 0o640}, "conf.link": {100000, 100999, unix.S_IFREG | 0o640},
			"suid": {100000, 100000, unix.S_IFREG | 0o4755}, "far": {0, 0, unix.S_IFREG | 0o755}, "fifo": {100999, 100999, unix.S_IFIFO | 0o620},
			"leak": {100999, 100999, unix.S_IFLNK | 0o777}} {
			st := lstat(t, filepath.Join(out, p))
			if got := [3]uint32{st.Uid, st.Gid, st.Mode}; got != want {
				t.Errorf("%s: %q: got owner %d:%d mode %o, want %d:%d %o", name, p, got[0], got[1], got[2], want[0], want[1], want[2])
			}
		}
		if b, err := os.ReadFile(filepath.Join(out, "PG_VERSION")); err != nil || string(b) != "16\n" {
			t.Errorf("%s: PG_VERSION: %q %v", name, b, err)
		}
		if a, b := lstat(t, filepath.Join(out, "sub/conf")), lstat(t, filepath.Join(out, "conf.link")); a.Ino != b.Ino || a.Nlink != 2 {
			t.Errorf("%s: conf.link is not a hard link of sub/conf (inodes %d, %d)", name, a.Ino, b.Ino)
		}
		if l, err := os.Readlink(filepath.Join(out, "leak")); err != nil || l != filepath.Join(host, "secret") {
			t.Errorf("%s: leak: %q %v, want the symlink's text", name, l, err)
		}
		if _, err := os.Lstat(filepath.Join(out, "null")); !os.IsNotExist(err) {
			t.Errorf("%s: the device node was copied (%v)", name, err)
		}
	}
	// A volume whose image path is a symlink to a host directory: resolved
	// in the image, where it does not exist.
	if err := Copy(root, "/hostvol", openDir(t, filepath.Join(t.TempDir(), "h")), m, m, NewBudget(Default)); err == nil || !strings.Contains(err.Error(), "volume /hostvol") {
		t.Errorf("a volume through a symlink to a host directory: got %v, want an error naming it", err)
	}
}

// TestCopyBounds: the bytes and entries of all of a container's volumes
// are bounded together (a sparse file counts whole), so is the nesting
// depth, and the error names the volume.
func TestCopyBounds(t *testing.T) {
	img := t.TempDir()
	for _, v := range []string{"a", "b"} {
		must(t, os.MkdirAll(filepath.Join(img, v), 0o755))
		f, err := os.Create(filepath.Join(img, v, "sparse"))
		must(t, err)
		must(t, f.Truncate(600<<10)) // 600 KiB, no block on disk
		f.Close()
	}
	for i := 0; i < 30; i++ {
		must(t, os.WriteFile(filepath.Join(img, "b", fmt.Sprint("e", i)), nil, 0o644))
	}
	none := func(uint32) int { return -1 }
	root := openRoot(t, img)
	b := NewBudget(Limit{Bytes: 1 << 20, Entries: 100})
	if err := Copy(root, "a", openDir(t, filepath.Join(t.TempDir(), "a")), none, none, b); err != nil {
		t.Fatal(err)
	}
	if err := Copy(root, "b", openDir(t, filepath.Join(t.TempDir(), "b")), none, none, b); err == nil || !strings.Contains(err.Error(), "volume b: ") || !strings.Contains(err.Error(), "1048576 bytes") {
		t.Errorf("second volume past 1 MiB together: got %v, want an error naming volume b and the bound", err)
	}
	deep := filepath.Join(img, "deep")
	for i := 0; i <= MaxDepth; i++ {
		deep = filepath.Join(deep, "d")
	}
	must(t, os.MkdirAll(deep, 0o755))
	if err := Copy(root, "deep", openDir(t, filepath.Join(t.TempDir(), "d")), none, none, NewBudget(Default)); err == nil || !strings.Contains(err.Error(), "volume deep: ") || !strings.Contains(err.Error(), "deeper than 256") {
		t.Errorf("%d nested directories: got %v, want an error naming volume deep and the bound", MaxDepth+1, err)
	}
	b = NewBudget(Limit{Bytes: 1 << 30, Entries: 20})
	if err := Copy(root, "/b", openDir(t, filepath.Join(t.TempDir(), "c")), none, none, b); err == nil || !strings.Contains(err.Error(), "volume /b: ") || !strings.Contains(err.Error(), "20 entries") {
		t.Errorf("31 entries of 20: got %v, want an error naming volume /b and the bound", err)
	}
}

// TestAttackCopyDestination: should a third party (here a process of uid
// 65534) be able to write in a volume's directory while root copies into
// it (the backends see to it that none can: this proves the copy holds
// even then), planting symlinks to a host file and directory under the
// names the copy creates, before and during the copy, and swapping
// directories for symlinks, it never gets root to write, chmod or chown
// the host file, create anything in the host directory, or link the host
// file into the volume. The copy may fail: it must not be redirected.
func TestAttackCopyDestination(t *testing.T) {
	needRoot(t)
	img := t.TempDir()
	d := filepath.Join(img, "data")
	must(t, os.Mkdir(d, 0o755))
	for i := 0; i < 40; i++ {
		must(t, os.WriteFile(filepath.Join(d, fmt.Sprint("f", i)), []byte("image"), 0o4755))
		must(t, os.Mkdir(filepath.Join(d, fmt.Sprint("d", i)), 0o777))
		must(t, os.WriteFile(filepath.Join(d, fmt.Sprint("d", i), "f"), []byte("image"), 0o666))
		must(t, unix.Mkfifo(filepath.Join(d, fmt.Sprint("p", i)), 0o666))
		must(t, os.Link(filepath.Join(d, fmt.Sprint("d", i), "f"), filepath.Join(d, fmt.Sprint("h", i))))
	}
	hostDir := filepath.Join(t.TempDir(), "hostdir") // root's, the attacker may not write it
	must(t, os.Mkdir(hostDir, 0o755))
	hostFile := filepath.Join(hostDir, "file")
	must(t, os.WriteFile(hostFile, []byte("HOST"), 0o600))
	root := openRoot(t, img)
	// 65534 maps to itself: everything the copy makes is then the
	// attacker's, its worst case.
	m := func(id uint32) int { return 65534 }
	// The attacker: this test binary, where uid 65534 may run it, in a
	// world-searchable directory it may write.
	pub, err := os.MkdirTemp("", "copyup-attack")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(pub) })
	must(t, os.Chmod(pub, 0o755))
	exe, err := os.ReadFile(os.Args[0])
	must(t, err)
	attacker := filepath.Join(pub, "attacker")
	must(t, os.WriteFile(attacker, exe, 0o755))
	const rounds = 15
	var failed, planted int
	for r := 0; r < rounds; r++ {
		base := filepath.Join(pub, fmt.Sprint("w", r))
		must(t, os.Mkdir(base, 0o777))
		must(t, os.Chmod(base, 0o777))
		vol := filepath.Join(base, "vol")
		must(t, os.Mkdir(vol, 0o777))
		must(t, os.Chmod(vol, 0o777))
		cmd := exec.Command(attacker, "-test.run=^$")
		cmd.Env = append(os.Environ(), "COPYUP_ATTACK="+vol+":"+hostFile+":"+hostDir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		must(t, cmd.Start())
		if r%3 == 0 { // some rounds: names planted before the copy starts
			time.Sleep(50 * time.Millisecond)
		}
		fd, err := unix.Open(vol, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		must(t, err)
		err = Copy(root, "data", fd, m, m, NewBudget(Default))
		unix.Close(fd)
		must(t, os.WriteFile(filepath.Join(base, "stop"), nil, 0o644))
		cmd.Wait()
		if err != nil {
			failed++
		}
		filepath.Walk(vol, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode()&os.ModeSymlink != 0 {
				planted++
			}
			if err == nil && os.SameFile(fi, mustStat(t, hostFile)) {
				t.Errorf("round %d: %s is the host file, linked into the volume", r, p)
			}
			return nil
		})
		b, err := os.ReadFile(hostFile)
		st := lstat(t, hostFile)
		if err != nil || string(b) != "HOST" || st.Mode != unix.S_IFREG|0o600 || st.Uid != 0 || st.Gid != 0 || st.Nlink != 1 {
			t.Fatalf("round %d: the host file was changed: %q, mode %o, owner %d:%d, links %d", r, b, st.Mode, st.Uid, st.Gid, st.Nlink)
		}
		if ents, _ := os.ReadDir(hostDir); len(ents) != 1 {
			t.Fatalf("round %d: the host directory holds %d entries, want only its file", r, len(ents))
		}
	}
	t.Logf("%d rounds: %d copies failed on a planted name, %d symlinks planted (figures, not checked)", rounds, failed, planted)
	if planted == 0 {
		t.Errorf("the attacker planted nothing: the attack did not run")
	}
}

func mustStat(t *testing.T, p string) os.FileInfo {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

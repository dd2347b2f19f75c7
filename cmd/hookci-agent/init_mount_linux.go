//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hookci/hookci/internal/agent"
)

// mountEarly mounts what init needs before the root switch.
func mountEarly() error {
	for _, m := range []struct{ src, dst, fstype, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
	} {
		if err := mountOnce(m.src, m.dst, m.fstype, unix.MS_NOSUID, m.data); err != nil {
			return err
		}
	}
	return nil
}

// mountOnce mounts unless something is mounted there already (EBUSY).
func mountOnce(src, dst, fstype string, flags uintptr, data string) error {
	_ = os.MkdirAll(dst, 0o755)
	err := unix.Mount(src, dst, fstype, flags, data)
	if err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("init: mount %s on %s: %w", fstype, dst, err)
	}
	return nil
}

// loadModules loads the modules listed in /etc/hookci/modules, one path a
// line, relative to /lib/modules/$(uname -r) unless absolute. A kernel with
// the drivers built in needs no such file.
func loadModules(logf func(string, ...any)) error {
	f, err := os.Open("/etc/hookci/modules")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	defer f.Close()
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	base := filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !filepath.IsAbs(line) {
			line = filepath.Join(base, line)
		}
		if err := loadModule(line); err != nil {
			logf("init: %v", err)
		}
	}
	return sc.Err()
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("module: %w", err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("module %s: %w", path, err)
	}
	return nil
}

// switchToOverlayRoot makes / an overlay: the read-only root disk below, a
// tmpfs above, so jobs may write anywhere and the disk stays pristine.
// hookci.overlay=0 on the kernel command line skips it.
func switchToOverlayRoot(cmdline map[string]string, logf func(string, ...any)) error {
	if cmdline["hookci.overlay"] == "0" {
		return nil
	}
	lower, base := "/", "/run"
	if isRAMRoot() { // an initramfs: mount the root disk ourselves
		base = "/.hookci"
		lower = base + "/lower"
		if err := mountRootDisk(cmdline, lower); err != nil {
			return err
		}
		base += "/rw"
	}
	if err := mountOnce("tmpfs", base, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return err
	}
	upper, work, root := base+"/upper", base+"/work", base+"/root"
	for _, d := range []string{upper, work, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("init: overlay root (%s): %w", opts, err)
	}
	// The node bundle bound into job containers (package nodebundle) stays
	// on the read-only root disk, not the overlay: a container's root that
	// remounts its read-only bind read-write still cannot change it.
	if fi, err := os.Stat(lower + agent.GuestNodeBundle); err == nil && fi.IsDir() {
		if err := unix.Mount(lower+agent.GuestNodeBundle, root+agent.GuestNodeBundle, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("init: bind the node bundle from the root disk: %w", err)
		}
	}
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		if err := unix.Mount(d, root+d, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("init: move %s: %w", d, err)
		}
	}
	if err := switchRoot(root); err != nil {
		return err
	}
	logf("init: overlay root on %s", lower)
	return nil
}

// switchRoot moves the mount at dir over / and enters it, as switch_root(8)
// does (pivot_root is not allowed out of an initramfs).
func switchRoot(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("init: move root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("init: chroot: %w", err)
	}
	return unix.Chdir("/")
}

func isRAMRoot() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return false
	}
	return st.Type == unix.RAMFS_MAGIC || st.Type == unix.TMPFS_MAGIC
}

// mountRootDisk mounts root= (default /dev/vda, type rootfstype=, default
// ext4) read-only at dir, waiting for the device to appear.
func mountRootDisk(cmdline map[string]string, dir string) error {
	dev, fstype := cmdline["root"], cmdline["rootfstype"]
	if dev == "" {
		dev = "/dev/vda"
	}
	if fstype == "" {
		fstype = "ext4"
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(dev); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("init: root device %s did not appear", dev)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := unix.Mount(dev, dir, fstype, unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("init: mount root %s (%s): %w", dev, fstype, err)
	}
	return nil
}

// mountLate mounts the rest of the usual tree inside the final root.
// hookci.workdisk=defer leaves the workspace disk alone: in a template it is
// a placeholder, and each clone mounts its own disk when the host asks.
func mountLate(cmdline map[string]string, logf func(string, ...any)) error {
	for _, m := range []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620,gid=5"},
		{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	} {
		if err := mountOnce(m.src, m.dst, m.fstype, m.flags, m.data); err != nil {
			return err
		}
	}
	if err := mountOnce("cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		logf("%v (continuing)", err)
	}
	for _, l := range [][2]string{{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}} {
		_ = os.Symlink(l[0], l[1])
	}
	_ = os.MkdirAll(filepath.Dir(resyncPath), 0o755)
	if !mountSerialDisk("hookci-toolcache", guestToolCache, unix.MS_RDONLY, logf) {
		mount9p("hookci-toolcache", guestToolCache, unix.MS_RDONLY)
	}
	for _, d := range []string{guestWork + "/_temp", guestWorkspace} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	if cmdline["hookci.workdisk"] != "defer" {
		mountWorkDisk(false, logf)
	}
	return nil
}

// mountWorkDisk mounts the disk with serial "hookci-work" (ext4, the job's
// workspace tree) at the workspace. flush first drops whatever the kernel
// cached of the device: after a restore the disk behind it has changed.
func mountWorkDisk(flush bool, logf func(string, ...any)) bool {
	dev := serialDisk("hookci-work")
	if dev == "" {
		return false
	}
	if flush {
		if f, err := os.Open(dev); err == nil {
			unix.IoctlSetInt(int(f.Fd()), unix.BLKFLSBUF, 0)
			f.Close()
		}
	}
	// noinit_itable: mkfs left the inode tables lazy; zeroing them in the
	// guest would cost far more than it is worth on a throwaway disk.
	err := unix.Mount(dev, guestWorkspace, "ext4", unix.MS_NODEV|unix.MS_NOSUID, "noinit_itable")
	if err != nil {
		logf("init: mount workspace disk %s: %v", dev, err)
		return false
	}
	return true
}

// serialDisk returns the device node of the virtio disk with that serial.
func serialDisk(serial string) string {
	files, _ := filepath.Glob("/sys/block/vd*/serial")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.TrimSpace(string(b)) == serial {
			return "/dev/" + filepath.Base(filepath.Dir(f))
		}
	}
	return ""
}

// mount9p mounts the virtio-9p share tagged tag at dir if the VM has one.
func mount9p(tag, dir string, flags uintptr) bool {
	tags, _ := filepath.Glob("/sys/bus/virtio/drivers/9pnet_virtio/virtio*/mount_tag")
	found := false
	for _, t := range tags {
		b, err := os.ReadFile(t)
		found = found || (err == nil && strings.TrimRight(string(b), "\x00\n") == tag)
	}
	if !found {
		return false
	}
	_ = os.MkdirAll(dir, 0o755)
	opts := "trans=virtio,version=9p2000.L,cache=loose,msize=262144"
	return unix.Mount(tag, dir, "9p", flags|unix.MS_NODEV|unix.MS_NOSUID, opts) == nil
}

// mountSerialDisk mounts the virtio disk whose serial is serial (ext4) at dir
// and reports whether there was one.
func mountSerialDisk(serial, dir string, flags uintptr, logf func(string, ...any)) bool {
	dev := serialDisk(serial)
	if dev == "" {
		return false
	}
	_ = os.MkdirAll(dir, 0o755)
	if err := unix.Mount(dev, dir, "ext4", flags|unix.MS_NODEV|unix.MS_NOSUID, ""); err != nil {
		logf("init: mount %s (%s) on %s: %v", dev, serial, dir, err)
	}
	return true
}

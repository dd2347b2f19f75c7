package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hookci/hookci/internal/copyup"
)

// ContainerMain runs the container mode mode (os.Args[1] of hookci-agent:
// ContainerInitArg or containerAgentArg) and returns only on failure.
func ContainerMain(mode string) error {
	switch mode {
	case ContainerInitArg:
		return containerInit()
	case containerAgentArg:
		l, err := net.FileListener(os.NewFile(3, "listener"))
		if err != nil {
			return fmt.Errorf("listener: %w", err)
		}
		srv := NewServer(log.Printf)
		defer srv.Shutdown()
		return srv.Serve(context.Background(), l)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// containerAgentArg makes hookci-agent serve on fd 3 (a container's agent).
const containerAgentArg = "container-agent"

// containerInit is `hookci-agent container-init`: PID 1 of a guest
// container's namespaces (started by the job's agent, see
// container_linux.go). It mounts the image disk read-only (nosuid, nodev)
// as the lower layer of an overlay on a tmpfs, binds the job's directories,
// mounts /proc, a minimal /dev and a read-only /sys, writes /etc/hosts,
// pivots into the overlay and sets no_new_privs. It then starts the
// container's agent (serving the socket at fd 3) in a user namespace that
// maps the container's uid and gid to the guest's root, the job's own
// user: as in the namespace backend, the image's USER is only an id in its
// own user namespace, with no capability over the guest's mounts or
// devices. A root container is the guest's root, as the job is (so an
// entrypoint can chown and drop to its service user, as under Docker). It reports "ok" (or the error) on fd 4, then reaps processes
// until the agent exits. Paths inside the image are resolved with
// RESOLVE_IN_ROOT, so the image's symlinks cannot point a mount outside it.
func containerInit() error {
	syscall.CloseOnExec(4) // the container's agent must not hold the status pipe open
	status := os.NewFile(4, "status")
	fail := func(err error) error {
		fmt.Fprint(status, err.Error())
		status.Close()
		return err
	}
	var cs ContainerStart
	if err := json.Unmarshal([]byte(os.Getenv(containerEnv)), &cs); err != nil {
		return fail(fmt.Errorf("bad request: %w", err))
	}
	os.Unsetenv(containerEnv)
	if err := cs.validate(); err != nil {
		return fail(err)
	}
	if err := setupContainer(cs); err != nil {
		return fail(err)
	}
	cmd := exec.Command("/proc/self/exe", containerAgentArg)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = []*os.File{os.NewFile(3, "listener")}
	if cs.UID != 0 || cs.GID != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: cs.UID, HostID: 0, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: cs.GID, HostID: 0, Size: 1}},
			Credential:  &syscall.Credential{Uid: uint32(cs.UID), Gid: uint32(cs.GID), NoSetGroups: true},
		}
	}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("start the container's agent: %w", err))
	}
	fmt.Fprint(status, "ok")
	status.Close()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("wait: %w", err)
		}
		if pid == cmd.Process.Pid {
			return fmt.Errorf("the container's agent exited: %v", ws)
		}
	}
}

func setupContainer(cs ContainerStart) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("private mounts: %w", err)
	}
	dev, err := diskBySerial(cs.DiskSerial)
	if err != nil {
		return err
	}
	base := filepath.Join(guestCtrDir, cs.Name)
	img, rw, root := base+"/img", base+"/rw", base+"/root"
	for _, d := range []string{img, rw, root} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	const safe = unix.MS_NOSUID | unix.MS_NODEV
	if err := unix.Mount(dev, img, "ext4", unix.MS_RDONLY|safe, ""); err != nil {
		return fmt.Errorf("mount image disk %s: %w", dev, err)
	}
	if err := unix.Mount("tmpfs", rw, "tmpfs", safe, "mode=0755"); err != nil {
		return fmt.Errorf("tmpfs: %w", err)
	}
	os.Mkdir(rw+"/upper", 0o755)
	os.Mkdir(rw+"/work", 0o755)
	if err := unix.Mount("overlay", root, "overlay", safe, "lowerdir="+img+",upperdir="+rw+"/upper,workdir="+rw+"/work"); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rfd)
	mountIn := func(target, src, fstype string, flags uintptr, data string) error {
		fd, err := mkdirIn(rfd, target)
		if err != nil {
			return fmt.Errorf("%s: %w", target, err)
		}
		defer unix.Close(fd)
		if err := unix.Mount(src, fmt.Sprintf("/proc/self/fd/%d", fd), fstype, flags, data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", src, target, err)
		}
		return nil
	}
	if err := mountIn("/proc", "proc", "proc", safe|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := mountIn("/sys", "sysfs", "sysfs", safe|unix.MS_NOEXEC|unix.MS_RDONLY, ""); err != nil {
		return err
	}
	if err := setupDev(rfd, mountIn); err != nil {
		return err
	}
	if err := mountVolumes(cs, img, rfd, mountIn); err != nil {
		return err
	}
	for _, b := range cs.Binds {
		if err := mountIn(b.Target, b.Source, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if b.ReadOnly {
			if err := mountIn(b.Target, "", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|safe, ""); err != nil {
				return err
			}
		}
	}
	if err := writeIn(rfd, "/etc/hosts", []byte(cs.Hosts)); err != nil {
		return err
	}
	if rc, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		if err := writeIn(rfd, "/etc/resolv.conf", rc); err != nil {
			return err
		}
	}
	if err := unix.Sethostname([]byte(cs.Hostname)); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the guest's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	// Every thread: Go's runtime has several, and any may start the agent.
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		return fmt.Errorf("no_new_privs: %w", e)
	}
	return nil
}

// mountVolumes mounts a tmpfs on each of the container's volumes, outermost
// first (one inside another stays visible), and makes it Docker's
// copy-up where the image has the volume's directory: the directory's
// owner, mode and contents, copied from the read-only image disk (mounted
// at img) by package copyup, the image's symlinks resolved inside the
// image. A volume the image has no directory for stays an empty 0755
// tmpfs (Docker's new directory). A root container keeps the image's ids
// (it is the guest's root, as the job is); any other container is one id,
// the guest's root in its user namespace, which owns the whole copy. The
// copies of the container's volumes are bounded together (copyup.Default;
// the tmpfs's own size, half the guest's memory, may end it sooner, with
// the volume named too).
func mountVolumes(cs ContainerStart, img string, rfd int, mountIn func(target, src, fstype string, flags uintptr, data string) error) error {
	ifd, err := unix.Open(img, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(ifd)
	ids := func(id uint32) int { return int(id) }
	if cs.UID != 0 || cs.GID != 0 {
		ids = func(uint32) int { return 0 }
	}
	budget := copyup.NewBudget(copyup.Default)
	vols := slices.Clone(cs.Tmpfs)
	slices.SortStableFunc(vols, func(x, y string) int {
		return strings.Count(filepath.Clean(x), "/") - strings.Count(filepath.Clean(y), "/")
	})
	for _, d := range vols {
		if err := mountIn(d, "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return err
		}
		if !imageHasDir(ifd, d) {
			continue
		}
		dst, err := openIn(rfd, d, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("volume %s: %w", d, err)
		}
		err = copyup.Copy(ifd, d, dst, ids, ids, budget)
		unix.Close(dst)
		if err != nil {
			return err
		}
	}
	return nil
}

// imageHasDir reports whether path is a directory of the image whose root
// is open as ifd (its symlinks resolved inside the image).
func imageHasDir(ifd int, path string) bool {
	fd, err := openIn(ifd, path, unix.O_PATH)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// setupDev mounts a tmpfs at /dev holding the harmless device nodes (bound
// from the guest's), a fresh devpts and /dev/shm.
func setupDev(rfd int, mountIn func(target, src, fstype string, flags uintptr, data string) error) error {
	if err := mountIn("/dev", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return err
	}
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if err := writeIn(rfd, "/dev/"+n, nil); err != nil {
			return err
		}
		if err := mountIn("/dev/"+n, "/dev/"+n, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	if err := mountIn("/dev/pts", "devpts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return err
	}
	if err := mountIn("/dev/shm", "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return err
	}
	dfd, err := openIn(rfd, "/dev", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	for name, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := unix.Symlinkat(target, dfd, name); err != nil {
			return fmt.Errorf("/dev/%s: %w", name, err)
		}
	}
	return nil
}

// openIn opens path inside the root rfd, resolving every symlink as if rfd
// were /.
func openIn(rfd int, path string, flags int) (int, error) {
	return unix.Openat2(rfd, strings.TrimPrefix(path, "/"), &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// mkdirIn opens directory path inside rfd, creating missing components.
func mkdirIn(rfd int, path string) (int, error) {
	fd, err := unix.Dup(rfd)
	if err != nil {
		return -1, err
	}
	cur := ""
	for _, c := range strings.Split(strings.Trim(path, "/"), "/") {
		if c == "" {
			continue
		}
		cur += "/" + c
		nfd, err := openIn(rfd, cur, unix.O_PATH)
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return -1, err
			}
			nfd, err = openIn(rfd, cur, unix.O_PATH)
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = nfd
	}
	return fd, nil
}

// writeIn replaces a file inside rfd (parents created): an image's file or
// symlink there is removed first, never followed.
func writeIn(rfd int, path string, data []byte) error {
	dfd, err := mkdirIn(rfd, filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer unix.Close(dfd)
	name := filepath.Base(path)
	if err := unix.Unlinkat(dfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%s: %w", path, err)
	}
	fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// diskBySerial finds the block device whose virtio serial is serial.
func diskBySerial(serial string) (string, error) {
	names, _ := filepath.Glob("/sys/block/*/serial")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err == nil && strings.TrimSpace(string(b)) == serial {
			return "/dev/" + filepath.Base(filepath.Dir(n)), nil
		}
	}
	return "", fmt.Errorf("no disk with serial %q in the guest", serial)
}

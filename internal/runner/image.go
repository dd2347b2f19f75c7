package runner

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/workflow"
)

// Image is a container image ready to run: its root filesystem unpacked on
// the host, read-only, and the parts of its configuration a container uses.
type Image struct {
	Ref, Digest  string
	RootFS       string // host directory
	OS, Arch     string // GOOS/GOARCH spelling: linux, amd64
	Env          []string
	User         string
	WorkingDir   string
	Entrypoint   []string
	Cmd          []string
	Healthcheck  *Healthcheck // nil: none
	Volumes      []string     // VOLUME paths
	Labels       map[string]string
	ExposedPorts []string // "8080/tcp"
	// Disk returns an ext4 image of RootFS, for a microVM (nil: none).
	Disk func(ctx context.Context) (string, error)
}

// Healthcheck is an image's HEALTHCHECK.
type Healthcheck struct {
	Test                           []string // ["CMD-SHELL", cmd], ["CMD", argv...] or ["NONE"]
	Interval, Timeout, StartPeriod time.Duration
	Retries                        int
}

// ImageSource pulls ref (with creds, nil for the configured ones) and
// returns it unpacked. Its errors are shown to the job's user.
type ImageSource func(ctx context.Context, ref string, creds *workflow.Credentials) (*Image, error)

// ContainerRequest asks the sandbox for a container (see
// sandbox.ContainerSpec, which the caller translates it to).
type ContainerRequest struct {
	Name     string
	RootFS   string
	UID, GID int
	Mounts   []ContainerMount
	Tmpfs    []string
	Hosts    []string
	Hostname string
	// Writable: RootFS is the container's writable root (an image build's
	// RUN; see sandbox.ContainerSpec.Writable).
	Writable bool
}

// ContainerMount binds one of the job's directories ("workspace", "temp",
// "home", "toolcache") or the sandbox's node binary ("node") at Target in a
// container.
type ContainerMount struct {
	Source, Target string
	ReadOnly       bool
}

// Container is a running container: its agent and where the job's
// directories are in it. Close stops it.
type Container struct {
	Client *agent.Client
	Layout agent.Layout
	Close  func() error
}

// ContainerStarter starts a container in the job's sandbox.
type ContainerStarter func(ctx context.Context, req ContainerRequest) (*Container, error)

// checkPlatform fails for an image this sandbox cannot run.
func checkPlatform(img *Image) error {
	if (img.OS != "" && img.OS != "linux") || (img.Arch != "" && img.Arch != runtime.GOARCH) {
		return fmt.Errorf("image %s is for %s/%s; this runner is linux/%s", img.Ref, img.OS, img.Arch, runtime.GOARCH)
	}
	return nil
}

// resolveUser turns a Docker user ("name", "uid", "name:group", "uid:gid",
// "" = root) into numeric ids, reading the image's /etc/passwd and
// /etc/group without following a link out of the image's root.
func resolveUser(rootfs, user string) (uid, gid int, err error) {
	if user == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	uid, gid = -1, -1
	if n, err := strconv.Atoi(u); err == nil && n >= 0 {
		uid = n
	}
	if uid < 0 || !hasGroup {
		fields, ok := lookupDB(rootfs, "etc/passwd", u, uid)
		switch {
		case ok && len(fields) > 3:
			uid, _ = strconv.Atoi(fields[2])
			gid, _ = strconv.Atoi(fields[3])
		case uid < 0:
			return 0, 0, fmt.Errorf("user %q not found in the image's /etc/passwd", u)
		default:
			gid = uid
		}
	}
	if hasGroup {
		if n, err := strconv.Atoi(g); err == nil && n >= 0 {
			gid = n
		} else if fields, ok := lookupDB(rootfs, "etc/group", g, -1); ok && len(fields) > 2 {
			gid, _ = strconv.Atoi(fields[2])
		} else {
			return 0, 0, fmt.Errorf("group %q not found in the image's /etc/group", g)
		}
	}
	return uid, gid, nil
}

// lookupDB finds the entry named name (or with id) in a passwd-style file
// of the image, resolved inside the image's root (RESOLVE_IN_ROOT: a link
// in the image never reaches a host file).
func lookupDB(rootfs, file, name string, id int) ([]string, bool) {
	dir, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, file, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return nil, false
	}
	f := os.NewFile(uintptr(fd), filepath.Join(rootfs, file))
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 {
			continue
		}
		if fields[0] == name || (id >= 0 && fields[2] == strconv.Itoa(id)) {
			return fields, true
		}
	}
	return nil, false
}

// inImage reports whether name exists in the image, resolved inside its
// root.
func inImage(rootfs, name string) bool {
	dir, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// envValue returns KEY's value in a KEY=VALUE list.
func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

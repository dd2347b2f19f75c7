package sandbox

import (
	"context"
	"fmt"
	"github.com/hookci/hookci/internal/nodebundle"
	"path"
	"regexp"
)

// ContainerSpec asks a running sandbox for a container: an agent whose root
// is an image's root filesystem, started inside the sandbox's confinement
// (the same unprivileged uid, capabilities, seccomp filter, limits and
// network namespace as the job's own agent). A container never holds more
// than its job: it is the job's sandbox with another root.
type ContainerSpec struct {
	// Name is unique within the sandbox: 1-30 of [a-z0-9-].
	Name string
	// RootFS is a host directory holding the image's unpacked root
	// filesystem; the container sees it read-only.
	RootFS string
	// UID and GID are the container's user and group inside its user
	// namespace (the image's USER); on the host both are the sandbox's uid.
	UID, GID int
	// Mounts binds the job's directories into the container.
	Mounts []ContainerMount
	// Tmpfs lists the container's volumes, writable directories besides
	// /tmp and /run, which always are: each a new volume with Docker's
	// copy-up (the image directory's owner, mode and contents; package
	// copyup), or an empty 0755 one where the image has no such directory.
	// Each must exist in the image.
	Tmpfs []string
	// Hosts are names that resolve to the shared loopback (127.0.0.1) in
	// the container's /etc/hosts (service labels).
	Hosts []string
	// Hostname is the container's host name ("" = Name).
	Hostname string
	// Writable makes RootFS the container's writable root (an image
	// build's RUN, which changes it): the files stay the image's, owned by
	// the image's ids, and only while the container runs are they owned by
	// the host ids the container's user namespace maps them to; Mounts and
	// Tmpfs are not used. A backend that cannot do it refuses.
	Writable bool
}

// ContainerMount binds one of the job's directories into a container.
type ContainerMount struct {
	// Source is which of the job's directories: "workspace", "temp",
	// "home" or "toolcache" (read-only whatever ReadOnly says), or "node":
	// the sandbox's self-contained node (a directory, read-only whatever
	// ReadOnly says, at nodebundle.Mount only: package nodebundle), which
	// JavaScript actions in a job container run with.
	Source string
	// Target is the absolute path in the container.
	Target   string
	ReadOnly bool
}

// ContainerImage is an image a sandbox may be asked to run containers
// from: RootFS as in ContainerSpec.RootFS, and Disk, which returns an ext4
// image of it (built once per image digest and cached by its source).
type ContainerImage struct {
	RootFS string
	Disk   func(ctx context.Context) (string, error)
}

// ContainerStarter starts a container in a running sandbox. Closing the
// returned Instance stops the container; closing the sandbox stops all of
// its containers.
type ContainerStarter func(ctx context.Context, spec ContainerSpec) (*Instance, error)

var containerName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,29}$`)

// Validate reports whether the spec can be used; backends call it first.
func (c ContainerSpec) Validate() error {
	if !containerName.MatchString(c.Name) {
		return fmt.Errorf("container: bad name %q: want 1-30 characters of [a-z0-9-]", c.Name)
	}
	if !path.IsAbs(c.RootFS) {
		return fmt.Errorf("container %s: root filesystem %q is not an absolute path", c.Name, c.RootFS)
	}
	if c.UID < 0 || c.GID < 0 {
		return fmt.Errorf("container %s: negative uid or gid", c.Name)
	}
	for _, m := range c.Mounts {
		switch m.Source {
		case "workspace", "temp", "home", "toolcache", "node":
		default:
			return fmt.Errorf("container %s: unknown mount source %q", c.Name, m.Source)
		}
		if !path.IsAbs(m.Target) || path.Clean(m.Target) != m.Target || m.Target == "/" {
			return fmt.Errorf("container %s: mount target %q is not a clean absolute path", c.Name, m.Target)
		}
		if m.Source == "node" && m.Target != nodebundle.Mount {
			return fmt.Errorf("container %s: the node bundle binds at %s only (its loader and libraries are named there), not %q", c.Name, nodebundle.Mount, m.Target)
		}
	}
	for _, d := range c.Tmpfs {
		if !path.IsAbs(d) || path.Clean(d) != d || d == "/" {
			return fmt.Errorf("container %s: tmpfs %q is not a clean absolute path", c.Name, d)
		}
	}
	return nil
}

package namespace

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/hookci/hookci/internal/copyup"
)

// copyUp makes Docker's copy-up of the image's directory name (a path of
// the image, its symlinks resolved inside it) in dst, a new directory of
// the container's (package copyup): on the host, as the server, before
// the container starts. dst's parent (the container's "vol" directory,
// root's and 0700 while the copies are made) and dst itself (0700 until
// the copy's last step gives it the image directory's owner and mode) are
// out of every sandbox's reach while the copy runs: no process of the job
// can swap an entry under it, and every write is made through descriptors
// besides.
func copyUp(rootfs, name, dst string, uid, gid copyup.IDMap, b *copyup.Budget) error {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	d, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	return copyup.Copy(root, name, d, uid, gid, b)
}

// volumeOwners are the owner maps of a container's volumes: with a root
// container's user namespace (un), image id i is host id sub+i and the
// container's own id is the job's host uid, as the namespace maps them
// (an id past the range is sub+65534, which the container sees as
// nobody, as it sees such an id of the image; never the copier's root);
// a container of one uid (any other container of a root server) maps
// every image id to that uid, its only one; a server that is not root
// (uid 0 here: no sandbox uid of its own) leaves the copy its own, which
// is the container's user.
func volumeOwners(uid int, un *usernsSetup) (copyup.IDMap, copyup.IDMap) {
	switch {
	case un != nil:
		m := func(ctr int) copyup.IDMap {
			return func(id uint32) int {
				switch {
				case int(id) == ctr:
					return un.uid
				case id < subUIDSize:
					return un.sub + int(id)
				}
				return un.sub + overflowID
			}
		}
		return m(un.ctrUID), m(un.ctrGID)
	case uid > 0:
		one := func(uint32) int { return uid }
		return one, one
	}
	none := func(uint32) int { return -1 }
	return none, none
}

// overflowID is the kernel's overflow uid and gid (nobody, nogroup): what
// a container sees for an id its user namespace does not map.
const overflowID = 65534

func (b *Backend) copyUpLimit() copyup.Limit {
	l := copyup.Default
	if b.cfg.VolumeCopyBytes > 0 {
		l.Bytes = b.cfg.VolumeCopyBytes
	}
	if b.cfg.VolumeCopyEntries > 0 {
		l.Entries = b.cfg.VolumeCopyEntries
	}
	return l
}

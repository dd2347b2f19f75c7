package namespace

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// A writable container root (sandbox.ContainerSpec.Writable: an image
// build's RUN, issue 12). The image's files on the host are owned by the
// image's own ids (0 for root), which the container's user namespace does
// not map: its root could not change them. So, while the container runs,
// the root is owned by what the container's map makes of the image's ids
// (container.idMap: the container's user → the job's host uid, every other
// id i < 65536 → the sandbox's subordinate id sub+i), and given back its
// image's ids once every process of the container is gone. Both walks go
// through an os.Root of the tree: a symlink (or a rename racing the walk,
// should a process of the job hold a descriptor into the tree) never takes
// a chown out of it, onto a host file. An id the map cannot hold (≥ 65536)
// fails the build, naming the file.

// idShift maps ids between the image and the host for one container.
type idShift struct {
	uid, gid  int // the container's user and group (mapped to host)
	host, sub int // the job's host uid; the first id of its subordinate range
}

func (m idShift) toHost(id, ctr int) (int, bool) {
	switch {
	case id == ctr:
		return m.host, true
	case id >= 0 && id < subUIDSize:
		return m.sub + id, true
	}
	return 0, false
}

func (m idShift) toImage(id, ctr int) (int, bool) {
	switch {
	case id == m.host:
		return ctr, true
	case id >= m.sub && id < m.sub+subUIDSize:
		return id - m.sub, true
	}
	return 0, false
}

// shift changes the owners of every file of the tree at dir: into the
// host's ids (toHost) or back into the image's.
func (m idShift) shift(dir string, toHost bool) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	conv := m.toImage
	if toHost {
		conv = m.toHost
	}
	seen := map[uint64]bool{} // inodes of hard-linked files already shifted (one tree: one device)
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := root.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("/%s: no owner", p)
		}
		if !fi.IsDir() && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		uid, ok1 := conv(int(st.Uid), m.uid)
		gid, ok2 := conv(int(st.Gid), m.gid)
		if !ok1 || !ok2 {
			return fmt.Errorf("/%s is owned by %d:%d, which a build container's user namespace does not map (ids 0-%d)", p, st.Uid, st.Gid, subUIDSize-1)
		}
		if uid == int(st.Uid) && gid == int(st.Gid) {
			return nil
		}
		if err := root.Lchown(p, uid, gid); err != nil {
			return err
		}
		// chown clears setuid and setgid: put them back (not on a link,
		// whose mode chmod would take from its target).
		if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 && fi.Mode()&fs.ModeSymlink == 0 {
			return root.Chmod(p, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		}
		return nil
	})
}

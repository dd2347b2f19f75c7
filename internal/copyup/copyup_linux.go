// Package copyup is Docker's copy-up of a container volume: a new volume
// gets the image directory's owner, mode and contents. The namespace
// backend copies on the host into a directory of the container's; the
// microVM's container-init copies in the guest onto the volume's tmpfs.
//
// Both sides are handled through descriptors only. The image is read from
// a descriptor of its root: the volume's directory by openat2
// RESOLVE_IN_ROOT (a symlink of the image resolves inside the image, never
// on the host), every entry below it relative to its parent's descriptor
// with O_NOFOLLOW; a symlink is copied as a symlink (its target text),
// never followed. The copy is written relative to the destination
// directory's descriptor: files are created O_EXCL|O_NOFOLLOW, directories
// and fifos opened O_NOFOLLOW after mkdirat and mkfifoat, and owner and
// mode are set on the open descriptor (fchown, fchmod), a symlink's owner
// with AT_SYMLINK_NOFOLLOW; a hard link's first copy is found beneath the
// volume with no symlink followed. Nothing is resolved through a path a
// third party could swap. Hard links within the volume stay hard links; devices and
// sockets are left out. A setuid or setgid bit is copied only with an
// owner the map gave (never onto a file left to the copier, who may be
// root).
package copyup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Limit bounds the copies of one container's volumes together: bytes of
// file data (apparent sizes: a sparse file counts whole, as it is written
// whole) and entries.
type Limit struct {
	Bytes   int64
	Entries int
}

// Default matches a tmpfs's default size order (half a small host's
// memory); an image's VOLUME directory is meant to be small.
var Default = Limit{Bytes: 1 << 30, Entries: 100000}

// MaxDepth bounds how deep directories nest in a volume: each level holds
// two descriptors open while its entries are copied.
const MaxDepth = 256

// Budget is what is left of a Limit across a container's volumes.
type Budget struct {
	lim   Limit
	bytes int64
	n     int
}

// NewBudget returns a fresh budget of l.
func NewBudget(l Limit) *Budget { return &Budget{lim: l} }

// IDMap maps an image file's uid or gid to the id the copy gets; -1
// leaves the copy's as created (the copier's).
type IDMap func(id uint32) int

// Copy copies the image's directory name (a path inside the image whose
// root is open as root) into the existing, empty directory open as dst,
// then gives dst the directory's mapped owner and mode. Errors name the
// volume.
func Copy(root int, name string, dst int, uid, gid IDMap, b *Budget) error {
	src, err := unix.Openat2(root, strings.TrimPrefix(name, "/"), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return fmt.Errorf("volume %s: opening it in the image: %w", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		unix.Close(src)
		return fmt.Errorf("volume %s: %w", name, err)
	}
	c := &copier{vol: name, uid: uid, gid: gid, b: b, dst: dst, links: map[[2]uint64]string{}}
	if err := c.dir(src, dst, ""); err != nil { // closes src
		return err
	}
	return c.own(dst, -1, "", &st)
}

type copier struct {
	vol   string
	uid   IDMap
	gid   IDMap
	b     *Budget
	dst   int                  // the volume's directory
	links map[[2]uint64]string // (dev, ino) of a multiply-linked file → its copy, relative to dst
}

func (c *copier) errorf(format string, a ...any) error {
	return fmt.Errorf("volume %s: "+format, append([]any{c.vol}, a...)...)
}

// dir copies the entries of the directory open as src into the directory
// open as to (rel is its path under the volume), then closes src.
func (c *copier) dir(src, to int, rel string) error {
	f := os.NewFile(uintptr(src), c.vol+"/"+rel)
	defer f.Close()
	for {
		names, err := f.Readdirnames(256) // in batches: a huge directory is never held whole
		for _, n := range names {
			if err := c.entry(src, to, rel, n); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return c.errorf("reading the image: %w", err)
		}
	}
}

func (c *copier) entry(src, to int, rel, n string) error {
	if c.b.n++; c.b.n > c.b.lim.Entries {
		return c.errorf("the image's volume directories hold more than %d entries (the copy into new volumes is limited)", c.b.lim.Entries)
	}
	p := strings.TrimPrefix(rel+"/"+n, "/")
	var st unix.Stat_t
	if err := unix.Fstatat(src, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return c.errorf("%s: %w", p, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if strings.Count(p, "/") >= MaxDepth {
			return c.errorf("%s: directories nest deeper than %d levels (the copy into a new volume is limited)", p, MaxDepth)
		}
		sub, err := unix.Openat(src, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return c.errorf("%s: %w", p, err)
		}
		if err := unix.Mkdirat(to, n, 0o700); err != nil {
			unix.Close(sub)
			return c.errorf("%s: %w", p, err)
		}
		out, err := unix.Openat(to, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(sub)
			return c.errorf("%s: %w", p, err)
		}
		defer unix.Close(out)
		if err := c.dir(sub, out, p); err != nil {
			return err
		}
		return c.own(out, -1, "", &st)
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		k, err := unix.Readlinkat(src, n, buf)
		if err != nil {
			return c.errorf("%s: %w", p, err)
		}
		if err := unix.Symlinkat(string(buf[:k]), to, n); err != nil {
			return c.errorf("%s: %w", p, err)
		}
		return c.own(-1, to, n, &st)
	case unix.S_IFREG:
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, ok := c.links[key]; ok && st.Nlink > 1 {
			return c.link(first, to, n, p)
		}
		if err := c.file(src, to, n, p, &st); err != nil {
			return err
		}
		if st.Nlink > 1 {
			c.links[key] = p
		}
		return nil
	case unix.S_IFIFO:
		if err := unix.Mkfifoat(to, n, 0o600); err != nil {
			return c.errorf("%s: %w", p, err)
		}
		// Opened (no writer needed with O_NONBLOCK) to be owned by descriptor.
		fd, err := unix.Openat(to, n, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return c.errorf("%s: %w", p, err)
		}
		defer unix.Close(fd)
		var fst unix.Stat_t
		if err := unix.Fstat(fd, &fst); err != nil || fst.Mode&unix.S_IFMT != unix.S_IFIFO {
			return c.errorf("%s: replaced while being copied", p)
		}
		return c.own(fd, -1, "", &st)
	}
	return nil // devices and sockets: left out
}

// link makes n in to a hard link of the copy first (relative to the
// volume): first's directory is opened beneath the volume with no symlink
// followed, and linkat does not follow first itself.
func (c *copier) link(first string, to int, n, p string) error {
	dir, base := ".", first
	if i := strings.LastIndexByte(first, '/'); i >= 0 {
		dir, base = first[:i], first[i+1:]
	}
	d, err := unix.Openat2(c.dst, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return c.errorf("%s: %w", p, err)
	}
	defer unix.Close(d)
	if err := unix.Linkat(d, base, to, n, 0); err != nil {
		return c.errorf("%s: %w", p, err)
	}
	return nil
}

// file copies the regular file n of src to n in to.
func (c *copier) file(src, to int, n, p string, st *unix.Stat_t) error {
	if c.b.bytes += st.Size; c.b.bytes > c.b.lim.Bytes {
		return c.errorf("the image's volume directories hold more than %d bytes (the copy into new volumes is limited)", c.b.lim.Bytes)
	}
	in, err := unix.Openat(src, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return c.errorf("%s: %w", p, err)
	}
	r := os.NewFile(uintptr(in), p)
	defer r.Close()
	var ist unix.Stat_t
	if err := unix.Fstat(in, &ist); err != nil || ist.Mode&unix.S_IFMT != unix.S_IFREG || ist.Ino != st.Ino {
		return c.errorf("%s: changed while being copied", p)
	}
	out, err := unix.Openat(to, n, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return c.errorf("%s: %w", p, err)
	}
	w := os.NewFile(uintptr(out), p)
	defer w.Close()
	// At most the size stat gave (a file growing meanwhile stays bounded).
	if _, err := io.Copy(w, io.LimitReader(r, st.Size)); err != nil {
		return c.errorf("copying %s: %w", p, err)
	}
	if err := c.own(out, -1, "", st); err != nil {
		return err
	}
	return w.Close()
}

// own gives the copy the mapped owner of st, then st's mode (after the
// chown, which clears setuid and setgid). The copy is the open fd, or,
// with fd -1, the symlink n of the directory at (never followed).
func (c *copier) own(fd, at int, n string, st *unix.Stat_t) error {
	uid, gid := c.uid(st.Uid), c.gid(st.Gid)
	mode := st.Mode & 0o7777
	if uid == -1 {
		mode &^= unix.S_ISUID
	}
	if gid == -1 {
		mode &^= unix.S_ISGID
	}
	if uid != -1 || gid != -1 {
		var err error
		if fd >= 0 {
			err = unix.Fchown(fd, uid, gid)
		} else {
			err = unix.Fchownat(at, n, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			return c.errorf("owner of %s: %w", n, err)
		}
	}
	if fd < 0 { // a symlink: it has no mode of its own
		return nil
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return c.errorf("mode of %s: %w", n, err)
	}
	return nil
}

package oci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// UnpackError names the layer entry that was refused and why.
type UnpackError struct {
	Entry  string
	Reason string
}

func (e *UnpackError) Error() string {
	return fmt.Sprintf("layer entry %q refused: %s", e.Entry, e.Reason)
}

// unpacker applies one layer tar onto a root directory. Every path is
// resolved relative to the root's file descriptor with openat2
// RESOLVE_BENEATH, so neither a "../" name, an absolute name, a symlink
// planted by an earlier entry or layer, nor a hard link can make it read or
// write outside the root: such an entry is refused with an UnpackError.
type unpacker struct {
	root    int // O_PATH descriptor of the root directory
	log     *slog.Logger
	written map[string]bool // entries of this layer (an opaque marker keeps them)
}

// unpackLayer applies the uncompressed layer tar r onto rootfs: OCI
// whiteouts (.wh.<name>) and opaque directories (.wh..wh..opq), regular
// files, directories, symlinks, hard links and FIFOs with their ownership,
// modes (setuid included) and times. Character and block devices are
// skipped with a warning (a sandbox gets its own /dev).
func unpackLayer(r io.Reader, rootfs string, log *slog.Logger) error {
	fd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", rootfs, err)
	}
	defer unix.Close(fd)
	u := &unpacker{root: fd, log: log, written: map[string]bool{}}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return err
		}
	}
}

// cleanName checks a tar entry name and returns it relative to the root
// ("" for the root itself).
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", &UnpackError{Entry: name, Reason: "absolute path"}
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", &UnpackError{Entry: name, Reason: "path contains \"..\""}
		}
	}
	n := path.Clean(name)
	if n == "." {
		return "", nil
	}
	return n, nil
}

func (u *unpacker) entry(hdr *tar.Header, body io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil || name == "" {
		return err
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if strings.HasPrefix(base, ".wh.") {
		return u.whiteout(hdr.Name, dir, strings.TrimPrefix(base, ".wh."))
	}
	pfd, err := u.openDir(hdr.Name, dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	u.written[name] = true
	switch hdr.Typeflag {
	case tar.TypeDir:
		return u.dir(hdr, pfd, base)
	case tar.TypeReg: // archive/tar reads the old TypeRegA as TypeReg
		return u.file(hdr, pfd, base, body)
	case tar.TypeSymlink:
		if err := u.clear(hdr.Name, pfd, base, false); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("layer entry %q: symlink: %w", hdr.Name, err)
		}
		return u.owner(hdr, pfd, base)
	case tar.TypeLink:
		return u.hardlink(hdr, pfd, base)
	case tar.TypeFifo:
		if err := u.clear(hdr.Name, pfd, base, false); err != nil {
			return err
		}
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("layer entry %q: mkfifo: %w", hdr.Name, err)
		}
		return u.owner(hdr, pfd, base)
	case tar.TypeChar, tar.TypeBlock:
		u.log.Warn("oci: layer device node skipped (sandboxes get their own /dev)", "entry", hdr.Name)
		return nil
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return &UnpackError{Entry: hdr.Name, Reason: "unsupported tar entry type " + strconv.Quote(string(hdr.Typeflag))}
	}
}

// openDir opens the directory dir (relative to the root) as an O_PATH
// descriptor, creating missing components when create is set. Symlinks on
// the way are followed only while they stay beneath the root.
func (u *unpacker) openDir(entry, dir string, create bool) (int, error) {
	if dir == "" {
		return unix.Dup(u.root)
	}
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(u.root, dir, how)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.ENOENT) && create {
		parent, base := path.Split(dir)
		pfd, err := u.openDir(entry, strings.TrimSuffix(parent, "/"), true)
		if err != nil {
			return -1, err
		}
		err = unix.Mkdirat(pfd, base, 0o755)
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("layer entry %q: mkdir %s: %w", entry, dir, err)
		}
		u.written[dir] = true
		fd, err = unix.Openat2(u.root, dir, how)
		if err == nil {
			return fd, nil
		}
	}
	switch {
	case errors.Is(err, unix.EXDEV):
		return -1, &UnpackError{Entry: entry, Reason: "its directory " + strconv.Quote(dir) + " goes through a symlink leading outside the image root"}
	case errors.Is(err, unix.ENOTDIR):
		return -1, &UnpackError{Entry: entry, Reason: strconv.Quote(dir) + " is not a directory"}
	case errors.Is(err, unix.ELOOP):
		return -1, &UnpackError{Entry: entry, Reason: "too many symlinks resolving " + strconv.Quote(dir)}
	}
	return -1, fmt.Errorf("layer entry %q: open %s: %w", entry, dir, err)
}

// clear removes what is at pfd/base, unless both it and the new entry are
// directories. It never follows a symlink.
func (u *unpacker) clear(entry string, pfd int, base string, keepDir bool) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("layer entry %q: %w", entry, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if keepDir {
			return nil
		}
		return u.removeAll(entry, pfd, base)
	}
	if err := unix.Unlinkat(pfd, base, 0); err != nil {
		return fmt.Errorf("layer entry %q: remove: %w", entry, err)
	}
	return nil
}

// removeAll removes pfd/base and everything below it, never following a
// symlink out (os.RemoveAll works on the directory descriptor's /proc path
// with unlinkat).
func (u *unpacker) removeAll(entry string, pfd int, base string) error {
	if err := os.RemoveAll(procPath(pfd) + "/" + base); err != nil {
		return fmt.Errorf("layer entry %q: remove: %w", entry, err)
	}
	return nil
}

func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

func (u *unpacker) dir(hdr *tar.Header, pfd int, base string) error {
	if err := u.clear(hdr.Name, pfd, base, true); err != nil {
		return err
	}
	if err := unix.Mkdirat(pfd, base, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("layer entry %q: mkdir: %w", hdr.Name, err)
	}
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer entry %q: chown: %w", hdr.Name, err)
	}
	// clear checked it is a directory, not a symlink, and only this
	// process writes the staging tree.
	if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
		return fmt.Errorf("layer entry %q: chmod: %w", hdr.Name, err)
	}
	return nil
}

func (u *unpacker) file(hdr *tar.Header, pfd int, base string, body io.Reader) error {
	if err := u.clear(hdr.Name, pfd, base, false); err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("layer entry %q: create: %w", hdr.Name, err)
	}
	f := os.NewFile(uintptr(fd), hdr.Name)
	defer f.Close()
	if _, err := io.Copy(f, body); err != nil {
		return fmt.Errorf("layer entry %q: write: %w", hdr.Name, err)
	}
	// chown before chmod: chown clears setuid/setgid bits.
	if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("layer entry %q: chown: %w", hdr.Name, err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("layer entry %q: chmod: %w", hdr.Name, err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer entry %q: times: %w", hdr.Name, err)
	}
	return f.Close()
}

func (u *unpacker) owner(hdr *tar.Header, pfd int, base string) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer entry %q: chown: %w", hdr.Name, err)
	}
	return nil
}

func (u *unpacker) hardlink(hdr *tar.Header, pfd int, base string) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return &UnpackError{Entry: hdr.Name, Reason: "hard link target " + strconv.Quote(hdr.Linkname) + ": " + err.(*UnpackError).Reason}
	}
	if target == "" {
		return &UnpackError{Entry: hdr.Name, Reason: "hard link to the root directory"}
	}
	tdir, tbase := path.Split(target)
	tfd, err := u.openDir(hdr.Name, strings.TrimSuffix(tdir, "/"), false)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &UnpackError{Entry: hdr.Name, Reason: "hard link target " + strconv.Quote(hdr.Linkname) + " does not exist in the image"}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return &UnpackError{Entry: hdr.Name, Reason: "hard link to a directory"}
	}
	if err := u.clear(hdr.Name, pfd, base, false); err != nil {
		return err
	}
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("layer entry %q: link: %w", hdr.Name, err)
	}
	return nil
}

// whiteout applies ".wh.<name>" (remove name from the layers below) or
// ".wh..wh..opq" (hide everything the layers below put in dir).
func (u *unpacker) whiteout(entry, dir, name string) error {
	pfd, err := u.openDir(entry, dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if name == ".wh..opq" {
		ents, err := os.ReadDir(procPath(pfd))
		if err != nil {
			return fmt.Errorf("layer entry %q: %w", entry, err)
		}
		for _, e := range ents {
			if u.written[path.Join(dir, e.Name())] {
				continue
			}
			if err := u.clear(entry, pfd, e.Name(), false); err != nil {
				return err
			}
		}
		return nil
	}
	if name == "" || strings.Contains(name, "/") || name == "." {
		return &UnpackError{Entry: entry, Reason: "malformed whiteout"}
	}
	return u.clear(entry, pfd, name, false)
}

package agent

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func (s *Server) handlePutFiles(w http.ResponseWriter, r *http.Request) {
	dir := r.URL.Query().Get("dir")
	if !filepath.IsAbs(dir) {
		s.writeError(w, r, &requestError{fmt.Sprintf("put files: dir %q is not absolute", dir)})
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.writeError(w, r, fmt.Errorf("put files: %w", err))
		return
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("put files: %w", err))
		return
	}
	defer root.Close()
	x := newExtractor(root)
	defer x.close()
	index := r.URL.Query().Get("gitindex")
	// A checkout's files get the time they are written, as git's checkout
	// gives them, not the tar's.
	x.keepTimes = index == ""
	if err := x.extract(r.Body); err != nil {
		s.writeError(w, r, fmt.Errorf("put files into %s: %w", dir, err))
		return
	}
	if index != "" {
		if err := restatIndexWith(root, index, x.lstat); err != nil { // gitindex.go
			s.writeError(w, r, fmt.Errorf("put files into %s: %w", dir, err))
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// extractTar writes the entries of the tar stream r under root. os.Root
// refuses every path, including through symlinks, that leaves root.
func extractTar(root *os.Root, r io.Reader) error {
	x := newExtractor(root)
	defer x.close()
	return x.extract(r)
}

// extractor writes tar entries under root. The directories it writes into
// are kept open (as roots of their own, so still confined) for the entries
// that follow: each entry then costs a lookup of its own name only, not of
// every component of its path, which on a slow file system (and a microVM's
// guest) was most of a workspace put's time.
type extractor struct {
	root      *os.Root
	dirs      map[string]*os.Root // by cleaned name relative to root
	keepTimes bool                // set the tar's modification times
}

// maxOpenDirs bounds the directories kept open at once.
const maxOpenDirs = 64

func newExtractor(root *os.Root) *extractor {
	return &extractor{root: root, dirs: map[string]*os.Root{}, keepTimes: true}
}

func (x *extractor) close() {
	for _, d := range x.dirs {
		d.Close()
	}
	clear(x.dirs)
}

// dir returns directory name (made if missing), opened as a root.
func (x *extractor) dir(name string) (*os.Root, error) {
	if name == "." {
		return x.root, nil
	}
	if d, ok := x.dirs[name]; ok {
		return d, nil
	}
	if err := x.root.MkdirAll(name, 0o755); err != nil {
		return nil, err
	}
	d, err := x.root.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	if len(x.dirs) >= maxOpenDirs {
		x.close()
	}
	x.dirs[name] = d
	return d, nil
}

// forget closes what is kept open at or under name, which an entry is
// about to replace.
func (x *extractor) forget(name string) {
	for k, d := range x.dirs {
		if k == name || strings.HasPrefix(k, name+string(filepath.Separator)) {
			d.Close()
			delete(x.dirs, k)
		}
	}
}

// lstat is root.Lstat(name), through a directory kept open when there is one.
func (x *extractor) lstat(name string) (fs.FileInfo, error) {
	if d, ok := x.dirs[filepath.Dir(name)]; ok {
		return d.Lstat(filepath.Base(name))
	}
	return x.root.Lstat(name)
}

func (x *extractor) extract(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &requestError{"reading tar: " + err.Error()}
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
}

func (x *extractor) entry(hdr *tar.Header, tr io.Reader) error {
	name := filepath.Clean(filepath.FromSlash(hdr.Name))
	if !filepath.IsLocal(name) && name != "." {
		return &requestError{fmt.Sprintf("tar entry %q escapes the target directory", hdr.Name)}
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return &requestError{fmt.Sprintf("tar entry %q: the target directory itself as a %q", hdr.Name, hdr.Typeflag)}
		}
		err := x.root.Chmod(".", hdr.FileInfo().Mode().Perm()|0o700)
		if err == nil {
			err = x.root.Chtimes(".", time.Now(), hdr.ModTime)
		}
		return entryError(hdr.Name, err)
	}
	x.forget(name)
	parent, err := x.dir(filepath.Dir(name))
	if err != nil {
		return entryError(hdr.Name, err)
	}
	base := filepath.Base(name)
	mode := hdr.FileInfo().Mode().Perm()
	switch hdr.Typeflag {
	case tar.TypeDir:
		mode |= 0o700
		err = parent.Mkdir(base, mode)
		switch {
		case errors.Is(err, fs.ErrExist):
			var fi fs.FileInfo
			if fi, err = parent.Stat(base); err == nil && !fi.IsDir() {
				err = fmt.Errorf("mkdir %s: %w", base, syscall.ENOTDIR)
			}
			if err == nil {
				err = parent.Chmod(base, mode)
			}
		case err == nil && mode&umask() != 0: // Mkdir's mode lost bits to the umask
			err = parent.Chmod(base, mode)
		}
	case tar.TypeReg:
		err = writeEntry(parent, base, mode, tr)
	case tar.TypeSymlink:
		parent.Remove(base)
		err = parent.Symlink(hdr.Linkname, base)
	case tar.TypeLink:
		x.root.Remove(name)
		err = x.root.Link(filepath.Clean(filepath.FromSlash(hdr.Linkname)), name)
	default:
		return &requestError{fmt.Sprintf("tar entry %q: unsupported type %q", hdr.Name, hdr.Typeflag)}
	}
	if err != nil {
		return entryError(hdr.Name, err)
	}
	if x.keepTimes && (hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeDir) {
		parent.Chtimes(base, time.Now(), hdr.ModTime)
	}
	return nil
}

// umask is the process's file mode creation mask, read once (Linux 4.7+
// reports it in /proc/self/status; else every mode is set explicitly).
var umask = sync.OnceValue(func() fs.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o777
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return fs.FileMode(n) & 0o777
			}
		}
	}
	return 0o777
})

// writeEntry writes file name in dir: a new file, never through an
// existing symlink (what is there is removed first), with mode set on the
// open file (not subject to umask).
func writeEntry(dir *os.Root, name string, mode fs.FileMode, r io.Reader) error {
	f, err := dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		dir.Remove(name)
		f, err = dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	}
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil && mode&umask() != 0 { // the create's mode lost bits to the umask
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// entryError marks escapes as the client's fault (400) and keeps other
// errors as agent failures.
func entryError(name string, err error) error {
	// os.Root reports escapes with an unexported error of this text.
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == "path escapes from parent" {
			return &requestError{fmt.Sprintf("tar entry %q escapes the target directory: %v", name, err)}
		}
	}
	return fmt.Errorf("tar entry %q: %w", name, err)
}

func (s *Server) handleGetFiles(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if !filepath.IsAbs(path) {
		s.writeError(w, r, &requestError{fmt.Sprintf("get files: path %q is not absolute", path)})
		return
	}
	fi, err := os.Lstat(path)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("get files: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	tw := tar.NewWriter(w)
	if fi.IsDir() {
		err = addDir(tw, path)
	} else {
		err = addFile(tw, path, filepath.Base(path), fi)
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		// Headers are sent: break the stream so the client sees a failure.
		s.logf("get files %s: %v", path, err)
		panic(http.ErrAbortHandler)
	}
}

// addDir writes the tree under dir with names relative to dir. Sockets,
// devices and pipes are skipped.
func addDir(tw *tar.Writer, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return addFile(tw, p, filepath.ToSlash(rel), fi)
	})
}

// addFile writes one entry named name for the file at p.
func addFile(tw *tar.Writer, p, name string, fi fs.FileInfo) error {
	var link string
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		link = target
	case fi.IsDir(), fi.Mode().IsRegular():
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(tw, f, hdr.Size)
	return err
}

func (s *Server) handleWriteFile(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	path := q.Get("path")
	if !filepath.IsAbs(path) {
		s.writeError(w, r, &requestError{fmt.Sprintf("write file: path %q is not absolute", path)})
		return
	}
	mode, err := strconv.ParseUint(q.Get("mode"), 0, 32)
	if err != nil || mode > 0o777 {
		s.writeError(w, r, &requestError{fmt.Sprintf("write file: bad mode %q", q.Get("mode"))})
		return
	}
	if err := writeFile(path, fs.FileMode(mode), r.Body); err != nil {
		s.writeError(w, r, fmt.Errorf("write file: %w", err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeFile(path string, mode fs.FileMode, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(path, mode)
	}
	return err
}

func (s *Server) handleReadFile(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if !filepath.IsAbs(path) {
		s.writeError(w, r, &requestError{fmt.Sprintf("read file: path %q is not absolute", path)})
		return
	}
	f, err := os.Open(path)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("read file: %w", err))
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		s.writeError(w, r, &requestError{fmt.Sprintf("read file: %s is a directory", path)})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := io.Copy(w, f); err != nil {
		s.logf("read file %s: %v", path, err)
		panic(http.ErrAbortHandler)
	}
}

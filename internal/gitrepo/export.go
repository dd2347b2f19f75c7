package gitrepo

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/trace"
)

// ExportTar writes a tar of a working copy of commit sha (see Checkout) to w.
func (m *Mirror) ExportTar(ctx context.Context, sha, cloneURL string, w io.Writer) error {
	tmp, err := os.MkdirTemp("", "hookci-checkout-")
	if err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := m.Checkout(ctx, sha, tmp, cloneURL); err != nil {
		return err
	}
	return TarDir(w, tmp)
}

// TarDir writes the tree under dir (regular files, directories, symlinks) to
// w as a tar whose names are relative to dir.
func TarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, devices: not part of a checkout
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gitrepo: tar %s: %w", dir, err)
	}
	return tw.Close()
}

// TreeCached returns a directory holding a working copy of commit sha (see
// Checkout), made once and kept beside the mirror like the tars. Callers
// must not change it. A plain tree (exportdirect.go) is unpacked from the
// commit's workspace tar (made first if need be), so a commit whose tar
// and tree are both wanted (a microVM's workspace disk) packs its objects
// once; any other is git's checkout (treeViaGit).
func (m *Mirror) TreeCached(ctx context.Context, sha, cloneURL string) (string, error) {
	if !ValidSHA(sha) {
		return "", fmt.Errorf("gitrepo: invalid commit id %q", sha)
	}
	// Not under the tree's lock: ExportCached takes it (treeViaGit) for
	// a tree it cannot write directly.
	tar, err := m.ExportCached(ctx, sha, cloneURL)
	if err != nil {
		return "", err
	}
	return m.treeDir(sha, func(tmp string) error { return untarInto(tmp, tar) })
}

// treeViaGit is TreeCached through git's own checkout.
func (m *Mirror) treeViaGit(ctx context.Context, sha, cloneURL string) (string, error) {
	return m.treeDir(sha, func(tmp string) error { return m.Checkout(ctx, sha, tmp, cloneURL) })
}

// treeDir returns the kept tree of sha, made by fill in a new directory
// when there is none yet (one maker at a time).
func (m *Mirror) treeDir(sha string, fill func(tmp string) error) (string, error) {
	dir := m.Dir + ".trees"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	p := filepath.Join(dir, sha)
	if m.cache != nil {
		l := m.cache.lock(p)
		l.Lock()
		defer l.Unlock()
	}
	if _, err := os.Stat(p); err == nil {
		now := time.Now()
		os.Chtimes(p, now, now)
		return p, nil
	}
	tmp, err := os.MkdirTemp(dir, sha+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	if err := fill(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	pruneOld(dir, 24*time.Hour)
	return p, nil
}

// untarInto unpacks the workspace tar at tarPath (one ExportCached made:
// directories, regular files, symlinks) into dir, confined to it.
func untarInto(dir, tarPath string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	defer f.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("gitrepo: %w", err)
	}
	defer root.Close()
	tr := tar.NewReader(bufio.NewReaderSize(f, 1<<16))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("gitrepo: unpack %s: %w", tarPath, err)
		}
		name := filepath.FromSlash(strings.TrimSuffix(h.Name, "/"))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("gitrepo: unpack %s: entry %q outside the tree", tarPath, h.Name)
		}
		mode := h.FileInfo().Mode().Perm()
		if parent := filepath.Dir(name); parent != "." && h.Typeflag != tar.TypeDir {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return fmt.Errorf("gitrepo: unpack %s: %s: %w", tarPath, h.Name, err)
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(name, 0o755)
			if err == nil {
				err = root.Chmod(name, mode)
			}
		case tar.TypeReg:
			var w *os.File
			if w, err = root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode); err == nil {
				_, err = io.Copy(w, tr)
				if err == nil {
					err = w.Chmod(mode)
				}
				if cerr := w.Close(); err == nil {
					err = cerr
				}
			}
		case tar.TypeSymlink:
			err = root.Symlink(h.Linkname, name)
		default:
			err = fmt.Errorf("unexpected entry type %q", h.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("gitrepo: unpack %s: %s: %w", tarPath, h.Name, err)
		}
	}
}

// ExportCached returns the path of a tar of commit sha's working copy (see
// ExportTar), made once and kept beside the mirror so every job and matrix
// leg of a commit reuses it. Tars unused for a day are removed.
func (m *Mirror) ExportCached(ctx context.Context, sha, cloneURL string) (string, error) {
	if !ValidSHA(sha) {
		return "", fmt.Errorf("gitrepo: invalid commit id %q", sha)
	}
	dir := m.Dir + ".tars"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	p := filepath.Join(dir, sha+".tar")
	if m.cache != nil { // one export per commit at a time: a second caller waits for the first
		l := m.cache.lock(p)
		l.Lock()
		defer l.Unlock()
	}
	if _, err := os.Stat(p); err == nil {
		now := time.Now()
		os.Chtimes(p, now, now)
		return p, nil
	}
	defer trace.Begin(ctx, "workspace tar")()
	tmp, err := os.CreateTemp(dir, sha+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	defer os.Remove(tmp.Name())
	packTmp, err := os.CreateTemp(dir, sha+".*.pack.tmp")
	if err != nil {
		tmp.Close()
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	err = m.exportDirect(ctx, sha, cloneURL, tmp, packTmp) // exportdirect.go
	packTmp.Close()
	os.Remove(packTmp.Name())
	if errors.Is(err, errNotPlain) || errors.Is(err, errNoBatch) {
		// git's own checkout, read back (exportDirect wrote nothing).
		var tree string
		tree, err = m.treeViaGit(ctx, sha, cloneURL)
		if err == nil {
			err = TarDir(tmp, tree)
		}
	}
	if err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("gitrepo: %w", err)
	}
	pruneOld(dir, 24*time.Hour)
	return p, nil
}

func pruneOld(dir string, age time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

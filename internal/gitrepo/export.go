package gitrepo

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

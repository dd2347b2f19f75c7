package oci

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// BuiltPrefix starts the reference of an image Build made on this host
// ("hookci.build/sha256:<key>"); Pull returns such an image from the cache
// and never asks a registry for it.
const BuiltPrefix = "hookci.build/"

// BuiltRef is the reference Pull knows the image built under key by.
func BuiltRef(key string) string { return BuiltPrefix + "sha256:" + key }

// Build returns the image made from base by apply, cached under key (64 hex
// digits: the caller's hash of everything the build depends on, e.g. the
// base image's digest, the Dockerfile, the context's files and the build
// arguments), so a second build with the same key is a cache hit. apply gets
// a private copy of base's root filesystem and its config to change; the
// result is stored as an image of its own (digest "sha256:<key>", pruned
// like pulled ones). Builds of one key serialize across processes.
func (s *Store) Build(ctx context.Context, key string, base *Image, apply func(rootfs string, cfg *ImageConfig) error) (*Image, error) {
	if err := s.ensureDirs(); err != nil {
		return nil, err
	}
	if b, err := hex.DecodeString(key); err != nil || len(b) != 32 {
		return nil, fmt.Errorf("oci: build key %q is not a sha256 hex digest", key)
	}
	digest := "sha256:" + key
	if img, err := s.cached(digest); err == nil {
		s.touch(img)
		return img, nil
	}
	unlock, err := s.lock(ctx, "image-"+key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if img, err := s.cached(digest); err == nil {
		return img, nil
	}
	start := time.Now()
	stage, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "build-"+key[:16]+"-")
	if err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	defer os.RemoveAll(stage)
	rootfs := filepath.Join(stage, "rootfs")
	// cp -a keeps owners, modes, links and special files; reflinks where
	// the filesystem has them.
	if out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", base.RootFS, rootfs).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("oci: copying %s's root filesystem: %v: %s", base.Ref, err, strings.TrimSpace(string(out)))
	}
	cfg := cloneConfig(base.Config)
	if err := apply(rootfs, &cfg); err != nil {
		return nil, err
	}
	img := &Image{Ref: BuiltRef(key), Digest: digest, Platform: base.Platform, Config: cfg}
	data, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(stage, "image.json"), data, 0o644); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	dir := filepath.Join(s.root, "images", key)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	if err := os.Rename(stage, dir); err != nil {
		return nil, fmt.Errorf("oci: %w", err)
	}
	s.log.Info("oci: built", "base", base.Ref, "digest", digest, "took", time.Since(start).Round(time.Millisecond))
	return s.cached(digest)
}

func cloneConfig(c ImageConfig) ImageConfig {
	out := c
	out.Env = append([]string(nil), c.Env...)
	out.Entrypoint = append([]string(nil), c.Entrypoint...)
	out.Cmd = append([]string(nil), c.Cmd...)
	out.ExposedPorts = append([]string(nil), c.ExposedPorts...)
	out.Volumes = append([]string(nil), c.Volumes...)
	if c.Labels != nil {
		out.Labels = map[string]string{}
		for k, v := range c.Labels {
			out.Labels[k] = v
		}
	}
	return out
}

// CopyIn copies src, a path relative to the build context contextDir (a
// file or a directory, whose contents are copied, as Docker's COPY does),
// to dst, an absolute path inside rootfs, owned by uid:gid (-1: keep the
// source's, as root copies them). A source that leaves the context — by
// "..", or through a symlink that points out of it — is refused, and so is
// a destination that a symlink in rootfs would take out of it: every write
// goes through an os.Root of rootfs. Symlinks inside a copied directory are
// copied as symlinks (they resolve inside the image, not on the host).
func CopyIn(contextDir, src, rootfs, dst string, uid, gid int) error {
	return CopyInMode(contextDir, src, rootfs, dst, uid, gid, 0)
}

// CopyInMode is CopyIn that gives every file and directory it copies mode
// (COPY --chmod) instead of the source's, unless mode is 0.
func CopyInMode(contextDir, src, rootfs, dst string, uid, gid int, mode fs.FileMode) error {
	rel := path.Clean("/" + filepath.ToSlash(src))[1:]
	if rel == "" {
		rel = "."
	}
	if strings.HasPrefix(path.Clean(filepath.ToSlash(src)), "..") {
		return fmt.Errorf("COPY source %s is outside the build context", src)
	}
	ctxRoot, err := os.OpenRoot(contextDir)
	if err != nil {
		return err
	}
	defer ctxRoot.Close()
	fi, err := ctxRoot.Stat(rel) // follows symlinks, only within the context
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("COPY source %s: not found in the build context", src)
		}
		return fmt.Errorf("COPY source %s is outside the build context or unreadable: %w", src, err)
	}
	dstRoot, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer dstRoot.Close()
	target := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(dst)), "/")
	if target == "" {
		target = "."
	}
	if !fi.IsDir() {
		// "COPY a /dir/" or onto an existing directory: inside it.
		if strings.HasSuffix(dst, "/") {
			target = path.Join(target, path.Base(rel))
		} else if di, err := dstRoot.Stat(target); err == nil && di.IsDir() {
			target = path.Join(target, path.Base(rel))
		}
		if err := dstRoot.MkdirAll(path.Dir(target), 0o755); err != nil {
			return fmt.Errorf("COPY %s: %w", src, err)
		}
		return copyFile(ctxRoot, rel, dstRoot, target, fi, uid, gid, mode)
	}
	if err := dstRoot.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("COPY %s: %w", src, err)
	}
	sub, err := ctxRoot.OpenRoot(rel)
	if err != nil {
		return fmt.Errorf("COPY source %s: %w", src, err)
	}
	defer sub.Close()
	return fs.WalkDir(sub.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		to := path.Join(target, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			perm := info.Mode().Perm()
			if mode != 0 {
				perm = mode
			}
			if err := dstRoot.MkdirAll(to, perm); err != nil {
				return err
			}
			if mode != 0 {
				if err := dstRoot.Chmod(to, mode); err != nil {
					return err
				}
			}
			return chown(dstRoot, to, info, uid, gid)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := sub.Readlink(p)
			if err != nil {
				return err
			}
			dstRoot.Remove(to)
			if err := dstRoot.Symlink(link, to); err != nil {
				return err
			}
			if uid >= 0 {
				return dstRoot.Lchown(to, uid, gid)
			}
			return nil
		case d.Type().IsRegular():
			return copyFile(sub, p, dstRoot, to, info, uid, gid, mode)
		}
		return fmt.Errorf("COPY %s: %s is not a regular file, directory or symlink", src, p)
	})
}

func copyFile(from *os.Root, name string, to *os.Root, target string, fi fs.FileInfo, uid, gid int, mode fs.FileMode) error {
	perm := fi.Mode().Perm()
	if mode != 0 {
		perm = mode
	}
	in, err := from.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	// A symlink at the target is replaced, never followed.
	if li, err := to.Lstat(target); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		if err := to.Remove(target); err != nil {
			return err
		}
	}
	out, err := to.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm&fs.ModePerm)
	if err != nil {
		return fmt.Errorf("COPY to /%s: %w", target, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := chown(to, target, fi, uid, gid); err != nil {
		return err
	}
	// After the chown, which clears setuid and setgid.
	return to.Chmod(target, perm)
}

func chown(r *os.Root, name string, fi fs.FileInfo, uid, gid int) error {
	if uid < 0 {
		return nil
	}
	return r.Lchown(name, uid, gid)
}

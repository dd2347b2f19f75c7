// Package nodebundle makes the self-contained node that JavaScript actions
// in a job container run with: a directory holding a node binary, every
// shared library it loads (its ldd closure) and the glibc loader, the
// binary's ELF interpreter and every library's RUNPATH pointing inside the
// directory as it is bound in a container (Mount). It runs in any x86-64
// Linux image — glibc, musl (Alpine), distroless, or no libc at all — since
// it needs nothing from the image; the kernel's /proc is not needed either
// (no $ORIGIN: the paths are absolute). process.execPath is Mount/bin/node.
//
// The namespace backend builds one from the host's node (Ensure, cached
// under the data directory and rebuilt when the node or a library it loads
// changes); the guest image build makes one from the guest's node (Build).
// Both need Debian's patchelf.
package nodebundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Mount is where a bundle must be bound in a container: its binary's ELF
// interpreter and RUNPATH name this path (GitHub's runner binds its own
// externals' node20 here).
const Mount = "/__e/node20"

// Node is the bundle's node binary as a container sees it.
const Node = Mount + "/bin/node"

// builderVersion changes when Build's output changes for the same input,
// so that cached bundles are rebuilt.
const builderVersion = "1"

// Lib is the bundle's library directory as a container sees it.
const lib = Mount + "/lib"

// StandardPath is where HostNode looks for node.
const StandardPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// HostNode is the host's node (the first in StandardPath), resolved to its
// file.
func HostNode() (string, error) {
	for _, dir := range strings.Split(StandardPath, ":") {
		p := filepath.Join(dir, "node")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return filepath.EvalSymlinks(p)
		}
	}
	return "", fmt.Errorf("no node on this host (looked in %s)", StandardPath)
}

// Build makes dst (which must not exist) a bundle of the node at bin (a
// path inside root; root "/" for the host's), then checks that it runs.
func Build(ctx context.Context, root, bin, dst string) error {
	c, err := closure(root, bin)
	if err != nil {
		return err
	}
	return build(ctx, root, c, dst)
}

func build(ctx context.Context, root string, c *closureOf, dst string) error {
	patchelf, err := exec.LookPath("patchelf")
	if err != nil {
		return errors.New("patchelf is not installed (Debian package patchelf; scripts/deps.sh installs it)")
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s exists", dst)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	for _, d := range []string{dst, filepath.Join(dst, "bin"), filepath.Join(dst, "lib")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	bin := filepath.Join(dst, "bin", "node")
	if err := copyFile(hostPath(root, c.bin.path), bin, 0o755); err != nil {
		return err
	}
	var manifest strings.Builder
	fmt.Fprintf(&manifest, "node %s\n", c.bin.path)
	if c.interp.name != "" {
		if err := copyFile(hostPath(root, c.interp.path), filepath.Join(dst, "lib", c.interp.name), 0o755); err != nil {
			return err
		}
		fmt.Fprintf(&manifest, "%s %s\n", c.interp.name, c.interp.path)
	}
	for _, l := range c.libs {
		if err := copyFile(hostPath(root, l.path), filepath.Join(dst, "lib", l.name), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&manifest, "%s %s\n", l.name, l.path)
	}
	pe := func(args ...string) error {
		out, err := exec.CommandContext(ctx, patchelf, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("patchelf %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	if c.interp.name != "" {
		if err := pe("--set-interpreter", lib+"/"+c.interp.name, "--set-rpath", lib, bin); err != nil {
			return err
		}
		// RUNPATH is not inherited: each library that loads another (but the
		// loader and libc, which need only the loader, already loaded) gets
		// its own, so no library comes from the image.
		for _, l := range c.libs {
			needed, _, err := dynamic(root, l)
			if err != nil {
				return err
			}
			if !needsMoreThan(needed, c.interp.name) {
				continue
			}
			if err := pe("--set-rpath", lib, filepath.Join(dst, "lib", l.name)); err != nil {
				return err
			}
		}
	}
	for _, f := range append([]string{bin}, libPaths(dst, c)...) {
		files, err := externalBuiltins(root, f, dst)
		if err != nil {
			return err
		}
		for _, x := range files {
			fmt.Fprintf(&manifest, "share/%s %s\n", strings.TrimPrefix(x, debianShare), x)
		}
	}
	if err := os.WriteFile(filepath.Join(dst, "SOURCES"), []byte(manifest.String()), 0o644); err != nil {
		return err
	}
	// It runs: through its own loader, with its own libraries (the
	// interpreter and RUNPATH name Mount, which the host need not have).
	var version []byte
	if c.interp.name != "" {
		version, err = run(ctx, filepath.Join(dst, "lib", c.interp.name), "--library-path", filepath.Join(dst, "lib"), bin, "--version")
	} else {
		version, err = run(ctx, bin, "--version")
	}
	if err != nil {
		return fmt.Errorf("the bundled node does not run: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dst, "VERSION"), version, 0o644); err != nil {
		return err
	}
	// Read-only for everyone: the bundle is shared by every job.
	return filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chmod(p, fi.Mode().Perm()&^0o222)
	})
}

func libPaths(dst string, c *closureOf) []string {
	var ps []string
	for _, l := range c.libs {
		ps = append(ps, filepath.Join(dst, "lib", l.name))
	}
	return ps
}

// Debian's node (libnode) loads some of its built-in modules at start from
// files of other packages under /usr/share/nodejs (its build's
// NODE_SHARED_BUILTIN_*_PATH: cjs-module-lexer, undici, acorn), which an
// image need not have. The bundle carries them under share/ and the
// library names them there: bundleShare is as long as debianShare, so the
// path strings are rewritten in place.
const (
	debianShare = "/usr/share/nodejs/"
	bundleShare = Mount + "/share/"
)

func init() {
	if len(debianShare) != len(bundleShare) {
		panic("nodebundle: bundleShare and debianShare differ in length")
	}
}

// externalBuiltins rewrites, in the bundle's file f, every NUL-terminated
// string naming a file under debianShare that root has, to bundleShare,
// and copies those files into dst/share; it returns their paths in root.
func externalBuiltins(root, f, dst string) ([]string, error) {
	data, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	var files []string
	changed := false
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte(debianShare))
		if i < 0 {
			break
		}
		i += off
		end := bytes.IndexByte(data[i:], 0)
		off = i + len(debianShare)
		if end < 0 || i == 0 || data[i-1] != 0 {
			continue // not a whole C string (process.config's JSON has them too)
		}
		name := string(data[i : i+end])
		rel := strings.TrimPrefix(name, debianShare)
		if strings.Contains("/"+rel+"/", "/../") || !strings.HasSuffix(rel, ".js") {
			continue
		}
		src, err := resolveIn(root, name)
		if err != nil {
			continue // the library's, not a file of this root: left as it is
		}
		out := filepath.Join(dst, "share", filepath.FromSlash(rel))
		if _, err := os.Stat(out); err != nil {
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return nil, err
			}
			if err := copyFile(hostPath(root, src), out, 0o644); err != nil {
				return nil, err
			}
		}
		copy(data[i:], bundleShare)
		files = append(files, name)
		changed = true
	}
	if !changed {
		return nil, nil
	}
	fi, err := os.Stat(f)
	if err != nil {
		return nil, err
	}
	return files, os.WriteFile(f, data, fi.Mode().Perm())
}

func needsMoreThan(needed []string, loader string) bool {
	for _, n := range needed {
		if n != loader {
			return true
		}
	}
	return false
}

func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=" + StandardPath}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Ensure returns the bundle of the node at bin (a host path) in cacheDir,
// building it if no bundle of this node and these libraries is there: its
// key hashes, for the node and every file of its closure, the resolved path,
// size, modification time and inode, so an upgraded node or library makes
// a new one. Concurrent callers, in this process or others, build it once.
// Bundles unused for a week are removed.
func Ensure(ctx context.Context, cacheDir, bin string) (string, error) {
	c, err := closure("/", bin)
	if err != nil {
		return "", err
	}
	key, err := keyOf(c)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, key)
	if ok(dir) {
		touch(dir)
		return dir, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(cacheDir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := flock(ctx, lock); err != nil {
		return "", err
	}
	if ok(dir) {
		touch(dir)
		return dir, nil
	}
	stage := filepath.Join(cacheDir, ".build-"+key)
	if err := removeAll(stage); err != nil {
		return "", err
	}
	if err := build(ctx, "/", c, stage); err != nil {
		removeAll(stage)
		return "", fmt.Errorf("building the node bundle for containers from %s: %w", bin, err)
	}
	if err := os.Rename(stage, dir); err != nil {
		removeAll(stage)
		return "", err
	}
	prune(cacheDir, key)
	return dir, nil
}

// ok reports whether dir is a finished bundle (Ensure renames it into
// place only when complete).
func ok(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "bin", "node"))
	return err == nil && fi.Mode().IsRegular()
}

func touch(dir string) {
	now := time.Now()
	os.Chtimes(dir, now, now)
}

func keyOf(c *closureOf) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "nodebundle %s %s\n", builderVersion, Mount)
	for _, o := range append([]object{c.bin, c.interp}, c.libs...) {
		if o.name == "" {
			continue
		}
		fi, err := os.Stat(o.path)
		if err != nil {
			return "", err
		}
		var ino uint64
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		fmt.Fprintf(h, "%s %s %d %d %d\n", o.name, o.path, fi.Size(), fi.ModTime().UnixNano(), ino)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func flock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// removeAll removes a bundle, whose directories are read-only.
func removeAll(dir string) error {
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// prune removes the bundles other than keep that were not used for a week
// (a running job's bundle is touched when its container starts).
func prune(cacheDir, keep string) {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Name() == keep || strings.HasPrefix(e.Name(), ".") || !e.IsDir() {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 7*24*time.Hour {
			removeAll(filepath.Join(cacheDir, e.Name()))
		}
	}
}

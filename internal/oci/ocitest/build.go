package ocitest

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// CacheDir is where built test layers are kept between runs (outside the
// clone): HOOKCI_OCI_TEST_CACHE, default /var/cache/hookci/oci-test.
func CacheDir() string {
	if d := os.Getenv("HOOKCI_OCI_TEST_CACHE"); d != "" {
		return d
	}
	return "/var/cache/hookci/oci-test"
}

// recipe is one layer built from Debian packages: debootstrap minbase of
// bookworm plus include, minus the base layer (a diff), so the images share
// their base layer as real ones do.
type recipe struct {
	name    string   // file name stem; bump the version to rebuild
	include []string // Debian packages on top of minbase
	trim    []string // paths (relative) removed after the install
}

var (
	baseRecipe     = recipe{name: "base-v1"}
	postgresRecipe = recipe{name: "postgresql-v1", include: []string{"postgresql-15"},
		trim: []string{"var/lib/postgresql/15", "etc/postgresql/15"}}
	redisRecipe = recipe{name: "redis-v1", include: []string{"redis-server"}}
)

// debianMirror is the host's Debian archive (apt sources), or
// HOOKCI_DEBIAN_MIRROR.
func debianMirror() string {
	if m := os.Getenv("HOOKCI_DEBIAN_MIRROR"); m != "" {
		return m
	}
	for _, f := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if u, ok := strings.CutPrefix(l, "URIs:"); ok && !strings.Contains(u, "security") {
				fh.Close()
				return strings.Fields(u)[0]
			}
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "deb" && strings.HasPrefix(f[1], "http") && !strings.Contains(f[1], "security") {
				fh.Close()
				return f[1]
			}
		}
		fh.Close()
	}
	return "http://deb.debian.org/debian"
}

// buildLayers makes sure every recipe's layer is in the cache directory,
// building the missing ones (minutes, once per machine). It holds a lock so
// that test packages running at once build once.
func buildLayers(ctx context.Context, log io.Writer, rs ...recipe) (map[string]string, error) {
	dir := CacheDir()
	if err := os.MkdirAll(filepath.Join(dir, "debs"), 0o755); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var missing []recipe
	for _, r := range rs {
		p := filepath.Join(dir, r.name+".tar.gz")
		out[r.name] = p
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	work, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	mirror := debianMirror()
	// The base tree is kept (complete trees only: renamed into place) so that
	// a missing diff layer does not debootstrap the base again.
	base := filepath.Join(dir, "tree-"+baseRecipe.name)
	if _, err := os.Stat(base); err != nil {
		stage := filepath.Join(work, "base")
		if err := debootstrap(ctx, log, dir, mirror, stage, baseRecipe); err != nil {
			return nil, err
		}
		if err := os.Rename(stage, base); err != nil {
			return nil, err
		}
	}
	for _, r := range missing {
		tree, against := base, ""
		if r.name != baseRecipe.name {
			tree, against = filepath.Join(work, r.name), base
			if err := debootstrap(ctx, log, dir, mirror, tree, r); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		if err := writeLayer(tree, against, out[r.name]); err != nil {
			return nil, fmt.Errorf("layer %s: %w", r.name, err)
		}
		fmt.Fprintf(log, "ocitest: layer %s written in %s\n", r.name, time.Since(start).Round(time.Second))
	}
	return out, nil
}

func debootstrap(ctx context.Context, log io.Writer, cache, mirror, target string, r recipe) error {
	args := []string{"--variant=minbase", "--components=main", "--cache-dir=" + filepath.Join(cache, "debs")}
	if len(r.include) > 0 {
		args = append(args, "--include="+strings.Join(r.include, ","))
	}
	args = append(args, "bookworm", target, mirror)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	if b, err := cmd.CombinedOutput(); err != nil {
		t := string(b)
		if len(t) > 3000 {
			t = t[len(t)-3000:]
		}
		return fmt.Errorf("debootstrap %s: %w\n%s", r.name, err, t)
	}
	fmt.Fprintf(log, "ocitest: debootstrap %s took %s\n", r.name, time.Since(start).Round(time.Second))
	// What an image never carries: docs, apt lists and caches, device nodes,
	// the cluster a postinst created.
	trim := append([]string{"usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
		"var/cache/apt", "var/lib/apt/lists", "var/log", "dev", "proc", "sys", "run", "tmp"}, r.trim...)
	for _, p := range trim {
		if err := os.RemoveAll(filepath.Join(target, p)); err != nil {
			return err
		}
	}
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "var/log", "var/cache/apt"} {
		mode := os.FileMode(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := os.MkdirAll(filepath.Join(target, d), 0o755); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(target, d), mode); err != nil {
			return err
		}
	}
	return nil
}

// writeLayer writes tree as a gzip tar layer; with against, only what
// differs from that tree (and whiteouts for what it lacks).
func writeLayer(tree, against, out string) error {
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(out + ".tmp")
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	links := map[uint64]string{}
	err = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if against != "" && same(p, fi, filepath.Join(against, rel)) {
			return nil
		}
		return addEntry(tw, p, rel, fi, links)
	})
	if err == nil && against != "" {
		err = whiteouts(tw, tree, against)
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

// same reports whether the tree entry p (fi) equals other in the base tree:
// type, mode, owner, and size and mtime (files) or target (symlinks).
func same(p string, fi fs.FileInfo, other string) bool {
	o, err := os.Lstat(other)
	if err != nil || o.Mode() != fi.Mode() {
		return false
	}
	a, b := fi.Sys().(*syscall.Stat_t), o.Sys().(*syscall.Stat_t)
	if a.Uid != b.Uid || a.Gid != b.Gid {
		return false
	}
	switch {
	case fi.IsDir():
		return true
	case fi.Mode()&fs.ModeSymlink != 0:
		x, err1 := os.Readlink(p)
		y, err2 := os.Readlink(other)
		return err1 == nil && err2 == nil && x == y
	}
	return fi.Size() == o.Size() && fi.ModTime().Equal(o.ModTime())
}

func addEntry(tw *tar.Writer, p, rel string, fi fs.FileInfo, links map[uint64]string) error {
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeSocket) != 0 {
		return nil
	}
	var target string
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if target, err = os.Readlink(p); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(fi, target)
	if err != nil {
		return err
	}
	h.Name, h.Uid, h.Gid, h.Uname, h.Gname = rel, int(st.Uid), int(st.Gid), "", ""
	h.Format = tar.FormatPAX
	if fi.IsDir() {
		h.Name += "/"
	}
	if fi.Mode().IsRegular() && st.Nlink > 1 {
		if first, ok := links[st.Ino]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			return tw.WriteHeader(h)
		}
		links[st.Ino] = rel
	}
	if err := tw.WriteHeader(h); err != nil {
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
	_, err = io.Copy(tw, f)
	return err
}

// whiteouts adds .wh. entries for the topmost paths of against that tree
// lacks.
func whiteouts(tw *tar.Writer, tree, against string) error {
	return filepath.WalkDir(against, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(against, p)
		if rel == "." {
			return nil
		}
		if _, err := os.Lstat(filepath.Join(tree, rel)); os.IsNotExist(err) {
			h := &tar.Header{Name: filepath.Join(filepath.Dir(rel), ".wh."+filepath.Base(rel)), Typeflag: tar.TypeReg,
				Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
}

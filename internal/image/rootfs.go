package image

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// RunnerUID is the uid (and gid) of the "runner" user in the guest, as on
// GitHub's hosted runners. It has passwordless sudo; jobs may also run as root.
const RunnerUID = 1001

// buildBase debootstraps r's root filesystem into stage/rootfs, configures it
// for a sandbox and trims what a CI job never reads (docs, man pages,
// translations, apt caches and lists). debs caches downloaded packages.
func buildBase(ctx context.Context, stage string, r Recipe, mirror, debs string, log io.Writer) error {
	root := filepath.Join(stage, "rootfs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	pkgs := slices.Clone(r.Packages)
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	args := []string{"--variant=minbase", "--components=main", "--cache-dir=" + debs}
	if len(pkgs) > 0 {
		args = append(args, "--include="+strings.Join(pkgs, ","))
	}
	args = append(args, r.Suite, root, mirror)
	if err := run(ctx, log, "", "debootstrap", args...); err != nil {
		return err
	}
	if err := configureRoot(ctx, root, r, mirror, log); err != nil {
		return fmt.Errorf("configure root: %w", err)
	}
	if err := trimRoot(root); err != nil {
		return fmt.Errorf("trim root: %w", err)
	}
	return nil
}

// configureRoot writes the files that make the debootstrap output a guest:
// hostname, hosts, resolv.conf, an empty machine-id, apt sources, dpkg
// excludes for docs, the runner user and the mount points sandboxes use.
func configureRoot(ctx context.Context, root string, r Recipe, mirror string, log io.Writer) error {
	files := map[string]string{
		"etc/hostname":                r.Hostname + "\n",
		"etc/hosts":                   fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n", r.Hostname),
		"etc/resolv.conf":             "# written by the sandbox when the job is granted network access\n",
		"etc/machine-id":              "",
		"etc/fstab":                   "# the guest init mounts everything\n",
		"etc/apt/sources.list":        fmt.Sprintf("deb %s %s main\n", mirror, r.Suite),
		"etc/apt/apt.conf.d/90hookci": "Acquire::Check-Valid-Until \"false\";\nAPT::Install-Recommends \"false\";\n",
		"etc/dpkg/dpkg.cfg.d/90hookci-nodoc": "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n" +
			"path-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\n",
		"etc/sudoers.d/runner": "runner ALL=(ALL) NOPASSWD:ALL\n",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		os.Remove(p) // resolv.conf may be a symlink to the host's file
		perm := fs.FileMode(0o644)
		if strings.HasPrefix(name, "etc/sudoers.d/") {
			perm = 0o440
		}
		if err := os.WriteFile(p, []byte(content), perm); err != nil {
			return err
		}
	}
	uid := fmt.Sprint(RunnerUID)
	if err := run(ctx, log, "", "chroot", root, "groupadd", "--gid", uid, "runner"); err != nil {
		return err
	}
	if err := run(ctx, log, "", "chroot", root, "useradd", "--uid", uid, "--gid", uid,
		"--create-home", "--home-dir", "/home/runner", "--shell", "/bin/bash", "runner"); err != nil {
		return err
	}
	for _, d := range []string{"home/runner/work", "opt/hostedtoolcache"} {
		p := filepath.Join(root, d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Lchown(p, RunnerUID, RunnerUID); err != nil {
			return err
		}
	}
	return nil
}

// trimRoot removes caches and documentation from root.
func trimRoot(root string) error {
	for _, pat := range []string{
		"var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/cache/apt/archives/partial/*",
		"var/lib/apt/lists/*_*", "var/cache/debconf/*-old", "var/lib/dpkg/*-old",
		"usr/share/man/*", "usr/share/info/*", "usr/share/lintian/*", "usr/share/linda/*",
		"var/log/*", "var/cache/ldconfig/*", "root/.bash_history",
	} {
		matches, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	locales, _ := filepath.Glob(filepath.Join(root, "usr/share/locale/*"))
	for _, m := range locales {
		if filepath.Base(m) != "locale.alias" {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	return trimDocs(filepath.Join(root, "usr/share/doc"))
}

// trimDocs keeps only the copyright file of each package's documentation.
func trimDocs(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		pkg := filepath.Join(dir, e.Name())
		if !e.IsDir() {
			if err := os.Remove(pkg); err != nil {
				return err
			}
			continue
		}
		files, err := os.ReadDir(pkg)
		if err != nil {
			return err
		}
		for _, f := range files {
			if f.Name() != "copyright" {
				if err := os.RemoveAll(filepath.Join(pkg, f.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// linkTree makes dst a copy of src whose regular files are hard links to
// src's (cp -al): the image's rootfs shares the base layer's blocks.
func linkTree(ctx context.Context, src, dst string, log io.Writer) error {
	if err := run(ctx, log, "", "cp", "-a", "--link", src, dst); err == nil {
		return nil
	}
	// Hard links can fail (another filesystem, link limits): copy instead.
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return run(ctx, log, "", "cp", "-a", src, dst)
}

// installFile copies src to dst (inside a root) as a new inode, so that a
// hard-linked file of the base layer is never written through.
func installFile(src, dst string, perm fs.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".hookci-tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

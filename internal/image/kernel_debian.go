package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// initramfsVersion is part of the Debian kernel layer's key: bump it when the
// initramfs init script or layout changes.
const initramfsVersion = "3"

// initramfsModules are loaded, with their dependencies, by the initramfs of
// the Debian kernel before it mounts the root disk.
var initramfsModules = []string{
	"virtio_mmio", "virtio_pci", "virtio_blk", "virtio_console", "virtio_net",
	"virtio-rng", "virtio_balloon", "vmw_vsock_virtio_transport",
	"crc32c_generic", "ext4", "overlay", "9pnet_virtio", "9p", "virtiofs",
}

// initScript is /init of the Debian kernel's initramfs when it is booted on
// its own (the microvm backend appends an archive whose /init is the agent,
// which loads /etc/hookci/modules itself): load the modules,
// mount the root named by root= (read-only unless rw), move /dev there and
// switch_root to init= (default /sbin/init) with the arguments after "--".
const initScript = `#!/bin/busybox sh
export PATH=/bin
busybox mkdir -p /proc /sys /dev /newroot
busybox mount -t proc proc /proc
busybox mount -t devtmpfs devtmpfs /dev
while read -r m; do busybox insmod "/lib/modules/$(busybox uname -r)/$m" || echo "initramfs: insmod $m failed"; done < /etc/hookci/modules
root=/dev/vda; fstype=ext4; opts=ro; init=/sbin/init
for a in $(busybox cat /proc/cmdline); do
	case "$a" in
	--) break ;;
	root=*) root="${a#root=}" ;;
	rootfstype=*) fstype="${a#rootfstype=}" ;;
	rw) opts=rw ;;
	init=*) init="${a#init=}" ;;
	esac
done
i=0
while [ ! -b "$root" ] && [ $i -lt 100 ]; do busybox usleep 50000; i=$((i+1)); done
if ! busybox mount -t "$fstype" -o "$opts" "$root" /newroot; then
	echo "initramfs: cannot mount $root"; busybox sh; busybox poweroff -f
fi
busybox mount --move /dev /newroot/dev
busybox umount /proc
exec busybox switch_root /newroot "$init" "$@"
`

// buildDebianKernel fetches the versioned package behind r.DebianKernel with
// apt-get download (kept in debs), unpacks its vmlinuz, extracts the
// uncompressed vmlinux from it and writes an initramfs with busybox-static
// and the modules a microVM needs.
func buildDebianKernel(ctx context.Context, stage string, r Recipe, debs string, log io.Writer) error {
	pkg, version, err := debianKernelPackage(r.DebianKernel)
	if err != nil {
		return err
	}
	deb, err := downloadDeb(ctx, debs, pkg, version, log)
	if err != nil {
		return err
	}
	tree := filepath.Join(stage, "pkg")
	if err := run(ctx, log, "", "dpkg-deb", "-x", deb, tree); err != nil {
		return err
	}
	abi := strings.TrimPrefix(pkg, "linux-image-")
	if err := extractVmlinux(ctx, filepath.Join(tree, "boot", "vmlinuz-"+abi), filepath.Join(stage, debianKernelFile)); err != nil {
		return fmt.Errorf("kernel package %s: %w", pkg, err)
	}
	// The package ships no modules.dep (its postinst runs depmod).
	if err := run(ctx, log, "", "depmod", "-b", tree, abi); err != nil {
		return err
	}
	if err := writeInitramfs(filepath.Join(stage, debianInitrdFile), filepath.Join(tree, "lib", "modules", abi), abi); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := writeInfo(filepath.Join(stage, kernelInfoFile), "package", pkg, "version", version); err != nil {
		return err
	}
	return os.RemoveAll(tree)
}

// extractVmlinux writes the uncompressed ELF kernel inside a bzImage (Debian
// compresses with xz). Booting it through its PVH entry point spares the
// guest decompressing itself, which costs seconds under TCG.
func extractVmlinux(ctx context.Context, bzImage, out string) error {
	data, err := os.ReadFile(bzImage)
	if err != nil {
		return err
	}
	i := bytes.Index(data, []byte("\xfd7zXZ\x00"))
	if i < 0 {
		return fmt.Errorf("%s: no xz stream (not an xz-compressed bzImage)", bzImage)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "xz", "--decompress", "--stdout", "--single-stream")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(data[i:]), f, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("xz: %w: %s", err, stderr.String())
	}
	head := make([]byte, 4)
	if _, err := f.ReadAt(head, 0); err != nil || string(head) != "\x7fELF" {
		return fmt.Errorf("%s: the xz stream is not an ELF kernel", bzImage)
	}
	return f.Close()
}

// downloadDeb returns the path of pkg_version in debs, downloading it with
// apt-get if needed.
func downloadDeb(ctx context.Context, debs, pkg, version string, log io.Writer) (string, error) {
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", err
	}
	pattern := filepath.Join(debs, pkg+"_"+strings.ReplaceAll(version, ":", "%3a")+"_*.deb")
	if m, _ := filepath.Glob(pattern); len(m) > 0 {
		return m[0], nil
	}
	if err := run(ctx, log, debs, "apt-get", "download", pkg+"="+version); err != nil {
		return "", err
	}
	m, _ := filepath.Glob(pattern)
	if len(m) == 0 {
		return "", fmt.Errorf("apt-get download %s=%s: no .deb in %s", pkg, version, debs)
	}
	return m[0], nil
}

// writeInitramfs writes an uncompressed newc initramfs: busybox-static, /init,
// the modules of initramfsModules with their dependencies under
// /lib/modules/<abi>, and /etc/hookci/modules listing them (relative to that
// directory) dependencies first.
func writeInitramfs(out, modDir, abi string) error {
	deps, err := readModulesDep(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return err
	}
	order, err := moduleLoadOrder(deps, initramfsModules)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	c := &cpioWriter{w: w}
	seen := map[string]bool{}
	for _, d := range []string{"bin", "dev", "proc", "sys", "newroot", "etc", "etc/hookci"} {
		seen[d] = true
		c.dir(d)
	}
	c.hostFile("bin/busybox", "/bin/busybox", 0o755)
	c.symlink("bin/sh", "busybox")
	c.file("init", 0o755, []byte(initScript))
	c.file("etc/hookci/modules", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	for _, m := range order {
		name := "lib/modules/" + abi + "/" + m
		c.mkdirs(name, seen)
		c.hostFile(name, filepath.Join(modDir, m), 0o644)
	}
	err = c.close()
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readModulesDep parses modules.dep: "path.ko: dep.ko dep2.ko".
func readModulesDep(file string) (map[string][]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		mod, rest, ok := strings.Cut(line, ":")
		if ok {
			deps[mod] = strings.Fields(rest)
		}
	}
	return deps, nil
}

// moduleLoadOrder returns the module files to insmod, each after its
// dependencies. Modules are named as modprobe does ('-' and '_' alike).
func moduleLoadOrder(deps map[string][]string, want []string) ([]string, error) {
	byName := map[string]string{}
	for p := range deps {
		byName[modName(p)] = p
	}
	var order []string
	done := map[string]bool{}
	var visit func(p string)
	visit = func(p string) {
		if done[p] {
			return
		}
		done[p] = true
		for _, d := range deps[p] {
			visit(d)
		}
		order = append(order, p)
	}
	for _, name := range want {
		p, ok := byName[modName(name)]
		if !ok {
			return nil, fmt.Errorf("module %s not in modules.dep (built in or missing)", name)
		}
		visit(p)
	}
	return order, nil
}

func modName(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz", ".ko"} {
		base = strings.TrimSuffix(base, ext)
	}
	return strings.ReplaceAll(base, "-", "_")
}

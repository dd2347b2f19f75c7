package image

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// kernelFiles names the files of a kernel layer directory.
const (
	minimalKernelFile = "vmlinux"     // KernelMinimal: uncompressed ELF, booted via PVH
	debianKernelFile  = "vmlinux"     // KernelDebian: uncompressed ELF extracted from Debian's vmlinuz
	debianInitrdFile  = "initrd.img"  // KernelDebian: uncompressed newc cpio
	kernelConfigFile  = "config"      // the full .config the minimal kernel was built with
	kernelInfoFile    = "kernel.info" // "KEY=VALUE" lines: package, version
)

// buildKernel builds the kernel layer of r into stage.
func buildKernel(ctx context.Context, stage string, r Recipe, debs string, log io.Writer) error {
	if r.KernelKind == KernelDebian {
		return buildDebianKernel(ctx, stage, r, debs, log)
	}
	return buildMinimalKernel(ctx, stage, r, log)
}

// buildMinimalKernel unpacks /usr/src/<KernelSource>.tar.xz into stage, builds
// vmlinux from allnoconfig plus the recipe's fragment, and keeps only
// vmlinux and its .config.
func buildMinimalKernel(ctx context.Context, stage string, r Recipe, log io.Writer) error {
	tarball := filepath.Join("/usr/src", r.KernelSource+".tar.xz")
	if _, err := os.Stat(tarball); err != nil {
		return fmt.Errorf("kernel source: %w (apt-get install %s)", err, r.KernelSource)
	}
	version, err := hostKernelVersion(KernelMinimal, r.KernelSource)
	if err != nil {
		return err
	}
	if err := run(ctx, log, stage, "tar", "-xJf", tarball); err != nil {
		return err
	}
	src := filepath.Join(stage, r.KernelSource)
	if err := configureKernel(ctx, src, r.KernelConfig, log); err != nil {
		return err
	}
	jobs := "-j" + strconv.Itoa(runtime.NumCPU())
	if err := run(ctx, log, src, "nice", "make", jobs, "vmlinux"); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(src, "vmlinux"), filepath.Join(stage, minimalKernelFile)); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(src, ".config"), filepath.Join(stage, kernelConfigFile)); err != nil {
		return err
	}
	if err := writeInfo(filepath.Join(stage, kernelInfoFile), "package", r.KernelSource, "version", version); err != nil {
		return err
	}
	return os.RemoveAll(src)
}

// configureKernel writes src/.config: allnoconfig, then the fragment merged
// in, then olddefconfig. It fails if an option the fragment enables did not
// survive (a dependency the fragment forgot), naming it.
func configureKernel(ctx context.Context, src, fragment string, log io.Writer) error {
	frag := filepath.Join(src, "hookci.config")
	if err := os.WriteFile(frag, []byte(fragment), 0o644); err != nil {
		return err
	}
	if err := run(ctx, log, src, "make", "allnoconfig"); err != nil {
		return err
	}
	if err := run(ctx, log, src, "scripts/kconfig/merge_config.sh", "-m", ".config", frag); err != nil {
		return err
	}
	if err := run(ctx, log, src, "make", "olddefconfig"); err != nil {
		return err
	}
	want := parseKernelConfig(fragment)
	got, err := readKernelConfig(filepath.Join(src, ".config"))
	if err != nil {
		return err
	}
	var missing []string
	for k, v := range want {
		if v != "n" && got[k] != v {
			missing = append(missing, fmt.Sprintf("%s=%s (got %q)", k, v, got[k]))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("kernel config: options dropped by olddefconfig (missing dependencies?): %s", strings.Join(missing, ", "))
	}
	return nil
}

// parseKernelConfig reads .config syntax: CONFIG_X=v, and "# CONFIG_X is not
// set" as "n".
func parseKernelConfig(text string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "# "); ok {
			if n, ok := strings.CutSuffix(name, " is not set"); ok && strings.HasPrefix(n, "CONFIG_") {
				m[n] = "n"
			}
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			m[k] = v
		}
	}
	return m
}

func readKernelConfig(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseKernelConfig(string(data)), nil
}

func writeInfo(path string, kv ...string) error {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s=%s\n", kv[i], kv[i+1])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

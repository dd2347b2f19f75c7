package nodebundle

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// need skips (or, with CI=true, fails) when what a test needs is missing.
func need(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %v (CI=true: not skipping)", what, err)
	}
	t.Skipf("%s: %v", what, err)
}

// runEmpty runs the bundle's node with script in a root holding nothing but
// the bundle at Mount (no libc, no loader, no /etc, no /usr), as bubblewrap
// makes it.
func runEmpty(t *testing.T, bundle, script string) string {
	t.Helper()
	_, err := exec.LookPath("bwrap")
	need(t, "bubblewrap (scripts/deps.sh)", err)
	cmd := exec.Command("bwrap", "--unshare-all", "--tmpfs", "/", "--ro-bind", bundle, Mount, "--proc", "/proc", "--dev", "/dev",
		"--clearenv", Node, "-e", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node in an empty root: %v\n%s", err, out)
	}
	return string(out)
}

const probe = `const fs = require('fs');
console.log('execPath ' + process.execPath);
console.log('version ' + process.version);
console.log('root ' + fs.readdirSync('/').sort().join(','));
console.log('intl ' + new Intl.NumberFormat('de-DE').format(1234.5));
console.log('sha ' + require('crypto').createHash('sha256').update('x').digest('hex').slice(0, 12));
console.log('zlib ' + require('zlib').gunzipSync(require('zlib').gzipSync('round trip')).toString());
console.log('fetch ' + typeof fetch);
`

// wantProbe checks what probe printed: node ran from the bundle in a root
// without any libc, with ICU, OpenSSL and zlib working.
func wantProbe(t *testing.T, out, version string) {
	t.Helper()
	for _, want := range []string{
		"execPath /__e/node20/bin/node\n", "version " + version + "\n", "root __e,dev,proc\n",
		"intl 1.234,5\n", "sha 2d711642b726\n", "zlib round trip\n", "fetch function\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("node printed no %q:\n%s", want, out)
		}
	}
}

// TestEnsureHostNode: the bundle of the host's node runs in a root with no
// libc at all; its binary's interpreter and RUNPATH name Mount; a second
// Ensure reuses it; its files are read-only.
func TestEnsureHostNode(t *testing.T) {
	node, err := HostNode()
	need(t, "a node on this host", err)
	_, err = exec.LookPath("patchelf")
	need(t, "patchelf (scripts/deps.sh)", err)
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(out))
	cache := t.TempDir()
	start := time.Now()
	dir, err := Ensure(context.Background(), cache, node)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bundle of %s (%s) made in %v", node, version, time.Since(start).Round(time.Millisecond))
	wantProbe(t, runEmpty(t, dir, probe), version)

	f, err := elf.Open(filepath.Join(dir, "bin", "node"))
	if err != nil {
		t.Fatal(err)
	}
	interp, err := interpreter(f)
	if err != nil {
		t.Fatal(err)
	}
	runpath, _ := f.DynString(elf.DT_RUNPATH)
	f.Close()
	if !strings.HasPrefix(interp, Mount+"/lib/ld-linux") || strings.Join(runpath, ":") != Mount+"/lib" {
		t.Errorf("interpreter %q, RUNPATH %q: want them under %s/lib", interp, runpath, Mount)
	}
	if _, err := os.Stat(filepath.Join(dir, "lib", "libc.so.6")); err != nil {
		t.Errorf("no libc in the bundle: %v", err)
	}
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s is writable (%v)", p, fi.Mode())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fi1, _ := os.Stat(filepath.Join(dir, "bin", "node"))
	again, err := Ensure(context.Background(), cache, node)
	if err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(filepath.Join(again, "bin", "node"))
	if again != dir || !os.SameFile(fi1, fi2) {
		t.Errorf("second Ensure made %s (first %s): want the cached one", again, dir)
	}
}

// TestEnsureRebuildsWhenNodeChanges: a changed node (here a copy of the
// host's rewritten in place, as an upgrade does) gets a new bundle.
func TestEnsureRebuildsWhenNodeChanges(t *testing.T) {
	node, err := HostNode()
	need(t, "a node on this host", err)
	_, err = exec.LookPath("patchelf")
	need(t, "patchelf (scripts/deps.sh)", err)
	data, err := os.ReadFile(node)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "node")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	first, err := Ensure(context.Background(), cache, bin)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(bin, later, later); err != nil {
		t.Fatal(err)
	}
	second, err := Ensure(context.Background(), cache, bin)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatalf("the changed node kept bundle %s", first)
	}
	for _, d := range []string{first, second} {
		if !ok(d) {
			t.Errorf("%s is not a bundle", d)
		}
	}
}

// TestBuildDebianNode: Debian's node (the guest image's: a small binary
// over libnode, ICU, OpenSSL, libuv…, and built-in modules it reads from
// /usr/share/nodejs at start) bundled from the image's root runs in an
// empty root; those modules come from the bundle.
func TestBuildDebianNode(t *testing.T) {
	dataDir := os.Getenv("HOOKCI_DATA_DIR")
	root := filepath.Join(dataDir, "image", "current", "rootfs")
	_, err := os.Stat(filepath.Join(root, "usr/bin/node"))
	if dataDir == "" && err == nil {
		err = os.ErrNotExist
	}
	need(t, "the guest image (HOOKCI_DATA_DIR, scripts/build-image.sh)", err)
	_, err = exec.LookPath("patchelf")
	need(t, "patchelf (scripts/deps.sh)", err)
	dst := filepath.Join(t.TempDir(), "bundle")
	start := time.Now()
	if err := Build(context.Background(), root, "/usr/bin/node", dst); err != nil {
		t.Fatal(err)
	}
	t.Logf("bundle of the guest image's node made in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { removeAll(dst) })
	version, err := os.ReadFile(filepath.Join(dst, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	wantProbe(t, runEmpty(t, dst, probe), strings.TrimSpace(string(version)))
	sources, err := os.ReadFile(filepath.Join(dst, "SOURCES"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"libnode.so.", "libicudata.so.", "share/cjs-module-lexer/lexer.js /usr/share/nodejs/cjs-module-lexer/lexer.js"} {
		if !strings.Contains(string(sources), want) {
			t.Errorf("SOURCES lacks %q:\n%s", want, sources)
		}
	}
}

// TestResolveIn: links are followed inside the root, an absolute one too,
// and ".." stops at the root.
func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"usr/lib", "lib64"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "usr/lib/ld.so"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"lib": "usr/lib", "lib64/ld.so": "/lib/ld.so", "usr/lib/up": "../../../../usr/lib/ld.so", "usr/lib/loop": "loop"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for in, want := range map[string]string{"/lib64/ld.so": "/usr/lib/ld.so", "/lib/up": "/usr/lib/ld.so", "/usr/lib/ld.so": "/usr/lib/ld.so"} {
		got, err := resolveIn(root, in)
		if err != nil || got != want {
			t.Errorf("resolveIn(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := resolveIn(root, "/usr/lib/loop"); err == nil {
		t.Error("a link loop resolved")
	}
	if _, err := resolveIn(root, "/etc/passwd"); err == nil {
		t.Error("the host's /etc/passwd resolved inside the root")
	}
}

// TestBuildErrors: a missing node or one that is not ELF fails naming it.
func TestBuildErrors(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/bin/node"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{"/usr/bin/node", "/usr/bin/none"} {
		err := Build(context.Background(), root, bin, filepath.Join(t.TempDir(), "b"))
		if err == nil || !strings.Contains(err.Error(), bin) {
			t.Errorf("Build(%s) = %v, want an error naming it", bin, err)
		}
	}
}

// TestEnsureWithoutPatchelf: without patchelf the error says what to
// install (a job container's JavaScript step shows it).
func TestEnsureWithoutPatchelf(t *testing.T) {
	node, err := HostNode()
	need(t, "a node on this host", err)
	t.Setenv("PATH", t.TempDir())
	cache := t.TempDir()
	_, err = Ensure(context.Background(), cache, node)
	if err == nil || !strings.Contains(err.Error(), "patchelf is not installed (Debian package patchelf") {
		t.Fatalf("Ensure without patchelf: %v", err)
	}
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if e.Name() != ".lock" {
			t.Errorf("left %s in the cache", e.Name())
		}
	}
}

package microvm

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/image"
	"github.com/hookci/hookci/internal/sandbox"
)

// testImage is the guest image VM tests boot.
type testImage struct {
	kernel, initrd, rootDisk string
}

// findTestImage locates a guest image: HOOKCI_MICROVM_KERNEL,
// HOOKCI_MICROVM_ROOTDISK and optionally HOOKCI_MICROVM_INITRD (modules for
// a modular kernel). It skips the test when there is none or QEMU is missing,
// and fails instead when CI=true.
func findTestImage(t *testing.T) testImage {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if testing.Short() {
		t.Skip("VM test: skipped with -short")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		skip("VM test needs qemu-system-x86_64 (apt-get install qemu-system-x86): %v", err)
	}
	img := testImage{
		kernel:   os.Getenv("HOOKCI_MICROVM_KERNEL"),
		initrd:   os.Getenv("HOOKCI_MICROVM_INITRD"),
		rootDisk: os.Getenv("HOOKCI_MICROVM_ROOTDISK"),
	}
	if img.kernel == "" || img.rootDisk == "" {
		img = latestImage()
	}
	if img.kernel == "" || img.rootDisk == "" {
		skip("VM test needs a guest image: set HOOKCI_MICROVM_KERNEL and HOOKCI_MICROVM_ROOTDISK (and HOOKCI_MICROVM_INITRD for a modular kernel), or build one with `hookci image build` (looked up in $HOOKCI_DATA_DIR, default ~/.cache/hookci)")
	}
	for _, p := range []string{img.kernel, img.rootDisk, img.initrd} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			skip("VM test: guest image file missing: %v", err)
		}
	}
	return img
}

// newTestBackend returns a backend on a fresh WorkDir, closed with the test.
func newTestBackend(t *testing.T, mod func(*Config)) *Backend {
	t.Helper()
	img := findTestImage(t)
	cfg := Config{
		AgentPath:        agenttest.Binary(t),
		WorkDir:          shortTempDir(t),
		Kernel:           img.kernel,
		Initrd:           img.initrd,
		RootDisk:         img.rootDisk,
		DefaultCPUs:      1,
		DefaultMemoryMiB: 512,
		Logger:           slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	if a := resolvedAccel.Load(); a != nil {
		cfg.Accel = *a // probed by an earlier test of this process
	}
	if mod != nil {
		mod(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	a := b.Accel()
	resolvedAccel.CompareAndSwap(nil, &a)
	t.Logf("accelerator: %s", a)
	return b
}

// resolvedAccel caches the first backend's accelerator verdict so that only
// one test pays for the KVM probe.
var resolvedAccel atomic.Pointer[string]

// shortTempDir is a temp dir with a short path: unix socket paths are
// limited to 107 bytes and t.TempDir's are long.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "mvm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// startVM starts a sandbox and closes it with the test.
func startVM(t *testing.T, b *Backend, spec sandbox.Spec) *sandbox.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inst, err := b.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { inst.Close() })
	return inst
}

// vmDir is the host directory of a running sandbox.
func vmDir(b *Backend, id string) string { return filepath.Join(b.cfg.WorkDir, "vms", id) }

// latestImage returns the image `hookci image build` made last, if any.
func latestImage() testImage {
	dataDir := os.Getenv("HOOKCI_DATA_DIR")
	if dataDir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return testImage{}
		}
		dataDir = filepath.Join(cache, "hookci")
	}
	img, err := image.Latest(dataDir)
	if err != nil {
		return testImage{}
	}
	return testImage{kernel: img.Kernel, initrd: img.Initrd, rootDisk: img.RootDisk}
}

package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/config"
)

// imageTestDataDir returns the data directory whose image cache the slow
// tests use (HOOKCI_DATA_DIR, else the configured default), so that an image
// built by scripts/build-image.sh is reused, or skips unless HOOKCI_IMAGE_TEST=1
// or CI=true: a cold build downloads packages and compiles a kernel.
func imageTestDataDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("HOOKCI_IMAGE_TEST") != "1" && os.Getenv("CI") != "true" {
		t.Skip("slow: builds the guest image (minutes when not cached); set HOOKCI_IMAGE_TEST=1 to run")
	}
	if os.Geteuid() != 0 {
		t.Fatal("building the guest image needs root (debootstrap, chroot)")
	}
	for _, tool := range []string{"debootstrap", "mkfs.ext4", "qemu-system-x86_64", "busybox", "patchelf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/build-image.sh, which installs the image build dependencies", tool)
		}
	}
	if d := os.Getenv("HOOKCI_DATA_DIR"); d != "" {
		return d
	}
	return config.Default().DataDir
}

// logWriter sends build progress to t.Log, line by line.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if strings.HasPrefix(l, "image:") {
			w.t.Log(l)
		}
	}
	return len(p), nil
}

func buildTestImage(t *testing.T, kind KernelKind) (img *Image, r Recipe, dataDir string) {
	t.Helper()
	dataDir = imageTestDataDir(t)
	r = DefaultRecipe()
	r.KernelKind = kind
	r.AgentPath = agenttest.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	img, err := Build(ctx, dataDir, r, logWriter{t})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return img, r, dataDir
}

func TestBuildMinimal(t *testing.T) {
	img, r, dataDir := buildTestImage(t, KernelMinimal)
	if img.KernelKind != KernelMinimal || img.Initrd != "" || filepath.Base(img.Kernel) != "vmlinux" {
		t.Errorf("got kernel %s (%s), initrd %q; want vmlinux, minimal, no initrd", img.Kernel, img.KernelKind, img.Initrd)
	}
	checkImageFiles(t, img, r)

	again, err := Build(context.Background(), dataDir, r, nil)
	if err != nil || again.Dir != img.Dir {
		t.Errorf("second Build: got %v, %v; want the cached image %s", again, err, img.Dir)
	}
	located, err := Locate(dataDir, r)
	if err != nil || located.Dir != img.Dir || located.RootDisk != img.RootDisk {
		t.Errorf("Locate: got %+v, %v; want %s", located, err, img.Dir)
	}
	if latest, err := Latest(dataDir); err != nil {
		t.Logf("Latest: %v (no `hookci image build` has run here)", err)
	} else if latest.KernelKind != KernelMinimal {
		t.Errorf("Latest: got a %s kernel image; the image tests must not change it", latest.KernelKind)
	}
	other := r
	other.Packages = append([]string{"hello"}, r.Packages...)
	if _, err := Locate(dataDir, other); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("Locate of another package list: got %v, want ErrNotBuilt", err)
	}
	bootTest(t, img)
}

func TestBuildDebianKernel(t *testing.T) {
	img, r, _ := buildTestImage(t, KernelDebian)
	if img.KernelKind != KernelDebian || img.Initrd == "" || filepath.Base(img.Kernel) != "vmlinux" {
		t.Errorf("got kernel %s (%s), initrd %q; want vmlinux, debian, an initrd", img.Kernel, img.KernelKind, img.Initrd)
	}
	checkImageFiles(t, img, r)
	bootTest(t, img)
}

// checkImageFiles looks inside the built root: the agent, the tools the
// default package list promises, the runner user, and what trimming removed.
func checkImageFiles(t *testing.T, img *Image, r Recipe) {
	t.Helper()
	for _, p := range []string{img.Kernel, img.RootDisk, img.Initrd} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v (want a non-empty file)", p, err)
		}
	}
	want, _ := os.ReadFile(r.AgentPath)
	got, err := os.ReadFile(filepath.Join(img.RootFSDir, GuestAgentPath))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("agent in rootfs: %v, equal=%v; want the --agent binary", err, bytes.Equal(got, want))
	}
	for _, bin := range []string{"bash", "git", "curl", "gcc", "make", "python3", "node", "jq", "unzip", "xz", "zstd", "sudo", "ip"} {
		if _, err := os.Stat(filepath.Join(img.RootFSDir, "usr/bin", bin)); err != nil {
			if _, err2 := os.Stat(filepath.Join(img.RootFSDir, "usr/sbin", bin)); err2 != nil {
				t.Errorf("rootfs lacks %s: %v", bin, err)
			}
		}
	}
	// The node bundle for job containers (package nodebundle, whose tests
	// run one made from this root in a root without libc).
	if img.NodeBundle != GuestNodeBundle {
		t.Errorf("image.json NodeBundle %q, want %q", img.NodeBundle, GuestNodeBundle)
	}
	for _, f := range []string{"bin/node", "lib/ld-linux-x86-64.so.2", "lib/libc.so.6", "lib/libnode.so.108", "share/cjs-module-lexer/lexer.js", "VERSION"} {
		if _, err := os.Stat(filepath.Join(img.RootFSDir, GuestNodeBundle, f)); err != nil {
			t.Errorf("node bundle: %v", err)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(img.RootFSDir, "etc/passwd"))
	if !strings.Contains(string(passwd), "runner:x:1001:1001::/home/runner:/bin/bash") {
		t.Errorf("/etc/passwd has no runner user:\n%s", passwd)
	}
	if host, _ := os.ReadFile(filepath.Join(img.RootFSDir, "etc/hostname")); string(host) != r.Hostname+"\n" {
		t.Errorf("/etc/hostname: got %q, want %q", host, r.Hostname+"\n")
	}
	for _, pat := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_Packages", "usr/share/man/man1/*"} {
		if m, _ := filepath.Glob(filepath.Join(img.RootFSDir, pat)); len(m) > 0 {
			t.Errorf("rootfs still has %d files matching %s", len(m), pat)
		}
	}
}

// bootTest boots the image under TCG (always available) to user space, and
// logs whether KVM can do the same on this host.
func bootTest(t *testing.T, img *Image) {
	t.Helper()
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatal(err)
	}
	res, err := BootCheck(context.Background(), qemu, img, AccelTCG, 2*time.Minute)
	if err != nil {
		t.Fatalf("BootCheck tcg: %v", err)
	}
	if !res.OK {
		t.Fatalf("guest did not reach user space under TCG; console:\n%s", res.Console)
	}
	if res.Uname == "" {
		t.Errorf("guest printed no kernel release")
	}
	t.Logf("%s kernel %s: user space in %s under TCG", img.KernelKind, res.Uname, res.Elapsed.Round(time.Millisecond))
	if _, err := os.Stat("/dev/kvm"); err == nil {
		kvm, err := BootCheck(context.Background(), qemu, img, AccelKVM, 20*time.Second)
		t.Logf("under KVM: ok=%v in %s, err=%v; console tail: %s", kvm.OK, kvm.Elapsed.Round(time.Millisecond), err, lastLine(kvm.Console))
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}

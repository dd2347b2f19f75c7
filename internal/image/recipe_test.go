package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixedVersions stands in for dpkg/apt so that key tests do not depend on
// what the host has installed.
func fixedVersions(kind KernelKind, pkg string) (string, error) {
	return pkg + "=6.1.192-2", nil
}

func writeAgent(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hookci-agent")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRecipeKeys(t *testing.T) {
	agentA := writeAgent(t, "agent A")
	agentB := writeAgent(t, "agent B")
	base := DefaultRecipe()
	base.AgentPath = agentA

	tests := []struct {
		name                            string
		change                          func(r *Recipe)
		kernelSame, baseSame, imageSame bool
	}{
		{"nothing", func(r *Recipe) {}, true, true, true},
		{"mirror is transport only", func(r *Recipe) { r.Mirror = "http://example.invalid/debian" }, true, true, true},
		{"agent at another path, same content", func(r *Recipe) { r.AgentPath = writeAgent(t, "agent A") }, true, true, true},
		{"package order", func(r *Recipe) {
			r.Packages = append([]string{}, r.Packages...)
			r.Packages[0], r.Packages[len(r.Packages)-1] = r.Packages[len(r.Packages)-1], r.Packages[0]
		}, true, true, true},
		{"duplicate package", func(r *Recipe) { r.Packages = append(append([]string{}, r.Packages...), "git") }, true, true, true},
		{"agent content", func(r *Recipe) { r.AgentPath = agentB }, true, true, false},
		{"package added", func(r *Recipe) { r.Packages = append(append([]string{}, r.Packages...), "golang-go") }, true, false, false},
		{"package removed", func(r *Recipe) { r.Packages = r.Packages[1:] }, true, false, false},
		{"suite", func(r *Recipe) { r.Suite = "trixie" }, true, false, false},
		{"hostname", func(r *Recipe) { r.Hostname = "other" }, true, false, false},
		{"kernel config", func(r *Recipe) { r.KernelConfig += "CONFIG_IPV6=n\n" }, false, true, false},
		{"kernel kind", func(r *Recipe) { r.KernelKind = KernelDebian }, false, true, false},
		{"kernel source", func(r *Recipe) { r.KernelSource = "linux-source-6.12" }, false, true, false},
	}
	want, err := base.keys(fixedVersions)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			r.Packages = append([]string{}, base.Packages...)
			tt.change(&r)
			got, err := r.keys(fixedVersions)
			if err != nil {
				t.Fatal(err)
			}
			check := func(layer, got, want string, same bool) {
				if (got == want) != same {
					t.Errorf("%s key: got %s, base %s; want same=%v", layer, got[:12], want[:12], same)
				}
			}
			check("kernel", got.Kernel, want.Kernel, tt.kernelSame)
			check("base", got.Base, want.Base, tt.baseSame)
			check("recipe", got.Recipe, want.Recipe, tt.imageSame)
		})
	}
}

func TestRecipeKeysKernelVersion(t *testing.T) {
	r := DefaultRecipe()
	r.AgentPath = writeAgent(t, "agent")
	a, err := r.keys(func(KernelKind, string) (string, error) { return "6.1.192-2", nil })
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.keys(func(KernelKind, string) (string, error) { return "6.1.193-1", nil })
	if err != nil {
		t.Fatal(err)
	}
	if a.Kernel == b.Kernel || a.Recipe == b.Recipe {
		t.Errorf("a new kernel source version must change the kernel and recipe keys")
	}
	if a.Base != b.Base {
		t.Errorf("a new kernel source version must not change the base key")
	}
}

func TestRecipeValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(r *Recipe)
		wantErr string
	}{
		{"default", func(r *Recipe) {}, ""},
		{"debian kernel", func(r *Recipe) { r.KernelKind = KernelDebian }, ""},
		{"bad suite", func(r *Recipe) { r.Suite = "Bookworm; rm" }, "invalid Debian suite"},
		{"bad package", func(r *Recipe) { r.Packages = []string{"git", "--force"} }, "invalid Debian package name"},
		{"empty package", func(r *Recipe) { r.Packages = []string{""} }, "invalid Debian package name"},
		{"bad hostname", func(r *Recipe) { r.Hostname = "a_b" }, "invalid hostname"},
		{"kind", func(r *Recipe) { r.KernelKind = "bzimage" }, "unknown kernel kind"},
		{"empty config", func(r *Recipe) { r.KernelConfig = " \n" }, "empty kernel config"},
		{"bad source", func(r *Recipe) { r.KernelSource = "../x" }, "invalid kernel source package"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := DefaultRecipe()
			tt.change(&r)
			err := r.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRecipeKeysMissingAgent(t *testing.T) {
	r := DefaultRecipe()
	r.AgentPath = filepath.Join(t.TempDir(), "nope")
	if _, err := r.keys(fixedVersions); err == nil || !strings.Contains(err.Error(), "agent binary") {
		t.Errorf("got error %v, want one about the agent binary", err)
	}
}

func TestDefaultKernelConfigEnablesVirtio(t *testing.T) {
	cfg := parseKernelConfig(DefaultKernelConfig())
	for _, opt := range []string{
		"CONFIG_VIRTIO_MMIO", "CONFIG_VIRTIO_PCI", "CONFIG_VIRTIO_BLK", "CONFIG_VIRTIO_CONSOLE",
		"CONFIG_VIRTIO_NET", "CONFIG_VIRTIO_VSOCKETS", "CONFIG_EXT4_FS", "CONFIG_OVERLAY_FS",
		"CONFIG_TMPFS", "CONFIG_DEVTMPFS", "CONFIG_ACPI", "CONFIG_SERIAL_8250_CONSOLE",
		"CONFIG_RTC_DRV_CMOS", "CONFIG_PVH", "CONFIG_CGROUPS", "CONFIG_NAMESPACES",
	} {
		if got := cfg[opt]; got != "y" {
			t.Errorf("%s: got %q, want y", opt, got)
		}
	}
	if got := cfg["CONFIG_MODULES"]; got != "n" {
		t.Errorf("CONFIG_MODULES: got %q, want n (no modules, no initramfs)", got)
	}
}

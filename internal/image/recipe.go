package image

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/hookci/hookci/internal/agent"
)

// KernelKind says which guest kernel an image boots.
type KernelKind string

const (
	// KernelMinimal is built from Debian's linux-source package with the
	// configuration fragment in kernel/config-fragment: every driver built in,
	// no modules, no initramfs, uncompressed vmlinux (booted through PVH).
	KernelMinimal KernelKind = "minimal"
	// KernelDebian is Debian's stock linux-image-amd64 vmlinuz with a small
	// initramfs that loads the virtio, ext4 and overlay modules.
	KernelDebian KernelKind = "debian"
)

// GuestAgentPath is where the agent is installed inside the root filesystem.
const GuestAgentPath = "/usr/local/bin/hookci-agent"

// GuestNodeBundle is where the image layer puts the bundle of the guest's
// node that the microVM binds into job containers (package nodebundle).
const GuestNodeBundle = agent.GuestNodeBundle

// Builder versions: bump one when the code building that layer changes in a
// way that changes its output, so that only that layer (and those above it)
// is rebuilt.
const (
	kernelBuilderVersion = "1"
	baseBuilderVersion   = "1"
	imageBuilderVersion  = "2" // 2: the node bundle for job containers (GuestNodeBundle)
)

//go:embed kernel/config-fragment
var defaultKernelConfig string

// DefaultKernelConfig returns the kernel configuration fragment kept in the
// repository (internal/image/kernel/config-fragment).
func DefaultKernelConfig() string { return defaultKernelConfig }

// Recipe says what goes into a guest image. Everything in it except Mirror and
// AgentPath's location is part of the image's hash (the agent binary's
// content is).
type Recipe struct {
	// Suite is the Debian suite of the root filesystem ("bookworm").
	Suite string
	// Mirror is the Debian archive URL. "" means the first Debian archive
	// entry for Suite in /etc/apt/sources.list and /etc/apt/sources.list.d.
	// It is a transport detail and not part of the hash.
	Mirror string
	// Packages are installed on top of debootstrap's minbase variant, with
	// their dependencies (not their recommendations). Order does not matter.
	Packages []string
	// Hostname is the guest's /etc/hostname.
	Hostname string
	// KernelKind chooses the guest kernel.
	KernelKind KernelKind
	// KernelConfig is the configuration fragment applied on top of
	// allnoconfig for KernelMinimal (ignored for KernelDebian).
	KernelConfig string
	// KernelSource is the Debian package whose /usr/src tarball the minimal
	// kernel is built from ("linux-source-6.1"); its installed version is
	// part of the kernel key.
	KernelSource string
	// DebianKernel is the Debian metapackage whose kernel KernelDebian boots
	// ("linux-image-amd64"); the version it points to is part of the key.
	DebianKernel string
	// AgentPath is the host path of the static hookci-agent binary copied to
	// GuestAgentPath. Its content's SHA-256 is part of the recipe hash, but
	// not of the kernel or base root filesystem keys.
	AgentPath string
}

// DefaultPackages is the package list of DefaultRecipe.
var DefaultPackages = []string{
	"bash", "build-essential", "ca-certificates", "coreutils", "curl", "file",
	"git", "gzip", "iproute2", "jq", "less", "nodejs", "openssh-client",
	"procps", "python3", "sudo", "tar", "unzip", "xz-utils", "zstd",
}

// DefaultRecipe returns the recipe of the standard hookci guest image. The
// caller sets AgentPath.
func DefaultRecipe() Recipe {
	return Recipe{
		Suite:        "bookworm",
		Packages:     slices.Clone(DefaultPackages),
		Hostname:     "hookci",
		KernelKind:   KernelMinimal,
		KernelConfig: defaultKernelConfig,
		KernelSource: "linux-source-6.1",
		DebianKernel: "linux-image-amd64",
	}
}

var (
	pkgNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	suiteRE    = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// Validate reports the first problem that would make the recipe unbuildable.
// It does not look at the agent binary (see Build).
func (r Recipe) Validate() error {
	if !suiteRE.MatchString(r.Suite) {
		return fmt.Errorf("image recipe: invalid Debian suite %q", r.Suite)
	}
	if !hostnameRE.MatchString(r.Hostname) {
		return fmt.Errorf("image recipe: invalid hostname %q", r.Hostname)
	}
	for _, p := range r.Packages {
		if !pkgNameRE.MatchString(p) {
			return fmt.Errorf("image recipe: invalid Debian package name %q", p)
		}
	}
	switch r.KernelKind {
	case KernelMinimal:
		if strings.TrimSpace(r.KernelConfig) == "" {
			return errors.New("image recipe: empty kernel config fragment")
		}
		if !pkgNameRE.MatchString(r.KernelSource) {
			return fmt.Errorf("image recipe: invalid kernel source package %q", r.KernelSource)
		}
	case KernelDebian:
		if !pkgNameRE.MatchString(r.DebianKernel) {
			return fmt.Errorf("image recipe: invalid kernel package %q", r.DebianKernel)
		}
	default:
		return fmt.Errorf("image recipe: unknown kernel kind %q (want %q or %q)", r.KernelKind, KernelMinimal, KernelDebian)
	}
	return nil
}

// Keys are the cache keys of an image's layers (hex SHA-256).
type Keys struct {
	Kernel string // kernel layer: kind, config, source package version
	Base   string // base root filesystem: suite, package list, hostname
	Recipe string // the image: Kernel + Base + agent binary content
}

// pkgVersionFunc returns the version of a Debian package that a layer depends
// on (the installed linux-source, the candidate linux-image).
type pkgVersionFunc func(kind KernelKind, pkg string) (string, error)

// Keys computes the recipe's layer keys. It reads the agent binary and asks
// dpkg/apt (locally, no network) for the kernel package's version.
func (r Recipe) Keys() (Keys, error) {
	return r.keys(hostKernelVersion)
}

func (r Recipe) keys(version pkgVersionFunc) (Keys, error) {
	if err := r.Validate(); err != nil {
		return Keys{}, err
	}
	agent, err := fileSHA256(r.AgentPath)
	if err != nil {
		return Keys{}, fmt.Errorf("image recipe: agent binary: %w", err)
	}
	kernel, err := r.kernelKey(version)
	if err != nil {
		return Keys{}, err
	}
	base := r.baseKey()
	return Keys{
		Kernel: kernel,
		Base:   base,
		Recipe: hashFields("image", imageBuilderVersion, kernel, base, agent),
	}, nil
}

func (r Recipe) kernelKey(version pkgVersionFunc) (string, error) {
	switch r.KernelKind {
	case KernelMinimal:
		v, err := version(r.KernelKind, r.KernelSource)
		if err != nil {
			return "", err
		}
		return hashFields("kernel-minimal", kernelBuilderVersion, r.KernelSource, v, r.KernelConfig), nil
	default:
		v, err := version(r.KernelKind, r.DebianKernel)
		if err != nil {
			return "", err
		}
		return hashFields("kernel-debian", kernelBuilderVersion, initramfsVersion, v, strings.Join(initramfsModules, ",")), nil
	}
}

func (r Recipe) baseKey() string {
	pkgs := slices.Clone(r.Packages)
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	return hashFields("base", baseBuilderVersion, r.Suite, r.Hostname, strings.Join(pkgs, ","))
}

// hashFields hashes length-prefixed fields so that no two field lists collide.
func hashFields(fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fileSHA256(path string) (string, error) {
	if path == "" {
		return "", errors.New("no path given")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

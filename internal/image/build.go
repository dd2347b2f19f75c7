package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/nodebundle"
)

// ErrNotBuilt is returned (wrapped) by Locate and Latest when the image is
// not in the cache.
var ErrNotBuilt = errors.New("guest image not built (run: hookci image build)")

// Image is a built guest image. Every path is absolute and inside Dir; the
// files are read-only by convention (shared by every sandbox).
type Image struct {
	Dir        string     // DATA_DIR/image/<RecipeHash>
	Kernel     string     // vmlinux: uncompressed ELF with a PVH entry (QEMU -kernel boots it directly)
	KernelKind KernelKind // minimal or debian
	Initrd     string     // "" for KernelMinimal
	RootFSDir  string     // the root filesystem as a directory (namespace sandbox's read-only root)
	RootDisk   string     // ext4 image of RootFSDir, for a read-only virtio-blk root
	Cmdline    string     // suggested kernel command line, without init= (append "init=" + GuestAgentPath)
	RecipeHash string     // Keys.Recipe
	Keys       Keys       // the layer keys
	Built      time.Time  // when the image layer was made
	// NodeBundle is the guest path of the self-contained node bundle made
	// from the image's node (package nodebundle), which the microVM binds
	// into job containers; "" when the image has none (no node in its
	// packages, or built before bundles were).
	NodeBundle string `json:",omitempty"`
}

// Layout of an image directory.
const (
	imageRootFS = "rootfs"
	imageDisk   = "root.ext4"
	imageJSON   = "image.json"
	currentLink = "current"
)

// Cmdlines suggested for each kernel kind. The root disk is the first
// virtio-blk device; the console is the first 8250 UART (ttyS0).
const (
	minimalCmdline = "console=ttyS0 root=/dev/vda rootfstype=ext4 ro reboot=t panic=-1 quiet"
	debianCmdline  = "console=ttyS0 root=/dev/vda rootfstype=ext4 ro reboot=t panic=-1 quiet"
)

// Build returns the image of r under dataDir, building whatever layer is
// missing: the kernel and the base root filesystem in parallel, then the
// image (base + agent, and its ext4 disk). A cached image returns at once.
// Progress goes to log. Concurrent callers are safe.
func Build(ctx context.Context, dataDir string, r Recipe, log io.Writer) (*Image, error) {
	if log == nil {
		log = io.Discard
	}
	// Hash and install the same bytes: the agent binary at r.AgentPath may be
	// replaced while the image is assembled (a rebuild by another process),
	// and an image whose agent is not the one its key names would stay cached.
	snap, err := snapshotAgent(dataDir, r.AgentPath)
	if err != nil {
		return nil, err
	}
	defer os.Remove(snap)
	r.AgentPath = snap
	keys, err := r.Keys()
	if err != nil {
		return nil, err
	}
	cache := layerCache{root: filepath.Join(dataDir, "image")}
	if img, err := readImage(cache.path("image", keys.Recipe)); err == nil {
		return img, nil
	}
	debs := filepath.Join(cache.root, "debs")
	var kernelDir, baseDir string
	var kernelErr, baseErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		kernelDir, kernelErr = cache.ensure(ctx, "kernel", keys.Kernel, log, func(ctx context.Context, stage string) error {
			return buildKernel(ctx, stage, r, debs, log)
		})
	})
	wg.Go(func() {
		baseDir, baseErr = cache.ensure(ctx, "base", keys.Base, log, func(ctx context.Context, stage string) error {
			mirror := r.Mirror
			if mirror == "" {
				m, err := hostMirror(r.Suite)
				if err != nil {
					return err
				}
				mirror = m
			}
			unlock, err := cache.lock(ctx, "debs") // debootstrap's package cache is shared
			if err != nil {
				return err
			}
			defer unlock()
			return buildBase(ctx, stage, r, mirror, debs, log)
		})
	})
	wg.Wait()
	if err := errors.Join(kernelErr, baseErr); err != nil {
		return nil, err
	}
	dir, err := cache.ensure(ctx, "image", keys.Recipe, log, func(ctx context.Context, stage string) error {
		return assemble(ctx, stage, r, keys, kernelDir, baseDir, log)
	})
	if err != nil {
		return nil, err
	}
	return readImage(dir)
}

// assemble makes the image layer in stage: the base root hard-linked, the
// agent installed, the kernel files linked, the ext4 disk and image.json.
func assemble(ctx context.Context, stage string, r Recipe, keys Keys, kernelDir, baseDir string, log io.Writer) error {
	root := filepath.Join(stage, imageRootFS)
	if err := linkTree(ctx, filepath.Join(baseDir, "rootfs"), root, log); err != nil {
		return err
	}
	if err := installFile(r.AgentPath, filepath.Join(root, GuestAgentPath), 0o755); err != nil {
		return fmt.Errorf("install agent: %w", err)
	}
	img := Image{KernelKind: r.KernelKind, RootFSDir: imageRootFS, RootDisk: imageDisk, RecipeHash: keys.Recipe, Keys: keys, Built: time.Now().UTC()}
	// JavaScript actions in a job container run with a self-contained copy
	// of the guest's node: Debian's links libnode, ICU, OpenSSL… that a
	// container image need not have.
	if _, err := os.Stat(filepath.Join(root, "usr/bin/node")); err == nil {
		fmt.Fprintf(log, "image: node bundle for containers at %s\n", GuestNodeBundle)
		if err := nodebundle.Build(ctx, root, "/usr/bin/node", filepath.Join(root, GuestNodeBundle)); err != nil {
			return fmt.Errorf("node bundle: %w", err)
		}
		img.NodeBundle = GuestNodeBundle
	}
	kernelFiles := []string{minimalKernelFile}
	img.Kernel, img.Cmdline = minimalKernelFile, minimalCmdline
	if r.KernelKind == KernelDebian {
		kernelFiles = []string{debianKernelFile, debianInitrdFile}
		img.Kernel, img.Initrd, img.Cmdline = debianKernelFile, debianInitrdFile, debianCmdline
	}
	for _, f := range append(kernelFiles, kernelInfoFile) {
		if err := linkOrCopy(filepath.Join(kernelDir, f), filepath.Join(stage, f)); err != nil {
			return err
		}
	}
	if err := makeDisk(ctx, root, filepath.Join(stage, imageDisk), log); err != nil {
		return err
	}
	data, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(stage, imageJSON), append(data, '\n'), 0o644)
}

// Locate returns the image of r if it is in the cache, without building
// anything; otherwise an error wrapping ErrNotBuilt.
func Locate(dataDir string, r Recipe) (*Image, error) {
	keys, err := r.Keys()
	if err != nil {
		return nil, err
	}
	return readImage(layerCache{root: filepath.Join(dataDir, "image")}.path("image", keys.Recipe))
}

// Latest returns the image last made current (by SetCurrent, which
// `hookci image build` calls) under dataDir, whatever its recipe: for tools
// that need "the" image without knowing which agent binary it holds.
func Latest(dataDir string) (*Image, error) {
	dir, err := filepath.EvalSymlinks(filepath.Join(dataDir, "image", currentLink))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotBuilt, err)
	}
	return readImage(dir)
}

// readImage loads dir/image.json and makes its paths absolute.
func readImage(dir string) (*Image, error) {
	data, err := os.ReadFile(filepath.Join(dir, imageJSON))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s", ErrNotBuilt, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	var img Image
	if err := json.Unmarshal(data, &img); err != nil {
		return nil, fmt.Errorf("read image %s: %w", dir, err)
	}
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		return filepath.Join(dir, p)
	}
	img.Dir = dir
	img.Kernel, img.Initrd = abs(img.Kernel), abs(img.Initrd)
	img.RootFSDir, img.RootDisk = abs(img.RootFSDir), abs(img.RootDisk)
	return &img, nil
}

// SetCurrent makes img the one Latest returns: DATA_DIR/image/current
// becomes a symlink to its directory, replaced atomically.
func SetCurrent(dataDir string, img *Image) error {
	return setCurrent(layerCache{root: filepath.Join(dataDir, "image")}, img.RecipeHash)
}

func setCurrent(c layerCache, hash string) error {
	link := filepath.Join(c.root, currentLink)
	if target, err := os.Readlink(link); err == nil && target == hash {
		return nil
	}
	tmp := fmt.Sprintf("%s.tmp%d", link, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(hash, tmp); err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	return nil
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return installFile(src, dst, 0o644)
}

// snapshotAgent copies the agent binary to a private file under dataDir.
func snapshotAgent(dataDir, agentPath string) (string, error) {
	src, err := os.ReadFile(agentPath)
	if err != nil {
		return "", fmt.Errorf("agent binary: %w", err)
	}
	dir := filepath.Join(dataDir, "image")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "agent-*")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(src); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

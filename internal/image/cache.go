package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hookci/hookci/internal/mountinfo"
)

// layerCache is the image cache under DATA_DIR/image.
type layerCache struct {
	root string
}

func (c layerCache) path(kind, key string) string {
	if kind == "image" {
		return filepath.Join(c.root, key)
	}
	return filepath.Join(c.root, kind, key)
}

// ensure returns the directory of layer kind/key, building it with build (into
// a fresh staging directory) if it does not exist yet. A layer directory only
// ever appears complete: it is renamed into place after build succeeds.
// Builders of the same layer serialize on a flock; ctx bounds the wait.
func (c layerCache) ensure(ctx context.Context, kind, key string, log io.Writer, build func(ctx context.Context, stage string) error) (string, error) {
	final := c.path(kind, key)
	if isDir(final) {
		return final, nil
	}
	unlock, err := c.lock(ctx, kind+"-"+key)
	if err != nil {
		return "", err
	}
	defer unlock()
	if isDir(final) { // built by someone else while we waited
		return final, nil
	}
	tmp := filepath.Join(c.root, "tmp")
	prefix := kind + "-" + key[:16] + "-"
	if err := removeStale(tmp, prefix); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	stage, err := os.MkdirTemp(tmp, prefix)
	if err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	fmt.Fprintf(log, "image: building %s layer %s\n", kind, key[:16])
	start := time.Now()
	if err := build(ctx, stage); err != nil {
		if rerr := removeAllUnmounted(stage); rerr != nil {
			fmt.Fprintf(log, "image: cleaning %s: %v\n", stage, rerr)
		}
		return "", fmt.Errorf("build %s layer: %w", kind, err)
	}
	if err := os.Rename(stage, final); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	fmt.Fprintf(log, "image: %s layer %s built in %s\n", kind, key[:16], time.Since(start).Round(100*time.Millisecond))
	return final, nil
}

// lock takes an exclusive flock on locks/name.lock, polling so that ctx can
// cancel the wait. The returned func releases it.
func (c layerCache) lock(ctx context.Context, name string) (func(), error) {
	dir := filepath.Join(c.root, "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing the file releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("image cache: lock %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("image cache: waiting for lock %s: %w", name, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// removeStale removes staging directories left by crashed builds of the layer
// whose lock the caller holds.
func removeStale(tmp, prefix string) error {
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			if err := removeAllUnmounted(filepath.Join(tmp, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeAllUnmounted unmounts whatever is mounted below dir (a debootstrap
// killed half-way leaves /proc and /sys mounted in its target) and removes it.
func removeAllUnmounted(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for i := len(mounts) - 1; i >= 0; i-- { // deepest (last mounted) first
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("image cache: unmount %s: %w", mounts[i], err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("image cache: %w", err)
	}
	return nil
}

func mountsUnder(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	ms, err := mountinfo.Read()
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	var out []string
	for _, m := range ms {
		if m.MountPoint == abs || strings.HasPrefix(m.MountPoint, abs+"/") {
			out = append(out, m.MountPoint)
		}
	}
	return out, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

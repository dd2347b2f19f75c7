package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hookci/hookci/internal/ext4img"
)

// Ext4 returns the path of an ext4 image of the image's root filesystem, for
// a microVM to attach read-only (and overlay): built once per digest with
// mkfs.ext4 -d (no journal, no reserved blocks, sparse) and cached next to
// the rootfs. Concurrent callers, in any process, build it once.
func (img *Image) Ext4(ctx context.Context) (string, error) {
	out := filepath.Join(img.dir, "disk.ext4")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	s := img.store
	unlock, err := s.lock(ctx, "ext4-"+hexOf(img.Digest))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	start := time.Now()
	tmp := out + ".tmp"
	os.Remove(tmp)
	if err := ext4img.Build(ctx, img.RootFS, tmp, ext4img.Options{Label: "hookci-oci", Margin: 32 << 20, SpareInodes: 1024}); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("ext4 image of %s: %w", img.Ref, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("oci: %w", err)
	}
	s.log.Info("oci: ext4 image built", "ref", img.Ref, "digest", img.Digest, "took", time.Since(start).Round(time.Millisecond))
	return out, nil
}

package oci

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
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
	if err := makeExt4(ctx, img.RootFS, tmp); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("ext4 image of %s: %w", img.Ref, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("oci: %w", err)
	}
	s.log.Info("oci: ext4 image built", "ref", img.Ref, "digest", img.Digest, "took", time.Since(start).Round(time.Millisecond))
	return out, nil
}

func makeExt4(ctx context.Context, root, out string) error {
	var used, inodes int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		inodes++
		used += (fi.Size() + 4095) / 4096 * 4096
		return nil
	})
	if err != nil {
		return fmt.Errorf("measure %s: %w", root, err)
	}
	size := used + used/8 + 32<<20
	size = (size + 1<<20 - 1) &^ (1<<20 - 1)
	inodes += inodes/4 + 1024
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-L", "hookci-oci",
		"-O", "^has_journal", "-m", "0", "-N", strconv.FormatInt(inodes, 10),
		"-E", "root_owner=0:0", "-d", root, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4: %w: %s", err, b)
	}
	return nil
}

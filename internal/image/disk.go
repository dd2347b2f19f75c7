package image

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// treeUsage walks root and returns the bytes its files occupy (rounded up to
// 4 KiB blocks, hard links counted once) and its number of inodes.
func treeUsage(root string) (bytes, inodes int64, err error) {
	seen := map[uint64]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
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
		bytes += (fi.Size() + 4095) / 4096 * 4096
		return nil
	})
	return bytes, inodes, err
}

// makeDisk writes an ext4 image of root to out with mkfs.ext4 -d: no journal
// (the guest mounts it read-only and overlays a tmpfs), no reserved blocks,
// sized to the tree plus a margin. The file is sparse.
func makeDisk(ctx context.Context, root, out string, log io.Writer) error {
	used, inodes, err := treeUsage(root)
	if err != nil {
		return fmt.Errorf("measure %s: %w", root, err)
	}
	size := used + used/8 + 64<<20 // metadata, directories, margin
	size = (size + 1<<20 - 1) &^ (1<<20 - 1)
	inodes += inodes/4 + 4096
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
	return run(ctx, log, "", "mkfs.ext4", "-q", "-F", "-L", "hookci-root",
		"-O", "^has_journal", "-m", "0", "-N", strconv.FormatInt(inodes, 10),
		"-E", "root_owner=0:0", "-d", root, out)
}

// Package ext4img writes read-only ext4 filesystem images of a directory
// tree with mkfs.ext4 -d: the guest image's root disk and the per-digest
// disks of OCI images a microVM attaches. Both want the same thing: no
// journal (the guest mounts them read-only and overlays a tmpfs), no
// reserved blocks, root-owned root, a sparse file sized to the tree plus a
// margin, and enough inodes.
package ext4img

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// Options size and label an image.
type Options struct {
	// Label is the filesystem label (mkfs.ext4 -L).
	Label string
	// Margin is added to the tree's size for metadata and directories.
	Margin int64
	// SpareInodes is added to the tree's inode count (plus a quarter).
	SpareInodes int64
	// Log also receives mkfs.ext4's output (the error always holds it).
	Log io.Writer
}

// Build writes an ext4 image of root to out.
func Build(ctx context.Context, root, out string, o Options) error {
	used, inodes, err := TreeUsage(root)
	if err != nil {
		return fmt.Errorf("measure %s: %w", root, err)
	}
	size := used + used/8 + o.Margin
	size = (size + 1<<20 - 1) &^ (1<<20 - 1)
	inodes += inodes/4 + o.SpareInodes
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
	cmd := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-L", o.Label,
		"-O", "^has_journal", "-m", "0", "-N", strconv.FormatInt(inodes, 10),
		"-E", "root_owner=0:0", "-d", root, out)
	b, err := cmd.CombinedOutput()
	if o.Log != nil {
		o.Log.Write(b)
	}
	if err != nil {
		return fmt.Errorf("mkfs.ext4 -d %s: %w: %s", root, err, b)
	}
	return nil
}

// TreeUsage walks root and returns the bytes its files occupy (rounded up to
// 4 KiB blocks, hard links counted once) and its number of inodes.
func TreeUsage(root string) (bytes, inodes int64, err error) {
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

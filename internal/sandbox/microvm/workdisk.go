package microvm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// WorkspaceDiskBytes is the size of a workspace disk made by
// MakeWorkspaceDisk (sparse: only what the tree needs is allocated). A
// template's placeholder disk has this size, so that the guest kernel's view
// of the device still holds when a clone gets the job's disk instead.
const WorkspaceDiskBytes = 8 << 30

// MakeWorkspaceDisk writes an ext4 image at path whose root directory holds
// a copy of tree, for StartOptions.WorkspaceDisk (mkfs.ext4 -d: no journal,
// files owned by root).
func MakeWorkspaceDisk(ctx context.Context, tree, path string) error {
	fi, err := os.Stat(tree)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("microvm: workspace tree %q is not a directory (%v)", tree, err)
	}
	if err := makeSparse(path, WorkspaceDiskBytes); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-E", "root_owner=0:0", "-d", tree, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(path)
		return fmt.Errorf("microvm: mkfs.ext4 -d %s: %v: %s", tree, err, out)
	}
	return nil
}

// makeSparse creates (or truncates) path as a sparse file of size bytes.
func makeSparse(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("microvm: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("microvm: %w", err)
	}
	return nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

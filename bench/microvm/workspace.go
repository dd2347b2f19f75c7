package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/microvm"
)

// benchWorkspace delivers the same tree (copied from cfg.tree up to
// cfg.treeMiB) as a tar through PutFiles and as an ext4 scratch disk, and
// reads it completely in the guest each time.
func benchWorkspace(ctx context.Context, cfg config, dir string, newBackend backendFunc) error {
	tree := filepath.Join(dir, "tree")
	files, size, err := copyTree(cfg.tree, tree, int64(cfg.treeMiB)<<20)
	if err != nil {
		return err
	}
	fmt.Printf("workspace tree: %d files, %.1f MiB\n", files, float64(size)/(1<<20))
	const readAll = "tar cf - . | wc -c"

	b, _, err := newBackend(true)
	if err != nil {
		return err
	}
	defer b.Close()
	inst, _, err := startReady(ctx, b, "tar", microvm.StartOptions{})
	if err != nil {
		return err
	}
	t0 := time.Now()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, tree)) }()
	if err := inst.Client.PutFiles(ctx, inst.Layout.Workspace, pr); err != nil {
		inst.Close()
		return err
	}
	put := time.Since(t0)
	read, err := timeExec(ctx, inst, readAll)
	inst.Close()
	if err != nil {
		return err
	}
	fmt.Printf("workspace as tar (PutFiles): deliver %v, then read all in the guest %v\n", put.Round(time.Millisecond), read.Round(time.Millisecond))

	img := filepath.Join(dir, "work.ext4")
	t0 = time.Now()
	if err := microvm.MakeWorkspaceDisk(ctx, tree, img); err != nil {
		return err
	}
	mk := time.Since(t0)
	// The first start with a disk builds the "-wd" template; measure the second.
	for i := range 2 {
		inst, start, err := startReady(ctx, b, fmt.Sprintf("disk%d", i), microvm.StartOptions{WorkspaceDisk: img})
		if err != nil {
			return err
		}
		read, err = timeExec(ctx, inst, readAll)
		inst.Close()
		if err != nil {
			return err
		}
		if i == 1 {
			fmt.Printf("workspace as ext4 disk (MakeWorkspaceDisk): mkfs.ext4 -d %v, template start with the disk %v, then read all in the guest %v\n",
				mk.Round(time.Millisecond), start.Round(time.Millisecond), read.Round(time.Millisecond))
		}
	}
	return nil
}

func timeExec(ctx context.Context, inst *sandbox.Instance, script string) (time.Duration, error) {
	t0 := time.Now()
	var out bytes.Buffer
	res, err := inst.Client.Exec(ctx, agent.ExecRequest{Argv: []string{"bash", "-c", script}, Env: guestEnv, Dir: inst.Layout.Workspace}, &out)
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d: %s", res.ExitCode, out.String())
	}
	return time.Since(t0), err
}

// copyTree copies regular files and directories of src into dst until limit
// bytes are copied.
func copyTree(src, dst string, limit int64) (files int, size int64, err error) {
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || size >= limit {
			return fs.SkipAll
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		size += int64(len(b))
		return os.WriteFile(target, b, 0o644)
	})
	return files, size, err
}

func writeTar(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		return err
	}
	return tw.Close()
}

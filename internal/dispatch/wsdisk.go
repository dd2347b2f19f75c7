package dispatch

import (
	"context"
	"log/slog"
	"os"
	"sync"

	"github.com/hookci/hookci/internal/sandbox"
)

// workspaceDisk returns the checkout directory to deliver as a disk when
// the backend is a microVM and the checkout is big enough, else "".
//
// Deciding needs the size of the commit's workspace tar, and making it (the
// checkout, started by planning) is on the critical path of the job's first
// step. When this repository's last workspace was well under the threshold
// the job does not wait for it here: it goes the tar way at once, so the
// sandbox start (taking a warm VM, or restoring one when none is ready)
// overlaps the checkout, and the runner's set-up waits for the tar instead.
// A repository seen for the first time, or one whose last workspace was
// near or over the threshold, waits for the tar and decides by its size. A
// guess that turned out wrong costs only speed: a big tree then goes as a
// tar, as below the threshold.
func (d *Dispatcher) workspaceDisk(ctx context.Context, in *jobInput, choice sandbox.Choice, log *slog.Logger) string {
	if choice.Name != "microvm" || d.cfg.WorkspaceDiskBytes <= 0 {
		return ""
	}
	if n, ok := d.wsSizes.get(in.run.Repo); ok && n < d.cfg.WorkspaceDiskBytes/2 {
		return ""
	}
	clone := d.cfg.Git.CloneURL(in.run.Repo)
	tar, err := in.mirror.ExportCached(ctx, in.run.SHA, clone)
	if err != nil {
		return ""
	}
	fi, err := os.Stat(tar)
	if err != nil {
		return ""
	}
	d.wsSizes.set(in.run.Repo, fi.Size())
	if fi.Size() < d.cfg.WorkspaceDiskBytes {
		return ""
	}
	dir, err := in.mirror.TreeCached(ctx, in.run.SHA, clone)
	if err != nil {
		log.Warn("workspace tree", "err", err)
		return ""
	}
	return dir
}

// workspaceSizes remembers the size of each repository's last workspace
// tar (the zero value is ready to use).
type workspaceSizes struct {
	mu   sync.Mutex
	last map[string]int64 // by repository
}

func (w *workspaceSizes) get(repo string) (int64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, ok := w.last[repo]
	return n, ok
}

func (w *workspaceSizes) set(repo string, n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[string]int64{}
	}
	w.last[repo] = n
}

package actions

import (
	"errors"
	"os"
	"path/filepath"
	"time"
)

// cacheUnusedFor is GitHub's retention of caches: those not restored or
// saved for a week go (artifacts: see artifact.Store.Prune).
const cacheUnusedFor = 7 * 24 * time.Hour

// Prune removes caches unused for a week and artifacts past their
// retention. The server calls it now and then (e.g. daily).
func (r *Executor) Prune(now time.Time) error {
	return errors.Join(r.caches.prune(now), r.artifacts.Prune(now))
}

// touch marks a cache as used (its directory's time).
func (c *cacheStore) touch(repo string, m *cacheMeta) {
	now := time.Now()
	os.Chtimes(c.entryDir(repo, m), now, now)
}

func (c *cacheStore) prune(now time.Time) error {
	entries, _ := filepath.Glob(filepath.Join(c.dir, "*", "*", "*"))
	var errs []error
	for _, e := range entries {
		fi, err := os.Stat(e)
		if err != nil || now.Sub(fi.ModTime()) < cacheUnusedFor {
			continue
		}
		if err := os.RemoveAll(e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

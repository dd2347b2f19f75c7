package actions

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Retention of what the actions keep under DataDir (GitHub's defaults).
const (
	cacheUnusedFor    = 7 * 24 * time.Hour  // caches not restored or saved for a week go
	artifactRetention = 90 * 24 * time.Hour // artifacts without retention-days
)

// Prune removes caches unused for a week and artifacts past their
// retention. The server calls it now and then (e.g. daily).
func (r *Runner) Prune(now time.Time) error {
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

// Prune removes artifacts past their expiry (90 days when none was given).
func (s *ArtifactStore) Prune(now time.Time) error {
	runs, _ := os.ReadDir(s.dir)
	var errs []error
	for _, run := range runs {
		id, err := strconv.ParseInt(run.Name(), 10, 64)
		if err != nil {
			continue
		}
		list, _ := s.List(id)
		for _, a := range list {
			exp := a.Expires
			if exp.IsZero() {
				exp = a.Created.Add(artifactRetention)
			}
			if now.Before(exp) {
				continue
			}
			s.mu.Lock()
			for _, ext := range []string{".json", ".zip"} {
				if err := os.Remove(filepath.Join(s.runDir(id), a.Name+ext)); err != nil && !os.IsNotExist(err) {
					errs = append(errs, err)
				}
			}
			s.mu.Unlock()
		}
		if left, _ := os.ReadDir(s.runDir(id)); len(left) == 0 || onlyTemp(left) {
			os.RemoveAll(s.runDir(id))
		}
	}
	return errors.Join(errs...)
}

func onlyTemp(ents []os.DirEntry) bool {
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".upload-") {
			return false
		}
	}
	return true
}

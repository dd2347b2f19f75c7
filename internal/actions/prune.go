package actions

import (
	"context"
	"errors"
	"path"
	"strings"
	"time"
)

// cacheUnusedFor is GitHub's retention of caches: those not restored or
// saved for a week go (artifacts: see artifact.Store.Prune).
const cacheUnusedFor = 7 * 24 * time.Hour

// pruneTimeout bounds one Prune (a slow blob store must not hold it forever).
const pruneTimeout = time.Hour

// Prune removes caches unused for a week and artifacts past their
// retention. The server calls it now and then (e.g. daily). With an S3 blob
// store it covers every host's caches and artifacts.
func (r *Executor) Prune(now time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), pruneTimeout)
	defer cancel()
	return errors.Join(r.caches.prune(ctx, now), r.artifacts.Prune(ctx, now))
}

// prune removes caches whose meta.json (rewritten at each use) is a week
// old, and what a failed or raced save left: archives meta.json does not
// name, or with no meta.json, a day old.
func (c *cacheStore) prune(ctx context.Context, now time.Time) error {
	objs, err := c.b.List(ctx, "")
	if err != nil {
		return err
	}
	type entry struct {
		expired bool     // meta.json unused for a week
		old     []string // archives a day old
	}
	entries := map[string]*entry{}
	for _, o := range objs {
		dir, file := path.Split(o.Key)
		if strings.Count(dir, "/") != 3 {
			continue
		}
		e := entries[dir]
		if e == nil {
			e = &entry{}
			entries[dir] = e
		}
		if file == "meta.json" {
			if now.Sub(o.Modified) >= cacheUnusedFor {
				e.expired = true
			}
			continue
		}
		if now.Sub(o.Modified) > 24*time.Hour {
			e.old = append(e.old, file)
		}
	}
	var errs []error
	for dir, e := range entries {
		if e.expired {
			if err := c.deleteEntry(ctx, dir); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if len(e.old) == 0 {
			continue
		}
		named := ""
		if m, err := c.readMeta(ctx, dir+"meta.json"); err == nil {
			named = m.Data
			if named == "" {
				named = "data.tar.gz"
			}
		}
		for _, f := range e.old {
			if f != named {
				errs = append(errs, c.b.Delete(ctx, dir+f))
			}
		}
	}
	return errors.Join(errs...)
}

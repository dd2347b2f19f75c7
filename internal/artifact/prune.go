package artifact

import (
	"context"
	"errors"
	"path"
	"strconv"
	"strings"
	"time"
)

// retention is how long an artifact uploaded without retention-days is
// kept (GitHub's default).
const retention = 90 * 24 * time.Hour

// orphanAge is how old a zip no metadata names must be before Prune removes
// it: what a crashed or lost upload race left (an upload in progress is
// younger, and its zip is written before its metadata).
const orphanAge = 24 * time.Hour

// Prune removes artifacts past their expiry (90 days when none was given)
// and zips no artifact names any more. With a shared blob store one host's
// Prune covers every host's artifacts.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	objs, err := s.b.List(ctx, "")
	if err != nil {
		return err
	}
	var errs []error
	live := map[string]bool{} // zip keys of the artifacts kept
	for _, o := range objs {
		run, file, ok := strings.Cut(o.Key, "/")
		id, err := strconv.ParseInt(run, 10, 64)
		if !ok || err != nil || !strings.HasSuffix(file, ".json") {
			continue
		}
		a, err := s.meta(ctx, id, strings.TrimSuffix(file, ".json"))
		if err != nil {
			continue
		}
		exp := a.Expires
		if exp.IsZero() {
			exp = a.Created.Add(retention)
		}
		if now.Before(exp) {
			live[zipKey(a)], live[run+"/"+a.Name+".zip"] = true, true
			continue
		}
		s.mu.Lock()
		err = s.b.Delete(ctx, o.Key) // metadata first: a half-pruned artifact is simply gone
		if err == nil {
			err = s.deleteZips(ctx, a)
		}
		s.mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range objs {
		if path.Ext(o.Key) == ".zip" && !live[o.Key] && now.Sub(o.Modified) > orphanAge {
			if err := s.b.Delete(ctx, o.Key); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

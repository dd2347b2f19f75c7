package artifact

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// retention is how long an artifact uploaded without retention-days is
// kept (GitHub's default).
const retention = 90 * 24 * time.Hour

// Prune removes artifacts past their expiry (90 days when none was given).
func (s *Store) Prune(now time.Time) error {
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
				exp = a.Created.Add(retention)
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

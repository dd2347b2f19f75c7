package actions

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// cacheStore keeps actions/cache entries on the host:
// <dir>/<repo hash>/<scope hash>/<key+version hash>/{meta.json,data.tar.gz}.
// A scope is the git ref a cache was saved from (GitHub's cache isolation).
type cacheStore struct {
	dir   string
	limit int64      // bytes one repository's caches may take
	mu    sync.Mutex // guards creating and evicting entries
}

// defaultCacheRepoBytes is GitHub's cap on one repository's caches (10 GB).
const defaultCacheRepoBytes = 10 << 30

// cacheMeta describes one saved cache.
type cacheMeta struct {
	Key     string       `json:"key"`
	Version string       `json:"version"`
	Scope   string       `json:"scope"`
	Created time.Time    `json:"created"`
	Size    int64        `json:"size"`
	Entries []cacheEntry `json:"entries"`
}

// cacheEntry is one saved path, relative to a root of the sandbox so that
// it restores in a sandbox with another layout.
type cacheEntry struct {
	Root string `json:"root"` // "workspace", "home" or "" (absolute)
	Rel  string `json:"rel"`
	Dir  bool   `json:"dir"`
}

func hashName(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:12])
}

func (c *cacheStore) scopeDir(repo, scope string) string {
	return filepath.Join(c.dir, hashName(strings.ToLower(repo)), hashName(scope))
}

// list returns the caches of a scope with the given version.
func (c *cacheStore) list(repo, scope, version string) []*cacheMeta {
	dir := c.scopeDir(repo, scope)
	ents, _ := os.ReadDir(dir)
	var out []*cacheMeta
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "meta.json"))
		if err != nil {
			continue
		}
		var m cacheMeta
		if json.Unmarshal(b, &m) == nil && m.Version == version {
			out = append(out, &m)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Created.After(out[b].Created) })
	return out
}

// lookup finds the cache to restore: in each scope in turn, the exact key,
// then each restore key as a prefix (newest first). exact reports a hit on key.
func (c *cacheStore) lookup(repo string, scopes []string, key string, restoreKeys []string, version string) (m *cacheMeta, exact bool) {
	for _, scope := range scopes {
		all := c.list(repo, scope, version)
		for _, e := range all {
			if e.Key == key {
				return e, true
			}
		}
		for _, rk := range restoreKeys {
			for _, e := range all {
				if strings.HasPrefix(e.Key, rk) {
					return e, false
				}
			}
		}
	}
	return nil, false
}

func (c *cacheStore) entryDir(repo string, m *cacheMeta) string {
	return filepath.Join(c.scopeDir(repo, m.Scope), hashName(m.Key+"\x00"+m.Version))
}

// open returns the archive of a cache.
func (c *cacheStore) open(repo string, m *cacheMeta) (*os.File, error) {
	return os.Open(filepath.Join(c.entryDir(repo, m), "data.tar.gz"))
}

// errCacheExists is returned when saving a key that exists in the scope.
var errCacheExists = errors.New("a cache with this key already exists")

// save stores a cache; write writes its tar (uncompressed) to w.
func (c *cacheStore) save(repo string, m *cacheMeta, write func(w io.Writer) error) error {
	dir := c.entryDir(repo, m)
	c.mu.Lock()
	if _, err := os.Stat(dir); err == nil {
		c.mu.Unlock()
		return errCacheExists
	}
	tmp := dir + ".tmp-" + fmt.Sprint(time.Now().UnixNano())
	err := os.MkdirAll(tmp, 0o755)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	f, err := os.Create(filepath.Join(tmp, "data.tar.gz"))
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	err = write(zw)
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if fi, err := os.Stat(f.Name()); err == nil {
		m.Size = fi.Size()
	}
	m.Created = time.Now()
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), b, 0o644); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := os.Stat(dir); err == nil {
		return errCacheExists
	}
	return os.Rename(tmp, dir)
}

// evict removes the least recently used caches of repo (restored or saved
// last longest ago) until its caches fit the limit; keep (the cache just
// saved) stays. It returns the evicted caches.
func (c *cacheStore) evict(repo string, keep *cacheMeta) ([]*cacheMeta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	type entry struct {
		dir  string
		meta *cacheMeta
		used time.Time
	}
	dirs, _ := filepath.Glob(filepath.Join(c.dir, hashName(strings.ToLower(repo)), "*", "*"))
	var all []entry
	var total int64
	keepDir := c.entryDir(repo, keep)
	for _, d := range dirs {
		if strings.Contains(filepath.Base(d), ".tmp-") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "meta.json"))
		if err != nil {
			continue
		}
		var m cacheMeta
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		fi, err := os.Stat(d)
		if err != nil {
			continue
		}
		total += m.Size
		if d != keepDir {
			all = append(all, entry{dir: d, meta: &m, used: fi.ModTime()})
		}
	}
	sort.Slice(all, func(a, b int) bool { return all[a].used.Before(all[b].used) })
	var out []*cacheMeta
	var errs []error
	for _, e := range all {
		if total <= c.limit {
			break
		}
		if err := os.RemoveAll(e.dir); err != nil {
			errs = append(errs, err)
			continue
		}
		total -= e.meta.Size
		out = append(out, e.meta)
	}
	return out, errors.Join(errs...)
}

// prefixTar copies the entries of the tar stream r to tw with prefix
// prepended to their names; keep filters entries by their original name.
func prefixTar(tw *tar.Writer, r io.Reader, prefix string, keep func(name string) bool) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if keep != nil && !keep(h.Name) {
			continue
		}
		h.Name = prefix + h.Name
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

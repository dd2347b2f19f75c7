package actions

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/blob"
)

// cacheStore keeps actions/cache entries in a blob store (the host's data
// directory, or an S3 bucket all hosts share):
// <repo hash>/<scope hash>/<key+version hash>/meta.json and the archive it
// names (data-<n>.tar.gz; data.tar.gz for caches saved before).
// A scope is the git ref a cache was saved from (GitHub's cache isolation).
// meta.json is rewritten when a cache is restored, so its time is the
// cache's last use on every host.
type cacheStore struct {
	b     blob.Store
	limit int64      // bytes one repository's caches may take
	mu    sync.Mutex // guards creating and evicting entries on this host
}

// defaultCacheRepoBytes is GitHub's cap on one repository's caches (10 GB).
const defaultCacheRepoBytes = 10 << 30

// cacheMeta describes one saved cache.
type cacheMeta struct {
	Key     string       `json:"key"`
	Version string       `json:"version"`
	Scope   string       `json:"scope"`
	Created time.Time    `json:"created"`
	Used    time.Time    `json:"used,omitzero"`
	Size    int64        `json:"size"`
	Entries []cacheEntry `json:"entries"`
	// Data is the archive's name beside meta.json, SHA256 its checksum
	// (empty for caches saved before they were recorded).
	Data   string `json:"data,omitempty"`
	SHA256 string `json:"sha256,omitempty"`

	modified time.Time // meta.json's time in the store: the last use
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

func repoPrefix(repo string) string { return hashName(strings.ToLower(repo)) + "/" }

func (c *cacheStore) scopePrefix(repo, scope string) string {
	return repoPrefix(repo) + hashName(scope) + "/"
}

// maxCacheMeta bounds what is read of a cache's meta.json.
const maxCacheMeta = 4 << 20

func (c *cacheStore) readMeta(ctx context.Context, key string) (*cacheMeta, error) {
	o, err := c.b.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	b, err := io.ReadAll(io.LimitReader(o, maxCacheMeta))
	if err != nil {
		return nil, err
	}
	var m cacheMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("cache %s: %w", key, err)
	}
	return &m, nil
}

// metas reads every meta.json under prefix.
func (c *cacheStore) metas(ctx context.Context, prefix string) ([]*cacheMeta, error) {
	objs, err := c.b.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []*cacheMeta
	for _, o := range objs {
		if path.Base(o.Key) != "meta.json" {
			continue
		}
		m, err := c.readMeta(ctx, o.Key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // evicted meanwhile
		}
		if err != nil {
			return nil, err
		}
		m.modified = o.Modified
		out = append(out, m)
	}
	return out, nil
}

// list returns the caches of a scope with the given version, newest first.
func (c *cacheStore) list(ctx context.Context, repo, scope, version string) ([]*cacheMeta, error) {
	all, err := c.metas(ctx, c.scopePrefix(repo, scope))
	if err != nil {
		return nil, err
	}
	var out []*cacheMeta
	for _, m := range all {
		if m.Version == version {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Created.After(out[b].Created) })
	return out, nil
}

// lookup finds the cache to restore: in each scope in turn, the exact key,
// then each restore key as a prefix (newest first). exact reports a hit on key.
func (c *cacheStore) lookup(ctx context.Context, repo string, scopes []string, key string, restoreKeys []string, version string) (m *cacheMeta, exact bool, err error) {
	for _, scope := range scopes {
		all, err := c.list(ctx, repo, scope, version)
		if err != nil {
			return nil, false, err
		}
		for _, e := range all {
			if e.Key == key {
				return e, true, nil
			}
		}
		for _, rk := range restoreKeys {
			for _, e := range all {
				if strings.HasPrefix(e.Key, rk) {
					return e, false, nil
				}
			}
		}
	}
	return nil, false, nil
}

func (c *cacheStore) entryPrefix(repo string, m *cacheMeta) string {
	return c.scopePrefix(repo, m.Scope) + hashName(m.Key+"\x00"+m.Version) + "/"
}

// open returns the archive of a cache, checked against its checksum as it
// is read.
func (c *cacheStore) open(ctx context.Context, repo string, m *cacheMeta) (io.ReadCloser, error) {
	o, err := c.b.Open(ctx, c.entryPrefix(repo, m)+cmp.Or(m.Data, "data.tar.gz"))
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{blob.Verify(o, m.SHA256), o}, nil
}

// touch marks a cache as used now, on every host (meta.json's time).
func (c *cacheStore) touch(ctx context.Context, repo string, m *cacheMeta) error {
	m.Used = time.Now()
	b, _ := json.MarshalIndent(m, "", "  ")
	_, err := c.b.Put(ctx, c.entryPrefix(repo, m)+"meta.json", bytes.NewReader(b))
	return err
}

// errCacheExists is returned when saving a key that exists in the scope.
var errCacheExists = errors.New("a cache with this key already exists")

// save stores a cache; write writes its tar (uncompressed), which is
// gzipped and streamed to the store. The archive goes first under a name of
// its own, then meta.json names it: a failed save leaves no cache.
func (c *cacheStore) save(ctx context.Context, repo string, m *cacheMeta, write func(w io.Writer) error) error {
	dir := c.entryPrefix(repo, m)
	if _, err := c.b.Stat(ctx, dir+"meta.json"); err == nil {
		return errCacheExists
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	m.Data = fmt.Sprintf("data-%d.tar.gz", time.Now().UnixNano())
	info, err := blob.Write(ctx, c.b, dir+m.Data, func(w io.Writer) error {
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		if err := write(zw); err != nil {
			return err
		}
		return zw.Close()
	})
	drop := func() { c.b.Delete(context.WithoutCancel(ctx), dir+m.Data) }
	if err != nil {
		drop()
		return err
	}
	m.Size, m.SHA256, m.Created = info.Size, info.SHA256, time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.b.Stat(ctx, dir+"meta.json"); err == nil {
		drop() // saved meanwhile (here or on another host)
		return errCacheExists
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if _, err := c.b.Put(ctx, dir+"meta.json", bytes.NewReader(b)); err != nil {
		drop()
		return err
	}
	return nil
}

// deleteEntry removes a cache: meta.json first (so it is gone at once),
// then everything else under its prefix.
func (c *cacheStore) deleteEntry(ctx context.Context, prefix string) error {
	if err := c.b.Delete(ctx, prefix+"meta.json"); err != nil {
		return err
	}
	objs, err := c.b.List(ctx, prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range objs {
		errs = append(errs, c.b.Delete(ctx, o.Key))
	}
	return errors.Join(errs...)
}

// lastUse is when a cache was last saved or restored (the recorded times:
// S3 keeps object times to the second only).
func (m *cacheMeta) lastUse() time.Time {
	t := m.Created
	if m.Used.After(t) {
		t = m.Used
	}
	if m.Used.IsZero() && m.modified.After(t) { // restored before Used was recorded
		t = m.modified
	}
	return t
}

// evict removes the least recently used caches of repo (restored or saved
// last longest ago) until its caches fit the limit; keep (the cache just
// saved) stays. It returns the evicted caches.
func (c *cacheStore) evict(ctx context.Context, repo string, keep *cacheMeta) ([]*cacheMeta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	all, err := c.metas(ctx, repoPrefix(repo))
	if err != nil {
		return nil, err
	}
	var total int64
	keepDir := c.entryPrefix(repo, keep)
	var others []*cacheMeta
	for _, m := range all {
		total += m.Size
		if c.entryPrefix(repo, m) != keepDir {
			others = append(others, m)
		}
	}
	sort.Slice(others, func(a, b int) bool { return others[a].lastUse().Before(others[b].lastUse()) })
	var out []*cacheMeta
	var errs []error
	for _, m := range others {
		if total <= c.limit {
			break
		}
		if err := c.deleteEntry(ctx, c.entryPrefix(repo, m)); err != nil {
			errs = append(errs, err)
			continue
		}
		total -= m.Size
		out = append(out, m)
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

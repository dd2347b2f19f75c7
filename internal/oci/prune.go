package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// PruneOptions bound the cache. Zero values: 20 GiB, 30 days. An image
// pulled (or pulled again) within MinAge is never removed, since a job may
// be running in it (zero: a day, longer than a job may run).
type PruneOptions struct {
	MinAge   time.Duration
	MaxBytes int64
	MaxAge   time.Duration
	// Keep lists digests never removed (images in use).
	Keep map[string]bool
}

// Prune removes images not used for MaxAge, then the least recently used
// ones until the cache (blobs and images) is under MaxBytes, then blobs no
// remaining image uses. An image being pulled or whose lock is held is kept.
// It returns the digests of the images removed.
func (s *Store) Prune(ctx context.Context, o PruneOptions) ([]string, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 20 << 30
	}
	if o.MinAge <= 0 {
		o.MinAge = 24 * time.Hour
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 30 * 24 * time.Hour
	}
	if err := s.ensureDirs(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(s.root, "images"))
	if err != nil {
		return nil, fmt.Errorf("oci prune: %w", err)
	}
	type entry struct {
		hex  string
		used time.Time
		size int64
	}
	var imgs []entry
	var total int64
	for _, e := range ents {
		fi, err := os.Stat(filepath.Join(s.root, "images", e.Name(), "image.json"))
		if err != nil {
			continue
		}
		n := dirSize(filepath.Join(s.root, "images", e.Name()))
		imgs = append(imgs, entry{e.Name(), fi.ModTime(), n})
		total += n
	}
	total += dirSize(filepath.Join(s.root, "blobs"))
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].used.Before(imgs[j].used) })
	var removed []string
	for _, im := range imgs {
		if o.Keep["sha256:"+im.hex] || time.Since(im.used) < o.MinAge {
			continue
		}
		if time.Since(im.used) < o.MaxAge && total <= o.MaxBytes {
			continue
		}
		if s.removeImage(ctx, im.hex) {
			removed = append(removed, "sha256:"+im.hex)
			total -= im.size
		}
	}
	return removed, s.pruneBlobs(ctx)
}

// removeImage deletes one image directory under its lock (renamed first so
// readers never see half of it).
func (s *Store) removeImage(ctx context.Context, hex string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	unlock, err := s.lock(ctx, "image-"+hex)
	if err != nil {
		return false
	}
	defer unlock()
	doomed, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "prune-")
	if err != nil {
		return false
	}
	if err := os.Rename(filepath.Join(s.root, "images", hex), filepath.Join(doomed, "x")); err != nil {
		os.Remove(doomed)
		return false
	}
	os.RemoveAll(doomed)
	s.log.Info("oci: image pruned", "digest", "sha256:"+hex)
	return true
}

// pruneBlobs removes layer blobs older than an hour that no cached image's
// manifest names (a pull in progress has downloaded them within the hour).
func (s *Store) pruneBlobs(ctx context.Context) error {
	used := map[string]bool{}
	ents, _ := os.ReadDir(filepath.Join(s.root, "images"))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.root, "images", e.Name(), "layers"))
		if err != nil {
			continue
		}
		for _, l := range splitLines(string(b)) {
			used[l] = true
		}
	}
	blobs, _ := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
	for _, b := range blobs {
		fi, err := b.Info()
		if err != nil || used[b.Name()] || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		os.Remove(filepath.Join(s.root, "blobs", "sha256", b.Name()))
	}
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, s[:i])
		}
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

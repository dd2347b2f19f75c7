package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

var layerKeyRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Prune removes all but the keep most recently built images under dataDir
// (never the current one), then kernel and base layers that no remaining
// image uses and that are older than a day (a build in progress may be about
// to use a fresh one). Each removal holds that layer's lock. It returns the
// directories removed.
func Prune(ctx context.Context, dataDir string, keep int, log io.Writer) ([]string, error) {
	if log == nil {
		log = io.Discard
	}
	c := layerCache{root: filepath.Join(dataDir, "image")}
	current, _ := os.Readlink(filepath.Join(c.root, currentLink))
	entries, err := os.ReadDir(c.root)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image prune: %w", err)
	}
	var images []*Image
	for _, e := range entries {
		if !e.IsDir() || !layerKeyRE.MatchString(e.Name()) {
			continue
		}
		if img, err := readImage(filepath.Join(c.root, e.Name())); err == nil {
			images = append(images, img)
		}
	}
	sort.Slice(images, func(i, j int) bool { return images[i].Built.After(images[j].Built) })
	var removed []string
	used := map[string]bool{}
	for i, img := range images {
		if i < keep || img.RecipeHash == current {
			used["kernel/"+img.Keys.Kernel], used["base/"+img.Keys.Base] = true, true
			continue
		}
		if c.removeLayer(ctx, "image", img.RecipeHash, log) {
			removed = append(removed, img.Dir)
		}
	}
	for _, kind := range []string{"kernel", "base"} {
		layers, _ := os.ReadDir(filepath.Join(c.root, kind))
		for _, l := range layers {
			info, err := l.Info()
			if err != nil || used[kind+"/"+l.Name()] || time.Since(info.ModTime()) < 24*time.Hour {
				continue
			}
			if c.removeLayer(ctx, kind, l.Name(), log) {
				removed = append(removed, c.path(kind, l.Name()))
			}
		}
	}
	return removed, nil
}

// removeLayer deletes one layer under its lock; false if it could not.
func (c layerCache) removeLayer(ctx context.Context, kind, key string, log io.Writer) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	unlock, err := c.lock(ctx, kind+"-"+key)
	if err != nil {
		fmt.Fprintf(log, "image prune: %s %s is busy, kept\n", kind, key[:16])
		return false
	}
	defer unlock()
	// Rename first so that the layer vanishes atomically for readers.
	doomed := filepath.Join(c.root, "tmp", "prune-"+kind+"-"+key)
	if err := os.MkdirAll(filepath.Dir(doomed), 0o755); err != nil {
		return false
	}
	if err := os.Rename(c.path(kind, key), doomed); err != nil {
		fmt.Fprintf(log, "image prune: %v\n", err)
		return false
	}
	if err := removeAllUnmounted(doomed); err != nil {
		fmt.Fprintf(log, "image prune: %v\n", err)
	}
	return true // the lock file stays: removing it would let two builders both "hold" the lock
}

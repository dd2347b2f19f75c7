package oci_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hookci/hookci/internal/oci"
	"github.com/hookci/hookci/internal/oci/ocitest"
)

// TestPrune: an image unused past MaxAge goes with its layer blobs; one
// pulled recently stays even when the cache is over its size.
func TestPrune(t *testing.T) {
	reg := ocitest.Registry(t)
	ctx := context.Background()
	for _, tag := range []string{"old", "new"} {
		img := ocitest.Image(t, v1.Config{}, ocitest.TarLayer(t, ocitest.Entry{Name: tag, Body: tag}))
		if err := reg.Push(ctx, "library/p:"+tag, img); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, reg.Mirror())
	old, err := s.Pull(ctx, "p:old", nil)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := s.Pull(ctx, "p:new", nil)
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-60 * 24 * time.Hour)
	os.Chtimes(filepath.Join(filepath.Dir(old.RootFS), "image.json"), long, long)
	blobs, _ := filepath.Glob(filepath.Join(s.Root(), "blobs", "sha256", "*"))
	for _, b := range blobs {
		os.Chtimes(b, long, long)
	}
	removed, err := s.Prune(ctx, oci.PruneOptions{MaxBytes: 1, MaxAge: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != old.Digest {
		t.Errorf("removed: got %v, want [%s]", removed, old.Digest)
	}
	if _, err := s.Get(old.Digest); err == nil {
		t.Errorf("old image still cached")
	}
	if _, err := os.Stat(cur.RootFS); err != nil {
		t.Errorf("recent image: %v, want kept", err)
	}
	left, _ := filepath.Glob(filepath.Join(s.Root(), "blobs", "sha256", "*"))
	if len(left) != 1 {
		t.Errorf("blobs left: got %d, want 1 (the recent image's layer)", len(left))
	}
	if again, err := s.Pull(ctx, "p:old", nil); err != nil || again.Digest != old.Digest {
		t.Errorf("pull after prune: %v", err)
	}
}

package oci_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookci/hookci/internal/oci"
)

// TestOpenMakesNoDirectories: opening the store creates nothing (a run with
// no image pays for no directory); the first use makes them, private.
func TestOpenMakesNoDirectories(t *testing.T) {
	dir := t.TempDir()
	s, err := oci.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after Open: %v, want no oci directory", err)
	}
	if _, err := s.Prune(context.Background(), oci.PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"oci", "oci/images", "oci/blobs/sha256", "oci/tmp", "oci/locks"} {
		fi, err := os.Stat(filepath.Join(dir, d))
		if err != nil || !fi.IsDir() {
			t.Fatalf("%s after the first use: %v", d, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "oci")); fi.Mode().Perm() != 0o700 {
		t.Errorf("oci directory mode %v, want 0700", fi.Mode().Perm())
	}
}

package main

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookci/hookci/internal/store"
)

// TestPrepareLocalStore: the store hookci run copies into its scratch data
// directory holds every migration a freshly opened store has (so Open has
// none left to apply), the template is made once and reused, and a data
// directory that has a store keeps it.
func TestPrepareLocalStore(t *testing.T) {
	ctx := context.Background()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	log := slog.New(slog.DiscardHandler)
	fresh := t.TempDir()
	st, err := store.Open(ctx, fresh, store.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	want := schemaVersions(t, filepath.Join(fresh, "hookci.db"))

	first := t.TempDir()
	if err := prepareLocalStore(ctx, first, log); err != nil {
		t.Fatal(err)
	}
	if got := schemaVersions(t, filepath.Join(first, "db", "hookci.db")); got != want {
		t.Errorf("prepared store: got %d schema versions, want %d", got, want)
	}
	tmpl, err := localStoreTemplate()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(tmpl)
	if err != nil {
		t.Fatalf("template not kept: %v", err)
	}
	second := t.TempDir()
	if err := prepareLocalStore(ctx, second, log); err != nil {
		t.Fatal(err)
	}
	if fi2, err := os.Stat(tmpl); err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("template made again (%v); want it reused", err)
	}
	st, err = store.Open(ctx, filepath.Join(second, "db"), store.Options{Sync: "normal"})
	if err != nil {
		t.Fatalf("opening a prepared store: %v", err)
	}
	st.Close()

	// A kept data directory's store is not replaced.
	kept := filepath.Join(second, "db", "hookci.db")
	before, _ := os.Stat(kept)
	if err := prepareLocalStore(ctx, second, log); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(kept); !os.SameFile(before, after) || after.ModTime() != before.ModTime() {
		t.Error("an existing store was replaced")
	}
}

func schemaVersions(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM hookci_schema`).Scan(&n); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if n == 0 {
		t.Fatalf("%s: no migration recorded", path)
	}
	return n
}

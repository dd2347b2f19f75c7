package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hookci/hookci/internal/store"
)

// prepareLocalStore puts a migrated, empty store into dataDir (where
// newServer opens it) when dataDir holds none yet, so that `hookci run`
// does not apply every migration to a scratch store on each run.
//
// The migrated store is made once per hookci binary (its path, size and
// modification time name it) by the store's own migrations, kept in the
// user's cache directory, and copied. store.Open still checks the schema
// version and applies what is missing, so a copy is never behind it.
func prepareLocalStore(ctx context.Context, dataDir string, log *slog.Logger) error {
	dst := filepath.Join(dataDir, "db", "hookci.db")
	if _, err := os.Stat(dst); err == nil {
		return nil // a kept --data-dir: its own store
	}
	tmpl, err := localStoreTemplate()
	if err != nil {
		return err
	}
	if _, err := os.Stat(tmpl); errors.Is(err, os.ErrNotExist) {
		if err := makeLocalStoreTemplate(ctx, tmpl, log); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	return copyFile(tmpl, dst)
}

// localStoreTemplate is where this binary's migrated empty store is kept.
func localStoreTemplate() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(exe + "\x00" + strconv.FormatInt(fi.Size(), 10) + "\x00" + fi.ModTime().UTC().String()))
	return filepath.Join(cache, "hookci", "run-store-"+hex.EncodeToString(h[:8])+".db"), nil
}

// makeLocalStoreTemplate migrates a new store in a scratch directory, closes
// it (which checkpoints its WAL into the file) and moves the file to tmpl.
func makeLocalStoreTemplate(ctx context.Context, tmpl string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(tmpl), 0o700); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp(filepath.Dir(tmpl), "make-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	st, err := store.Open(ctx, scratch, store.Options{Sync: "normal", Logger: log})
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	if fi, err := os.Stat(filepath.Join(scratch, "hookci.db-wal")); err == nil && fi.Size() > 0 {
		return fmt.Errorf("store template: the WAL was not checkpointed")
	}
	// Rename is atomic: a run racing this one copies either no template or
	// a whole one.
	return os.Rename(filepath.Join(scratch, "hookci.db"), tmpl)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}

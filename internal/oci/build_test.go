package oci_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/oci"
)

// TestBuildCopyIn builds an image from a base root filesystem with a COPY
// and a config change, finds it through Pull by its built reference, and
// checks a second build with the same key is a cache hit (apply not run).
func TestBuildCopyIn(t *testing.T) {
	st := open(t, nil)
	base := t.TempDir()
	os.MkdirAll(filepath.Join(base, "etc"), 0o755)
	os.WriteFile(filepath.Join(base, "etc", "os-release"), []byte("base"), 0o644)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "entrypoint.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	sum := sha256.Sum256([]byte("build-test"))
	key := hex.EncodeToString(sum[:])
	runs := 0
	apply := func(rootfs string, cfg *oci.ImageConfig) error {
		runs++
		cfg.Entrypoint = []string{"/entrypoint.sh"}
		return oci.CopyIn(ctxDir, "entrypoint.sh", rootfs, "/", 1000, 1000)
	}
	img, err := st.Build(context.Background(), key, &oci.Image{Ref: "base", RootFS: base, Platform: "linux/amd64"}, apply)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(img.RootFS, "entrypoint.sh"))
	if err != nil || !strings.Contains(string(data), "echo hi") {
		t.Fatalf("copied file: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(img.RootFS, "etc", "os-release")); err != nil {
		t.Fatalf("base file missing: %v", err)
	}
	got, err := st.Pull(context.Background(), oci.BuiltRef(key), nil)
	if err != nil || got.Config.Entrypoint[0] != "/entrypoint.sh" {
		t.Fatalf("pull built: %+v %v", got, err)
	}
	if _, err := st.Build(context.Background(), key, &oci.Image{Ref: "base", RootFS: base}, apply); err != nil || runs != 1 {
		t.Fatalf("second build: runs=%d err=%v", runs, err)
	}
}

// TestAttackCopyInEscapes tries COPY sources outside the context (.., a
// symlink out of it) and a destination through a symlink in the rootfs
// pointing at a host directory: each is refused and the host is untouched.
func TestAttackCopyInEscapes(t *testing.T) {
	victim := t.TempDir()
	secret := filepath.Join(victim, "secret")
	os.WriteFile(secret, []byte("host secret"), 0o600)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "ok"), []byte("ok"), 0o644)
	os.Symlink(secret, filepath.Join(ctxDir, "link"))
	os.Symlink(victim, filepath.Join(ctxDir, "dirlink"))
	rootfs := t.TempDir()
	for _, src := range []string{"../../" + secret[1:], "link", "dirlink", "dirlink/secret"} {
		if err := oci.CopyIn(ctxDir, src, rootfs, "/stolen", -1, -1); err == nil {
			t.Errorf("COPY %s: no error", src)
		}
		if _, err := os.Lstat(filepath.Join(rootfs, "stolen")); err == nil {
			t.Errorf("COPY %s: copied into the image", src)
			os.RemoveAll(filepath.Join(rootfs, "stolen"))
		}
	}
	os.Symlink(victim, filepath.Join(rootfs, "evil"))
	if err := oci.CopyIn(ctxDir, "ok", rootfs, "/evil/pwned", -1, -1); err == nil {
		t.Errorf("COPY through a rootfs symlink: no error")
	}
	if _, err := os.Stat(filepath.Join(victim, "pwned")); err == nil {
		t.Fatal("COPY wrote outside the image root")
	}
}

package oci_test

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hookci/hookci/internal/oci/ocitest"
)

// TestAttackLayerEscapes pushes malicious layers to a real registry and
// pulls them: each tries to write, link or delete outside the image root.
// The pull must fail naming the entry, and the host files must be untouched
// (nothing created in the victim directory, the victim file unchanged and
// not hard-linked into the image).
func TestAttackLayerEscapes(t *testing.T) {
	reg := ocitest.Registry(t)
	ctx := context.Background()
	victim := t.TempDir() // a host directory outside the data directory
	victimFile := filepath.Join(victim, "victim")
	if err := os.WriteFile(victimFile, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	up := strings.Repeat("../", 12)
	cases := []struct {
		name    string
		entries []ocitest.Entry
		entry   string // the entry the error must name
	}{
		{"dotdot", []ocitest.Entry{{Name: up + victim[1:] + "/pwned", Body: "x"}}, up + victim[1:] + "/pwned"},
		{"absolute", []ocitest.Entry{{Name: victim + "/pwned", Body: "x"}}, victim + "/pwned"},
		{"symlink absolute then write through", []ocitest.Entry{
			{Name: "evil", Type: tar.TypeSymlink, Linkname: victim},
			{Name: "evil/pwned", Body: "x"}}, "evil/pwned"},
		{"symlink relative then write through", []ocitest.Entry{
			{Name: "a/", Type: tar.TypeDir},
			{Name: "a/evil", Type: tar.TypeSymlink, Linkname: up + victim[1:]},
			{Name: "a/evil/pwned", Body: "x"}}, "a/evil/pwned"},
		{"symlink then mkdir through", []ocitest.Entry{
			{Name: "evil", Type: tar.TypeSymlink, Linkname: victim},
			{Name: "evil/pwned/", Type: tar.TypeDir}}, "evil/pwned/"},
		{"hard link dotdot", []ocitest.Entry{
			{Name: "hl", Type: tar.TypeLink, Linkname: up + victimFile[1:]}}, "hl"},
		{"hard link absolute", []ocitest.Entry{
			{Name: "hl", Type: tar.TypeLink, Linkname: victimFile}}, "hl"},
		{"hard link through symlink", []ocitest.Entry{
			{Name: "evil", Type: tar.TypeSymlink, Linkname: victim},
			{Name: "hl", Type: tar.TypeLink, Linkname: "evil/victim"}}, "hl"},
		{"whiteout through symlink", []ocitest.Entry{
			{Name: "evil", Type: tar.TypeSymlink, Linkname: victim},
			{Name: "evil/.wh.victim"}}, "evil/.wh.victim"},
		{"opaque through symlink", []ocitest.Entry{
			{Name: "evil", Type: tar.TypeSymlink, Linkname: victim},
			{Name: "evil/.wh..wh..opq"}}, "evil/.wh..wh..opq"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tag := fmt.Sprintf("library/evil:%d", i)
			img := ocitest.Image(t, v1.Config{}, ocitest.TarLayer(t, c.entries...))
			if err := reg.Push(ctx, tag, img); err != nil {
				t.Fatal(err)
			}
			s := open(t, reg.Mirror())
			_, err := s.Pull(ctx, strings.TrimPrefix(tag, "library/"), nil)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", c.entry)) {
				t.Errorf("pull: got %v, want a refusal naming %q", err, c.entry)
			}
			checkVictim(t, victim, victimFile)
			left, _ := os.ReadDir(filepath.Join(s.Root(), "images"))
			if len(left) != 0 {
				t.Errorf("refused image left in the cache: %v", left)
			}
		})
	}
}

// TestAttackLayerReplacesSymlink: a file entry over a symlink an earlier
// layer planted (pointing at a host file) replaces the symlink; the host
// file is not written through it.
func TestAttackLayerReplacesSymlink(t *testing.T) {
	reg := ocitest.Registry(t)
	ctx := context.Background()
	victim := t.TempDir()
	victimFile := filepath.Join(victim, "victim")
	if err := os.WriteFile(victimFile, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := ocitest.Image(t, v1.Config{},
		ocitest.TarLayer(t, ocitest.Entry{Name: "f", Type: tar.TypeSymlink, Linkname: victimFile}),
		ocitest.TarLayer(t, ocitest.Entry{Name: "f", Body: "image", Mode: 0o4755}))
	if err := reg.Push(ctx, "library/swap:1", img); err != nil {
		t.Fatal(err)
	}
	got, err := open(t, reg.Mirror()).Pull(ctx, "swap:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(got.RootFS, "f")); string(b) != "image" {
		t.Errorf("f in the image: got %q, want image", b)
	}
	checkVictim(t, victim, victimFile)
}

func checkVictim(t *testing.T, dir, file string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("victim directory: got %v, want only victim (the attack wrote outside the root)", names)
	}
	b, err := os.ReadFile(file)
	var st syscall.Stat_t
	syscall.Stat(file, &st)
	if err != nil || string(b) != "host" || st.Nlink != 1 || st.Mode&0o7777 != 0o644 {
		t.Errorf("victim file: got %q (%v), %d links, mode %o; want \"host\", 1 link, 644", b, err, st.Nlink, st.Mode&0o7777)
	}
	if _, err := os.Lstat("/" + "pwned"); err == nil {
		t.Errorf("/pwned exists")
	}
}

package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/blob"
	"github.com/hookci/hookci/internal/blob/s3test"
)

var ctx = context.Background()

func hexSum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// forEachStore runs test on a store in a directory and on one in a real
// S3-compatible server (dir is "" for the latter).
func forEachStore(t *testing.T, test func(t *testing.T, s *Store, dir string)) {
	t.Run("dir", func(t *testing.T) {
		dir := t.TempDir()
		test(t, NewStore(dir), dir)
	})
	t.Run("s3", func(t *testing.T) {
		srv := s3test.Start(t)
		test(t, New(blob.Sub(srv.Open(t, "artifacts"), "artifacts")), "")
	})
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"dist", ""},
		{"my artifact-1.2", ""},
		{"", "empty"},
		{"  ", "empty"},
		{"a/b", "Contains the following character: '/'"},
		{`a\b`, "Contains the following character: '\\\\'"},
		{"a:b", "':'"},
		{".", "not valid"},
		{"..", "not valid"},
	}
	for _, tt := range tests {
		err := ValidName(tt.name)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ValidName(%q) = %v, want error containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestStoreAddListOpen(t *testing.T) {
	forEachStore(t, testStoreAddListOpen)
}

func testStoreAddListOpen(t *testing.T, s *Store, _ string) {
	if l, err := s.List(ctx, 1); err != nil || l != nil {
		t.Fatalf("List of an unknown run = %v, %v, want nil, nil", l, err)
	}
	for _, n := range []string{"zeta", "alpha"} {
		if _, err := s.Add(ctx, 1, "octo/hello", n, strings.NewReader("zip of "+n)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.List(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || l[0].Name != "alpha" || l[1].Name != "zeta" {
		t.Fatalf("List = %+v, want alpha then zeta", l)
	}
	if a := l[0]; a.RunID != 1 || a.Repo != "octo/hello" || a.Size != int64(len("zip of alpha")) || !strings.HasPrefix(a.Digest, "sha256:") {
		t.Errorf("artifact = %+v, want run 1, repo octo/hello, size %d, a sha256 digest", a, len("zip of alpha"))
	}
	f, a, err := s.Open(ctx, 1, "zeta")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "zip of zeta" || a.Name != "zeta" {
		t.Errorf("Open = %q (%s), want %q", b, a.Name, "zip of zeta")
	}
	for _, name := range []string{"nope", "../1/zeta", "..", ""} {
		if _, _, err := s.Open(ctx, 1, name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(1, %q) error = %v, want fs.ErrNotExist", name, err)
		}
	}
	if _, _, err := s.Open(ctx, 2, "zeta"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of another run's artifact: error = %v, want fs.ErrNotExist", err)
	}
}

func TestStorePutOverwrite(t *testing.T) {
	forEachStore(t, testStorePutOverwrite)
}

func testStorePutOverwrite(t *testing.T, s *Store, _ string) {
	put := func(content string, overwrite bool) error {
		return s.Put(ctx, &Artifact{RunID: 3, Name: "dist"}, overwrite, func(w io.Writer) (int, string, error) {
			_, err := io.WriteString(w, content)
			return 1, "", err
		})
	}
	if err := put("one", false); err != nil {
		t.Fatal(err)
	}
	if err := put("two", false); !errors.Is(err, ErrExists) {
		t.Fatalf("second Put without overwrite: error = %v, want ErrExists", err)
	}
	if err := put("three", true); err != nil {
		t.Fatalf("Put with overwrite: %v", err)
	}
	f, a, err := s.Open(ctx, 3, "dist")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "three" || a.Files != 1 || a.Digest != "sha256:"+hexSum("three") {
		t.Errorf("after overwrite: %q, %+v, want %q with 1 file and the sha256 of three", b, a, "three")
	}
	failed := s.Put(ctx, &Artifact{RunID: 3, Name: "broken"}, false, func(io.Writer) (int, string, error) {
		return 0, "", errors.New("disk on fire")
	})
	if failed == nil || !strings.Contains(failed.Error(), "disk on fire") {
		t.Errorf("Put with a failing writer: error = %v, want the writer's", failed)
	}
	if _, _, err := s.Open(ctx, 3, "broken"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed upload was stored: %v", err)
	}
}

func TestStorePrune(t *testing.T) {
	forEachStore(t, testStorePrune)
}

func testStorePrune(t *testing.T, s *Store, dir string) {
	if _, err := s.Add(ctx, 1, "octo/hello", "default", bytes.NewReader([]byte("zip"))); err != nil {
		t.Fatal(err)
	}
	short := &Artifact{RunID: 2, Name: "short", Expires: time.Now().Add(24 * time.Hour)}
	if err := s.Put(ctx, short, false, func(w io.Writer) (int, string, error) { return 0, "", nil }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		after time.Duration
		left  map[int64]int // artifacts left per run
	}{
		{0, map[int64]int{1: 1, 2: 1}},
		{2 * 24 * time.Hour, map[int64]int{1: 1, 2: 0}},
		{91 * 24 * time.Hour, map[int64]int{1: 0, 2: 0}},
	}
	for _, tt := range tests {
		if err := s.Prune(ctx, time.Now().Add(tt.after)); err != nil {
			t.Fatal(err)
		}
		for run, want := range tt.left {
			if l, _ := s.List(ctx, run); len(l) != want {
				t.Errorf("after %v: run %d has %d artifacts, want %d", tt.after, run, len(l), want)
			}
		}
	}
	if objs, err := s.b.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Errorf("left in the blob store: %+v, %v", objs, err)
	}
	if dir == "" {
		return
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("emptied run directories were kept: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(dir, "1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run 1's directory: %v, want it removed", err)
	}
}

// TestStorePruneOrphans: a zip no metadata names (a crashed upload, or
// the loser of two hosts racing on one name) goes once it is a day old;
// a young one (an upload in progress) and the artifacts' own zips stay.
func TestStorePruneOrphans(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *Store, _ string) {
		a, err := s.Add(ctx, 5, "octo/hello", "kept", strings.NewReader("zip"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.b.Put(ctx, "5/kept.1.zip", strings.NewReader("orphan")); err != nil {
			t.Fatal(err)
		}
		if err := s.Prune(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.b.Stat(ctx, "5/kept.1.zip"); err != nil {
			t.Errorf("a young zip (an upload in progress) was pruned: %v", err)
		}
		if err := s.Prune(ctx, time.Now().Add(25*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.b.Stat(ctx, "5/kept.1.zip"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a day-old orphan zip: got %v, want it pruned", err)
		}
		o, got, err := s.Open(ctx, 5, "kept")
		if err != nil || got.ID != a.ID {
			t.Fatalf("the artifact itself: %+v, %v", got, err)
		}
		o.Close()
	})
}

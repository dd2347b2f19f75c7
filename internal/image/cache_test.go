package image

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testKey = "0123456789abcdef0123456789abcdef"

func TestLayerCacheBuildsOnce(t *testing.T) {
	c := layerCache{root: t.TempDir()}
	var builds atomic.Int32
	build := func(ctx context.Context, stage string) error {
		builds.Add(1)
		return os.WriteFile(filepath.Join(stage, "f"), []byte("x"), 0o644)
	}
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	errs := make([]error, 8)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = c.ensure(context.Background(), "kernel", testKey, io.Discard, build) })
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil {
			t.Fatalf("ensure %d: %v", i, errs[i])
		}
		if dirs[i] != dirs[0] {
			t.Errorf("ensure %d: got dir %s, want %s", i, dirs[i], dirs[0])
		}
	}
	if got := builds.Load(); got != 1 {
		t.Errorf("got %d builds, want 1", got)
	}
	if got, err := os.ReadFile(filepath.Join(dirs[0], "f")); err != nil || string(got) != "x" {
		t.Errorf("layer file: got %q, %v; want \"x\"", got, err)
	}
	if want := filepath.Join(c.root, "kernel", testKey); dirs[0] != want {
		t.Errorf("got dir %s, want %s", dirs[0], want)
	}
}

func TestLayerCacheFailedBuildLeavesNothing(t *testing.T) {
	c := layerCache{root: t.TempDir()}
	boom := errors.New("boom")
	_, err := c.ensure(context.Background(), "base", testKey, io.Discard, func(ctx context.Context, stage string) error {
		os.WriteFile(filepath.Join(stage, "half"), nil, 0o644)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got error %v, want it to wrap %v", err, boom)
	}
	if isDir(c.path("base", testKey)) {
		t.Errorf("a failed build left its layer directory")
	}
	if left, _ := os.ReadDir(filepath.Join(c.root, "tmp")); len(left) != 0 {
		t.Errorf("a failed build left %d staging directories", len(left))
	}
}

func TestLayerCacheRemovesStaleStaging(t *testing.T) {
	c := layerCache{root: t.TempDir()}
	stale := filepath.Join(c.root, "tmp", "image-"+testKey[:16]+"-123")
	other := filepath.Join(c.root, "tmp", "image-ffffffffffffffff-123")
	for _, d := range []string{stale, other} {
		if err := os.MkdirAll(filepath.Join(d, "rootfs"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ensure(context.Background(), "image", testKey, io.Discard, func(context.Context, string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if isDir(stale) {
		t.Errorf("stale staging directory of the same layer was not removed")
	}
	if !isDir(other) {
		t.Errorf("staging directory of another layer was removed")
	}
	if !isDir(filepath.Join(c.root, testKey)) {
		t.Errorf("image layer not at DATA_DIR/image/<key>")
	}
}

func TestLayerCacheLockHonoursContext(t *testing.T) {
	c := layerCache{root: t.TempDir()}
	unlock, err := c.lock(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.lock(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v, want context.Canceled while another holder has the lock", err)
	}
}

func TestLatestAndLocateNotBuilt(t *testing.T) {
	dir := t.TempDir()
	if _, err := Latest(dir); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("Latest: got %v, want ErrNotBuilt", err)
	}
	r := DefaultRecipe()
	r.AgentPath = writeAgent(t, "agent")
	if _, err := Locate(dir, r); err != nil && !errors.Is(err, ErrNotBuilt) && !strings.Contains(err.Error(), "not installed") {
		t.Errorf("Locate: got %v, want ErrNotBuilt", err)
	} else if err == nil {
		t.Errorf("Locate: got an image in an empty data dir")
	}
}

// fakeImage writes an image layer directory with just its image.json.
func fakeImage(t *testing.T, c layerCache, hash, kernel, base string, built time.Time) {
	t.Helper()
	dir := c.path("image", hash)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img := Image{KernelKind: KernelMinimal, Kernel: "vmlinux", RootFSDir: "rootfs", RootDisk: "root.ext4",
		RecipeHash: hash, Keys: Keys{Kernel: kernel, Base: base, Recipe: hash}, Built: built}
	data, _ := json.Marshal(img)
	if err := os.WriteFile(filepath.Join(dir, imageJSON), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPrune(t *testing.T) {
	dataDir := t.TempDir()
	c := layerCache{root: filepath.Join(dataDir, "image")}
	key := func(b byte) string { return strings.Repeat(string(b), 64) }
	now := time.Now()
	old := now.Add(-48 * time.Hour)
	fakeImage(t, c, key('1'), key('a'), key('b'), now.Add(-1*time.Minute))
	fakeImage(t, c, key('2'), key('a'), key('b'), now.Add(-2*time.Minute))
	fakeImage(t, c, key('3'), key('c'), key('d'), now.Add(-3*time.Minute)) // current, kept though old
	fakeImage(t, c, key('4'), key('e'), key('b'), now.Add(-4*time.Minute)) // pruned
	for _, l := range []string{"kernel/" + key('a'), "kernel/" + key('c'), "kernel/" + key('e'), "kernel/" + key('f'), "base/" + key('b'), "base/" + key('d')} {
		p := filepath.Join(c.root, l)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
	fresh := filepath.Join(c.root, "kernel", key('9')) // unreferenced but new: a build may be using it
	os.MkdirAll(fresh, 0o755)
	if err := setCurrent(c, key('3')); err != nil {
		t.Fatal(err)
	}
	removed, err := Prune(context.Background(), dataDir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range removed {
		rel, _ := filepath.Rel(c.root, r)
		got = append(got, rel)
	}
	want := []string{key('4'), "kernel/" + key('e'), "kernel/" + key('f')}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("removed mismatch (-want +got):\n%s", diff)
	}
	for _, keep := range []string{key('1'), key('2'), key('3'), "kernel/" + key('a'), "kernel/" + key('c'), "base/" + key('b'), "base/" + key('d'), "kernel/" + key('9')} {
		if !isDir(filepath.Join(c.root, keep)) {
			t.Errorf("%s was removed, want it kept", keep)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(c.root, "tmp")); len(left) != 0 {
		t.Errorf("prune left %d entries in tmp", len(left))
	}
}

func TestSetCurrentLatest(t *testing.T) {
	dataDir := t.TempDir()
	c := layerCache{root: filepath.Join(dataDir, "image")}
	for _, k := range []string{strings.Repeat("1", 64), strings.Repeat("2", 64)} {
		fakeImage(t, c, k, strings.Repeat("a", 64), strings.Repeat("b", 64), time.Now())
		img, err := readImage(c.path("image", k))
		if err != nil {
			t.Fatal(err)
		}
		if err := SetCurrent(dataDir, img); err != nil {
			t.Fatal(err)
		}
		got, err := Latest(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		if got.Dir != c.path("image", k) || got.Kernel != filepath.Join(got.Dir, "vmlinux") || got.Initrd != "" {
			t.Errorf("Latest: got dir %s kernel %s initrd %q; want %s, its vmlinux, no initrd", got.Dir, got.Kernel, got.Initrd, c.path("image", k))
		}
	}
}

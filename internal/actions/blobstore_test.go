package actions

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/blob/s3test"
)

// forEachBlobStore runs test with caches and artifacts in the data
// directory (Config.Blobs nil) and in a bucket of a real S3-compatible
// server (versitygw); every env the test makes with the same func shares
// that bucket, as hosts do.
func forEachBlobStore(t *testing.T, test func(t *testing.T, blobs func(*Config))) {
	t.Run("dir", func(t *testing.T) { test(t, func(*Config) {}) })
	t.Run("s3", func(t *testing.T) {
		srv := s3test.Start(t)
		store := srv.Open(t, "hookci")
		test(t, func(c *Config) { c.Blobs = store })
	})
}

// TestArtifactsAndCachesAcrossHosts: two action runners with their own data
// directories (two hosts) share one S3 bucket. An artifact uploaded by a job
// on host A downloads in a job on host B, byte for byte; a cache saved on A
// restores on B (exact key); a feature branch's cache saved on A stays
// invisible to another branch's job on B (scoping unchanged); pruning on B
// removes what A stored once it has expired.
func TestArtifactsAndCachesAcrossHosts(t *testing.T) {
	srv := s3test.Start(t)
	store := srv.Open(t, "shared")
	hostA := newEnv(t, func(c *Config) { c.Blobs = store })
	hostB := newEnv(t, func(c *Config) { c.Blobs = store })
	if hostA.cfg.DataDir == hostB.cfg.DataDir {
		t.Fatal("the two hosts share a data directory")
	}
	hostA.write(map[string]string{"lock.txt": "v1\n"})
	hostB.write(map[string]string{"lock.txt": "v1\n"})

	upload := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p dist && head -c 3000000 /dev/urandom > dist/app.bin && sha256sum dist/app.bin | cut -c1-64 > dist/app.sum && echo "sum=$(cat dist/app.sum)"
      - uses: actions/upload-artifact@v4
        with:
          name: dist
          path: dist
  use:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: dist
          path: got
      - run: echo "downloaded=$(sha256sum got/app.bin | cut -c1-64) recorded=$(cat got/app.sum)"
`
	res, rec := hostA.run(upload, "build", runOpts{runID: 77})
	wantConclusion(t, res, rec, "success")
	res, rec = hostB.run(upload, "use", runOpts{runID: 77})
	wantConclusion(t, res, rec, "success")
	var got, want string
	for _, f := range strings.Fields(rec.log(2)) {
		if v, ok := strings.CutPrefix(f, "downloaded="); ok {
			got = v
		}
		if v, ok := strings.CutPrefix(f, "recorded="); ok {
			want = v
		}
	}
	if len(got) != 64 || got != want {
		t.Errorf("host B downloaded content with sha256 %q, host A uploaded %q:\n%s", got, want, rec.all())
	}
	// The web download on host B serves host A's artifact too.
	o, a, err := hostB.r.Artifacts().Open(context.Background(), 77, "dist")
	if err != nil {
		t.Fatalf("host B's artifact store: %v", err)
	}
	n, _ := io.Copy(io.Discard, o)
	o.Close()
	if n != a.Size || a.Files != 2 {
		t.Errorf("host B read %d bytes of %d (files %d, want 2)", n, a.Size, a.Files)
	}

	// Caches: saved on A, restored on B.
	if log, rec, _ := cacheRun(t, hostA, "x", "refs/heads/main"); !contains(log, "hit=false") {
		t.Fatalf("host A, first run: want a miss:\n%s", rec.all())
	}
	if log, rec, _ := cacheRun(t, hostB, "x", "refs/heads/main"); !contains(log, "hit=true") || !contains(log, "restored built-x tool") {
		t.Fatalf("host B: want an exact hit of host A's cache with its files:\n%s", rec.all())
	}
	// Scoping holds across hosts: a feature branch's cache (saved on A)
	// is not restored by another branch on B, but is on feature.
	cacheRun(t, hostA, "f", "refs/heads/feature")
	if log, rec, _ := cacheRun(t, hostB, "f", "refs/heads/other"); contains(log, "hit=true") || !contains(log, "restored built-x") || contains(log, "built-f") {
		t.Fatalf("host B on another branch: want main's cache (restore key), not feature's:\n%s", rec.all())
	}
	if log, rec, _ := cacheRun(t, hostB, "f", "refs/heads/feature"); !contains(log, "hit=true") {
		t.Fatalf("host B on feature: want feature's cache from host A:\n%s", rec.all())
	}

	// Pruning on B (one host prunes for all) removes A's expired artifact
	// and unused caches from the bucket; nothing fresh goes before that.
	ctx := context.Background()
	if err := hostB.r.Prune(time.Now()); err != nil {
		t.Fatal(err)
	}
	if l, _ := hostA.r.Artifacts().List(ctx, 77); len(l) != 1 {
		t.Fatalf("a fresh artifact was pruned: %+v", l)
	}
	if err := hostB.r.Prune(time.Now().Add(100 * 24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if objs, err := store.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Errorf("left in the bucket after pruning: %+v, %v", objs, err)
	}
	if _, rec, _ := cacheRun(t, hostA, "x", "refs/heads/main"); !hasLine(rec, "hit=false matched=") {
		t.Errorf("host A restored a pruned cache:\n%s", rec.all())
	}
}

// TestCacheSavedBeforeTheBlobStoreRestores: a cache in the layout hookci
// wrote before the blob store (data.tar.gz, no recorded name or checksum)
// still restores from the data directory.
func TestCacheSavedBeforeTheBlobStoreRestores(t *testing.T) {
	e := newEnv(t, nil)
	e.write(map[string]string{"lock.txt": "v1\n"})
	if log, rec, _ := cacheRun(t, e, "old", "refs/heads/main"); !contains(log, "hit=false") {
		t.Fatalf("first run: want a miss:\n%s", rec.all())
	}
	metas, _ := filepath.Glob(filepath.Join(e.cfg.DataDir, "caches", "*", "*", "*", "meta.json"))
	if len(metas) != 1 {
		t.Fatalf("got %d caches, want 1", len(metas))
	}
	var m map[string]any
	b, _ := os.ReadFile(metas[0])
	json.Unmarshal(b, &m)
	dir := filepath.Dir(metas[0])
	if err := os.Rename(filepath.Join(dir, m["data"].(string)), filepath.Join(dir, "data.tar.gz")); err != nil {
		t.Fatal(err)
	}
	delete(m, "data")
	delete(m, "sha256")
	delete(m, "used")
	b, _ = json.Marshal(m)
	os.WriteFile(metas[0], b, 0o644)
	if log, rec, _ := cacheRun(t, e, "old", "refs/heads/main"); !contains(log, "hit=true") || !contains(log, "restored built-old tool") {
		t.Fatalf("the old-layout cache did not restore:\n%s", rec.all())
	}
}

// TestBlobStoreDownDuringJob: with the S3 server down, an upload-artifact
// and a cache save fail their steps saying the endpoint cannot be reached;
// once it is back the artifact stored before is intact (same digest).
func TestBlobStoreDownDuringJob(t *testing.T) {
	srv := s3test.Start(t)
	store := srv.Open(t, "down")
	e := newEnv(t, func(c *Config) { c.Blobs = store })
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "$GITHUB_RUN_ATTEMPT $RANDOM" > f.txt
      - uses: actions/upload-artifact@v4
        with:
          name: dist
          path: f.txt
          overwrite: true
      - uses: actions/cache/save@v4
        if: always()
        with:
          path: f.txt
          key: k-${{ github.run_id }}
`
	res, rec := e.run(src, "build", runOpts{runID: 5})
	wantConclusion(t, res, rec, "success")
	ctx := context.Background()
	before, err := e.r.Artifacts().Stat(ctx, 5, "dist")
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	res, rec = e.run(src, "build", runOpts{runID: 6})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "cannot reach the endpoint")
	if n := strings.Count(rec.all(), "cannot reach the endpoint"); n < 2 {
		t.Errorf("want both the upload and the cache save to name the unreachable endpoint, got %d:\n%s", n, rec.all())
	}
	srv.Restart()
	after, err := e.r.Artifacts().Stat(ctx, 5, "dist")
	if err != nil || after.Digest != before.Digest {
		t.Errorf("after the outage: %+v, %v; want the artifact stored before (%s)", after, err, before.Digest)
	}
	f, _, err := e.r.Artifacts().Fetch(ctx, 5, "dist", t.TempDir())
	if err != nil {
		t.Fatalf("the artifact stored before does not verify: %v", err)
	}
	f.Close()
}

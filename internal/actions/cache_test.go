package actions

import (
	"testing"
	"time"

	"github.com/hookci/hookci/internal/blob"
)

const cacheWorkflow = `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: cache
        uses: actions/cache@v4
        with:
          path: |
            deps
            ~/.cache/tool
          key: deps-${{ hashFiles('lock.txt') }}-%SUFFIX%
          restore-keys: |
            deps-
      - run: |
          echo "hit=${{ steps.cache.outputs.cache-hit }} matched=${{ steps.cache.outputs.cache-matched-key }}"
          if [ -f deps/big.bin ]; then echo "restored $(cat deps/marker) $(cat ~/.cache/tool/t.txt)"; fi
      - if: steps.cache.outputs.cache-hit != 'true'
        run: |
          mkdir -p deps ~/.cache/tool
          head -c 20000000 /dev/urandom > deps/big.bin
          echo "built-%SUFFIX%" > deps/marker
          echo tool > ~/.cache/tool/t.txt
`

func cacheRun(t *testing.T, e *env, suffix, ref string) (hit string, rec *recorder, took time.Duration) {
	t.Helper()
	src := replaceAll(cacheWorkflow, "%SUFFIX%", suffix)
	res, rec := e.run(src, "build", runOpts{ref: ref})
	wantConclusion(t, res, rec, "success")
	r := rec.res[2]
	return rec.log(3), rec, r.Finished.Sub(r.Started)
}

func TestCacheMissThenHit(t *testing.T) {
	forEachBlobStore(t, testCacheMissThenHit)
}

func testCacheMissThenHit(t *testing.T, blobs func(*Config)) {
	e := newEnv(t, blobs)
	e.write(map[string]string{"lock.txt": "v1\n"})

	log, rec, missTook := cacheRun(t, e, "a", "refs/heads/main")
	if !contains(log, "hit=false matched=") || contains(log, "restored") {
		t.Fatalf("first run: want a miss, got:\n%s", rec.all())
	}
	wantLog(t, rec, "Cache saved with key: deps-")
	saveTook := rec.res[5].Finished.Sub(rec.res[5].Started)

	log, rec, hitTook := cacheRun(t, e, "a", "refs/heads/main")
	if !contains(log, "hit=true") || !contains(log, "restored built-a tool") {
		t.Fatalf("second run: want an exact hit with the files, got:\n%s", rec.all())
	}
	if _, ok := rec.names[5]; ok {
		t.Errorf("a hit must not save again, but step 5 is %q", rec.names[5])
	}
	t.Logf("20 MB cache: miss lookup %v, save (post step) %v, hit restore %v", missTook, saveTook, hitTook)

	// Another key: the restore key matches, cache-hit stays false and the post saves.
	log, rec, _ = cacheRun(t, e, "b", "refs/heads/main")
	if !contains(log, "hit=false matched=deps-") || !contains(log, "restored built-a") {
		t.Fatalf("restore-keys run: got:\n%s", rec.all())
	}

	// A feature branch restores from the default branch, and saves in its own scope.
	log, rec, _ = cacheRun(t, e, "c", "refs/heads/feature")
	if !contains(log, "matched=deps-") {
		t.Fatalf("feature branch should restore the default branch's cache:\n%s", rec.all())
	}
	// A cache saved only on feature is invisible to another branch.
	e2 := newEnv(t, func(c *Config) { // another repository store: a fresh directory, or another prefix of the bucket
		if blobs(c); c.Blobs != nil {
			c.Blobs = blob.Sub(c.Blobs, "e2")
		}
	})
	e2.write(map[string]string{"lock.txt": "v1\n"})
	cacheRun(t, e2, "d", "refs/heads/feature")
	log, rec, _ = cacheRun(t, e2, "d", "refs/heads/other")
	if !hasLine(rec, "hit=false matched=") || contains(log, "restored") {
		t.Fatalf("another branch restored feature's cache:\n%s", rec.all())
	}
	// ... but the same branch sees it.
	log, rec, _ = cacheRun(t, e2, "d", "refs/heads/feature")
	if !contains(log, "hit=true") {
		t.Fatalf("feature should hit its own cache:\n%s", rec.all())
	}
}

func TestCacheRestoreSaveAndScopes(t *testing.T) {
	e := newEnv(t, nil)
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: r
        uses: actions/cache/restore@v4
        with:
          path: out.txt
          key: k1
      - run: echo "hit=[${{ steps.r.outputs.cache-hit }}] primary=${{ steps.r.outputs.cache-primary-key }}"; cat out.txt 2>/dev/null || true
      - run: echo saved-content > out.txt
      - uses: actions/cache/save@v4
        with:
          path: out.txt
          key: k1
      - uses: actions/cache/restore@v4
        with:
          path: out.txt
          key: missing
          fail-on-cache-miss: true
`
	res, rec := e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "hit=[false] primary=k1", "Cache saved with key: k1", "Exiting as fail-on-cache-miss is set")
	_, rec = e.run(src, "build", runOpts{})
	wantLog(t, rec, "hit=[true] primary=k1", "saved-content", "Unable to reserve cache with key k1")

	got := cacheScopes(runnerEvent("refs/pull/4/merge", "develop", `{"repository":{"default_branch":"main"}}`))
	want := []string{"refs/pull/4/merge", "refs/heads/develop", "refs/heads/main"}
	if !equal(got, want) {
		t.Errorf("cacheScopes = %v, want %v", got, want)
	}
}

// TestCacheRepoCapEvictsLeastRecentlyUsed: with a cap of three caches'
// size, saving a fourth evicts the one used least recently (b, not a, which
// was restored after b was saved); the others still restore.
func TestCacheRepoCapEvictsLeastRecentlyUsed(t *testing.T) {
	forEachBlobStore(t, testCacheRepoCapEvictsLeastRecentlyUsed)
}

func testCacheRepoCapEvictsLeastRecentlyUsed(t *testing.T, blobs func(*Config)) {
	e := newEnv(t, func(c *Config) { blobs(c); c.CacheRepoBytes = 3*100_000 + 50_000 })
	step := func(key string) string {
		return `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: c
        uses: actions/cache@v4
        with:
          path: blob
          key: ` + key + `
      - run: echo "hit-` + key + `=${{ steps.c.outputs.cache-hit }}"
      - if: steps.c.outputs.cache-hit != 'true'
        run: head -c 100000 /dev/urandom > blob
`
	}
	for _, k := range []string{"a", "b", "c"} {
		_, rec := e.run(step(k), "build", runOpts{})
		wantLog(t, rec, "hit-"+k+"=false", "Cache saved with key: "+k)
		time.Sleep(20 * time.Millisecond) // distinct use times (file mtimes)
	}
	_, rec := e.run(step("a"), "build", runOpts{})
	wantLog(t, rec, "hit-a=true")
	time.Sleep(20 * time.Millisecond)
	_, rec = e.run(step("d"), "build", runOpts{})
	wantLog(t, rec, "Cache saved with key: d", "Evicted cache b (")
	if contains(rec.all(), "Evicted cache a") || contains(rec.all(), "Evicted cache c") {
		t.Errorf("evicted more than the least recently used cache:\n%s", rec.all())
	}
	for _, kw := range [][2]string{{"a", "true"}, {"c", "true"}, {"d", "true"}, {"b", "false"}} { // b last: its miss saves again
		_, rec := e.run(step(kw[0]), "build", runOpts{})
		wantLog(t, rec, "hit-"+kw[0]+"="+kw[1])
	}
}

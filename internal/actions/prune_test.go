package actions

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestPrune(t *testing.T) {
	forEachBlobStore(t, testPrune)
}

func testPrune(t *testing.T, blobs func(*Config)) {
	e := newEnv(t, blobs)
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo x > f.txt
      - uses: actions/cache/save@v4
        with:
          path: f.txt
          key: k
`
	e.run(src, "build", runOpts{})
	if _, err := e.r.Artifacts().Add(context.Background(), 1, "octo/hello", "old", bytes.NewReader([]byte("zip"))); err != nil {
		t.Fatal(err)
	}
	q := []string{"refs/heads/main"}
	if err := e.r.Prune(time.Now()); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := e.r.caches.lookup(context.Background(), "octo/hello", q, "k", nil, cacheVersion([]string{"f.txt"})); m == nil {
		t.Fatal("a fresh cache was pruned")
	}
	if l, _ := e.r.Artifacts().List(context.Background(), 1); len(l) != 1 {
		t.Fatalf("a fresh artifact was pruned: %v", l)
	}
	if err := e.r.Prune(time.Now().Add(100 * 24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := e.r.caches.lookup(context.Background(), "octo/hello", q, "k", nil, cacheVersion([]string{"f.txt"})); m != nil {
		t.Error("an unused cache survived pruning")
	}
	if l, _ := e.r.Artifacts().List(context.Background(), 1); len(l) != 0 {
		t.Errorf("an expired artifact survived pruning: %v", l)
	}
}

package actions

import (
	"strings"
	"sync"
	"testing"
)

// TestCacheLookupsReported: ObserveCache's function is told "miss" for a first run,
// "hit" for the same key again and "partial" when only a restore key matches.
func TestCacheLookupsReported(t *testing.T) {
	var mu sync.Mutex
	var got []string
	e := newEnv(t, nil)
	e.r.ObserveCache(func(result string) { mu.Lock(); got = append(got, result); mu.Unlock() })
	e.write(map[string]string{"lock.txt": "v1\n"})
	for _, suffix := range []string{"a", "a", "b"} {
		cacheRun(t, e, suffix, "refs/heads/main")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "miss,hit,partial"; strings.Join(got, ",") != want {
		t.Errorf("OnCache results = %q, want %q", strings.Join(got, ","), want)
	}
}

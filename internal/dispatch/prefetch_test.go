package dispatch

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
	"github.com/hookci/hookci/internal/store"
)

// TestPrefetchFetchesWhatPlanningWill: a push the intake is storing has its
// commit and its previous head fetched into the mirror before any planning;
// a delivery not queued for planning, an event planning does not fetch for
// here, a branch deletion (no commit) and a prefetch over the bound fetch
// nothing.
func TestPrefetchFetchesWhatPlanningWill(t *testing.T) {
	gitRoot := t.TempDir()
	repo := gittest.New(t, gitRoot, "octo/pre")
	before := repo.Commit("one", map[string]string{"a.txt": "a\n"})
	after := repo.Commit("two", map[string]string{"a.txt": "b\n"})
	repo.Push("main")
	mirrors := t.TempDir()
	d := New(Config{Git: gitrepo.New(mirrors, "file://"+gitRoot, nil)})
	delivery := func(event, status, sha string) store.Delivery {
		body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": before, "after": sha,
			"repository": map[string]any{"full_name": "octo/pre", "default_branch": "main"}})
		return store.Delivery{ID: "x", Event: event, Repo: "octo/pre", SHA: sha, Payload: body, Status: status}
	}
	mirror := filepath.Join(mirrors, "octo", "pre.git")
	has := func(sha string) bool {
		if _, err := os.Stat(mirror); err != nil {
			return false
		}
		return exec.Command("git", "-C", mirror, "cat-file", "-e", sha+"^{commit}").Run() == nil
	}
	ctx := context.Background()
	for _, del := range []store.Delivery{
		delivery("push", store.DeliveryIgnored, after),
		delivery("issues", store.DeliveryQueued, after),
		delivery("push", store.DeliveryQueued, strings.Repeat("0", 40)),
	} {
		d.Prefetch(ctx, del)
		d.Wait()
		if has(after) {
			t.Fatalf("prefetch of %s (%s, %s) fetched the commit", del.Event, del.Status, del.SHA)
		}
	}
	// Over the bound: nothing starts.
	for i := 0; i < maxPrefetches; i++ {
		d.prefetching <- struct{}{}
	}
	d.Prefetch(ctx, delivery("push", store.DeliveryQueued, after))
	d.Wait()
	if has(after) {
		t.Fatal("a prefetch over the bound ran")
	}
	for i := 0; i < maxPrefetches; i++ {
		<-d.prefetching
	}
	d.Prefetch(ctx, delivery("push", store.DeliveryQueued, after))
	deadline := time.Now().Add(30 * time.Second)
	d.Wait()
	for !has(after) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !has(after) || !has(before) {
		t.Fatalf("after the prefetch the mirror holds the commit: %v, its previous head: %v", has(after), has(before))
	}
}

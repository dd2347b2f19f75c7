package gitrepo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestAttackGitHookSeesNoServerSecrets (issue 9, item 16): git runs
// scripts (hooks here; credential helpers, ssh commands and filters the
// same way) with its own environment. Through the real fetch and checkout
// of a run's workspace, a post-checkout hook dumps the environment git gave
// it: neither the webhook secret nor the server's token may be in it.
func TestAttackGitHookSeesNoServerSecrets(t *testing.T) {
	const (
		secret = "whsec-marker-1b7e"
		token  = "ghp-server-token-marker-42c0"
	)
	root := t.TempDir()
	repo := gittest.New(t, root, "octo/hello")
	sha := repo.Commit("one", map[string]string{"a.txt": "a"})
	repo.Git("tag", "v1")
	repo.Push("main")
	repo.Push("refs/tags/v1")
	srv := gittest.NewHTTPServer(t, root)
	srv.Private("octo/hello", token)

	// The operator's git configuration runs hooks from a directory; the
	// hooks append their environment to dump.
	home, hooks := t.TempDir(), t.TempDir()
	dump := filepath.Join(t.TempDir(), "env.dump")
	script := "#!/bin/sh\necho \"== $0\" >> " + dump + "\nenv >> " + dump + "\n"
	for _, h := range []string{"post-checkout", "reference-transaction", "pre-auto-gc"} {
		if err := os.WriteFile(filepath.Join(hooks, h), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[core]\n\thooksPath = "+hooks+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("HOOKCI_WEBHOOK_SECRET", secret)
	t.Setenv("HOOKCI_GITHUB_TOKEN", token)
	t.Setenv("GITHUB_TOKEN", token)

	ctx := context.Background()
	c := New(t.TempDir(), srv.URL, func(context.Context, string) (string, error) { return token, nil })
	m, err := c.Fetch(ctx, "octo/hello", sha)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Passwords("octo/hello"); len(got) != 1 || got[0] != token {
		t.Fatalf("the fetch presented %q, want the server's token (the header reached git)", got)
	}
	// Fetches that update refs (the fetched commits' refs, tags) would run
	// the reference-transaction hook with the credential in its
	// environment: none may run.
	if _, err := c.FetchTags(ctx, "octo/hello", "", true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dump); strings.Contains(string(b), "reference-transaction") {
		t.Errorf("a hook ran inside an authenticated fetch:\n%s", b)
	}
	// A plain tree's workspace tar is written with no git process at all
	// (exportdirect.go): nothing for a hook to see.
	before, _ := os.ReadFile(dump)
	if _, err := m.ExportCached(ctx, sha, c.CloneURL("octo/hello")); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(dump); len(after) != len(before) {
		t.Errorf("the direct export ran git (a hook wrote %d bytes)", len(after)-len(before))
	}
	// Git's own checkout (any other tree) runs the hook.
	if err := m.Checkout(ctx, sha, filepath.Join(t.TempDir(), "ws"), c.CloneURL("octo/hello")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dump)
	if err != nil || !strings.Contains(string(b), "== "+filepath.Join(hooks, "post-checkout")) || !strings.Contains(string(b), "PATH=") {
		t.Fatalf("the post-checkout hook did not run (%v): the test proves nothing\n%s", err, b)
	}
	for _, bad := range []string{secret, token, "HOOKCI_", basicAuth("x-access-token", token)} {
		if strings.Contains(string(b), bad) {
			t.Errorf("a script git ran saw %q in its environment:\n%s", bad, b)
		}
	}
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/github/githubtest"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestAttackForkReadsPrivateRepositories (issue 9, item 3), end to end: the
// server's git URL is a real smart-HTTP git server where every repository
// of the owner is private and readable with the server's token. A fork's
// pull request checks out another private repository and uses a private
// action of the owner; both fail, nothing of them reaches the run page, and
// the server's token never reaches the git server for them (it does for the
// run's own repository: planning). (In a namespace sandbox: a fork's job
// never runs on the host.)
func TestAttackForkReadsPrivateRepositories(t *testing.T) {
	requireSandbox(t, "namespace")
	h := newHarness(t, "namespace")
	h.stop()
	gitRoot := filepath.Dir(filepath.Dir(h.repo.Bare))
	srv := gittest.NewHTTPServer(t, gitRoot)
	for _, r := range []string{e2eRepo, "octo/private-other", "octo/private-action"} {
		srv.Private(r, e2eToken)
	}
	h.cfg.GitURL = srv.URL
	h.start()

	other := gittest.New(t, gitRoot, "octo/private-other")
	other.Commit("secret", map[string]string{"secret.txt": "PRIVATE-OTHER-CONTENT-61b2"})
	other.Push("main")
	act := gittest.New(t, gitRoot, "octo/private-action")
	act.Commit("action", map[string]string{"action.yml": "runs:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo PRIVATE-ACTION-RAN-61b2\n"})
	act.Push("HEAD:refs/tags/v1")

	base := h.repo.Commit("base", map[string]string{".github/workflows/ci.yml": `name: CI
on: pull_request
jobs:
  steal:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          repository: octo/private-other
          ref: main
          path: other
      - if: always()
        uses: octo/private-action@v1
      - if: always()
        run: cat other/secret.txt || echo "nothing stolen"
`})
	h.repo.Push("main")
	h.repo.Branch("evil")
	head := h.repo.Commit("change", map[string]string{"f.txt": "1"})
	h.repo.Push("evil")
	h.gh.AddPullRequest(e2eRepo, githubtest.PullRequest{Number: 31, State: "open", HeadSHA: head, BaseSHA: base, BaseRef: "main"})
	pr := payload(t, "pull_request", "opened.payload.json", func(p map[string]any) {
		p["number"] = 31
		pr := p["pull_request"].(map[string]any)
		pr["number"] = 31
		hd, bs := pr["head"].(map[string]any), pr["base"].(map[string]any)
		hd["sha"], hd["ref"], bs["sha"], bs["ref"] = head, "evil", base, "main"
		hd["repo"].(map[string]any)["full_name"] = "mallory/hello"
		hd["repo"].(map[string]any)["fork"] = true
		bs["repo"].(map[string]any)["full_name"] = e2eRepo
	})
	h.sendSigned("pull_request", "fork-steal", pr)
	sts := h.waitStatus(head)
	final := sts[len(sts)-1]
	page := h.get(strings.TrimPrefix(final.TargetURL, h.url))
	if final.State != "failure" {
		t.Errorf("fork run state = %s, want failure; page:\n%s", final.State, page)
	}
	for _, leak := range []string{"PRIVATE-OTHER-CONTENT-61b2", "PRIVATE-ACTION-RAN-61b2"} {
		if strings.Contains(page, leak) {
			t.Errorf("the fork's run read a private repository (%s); page:\n%s", leak, page)
		}
	}
	for _, want := range []string{"octo/private-other cannot be read without a credential", "nothing stolen"} {
		if !strings.Contains(page, want) {
			t.Errorf("run page lacks %q; page:\n%s", want, page)
		}
	}
	for _, repo := range []string{"octo/private-other", "octo/private-action"} {
		reqs := srv.Requests(repo)
		if len(reqs) == 0 {
			t.Errorf("the fork's job never asked the git server for %s: the attack was not tried", repo)
		}
		for _, r := range reqs {
			if r.HasAuth {
				t.Errorf("a fetch of %s for the fork presented a credential (server's token: %v)", repo, r.Password == e2eToken)
			}
		}
	}
	if got := srv.Passwords(e2eRepo); len(got) == 0 || got[0] != e2eToken {
		t.Errorf("planning fetched %s with %q, want the server's token (the git server is really private)", e2eRepo, got)
	}
}

// TestAttackActionLinkChainEndToEnd (issue 9, item 2), end to end: a push
// whose workflow uses a remote action whose action.yml is reached through a
// chain of relative links, each looking local, that ends at a host file.
// The action is refused by name and the host file is neither run nor shown.
func TestAttackActionLinkChainEndToEnd(t *testing.T) {
	h := newHarness(t, "host")
	gitRoot := filepath.Dir(filepath.Dir(h.repo.Bare))
	const marker = "HOST-FILE-RAN-e2e-7d4c"
	host := filepath.Join(t.TempDir(), "action.yml")
	if err := os.WriteFile(host, []byte("runs:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo "+marker+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	evil := gittest.New(t, gitRoot, "octo/evil")
	dirs, ups := make([]string, 40), make([]string, 40)
	for i := range dirs {
		dirs[i], ups[i] = fmt.Sprintf("d%d", i), ".."
	}
	up := strings.Join(dirs, "/") + "/up" // -> ../../… : the tree's root
	evil.Symlink(up, strings.Join(ups, "/"))
	evil.Symlink("esc", up+"/"+strings.Join(ups, "/")) // looks like d0, is /
	evil.Symlink("action.yml", "esc"+host)
	evil.Commit("evil", map[string]string{"README": "x"})
	evil.Push("HEAD:refs/tags/v1")

	zero := strings.Repeat("0", 40)
	c := h.repo.Commit("use evil", map[string]string{".github/workflows/ci.yml": "name: CI\non: push\njobs:\n  use:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: octo/evil@v1\n"})
	h.repo.Push("main")
	h.sendSigned("push", "evil-action", pushPayload(t, zero, c))
	sts := h.waitStatus(c)
	final := sts[len(sts)-1]
	page := h.get(strings.TrimPrefix(final.TargetURL, h.url))
	if final.State != "failure" {
		t.Errorf("state = %s, want failure", final.State)
	}
	if strings.Contains(page, marker) {
		t.Fatalf("the host file was run as the action; page:\n%s", page)
	}
	if want := "fetching action octo/evil@v1: symlink action.yml leads outside the action"; !strings.Contains(page, want) {
		t.Errorf("run page lacks %q; page:\n%s", want, page)
	}
}

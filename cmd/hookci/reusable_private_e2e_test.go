package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// TestReusableWorkflowPrivateShared (App mode): reusable workflows of other
// private repositories are read with the App installation token of their
// repository exactly where GitHub's access rules allow it. The git server
// is a real smart-HTTP server that accepts only installation tokens the
// fake GitHub minted for the repository's installation; the fake says each
// repository's visibility and Actions access setting (read with
// Administration: read). One push, four workflows:
//   - octo/private-lib, access "user", same owner: the called job runs with
//     its input, and the lib was fetched with an installation token;
//   - octo/closed-lib, access "none": refused, never read with a credential;
//   - evil/shared-lib, access "organization", another owner: refused, never
//     read with a credential;
//   - then the caller becomes public: a new push calling octo/private-lib is
//     refused (a public repository calls public workflows only).
func TestReusableWorkflowPrivateShared(t *testing.T) {
	h := newAppHarness(t)
	h.stop()
	gitRoot := strings.TrimPrefix(h.cfg.GitURL, "file://")
	srv := gittest.NewHTTPServer(t, gitRoot)
	installed := map[string]bool{e2eRepo: true, "octo/private-lib": true, "octo/closed-lib": true}
	srv.Authorize(func(repo, password string) bool {
		for _, m := range h.gh.MintedTokens() {
			if m.Token == password && !m.Revoked && m.Installation == installation && installed[repo] &&
				(m.Repositories == nil || slices.Contains(m.Repositories, strings.TrimPrefix(repo, "octo/"))) {
				return true
			}
		}
		return false
	})
	libs := map[string]string{"octo/private-lib": "user", "octo/closed-lib": "none", "evil/shared-lib": "organization"}
	for r, level := range libs {
		owner, name, _ := strings.Cut(r, "/")
		inst := int64(installation)
		if owner != "octo" {
			inst = installation + 1
		}
		h.gh.AddRepo(owner, name, inst)
		h.gh.SetActionsAccessLevel(r, level)
		srv.Private(r)
		lib := gittest.New(t, gitRoot, r)
		lib.Commit("lib", map[string]string{".github/workflows/lib.yml": "on:\n  workflow_call:\n    inputs:\n      who: {type: string, required: true}\n" +
			"jobs:\n  lib:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"LIB-RAN-" + name + " for ${{ inputs.who }}\"\n"})
		lib.Push("HEAD:refs/tags/v1")
	}
	srv.Private(e2eRepo)
	perms := map[string]string{"metadata": "read", "contents": "write", "checks": "write", "statuses": "write",
		"pull_requests": "write", "administration": "read"}
	h.gh.SetInstallationPermissions(installation, perms)
	h.gh.SetInstallationPermissions(installation+1, perms)
	h.cfg.GitURL = srv.URL
	h.start()

	call := func(name, lib string) string {
		return "name: " + name + "\non: push\njobs:\n  call:\n    uses: " + lib + "/.github/workflows/lib.yml@v1\n    with:\n      who: " + name + "\n"
	}
	sha := h.repo.Commit("calls", map[string]string{
		".github/workflows/shared.yml": call("shared", "octo/private-lib"),
		".github/workflows/closed.yml": call("closed", "octo/closed-lib"),
		".github/workflows/other.yml":  call("other", "evil/shared-lib"),
	})
	h.repo.Push("main")
	body := payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", strings.Repeat("0", 40), sha, false, []any{}
		p["installation"] = map[string]any{"id": installation}
	})
	h.sendSigned("push", "private-shared", body)
	runs := h.waitRuns(3)
	byName := map[string]e2eRunView{}
	for _, v := range runs {
		byName[runWorkflowName(h, v.ID)] = v
	}
	if v := byName["shared"]; v.Conclusion != "success" {
		t.Errorf("shared: run %s %q, want success", v.Conclusion, v.Message)
	} else if log, _ := jobLog(v, "call / lib"); !strings.Contains(log, "LIB-RAN-private-lib for shared") {
		t.Errorf("shared: the called job's log %q lacks the lib's output", log)
	}
	want := map[string]string{
		"closed": `its Actions access setting ("none") allows only its own workflows to use it`,
		"other":  `shares it only with repositories of evil, not octo/hello`,
	}
	for name, msg := range want {
		v := byName[name]
		if v.Conclusion != "failure" || !strings.Contains(v.Message, msg) || !strings.Contains(v.Message, "failed to fetch workflow") {
			t.Errorf("%s: run %s %q, want failure saying %q", name, v.Conclusion, v.Message, msg)
		}
		if len(v.Jobs) != 0 {
			t.Errorf("ATTACK: %s: the refused reusable workflow made jobs: %+v", name, v.Jobs)
		}
	}
	for _, r := range []string{"octo/closed-lib", "evil/shared-lib"} {
		reqs := srv.Requests(r)
		if len(reqs) == 0 {
			t.Errorf("hookci never asked the git server for %s: the refusal was not tried", r)
		}
		for _, q := range reqs {
			if q.HasAuth {
				t.Errorf("ATTACK: %s was asked for with a credential although GitHub's rules refuse it", r)
			}
		}
	}
	if pw := srv.Passwords("octo/private-lib"); len(pw) == 0 {
		t.Error("octo/private-lib was never read with an installation token")
	}

	h.gh.SetRepoVisibility(e2eRepo, "public")
	h.repo.Git("rm", "-q", ".github/workflows/closed.yml", ".github/workflows/other.yml")
	h.repo.Git("commit", "-q", "-m", "only shared")
	sha2 := h.repo.Head()
	h.repo.Push("main")
	body2 := payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", sha, sha2, false, []any{}
		p["installation"] = map[string]any{"id": installation}
	})
	h.sendSigned("push", "private-shared-2", body2)
	runs = h.waitRuns(4)
	for _, v := range runs {
		if _, old := byName[runWorkflowName(h, v.ID)]; old && v.ID <= maxID(byName) {
			continue
		}
		if v.Conclusion != "failure" || !strings.Contains(v.Message, "a workflow in a public repository (octo/hello) can only use reusable workflows of public repositories") {
			t.Errorf("public caller: run %s %q, want the public-repository refusal", v.Conclusion, v.Message)
		}
	}
}

func maxID(m map[string]e2eRunView) int64 {
	var n int64
	for _, v := range m {
		n = max(n, v.ID)
	}
	return n
}

// runWorkflowName is the workflow file of run id without directory and extension.
func runWorkflowName(h *harness, id int64) string {
	var r struct{ WorkflowFile string }
	json.Unmarshal([]byte(h.get(fmt.Sprintf("/api/runs/%d", id))), &r)
	return strings.TrimSuffix(strings.TrimPrefix(r.WorkflowFile, ".github/workflows/"), ".yml")
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// apiProbe is a step script: probe METHOD PATH [BODY] prints the HTTP status
// the fake GitHub answers the job's own GITHUB_TOKEN.
const apiProbe = `probe() {
  if [ -n "$3" ]; then
    curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $GITHUB_TOKEN" "$GITHUB_API_URL/$2" -d "$3"
  else
    curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $GITHUB_TOKEN" "$GITHUB_API_URL/$2"
  fi
}
`

const tokenAttackWorkflow = `name: CI
on: push
permissions:
  contents: read
jobs:
  attack:
    runs-on: ubuntu-latest
    steps:
      - run: |
%s
          {
            echo "own-read=$(probe GET repos/octo/hello)"
            echo "other-write=$(probe POST repos/octo/other/statuses/$GITHUB_SHA '{"state":"success","context":"evil"}')"
            echo "other-read=$(probe GET repos/octo/other)"
            echo "own-status=$(probe POST repos/octo/hello/statuses/$GITHUB_SHA '{"state":"success","context":"evil"}')"
            echo "own-comment=$(probe POST repos/octo/hello/issues/1/comments '{"body":"evil"}')"
          } > "$OUT/attack.txt"
          exit 1
        env:
          OUT: %s
          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
  writer:
    runs-on: ubuntu-latest
    permissions:
      statuses: write
    steps:
      - run: |
%s
          echo "own-status=$(probe POST repos/octo/hello/statuses/$GITHUB_SHA '{"state":"success","context":"granted"}')" > "$OUT/writer.txt"
        env:
          OUT: %s
          GITHUB_TOKEN: ${{ github.token }}
`

// indent prefixes every line of s with n spaces.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

// readResults parses name=value lines a job wrote.
func readResults(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the job left no results: %v", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		out[k] = v
	}
	return out
}

// waitRunsDone waits until n runs exist and all are completed.
func (h *harness) waitRunsDone(n int) []store.Run {
	h.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var runs []store.Run
		json.Unmarshal([]byte(h.get("/api/runs")), &runs)
		done := len(runs) >= n
		for _, r := range runs {
			done = done && r.Status == store.StatusCompleted
		}
		if done {
			return runs
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("runs did not complete: %s", h.get("/api/runs"))
	return nil
}

// TestJobTokenAttacks (App mode): a job uses its GITHUB_TOKEN against the
// fake GitHub, which enforces what GitHub enforces. With permissions:
// contents: read it can read its own repository (the probe works) but
// cannot write to another repository of the installation, nor create a
// status or a comment on its own; a job granted statuses: write can. After
// the jobs ended (one of them failing), every token they held is revoked
// and answers 401.
func TestJobTokenAttacks(t *testing.T) {
	h := newAppHarness(t)
	h.gh.AddRepo("octo", "other", installation)
	out := t.TempDir()
	probe := indent(apiProbe, 10)
	wf := fmt.Sprintf(tokenAttackWorkflow, probe, out, probe, out)
	sha := h.repo.Commit("attack", map[string]string{".github/workflows/ci.yml": wf})
	h.repo.Push("main")
	h.sendSigned("push", "tok-attack", withInstallation(pushPayload(t, strings.Repeat("0", 40), sha)))
	h.waitRunsDone(1)

	got := readResults(t, filepath.Join(out, "attack.txt"))
	want := map[string]string{
		"own-read":    "200", // the probe itself works: the token is valid for its repository
		"other-write": "404", // another repository of the installation is out of the token's reach
		"other-read":  "404",
		"own-status":  "403", // contents: read grants no statuses: write
		"own-comment": "403",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("attack job %s: got %s, want %s", k, got[k], w)
		}
	}
	if got := readResults(t, filepath.Join(out, "writer.txt"))["own-status"]; got != "201" {
		t.Errorf("writer job with statuses: write: own-status got %s, want 201", got)
	}
	for _, s := range h.gh.Statuses("octo/other", sha) {
		t.Errorf("a job wrote a status on another repository: %+v", s)
	}

	var jobTokens int
	for _, m := range h.gh.MintedTokens() {
		if m.Repositories == nil {
			continue // hookci's own installation token (reporting)
		}
		jobTokens++
		if !slices.Equal(m.Repositories, []string{"hello"}) {
			t.Errorf("job token scoped to %v, want only [hello]", m.Repositories)
		}
		if !m.Revoked {
			t.Errorf("job token with %v was not revoked when its job ended", m.Permissions)
		}
		if m.Permissions["contents"] == "write" || len(m.Permissions) > 2 {
			t.Errorf("job token permissions %v: more than the job asked for", m.Permissions)
		}
		req, _ := http.NewRequest("GET", h.gh.URL()+"repos/octo/hello", nil)
		req.Header.Set("Authorization", "Bearer "+m.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a job's token after the job: %d, want 401", resp.StatusCode)
		}
	}
	if jobTokens != 2 {
		t.Errorf("job tokens minted = %d, want 2 (one per job)", jobTokens)
	}
}

// withInstallation adds the App installation to a payload, as GitHub does in App mode.
func withInstallation(body []byte) []byte {
	var p map[string]any
	json.Unmarshal(body, &p)
	p["installation"] = map[string]any{"id": installation}
	b, _ := json.Marshal(p)
	return b
}

// TestTokenModeJobGetsNoToken: with a PAT and no opt-in, a job's
// GITHUB_TOKEN is empty and the PAT is nowhere in its environment, logs or
// page, while actions/checkout of its own commit still works; with
// job_token = "server" the job gets the PAT (the opt-in works, so the first
// half could have failed).
func TestTokenModeJobGetsNoToken(t *testing.T) {
	const wf = `name: CI
on: push
jobs:
  dump:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          test -f .github/workflows/ci.yml
          env > "$OUT/env.txt"
          env
          echo "token-len=${#GITHUB_TOKEN} ctx-len=${{ github.token != '' }}"
        env:
          OUT: %s
          GITHUB_TOKEN: ${{ github.token }}
`
	for _, optIn := range []bool{false, true} {
		t.Run(fmt.Sprintf("job_token=server:%v", optIn), func(t *testing.T) {
			h := newHarnessWith(t, func(c *harness) {
				if optIn {
					c.cfg.JobToken = "server"
				}
			})
			out := t.TempDir()
			sha := h.repo.Commit("env", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(wf, out)})
			h.repo.Push("main")
			h.sendSigned("push", "tok-mode", pushPayload(t, strings.Repeat("0", 40), sha))
			runs := h.waitRunsDone(1)
			if runs[0].Conclusion != "success" {
				t.Errorf("run %s %q, want success (checkout works without a token)", runs[0].Conclusion, runs[0].Message)
			}
			env, err := os.ReadFile(filepath.Join(out, "env.txt"))
			if err != nil {
				t.Fatal(err)
			}
			hasPAT := strings.Contains(string(env), e2eToken)
			emptyToken := slices.Contains(strings.Split(string(env), "\n"), "GITHUB_TOKEN=")
			if hasPAT != optIn || emptyToken == optIn {
				t.Errorf("job environment: PAT present %v, GITHUB_TOKEN empty %v; want PAT present %v", hasPAT, emptyToken, optIn)
			}
			page := h.get(fmt.Sprintf("/runs/%d", runs[0].ID))
			logs := h.jobLogs(runs[0].ID)
			if strings.Contains(page, e2eToken) || strings.Contains(logs, e2eToken) {
				t.Errorf("the PAT appears in the run page or the stored logs")
			}
			wantLine := "token-len=0 ctx-len=false"
			if optIn {
				wantLine = fmt.Sprintf("token-len=%d ctx-len=true", len(e2eToken))
			}
			if !strings.Contains(logs, wantLine) {
				t.Errorf("stored log lacks %q:\n%s", wantLine, logs)
			}
		})
	}
}

// newHarnessWith is newHarness (token mode, host sandbox) with the
// configuration changed before the server starts.
func newHarnessWith(t *testing.T, edit func(h *harness)) *harness {
	t.Helper()
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: newFakeGitHub(t), repo: newRepo(t, gitRoot), sandbox: "host"}
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	edit(h)
	h.start()
	t.Cleanup(func() { h.stop() })
	return h
}

// jobLogs is every stored log line of a run's jobs.
func (h *harness) jobLogs(runID int64) string {
	var view struct{ Jobs []struct{ ID int64 } }
	json.Unmarshal([]byte(h.get(fmt.Sprintf("/api/runs/%d", runID))), &view)
	var b strings.Builder
	for _, j := range view.Jobs {
		var chunks []struct{ Data string }
		json.Unmarshal([]byte(h.get(fmt.Sprintf("/api/jobs/%d/log", j.ID))), &chunks)
		for _, c := range chunks {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

// TestJobTokenRevokedWhenCancelled (App mode): a job cancelled while it
// runs (cancel-in-progress by a newer push) has its token revoked too.
func TestJobTokenRevokedWhenCancelled(t *testing.T) {
	const wf = `name: CI
on: push
concurrency:
  group: deploy
  cancel-in-progress: true
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: |
          touch "$OUT/started-$GITHUB_SHA"
          sleep %s
        env:
          OUT: %s
`
	h := newAppHarness(t)
	out := t.TempDir()
	zero := strings.Repeat("0", 40)
	c1 := h.repo.Commit("first", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(wf, "120", out)})
	h.repo.Push("main")
	h.sendSigned("push", "cancel-1", withInstallation(pushPayload(t, zero, c1)))
	waitFor(t, "the first job to start", func() bool {
		_, err := os.Stat(filepath.Join(out, "started-"+c1))
		return err == nil
	})
	c2 := h.repo.Commit("second", map[string]string{".github/workflows/ci.yml": fmt.Sprintf(wf, "0", out)})
	h.repo.Push("main")
	h.sendSigned("push", "cancel-2", withInstallation(pushPayload(t, c1, c2)))
	runs := h.waitRunsDone(2)
	for _, r := range runs {
		if r.SHA == c1 && r.Conclusion != "cancelled" {
			t.Errorf("first run: %s, want cancelled", r.Conclusion)
		}
	}
	n := 0
	for _, m := range h.gh.MintedTokens() {
		if m.Repositories == nil {
			continue
		}
		n++
		if !m.Revoked {
			t.Errorf("a job token was not revoked: %+v", m.Permissions)
		}
	}
	if n != 2 {
		t.Errorf("job tokens minted = %d, want 2", n)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/github/githubtest"
	"github.com/hookci/hookci/internal/store"
)

// leakCanary is the secret the leak tests try to get out. Its first 6 bytes
// fall before the 64 KiB line cut in leakWorkflow, the rest after it.
const leakCanary = "Zq9-le" + "ak-canary-7Xw"

// leakWorkflow uses the secret in every place that has escaped masking
// before: a job output (which must be dropped, with GitHub's warning), a
// step name, a job name (through the dropped output), an annotation, a step
// summary, and a line long enough to be cut at 64 KiB with the secret
// straddling the cut. The second step fails, so the check run and the PR
// comment carry its log tail (the cut line).
const leakWorkflow = `name: CI
on: pull_request
jobs:
  a:
    runs-on: ubuntu-latest
    outputs:
      x: ${{ steps.s.outputs.x }}
      ok: ${{ steps.s.outputs.ok }}
    steps:
      - id: s
        name: deploy ${{ secrets.LEAKY }}
        env:
          LEAKY: ${{ secrets.LEAKY }}
        run: |
          echo "x=pre-$LEAKY-post" >> "$GITHUB_OUTPUT"
          echo "ok=fine" >> "$GITHUB_OUTPUT"
          echo "::error title=t $LEAKY,file=src/main.sh,line=1::annotation $LEAKY"
          echo "summary has $LEAKY" >> "$GITHUB_STEP_SUMMARY"
      - name: in-job step output ${{ steps.s.outputs.x }}
        env:
          LEAKY: ${{ secrets.LEAKY }}
        run: |
          echo "in-job [${{ steps.s.outputs.x }}]"
          head -c 65530 /dev/zero | tr '\0' 'x'; printf '%s' "$LEAKY"; head -c 70000 /dev/zero | tr '\0' 'y'; echo -after-the-cut
          exit 1
  b:
    needs: a
    if: always()
    name: deploy ${{ needs.a.outputs.x }}
    runs-on: ubuntu-latest
    steps:
      - run: echo "got [${{ needs.a.outputs.x }}] ok=${{ needs.a.outputs.ok }}"
`

// TestSecretsNeverLeak performs every masking escape of issue 9 item 5 on a
// real server (App mode, pull request, host sandbox, real agent, fake
// GitHub) and then searches everything readable for the secret: the
// store's every table and raw files, the JSON API, the run page, and every
// request the fake GitHub received. It fails if the secret, or either part
// of it around the line cut, appears anywhere.
func TestSecretsNeverLeak(t *testing.T) {
	h := newAppHarnessWith(t, func(h *harness) { h.cfg.Secrets["LEAKY"] = leakCanary })
	base := h.repo.Commit("base", map[string]string{".github/workflows/ci.yml": leakWorkflow, "src/main.sh": "echo\n"})
	h.repo.Push("main")
	h.repo.Branch("leak")
	head := h.repo.Commit("change", map[string]string{"f.txt": "1"})
	h.repo.Push("leak")
	h.gh.AddPullRequest(e2eRepo, githubtest.PullRequest{Number: 31, State: "open", HeadSHA: head, HeadRef: "leak", BaseSHA: base, BaseRef: "main"})
	pr := payload(t, "pull_request", "opened.payload.json", func(p map[string]any) {
		p["number"], p["action"], p["installation"] = 31, "opened", map[string]any{"id": installation}
		pr := p["pull_request"].(map[string]any)
		pr["number"] = 31
		hd, bs := pr["head"].(map[string]any), pr["base"].(map[string]any)
		hd["sha"], hd["ref"], bs["sha"], bs["ref"] = head, "leak", base, "main"
		hd["repo"].(map[string]any)["full_name"] = e2eRepo
		bs["repo"].(map[string]any)["full_name"] = e2eRepo
	})
	h.sendSigned("pull_request", "leak-pr", pr)
	defer func() {
		if t.Failed() {
			for _, c := range h.gh.CheckRuns(e2eRepo) {
				t.Logf("check run %s: %s %s head %s", c.Name, c.Status, c.Conclusion, c.HeadSHA)
			}
			t.Logf("comments: %d; runs: %s", len(h.gh.Comments(e2eRepo, 31)), h.get("/api/runs"))
		}
	}()
	waitFor(t, "both check runs to complete and the comment to show the failure", func() bool {
		done := 0
		for _, c := range h.gh.CheckRuns(e2eRepo) {
			if c.Status == "completed" {
				done++
			}
		}
		cs := h.gh.Comments(e2eRepo, 31)
		return done == 2 && len(cs) == 1 && strings.Contains(cs[0].Body, "failed</summary>") && strings.Contains(cs[0].Body, "✅ success")
	})

	// What must still work: the output without a secret passes, the dropped
	// one is named with GitHub's warning, names and lines show ***.
	var runs []struct{ ID int64 }
	json.Unmarshal([]byte(h.get("/api/runs")), &runs)
	if len(runs) != 1 {
		t.Fatalf("runs = %d, want 1", len(runs))
	}
	page := h.get(fmt.Sprintf("/runs/%d", runs[0].ID))
	for _, want := range []string{
		"got [] ok=fine",
		"Skip output &#39;x&#39; since it may contain secret.",
		"deploy ***",
		"in-job [pre-***-post]",
		"***yyyyyyyy",
		"yyyy-after-the-cut",
		"annotation ***",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("run page lacks %q", want)
		}
	}

	scanForSecret(t, h, leakCanary, leakCanary[:6], leakCanary[6:])
}

// newAppHarnessWith is newAppHarness with the configuration changed by edit
// before the server starts.
func newAppHarnessWith(t *testing.T, edit func(h *harness)) *harness {
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: githubtest.NewServer(t), sandbox: "host"}
	h.repo = newRepo(t, gitRoot)
	h.gh.AddRepo("octo", "hello", installation)
	key := h.gh.EnableApp(99)
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	os.WriteFile(keyFile, key, 0o600)
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	h.cfg.GitHubToken, h.cfg.GitHubAppID, h.cfg.GitHubAppKeyFile = "", 99, keyFile
	edit(h)
	h.start()
	t.Cleanup(func() { h.stop() })
	return h
}

// scanForSecret searches everything a person or GitHub can read for each of
// needles: every JSON API response and page of the running server (runs,
// run views, job logs and their event streams, deliveries, metrics), every
// request body the fake GitHub received (statuses, check runs, comments),
// then — with the server stopped — every row of every table of the store
// and the raw bytes of every file in the data directory (the SQLite
// database, its WAL, mirrors, caches).
func scanForSecret(t *testing.T, h *harness, needles ...string) {
	t.Helper()
	check := func(where, text string) {
		for _, n := range needles {
			if i := strings.Index(text, n); i >= 0 {
				t.Errorf("%s holds %q: …%s…", where, n, text[max(0, i-60):min(len(text), i+len(n)+60)])
			}
		}
	}
	// The HTTP surface.
	check("/api/runs", h.get("/api/runs"))
	check("/api/deliveries", h.get("/api/deliveries"))
	check("/", h.get("/"))
	check("/metrics", h.get("/metrics"))
	var runs []struct{ ID int64 }
	json.Unmarshal([]byte(h.get("/api/runs")), &runs)
	for _, r := range runs {
		view := h.get(fmt.Sprintf("/api/runs/%d", r.ID))
		check(fmt.Sprintf("/api/runs/%d", r.ID), view)
		check(fmt.Sprintf("/runs/%d", r.ID), h.get(fmt.Sprintf("/runs/%d", r.ID)))
		var v struct{ Jobs []struct{ ID int64 } }
		if err := json.Unmarshal([]byte(view), &v); err != nil {
			t.Errorf("/api/runs/%d: %v", r.ID, err)
		}
		for _, j := range v.Jobs {
			check(fmt.Sprintf("/api/jobs/%d/log", j.ID), h.get(fmt.Sprintf("/api/jobs/%d/log", j.ID)))
			check(fmt.Sprintf("/api/jobs/%d/log/stream", j.ID), h.get(fmt.Sprintf("/api/jobs/%d/log/stream", j.ID)))
		}
	}
	// What GitHub was told.
	reqs := h.gh.Requests()
	if len(reqs) == 0 {
		t.Error("the fake GitHub recorded no requests")
	}
	for _, r := range reqs {
		check("GitHub request "+r.Method+" "+r.Path, r.Path+"?"+r.Query+"\n"+string(r.Body))
	}
	for _, c := range h.gh.CheckRuns(e2eRepo) {
		b, _ := json.Marshal(c)
		check("check run "+c.Name, string(b))
	}

	// The store, with the server stopped.
	h.stop()
	h.stop = func() {}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(h.cfg.DataDir, "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := st.DB().QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Errorf("tables = %v, want the store's tables", tables)
	}
	for _, table := range tables {
		rows, err := st.DB().QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Errorf("reading %s: %v", table, err)
			continue
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			for i, v := range vals {
				var s string
				switch x := v.(type) {
				case []byte:
					s = string(x)
				default:
					s = fmt.Sprint(x)
				}
				check("table "+table+" column "+cols[i], s)
			}
		}
		rows.Close()
	}
	st.Close()
	files := 0
	filepath.WalkDir(h.cfg.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("reading %s: %v", p, err)
			return nil
		}
		files++
		check("file "+p, string(b))
		return nil
	})
	if files == 0 {
		t.Error("no files in the data directory")
	}
}

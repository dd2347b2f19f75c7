package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/store"
)

// TestFollowPlanningFailsForGood: planning that keeps failing is shown
// while it retries, and hookci run ends with the reason (non-nil error);
// planning that never ends is given up after the limit with the last
// message, instead of a silent wait.
func TestFollowPlanningFailsForGood(t *testing.T) {
	for _, tc := range []struct {
		name    string
		plan    func(ctx context.Context, id string) error
		limit   time.Duration
		wantErr []string
		wantOut string
	}{
		{"retries exhausted", func(ctx context.Context, id string) error {
			return errors.New("gitrepo: fetch local/x: connection refused")
		}, time.Hour, []string{"planning failed", "gave up after", "connection refused"}, "hookci: planning: attempt 1 failed, retrying: gitrepo: fetch local/x: connection refused"},
		{"never ends", func(ctx context.Context, id string) error {
			<-ctx.Done()
			return ctx.Err()
		}, 500 * time.Millisecond, []string{"planning did not end within", "no attempt finished"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, t.TempDir(), store.Options{PlanRetry: store.RetryPolicy{Min: 20 * time.Millisecond,
				Max: 50 * time.Millisecond, Budget: 400 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.StartQueue(ctx, store.Handlers{Delivery: tc.plan}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.AddDelivery(ctx, store.Delivery{ID: "d1", Event: "push", Repo: "local/x", ReceivedAt: time.Now(),
				Payload: []byte(`{}`), Status: store.DeliveryQueued}, true); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			fctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			ok, err := follow(fctx, st, "d1", &out, tc.limit)
			if ok || err == nil || fctx.Err() != nil {
				t.Fatalf("follow = %v, %v (context: %v), want an error before the test's deadline; output:\n%s", ok, err, fctx.Err(), out.String())
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out.String())
			}
		})
	}
}

// localRepo makes a git repository holding files and returns its path and
// a config file pointing at the test agent.
func localRepo(t *testing.T, files map[string]string) (string, string) {
	t.Helper()
	repo := t.TempDir()
	for p, c := range files {
		full := filepath.Join(repo, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "c"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	conf := filepath.Join(t.TempDir(), "hookci.toml")
	agentPath, _ := json.Marshal(agenttest.Binary(t))
	if err := os.WriteFile(conf, []byte("agent_path = "+string(agentPath)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return repo, conf
}

func runIn(repo, conf string, extra ...string) (int, string) {
	var out, errOut bytes.Buffer
	args := append([]string{"--sandbox", "host", "--config", conf}, extra...)
	code := runLocal(context.Background(), append(args, repo), &out, &errOut)
	return code, out.String() + errOut.String()
}

// TestRunOutputLabelsAndGrouping: a leg whose name carries long matrix
// values is printed under a short label (announced once with the full
// name), and two legs running at once do not interleave within a step.
func TestRunOutputLabelsAndGrouping(t *testing.T) {
	long := strings.Repeat("x", 200)
	repo, conf := localRepo(t, map[string]string{".github/workflows/ci.yml": fmt.Sprintf(`name: CI
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        leg: [a, b]
        blob: ['%s']
    steps:
      - run: for i in 1 2 3 4 5 6; do echo "${{ matrix.leg }}-line-$i"; sleep 0.1; done
`, long)})
	code, out := runIn(repo, conf)
	if code != 0 {
		t.Fatalf("hookci run exited %d:\n%s", code, out)
	}
	lines := strings.Split(out, "\n")
	for _, l := range lines {
		if len(l) > 400 {
			t.Errorf("a line of %d characters (the full leg name on every line?): %.120s…", len(l), l)
		}
	}
	if n := strings.Count(out, long); n != 2 {
		t.Errorf("the full leg names appear %d times, want 2 (once per leg, announcing its label):\n%s", n, out)
	}
	// Each leg's six lines are contiguous: no line of the other leg between them.
	for _, leg := range []string{"a", "b"} {
		first, last := -1, -1
		for i, l := range lines {
			if strings.Contains(l, leg+"-line-") && !strings.Contains(l, "⭐") && !strings.Contains(l, "✅") {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if first < 0 || last-first != 5 {
			t.Errorf("leg %s's output spans lines %d..%d, want 6 contiguous lines:\n%s", leg, first, last, out)
		}
	}
}

// TestRunNothingTriggeredSaysWhy: when no workflow runs, hookci run says
// why each candidate did not trigger and counts files left out by --workflow
// as left out, not as candidates.
func TestRunNothingTriggeredSaysWhy(t *testing.T) {
	repo, conf := localRepo(t, map[string]string{
		".github/workflows/release.yml": "on:\n  push:\n    branches: [release]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n",
		".github/workflows/other.yml":   "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n",
	})
	_, out := runIn(repo, conf, "--workflow", ".github/workflows/release.yml")
	for _, w := range []string{"no workflow is triggered by this event: 0 run(s) of 1 workflow file(s)", ".github/workflows/release.yml: ", "release"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	_, out = runIn(repo, conf, "--workflow", ".github/workflows/none.yml")
	for _, w := range []string{"0 run(s) of 0 workflow file(s)", "2 workflow file(s) left out by the workflow selection (--workflow .github/workflows/none.yml)"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestRunInShallowCloneWithPathFilters: hookci run in a shallow clone (as CI
// systems and `git clone --depth 1` make) of a repository whose workflow
// has paths filters: the diff is unknown, the filters pass as on GitHub and
// the workflow runs, instead of being reported invalid.
func TestRunInShallowCloneWithPathFilters(t *testing.T) {
	full, conf := localRepo(t, map[string]string{".github/workflows/ci.yml": "name: CI\non:\n  push:\n    paths: ['src/**']\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ran-with-paths\n"})
	for _, args := range [][]string{{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "second"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = full
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	shallow := filepath.Join(t.TempDir(), "shallow")
	if out, err := exec.Command("git", "clone", "-q", "--depth", "1", "file://"+full, shallow).CombinedOutput(); err != nil {
		t.Fatalf("git clone --depth 1: %v\n%s", err, out)
	}
	code, out := runIn(shallow, conf)
	if code != 0 || !strings.Contains(out, "ran-with-paths") || strings.Contains(out, "invalid workflow") {
		t.Errorf("hookci run in a shallow clone exited %d; want the workflow run:\n%s", code, out)
	}
}

// TestRunCheckoutIndexIsClean: the workspace a job gets, and a checkout
// into a sub-path, are clean to git plumbing that does not refresh the
// index first (`git diff-index --quiet HEAD`), as after git's own checkout
// on GitHub, on every backend. The files are created anew in the sandbox
// (other inodes, owners and change times than where the index was
// written), so before the agent restatted the index (agent.PutCheckout)
// this reported every file modified.
func TestRunCheckoutIndexIsClean(t *testing.T) {
	repo, conf := localRepo(t, map[string]string{
		"src/a.txt": "a\n",
		".github/workflows/ci.yml": `on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - run: |
          git diff-index --quiet HEAD -- && echo "root index: clean" || echo "root index: modified"
      - uses: actions/checkout@v4
        with:
          path: sub
      - run: |
          cd sub && git diff-index --quiet HEAD -- && echo "sub index: clean" || echo "sub index: modified"
      - run: |
          echo changed >> src/a.txt
          git diff-index --quiet HEAD -- && echo "after a change: clean" || echo "after a change: modified"
`})
	for _, sb := range []string{"host", "namespace", "microvm"} {
		t.Run(sb, func(t *testing.T) {
			if sb != "host" {
				requireSandbox(t, sb)
			}
			c := conf
			if sb == "microvm" { // the guest image is in the test data directory
				b, err := os.ReadFile(conf)
				if err != nil {
					t.Fatal(err)
				}
				dir, _ := json.Marshal(os.Getenv("HOOKCI_DATA_DIR"))
				c = filepath.Join(t.TempDir(), "hookci.toml")
				if err := os.WriteFile(c, append(b, []byte("image_dir = "+string(dir)+"\n")...), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			code, out := runIn(repo, c, "--sandbox", sb)
			if code != 0 {
				t.Fatalf("hookci run exited %d:\n%s", code, out)
			}
			// Output lines, not the step titles that quote the commands.
			for _, want := range []string{"|   root index: clean", "|   sub index: clean", "|   after a change: modified"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

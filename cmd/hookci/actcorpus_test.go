package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/corpus"
	"github.com/hookci/hookci/internal/workflow"
)

// actRow is one TestRunEvent row of act's runner suite.
type actRow struct {
	fn, dir, event, wantErr, note string
}

func readActRows(t *testing.T, root string) []actRow {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "runner_expectations.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []actRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 4 || (cols[0] != "TestRunEvent" && cols[0] != "TestRunEventHostEnvironment") {
			continue
		}
		if cols[0] == "TestRunEventHostEnvironment" && len(cols) > 4 && strings.Contains(cols[4], "windows host only") {
			continue // Windows runners
		}
		r := actRow{fn: cols[0], dir: cols[1], event: cols[2], wantErr: cols[3]}
		if len(cols) > 4 {
			r.note = cols[4]
		}
		rows = append(rows, r)
	}
	return rows
}

// actExclusion says why a case cannot run here (Docker, the network), or "".
func actExclusion(corpusRoot, root string, r actRow) string {
	if strings.Contains(r.note, "commented-out") {
		return "commented out in act's own suite"
	}
	dir := filepath.Join(corpusRoot, r.dir)
	files, _ := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		wf, err := workflow.Load(filepath.Base(f), src)
		if err != nil {
			continue // invalid workflows are run: they must fail the right way
		}
		if wf.Trigger(r.event) == nil {
			continue // not run by this row's event (act's -W runs the directory, the event picks)
		}
		for _, j := range wf.Jobs {
			if j.Container != nil {
				return "needs Docker: job container"
			}
			if j.Services != nil {
				return "needs Docker: service containers"
			}
			if j.Uses != "" && !strings.HasPrefix(j.Uses, "./") {
				return "needs the network: remote reusable workflow " + j.Uses
			}
			for _, s := range j.Steps {
				if why := actionExclusion(root, s.Uses, 0); why != "" {
					return why
				}
				if strings.HasPrefix(s.Uses, "./") && strings.Contains(string(src), "Dockerfile") {
					if _, err := os.Stat(filepath.Join(root, s.Uses, "action.yml")); err != nil {
						return "needs Docker: a local Dockerfile action made at run time (built by hookci)"
					}
				}
			}
		}
	}
	return ""
}

func actionExclusion(root, uses string, depth int) string {
	switch {
	case uses == "" || depth > 5:
		return ""
	case strings.HasPrefix(uses, "docker://"):
		return "needs Docker: " + uses
	case strings.HasPrefix(uses, "./"):
		meta := filepath.Join(root, uses, "action.yml")
		if _, err := os.Stat(meta); err != nil {
			meta = filepath.Join(root, uses, "action.yaml")
		}
		b, err := os.ReadFile(meta)
		if err != nil {
			return "" // a missing action: the run must fail the way act expects
		}
		s := string(b)
		switch {
		case strings.Contains(s, "using: docker") || strings.Contains(s, "using: 'docker'") || strings.Contains(s, `using: "docker"`):
			return "needs Docker: container action " + uses
		case strings.Contains(s, "using: node") || strings.Contains(s, "using: 'node") || strings.Contains(s, `using: "node`):
			return "JavaScript action code is not in the corpus: " + uses
		}
		for _, line := range strings.Split(s, "\n") {
			if u, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "-")), "uses:"); ok {
				if why := actionExclusion(root, strings.Trim(strings.TrimSpace(u), `'"`), depth+1); why != "" {
					return why
				}
			}
		}
		return ""
	case strings.HasPrefix(strings.ToLower(uses), "actions/checkout@"):
		return ""
	}
	return "needs the network: remote action " + uses
}

// TestActRunnerSuite runs act's TestRunEvent workflow directories through
// hookci's real planner, dispatcher and runner (host sandbox) and compares
// pass/fail with act's expectations. Rows that need Docker or the network are
// excluded with the reason; the rest must agree for at least 95%.
func TestActRunnerSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the act corpus in -short mode")
	}
	root := corpus.Dir(t, "nektos-act")
	testdata := filepath.Join(root, "pkg", "runner", "testdata")
	agent := agenttest.Binary(t)
	rows := readActRows(t, root)
	var runnable, agree int
	var excluded, missing, disagree, githubDiffers, withStandIns []string
	var containers actContainers         // actcorpus_docker_test.go
	only := os.Getenv("HOOKCI_ACT_ROWS") // a substring of the rows to run, while working on them
	for _, r := range rows {
		name := r.fn + " " + r.dir + " (" + r.event + ")"
		if only != "" && !strings.Contains(name, only) {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, r.dir)); err != nil {
			missing = append(missing, name)
			continue
		}
		var edit []func(*config.Config)
		if why := actExclusion(root, testdata, r); why != "" {
			if strings.HasPrefix(why, "needs Docker") {
				images, no := actDockerImages(root, testdata, r)
				if no == "" {
					e, no2 := containers.get(t)
					no = no2
					edit = append(edit, e)
				}
				if no != "" {
					why = no
				} else {
					why = ""
					withStandIns = append(withStandIns, name+" "+strings.Join(images, " "))
				}
			}
			if why != "" {
				excluded = append(excluded, name+": "+why)
				continue
			}
		}
		runnable++
		if diff, ok := actGitHubDiffers[r.dir+" "+r.event]; ok {
			// GitHub refuses what act runs: hookci must refuse it with GitHub's
			// message, and run act's assertions once the case is made valid.
			okAsIs, outAsIs := runActCase(t, root, testdata, r, agent, nil, edit...)
			okFixed, outFixed := runActCase(t, root, testdata, r, agent, diff.fix, edit...)
			if !okAsIs && strings.Contains(outAsIs, diff.msg) && okFixed {
				agree++
				githubDiffers = append(githubDiffers, name+": "+diff.why)
				continue
			}
			disagree = append(disagree, fmt.Sprintf("%s: GitHub differs from act (%s): as is ok=%v (want false with %q), made valid ok=%v (want true)\n%s\n%s",
				name, diff.why, okAsIs, diff.msg, okFixed, tailOf(outAsIs), tailOf(outFixed)))
			continue
		}
		ok, out := runActCase(t, root, testdata, r, agent, nil, edit...)
		wantOK := r.wantErr == ""
		if ok == wantOK {
			agree++
			continue
		}
		tail := out
		if len(tail) > 1500 {
			tail = tail[len(tail)-1500:]
		}
		disagree = append(disagree, fmt.Sprintf("%s: hookci ok=%v, act expects ok=%v %q\n%s", name, ok, wantOK, r.wantErr, tail))
	}
	sort.Strings(excluded)
	t.Logf("act TestRunEvent + TestRunEventHostEnvironment (Linux) rows: %d; held out of the corpus: %d; excluded: %d; runnable: %d; agree: %d (%.1f%%)",
		len(rows), len(missing), len(excluded), runnable, agree, 100*float64(agree)/float64(max(runnable, 1)))
	for _, e := range excluded {
		t.Logf("excluded: %s", e)
	}
	t.Logf("rows with containers run on the namespace backend with ocitest's stand-ins: %d", len(withStandIns))
	for _, w := range withStandIns {
		t.Logf("with stand-ins: %s", w)
	}
	for _, d := range githubDiffers {
		t.Logf("agrees with GitHub, not act: %s", d)
	}
	for _, d := range disagree {
		t.Logf("DISAGREES: %s", d)
	}
	if runnable == 0 {
		t.Fatal("no runnable act case")
	}
	if rate := float64(agree) / float64(runnable); rate < 0.95 {
		t.Errorf("agreement %.1f%% (%d/%d), want at least 95%%", 100*rate, agree, runnable)
	}
}

// runActCase makes a repository of act's testdata with the case's workflows
// under .github/workflows, and runs it with hookci run's machinery.
func runActCase(t *testing.T, root, testdata string, r actRow, agent string, fix func(t *testing.T, repo string), edit ...func(*config.Config)) (bool, string) {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "act")
	if err := copyTree(testdata, repo); err != nil {
		t.Fatal(err)
	}
	if fix != nil {
		fix(t, repo)
	}
	caseDir := filepath.Join(root, r.dir)
	wfDir := filepath.Join(repo, ".github", "workflows")
	os.MkdirAll(wfDir, 0o755)
	files, _ := filepath.Glob(filepath.Join(caseDir, "*.y*ml"))
	// act runs the case directory's workflows only (its -W): so do we, with
	// the testdata's own .github/workflows (local reusable workflows) beside them.
	var only []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		name := "case-" + filepath.Base(f)
		os.WriteFile(filepath.Join(wfDir, name), b, 0o644)
		only = append(only, ".github/workflows/"+name)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "master"}, {"add", "-A"},
		{"-c", "user.name=act", "-c", "user.email=act@example.com", "commit", "-qm", "act corpus"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.AgentPath = agent
	cfg.Sandbox = "host"
	// act runs its cases with platforms mapped for the labels it uses (-P);
	// here every label runs on the host, as --run-any-label does.
	cfg.AnyLabel = true
	for _, e := range edit {
		e(&cfg) // rows with containers: the namespace backend and the stand-ins
	}
	// act's own test configuration, given as configuration: env ACT=true, the
	// repository nektos/act, and the case's .secrets / .env files.
	cfg.Env = map[string]string{"ACT": "true"}
	cfg.Secrets = readDotEnv(filepath.Join(caseDir, ".secrets"))
	for k, v := range actTableSecrets[r.dir] {
		cfg.Secrets[k] = v
	}
	for k, v := range readDotEnv(filepath.Join(caseDir, ".env")) {
		cfg.Env[k] = v
	}
	event := map[string]any{}
	if b, err := os.ReadFile(filepath.Join(caseDir, "event.json")); err == nil {
		json.Unmarshal(b, &event)
	}
	repoObj, _ := event["repository"].(map[string]any)
	if repoObj == nil {
		repoObj = map[string]any{}
		event["repository"] = repoObj
	}
	repoObj["full_name"], repoObj["name"], repoObj["owner"] = "nektos/act", "act", map[string]any{"login": "nektos"}
	event["sender"] = map[string]any{"login": "nektos/act"} // act's test actor
	if _, ok := repoObj["default_branch"]; !ok {
		repoObj["default_branch"] = "master"
	}
	if r.event == "workflow_dispatch" {
		if _, ok := event["inputs"]; !ok {
			event["inputs"] = map[string]any{}
		}
	}
	eventFile := filepath.Join(t.TempDir(), "event.json")
	b, _ := json.Marshal(event)
	os.WriteFile(eventFile, b, 0o644)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*60e9)
	defer cancel()
	ok, err := localRun(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), repo, r.event, eventFile,
		serverOptions{onlyWorkflows: only}, &out)
	if err != nil {
		fmt.Fprintf(&out, "error: %v\n", err)
		return false, out.String()
	}
	return ok, out.String()
}

// actDiff is a row where GitHub's documented behaviour differs from act's.
type actDiff struct {
	msg string                          // GitHub's refusal, which hookci must give
	why string                          // what differs
	fix func(t *testing.T, repo string) // makes the case valid on GitHub
}

// actGitHubDiffers are the rows hookci runs as GitHub does, not as act does.
var actGitHubDiffers = map[string]actDiff{
	// A Docker action's runs.entrypoint "/bin/sh -c": act splits it into
	// words; GitHub's runner hands it to `docker run --entrypoint "…"` as
	// one path, which does not exist (hookci does as GitHub).
	"pkg/runner/testdata/local-action-docker-url push": {
		msg: "stat /bin/sh -c: no such file or directory",
		why: "runs.entrypoint is one path, not split into words",
		fix: func(t *testing.T, repo string) {
			p := filepath.Join(repo, "actions", "docker-url", "action.yml")
			b, err := os.ReadFile(p)
			if err != nil || !bytes.Contains(b, []byte("entrypoint: /bin/sh -c\n")) {
				t.Fatalf("cannot fix the entrypoint in %s: %v", p, err)
			}
			os.WriteFile(p, bytes.Replace(b, []byte("entrypoint: /bin/sh -c\n"), []byte("entrypoint: /usr/bin/env\n"), 1), 0o644)
		},
	},
	// The caller passes secrets: {secret: …} by name to a workflow whose
	// on.workflow_call declares no secrets; act passes it through, GitHub
	// refuses the workflow ("Any secrets that you pass must match the names
	// defined in the called workflow"; its error reads "Invalid secret, X is
	// not defined in the referenced workflow.").
	"pkg/runner/testdata/uses-workflow pull_request": {
		msg: "Invalid secret, secret is not defined in the referenced workflow.",
		why: "a secret passed by name must be declared in on.workflow_call.secrets",
		fix: func(t *testing.T, repo string) {
			p := filepath.Join(repo, ".github", "workflows", "local-reusable-workflow.yml")
			b, err := os.ReadFile(p)
			if err != nil || !bytes.Contains(b, []byte("  workflow_call:\n")) {
				t.Fatalf("cannot declare the secret in %s: %v", p, err)
			}
			b = bytes.Replace(b, []byte("  workflow_call:\n"), []byte("  workflow_call:\n    secrets:\n      secret: {}\n"), 1)
			os.WriteFile(p, b, 0o644)
		},
	},
}

func tailOf(s string) string {
	if len(s) > 1500 {
		return s[len(s)-1500:]
	}
	return s
}

// actTableSecrets are the secrets act's runner_test.go table gives a case
// beyond its .secrets file (not in runner_expectations.tsv): the
// uses-workflow rows pass secret=keep_it_private, which the called workflow
// checks through secrets: by name and secrets: inherit.
var actTableSecrets = map[string]map[string]string{
	"pkg/runner/testdata/uses-workflow": {"secret": "keep_it_private"},
}

func readDotEnv(path string) map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			m[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return m
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if info, err := d.Info(); err == nil && info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		return os.WriteFile(target, b, mode)
	})
}

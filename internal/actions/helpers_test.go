package actions

import (
	"cmp"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookci/hookci/internal/agent/agenttest"
	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/sandbox/host"
	"github.com/hookci/hookci/internal/workflow"
)

// recorder is a runner.Sink that keeps everything.
type recorder struct {
	mu    sync.Mutex
	names map[int]string
	logs  map[int][]string
	res   map[int]runner.StepResult
}

func newRecorder() *recorder {
	return &recorder{names: map[int]string{}, logs: map[int][]string{}, res: map[int]runner.StepResult{}}
}
func (r *recorder) StepStarted(i int, name string) { r.mu.Lock(); r.names[i] = name; r.mu.Unlock() }
func (r *recorder) StepLog(i int, line string) {
	r.mu.Lock()
	r.logs[i] = append(r.logs[i], line)
	r.mu.Unlock()
}
func (r *recorder) StepFinished(i int, s runner.StepResult) { r.mu.Lock(); r.res[i] = s; r.mu.Unlock() }
func (r *recorder) log(i int) string                        { return strings.Join(r.logs[i], "\n") }
func (r *recorder) all() string {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		if n, ok := r.names[i]; ok {
			b.WriteString("== " + n + "\n")
		}
		for _, l := range r.logs[i] {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func startHost(t *testing.T, toolCache string) *runner.Guest { return startHostNet(t, toolCache, true) }

// startHostNet starts a host sandbox whose job is told it has network
// egress or not (the host backend itself always has it).
func startHostNet(t *testing.T, toolCache string, network bool) *runner.Guest {
	t.Helper()
	b, err := host.New(host.Config{AgentPath: agenttest.Binary(t), WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := b.Start(context.Background(), sandbox.Spec{ID: "t", ToolCache: toolCache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return &runner.Guest{Client: inst.Client, Layout: inst.Layout, Backend: inst.Backend, WorkspaceReady: inst.WorkspaceReady, Network: network}
}

// env is a test environment: a git server root, an action runner and a
// workspace source directory.
type env struct {
	t       *testing.T
	gitRoot string
	git     *gitrepo.Cache
	r       *Executor
	src     string // host directory whose tree is the run's checkout
	cfg     Config
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, gitRoot: t.TempDir(), src: t.TempDir()}
	e.git = gitrepo.New(t.TempDir(), "file://"+e.gitRoot, nil)
	// Nothing listens on port 1: no test downloads from the real indexes.
	e.cfg = Config{Git: e.git, DataDir: t.TempDir(), Dist: DistURLs{Go: "http://127.0.0.1:1/go/", Node: "http://127.0.0.1:1/node/", Python: "http://127.0.0.1:1/python/versions-manifest.json"}}
	if mod != nil {
		mod(&e.cfg)
	}
	r, err := NewExecutor(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.r = r
	return e
}

// write puts files into the workspace source (content "" makes a directory).
func (e *env) write(files map[string]string) {
	e.t.Helper()
	for p, c := range files {
		full := filepath.Join(e.src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
}

type runOpts struct {
	sha       string
	runID     int64
	ref       string
	baseRef   string
	payload   string
	toolCache string
	secrets   map[string]string
	noNetwork bool // the job is told it has no egress
}

// run runs job of the workflow src with the env's action runner.
func (e *env) run(src, job string, o runOpts) (*runner.Result, *recorder) {
	e.t.Helper()
	w, err := workflow.Load("ci.yml", []byte(src))
	if err != nil {
		e.t.Fatal(err)
	}
	j := w.Job(job)
	if j == nil {
		e.t.Fatalf("no job %s", job)
	}
	spec := &runner.Spec{Workflow: w, Job: j, Actions: e.r, Secrets: o.secrets,
		Event: runner.EventInfo{Name: "push", Repo: "octo/hello", SHA: cmp.Or(o.sha, strings.Repeat("a", 40)),
			Ref: cmp.Or(o.ref, "refs/heads/main"), BaseRef: o.baseRef, Payload: []byte(cmp.Or(o.payload, `{"repository":{"default_branch":"main"}}`)),
			RunID: cmpInt(o.runID, 7), RunNumber: 3, Workflow: "CI", Token: "ghs_testtoken123", ServerURL: "https://github.example"},
		Source: func(ctx context.Context, w io.Writer) error { return gitrepo.TarDir(w, e.src) },
	}
	rec := newRecorder()
	res, err := runner.Run(context.Background(), startHostNet(e.t, o.toolCache, !o.noNetwork), spec, rec)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, rec
}

func cmpInt(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}

// wantConclusion fails the test unless res has the given conclusion.
func wantConclusion(t *testing.T, res *runner.Result, rec *recorder, want string) {
	t.Helper()
	if res.Conclusion != want {
		t.Fatalf("conclusion = %s, want %s; log:\n%s", res.Conclusion, want, rec.all())
	}
}

func wantLog(t *testing.T, rec *recorder, want ...string) {
	t.Helper()
	all := rec.all()
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("log lacks %q:\n%s", w, all)
		}
	}
}

// hasLine reports whether some log line is exactly line.
func hasLine(rec *recorder, line string) bool {
	for _, l := range strings.Split(rec.all(), "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool          { return strings.Contains(s, sub) }
func replaceAll(s, old, new string) string { return strings.ReplaceAll(s, old, new) }
func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
func runnerEvent(ref, base, payload string) runner.EventInfo {
	return runner.EventInfo{Ref: ref, BaseRef: base, Payload: []byte(payload)}
}

// runSHA runs with the event at commit sha of octo/hello.
func (e *env) runSHA(src, job, sha string) (*runner.Result, *recorder) {
	e.t.Helper()
	return e.run(src, job, runOpts{sha: sha})
}

package actions

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/workflow"
)

// Attack tests for fetching other repositories (issue 9, item 3): jobs
// fetch with their own token (none for forks), never with the server's, and
// submodule URLs never reach the host's files. The git server is real smart
// HTTP (git http-backend) with GitHub-like private repositories, recording
// the credential of every request.

const (
	serverToken = "SERVER-INSTALLATION-TOKEN-7f3a" // the server's own credential (planning mirror)
	jobToken    = "ghs_job_token_91c2"             // the job's GITHUB_TOKEN
)

// httpEnv is an env whose git server is srv, fetched by the server with serverToken.
func httpEnv(t *testing.T) (*env, *gittest.HTTPServer) {
	t.Helper()
	e := newEnv(t, nil)
	srv := gittest.NewHTTPServer(t, e.gitRoot)
	e.git = gitrepo.New(t.TempDir(), srv.URL, func(context.Context, string) (string, error) { return serverToken, nil })
	e.cfg.Git = e.git
	r, err := NewExecutor(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.r = r
	return e, srv
}

// forkPR and push are the events of a job of acme/app.
func forkPR(sha string) runner.EventInfo {
	return runner.EventInfo{Name: "pull_request", Repo: "acme/app", SHA: sha, Ref: "refs/pull/1/merge", Token: jobToken,
		Payload: []byte(`{"pull_request":{"head":{"repo":{"full_name":"mallory/app"}}},"repository":{"default_branch":"main"}}`)}
}

func pushEvent(sha string) runner.EventInfo {
	return runner.EventInfo{Name: "push", Repo: "acme/app", SHA: sha, Ref: "refs/heads/main", Token: jobToken,
		Payload: []byte(`{"repository":{"default_branch":"main"}}`)}
}

// runEvent runs job of src for ev with the env's action runner.
func (e *env) runEvent(src, job string, ev runner.EventInfo) (*runner.Result, *recorder) {
	e.t.Helper()
	w, err := workflow.Load("ci.yml", []byte(src))
	if err != nil {
		e.t.Fatal(err)
	}
	ev.RunID, ev.RunNumber, ev.Workflow = 7, 1, "CI"
	spec := &runner.Spec{Workflow: w, Job: w.Job(job), Actions: e.r, Event: ev,
		Source: func(ctx context.Context, w io.Writer) error { return gitrepo.TarDir(w, e.src) }}
	rec := newRecorder()
	res, err := runner.Run(context.Background(), startHost(e.t, ""), spec, rec)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, rec
}

// noServerToken fails the test if the server's credential reached srv for
// repo (which the job does not belong to).
func noServerToken(t *testing.T, srv *gittest.HTTPServer, repo string) {
	t.Helper()
	for _, p := range srv.Passwords(repo) {
		if p == serverToken {
			t.Fatalf("a job's fetch of %s presented the server's credential: %+v", repo, srv.Requests(repo))
		}
	}
}

const checkoutOther = `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          repository: acme/private-other
          ref: main
          path: other
      - if: always()
        run: ls -A other 2>/dev/null; cat other/secret.txt 2>/dev/null; echo listed
`

// TestAttackForkChecksOutPrivateRepository: a fork PR's checkout of another
// private repository of the installation fails, and no credential (neither
// the server's nor the job's) reaches the git server for it; the same
// checkout from a push uses the job's token, never the server's.
func TestAttackForkChecksOutPrivateRepository(t *testing.T) {
	e, srv := httpEnv(t)
	other := gittest.New(t, e.gitRoot, "acme/private-other")
	other.Commit("secret", map[string]string{"secret.txt": "PRIVATE-CONTENT-33aa"})
	other.Push("main")
	srv.Private("acme/private-other", serverToken, jobToken)

	// The server's mirror already holds the repository (as after planning a
	// run of it): a fork must not be served from it either.
	if _, err := e.git.Fetch(context.Background(), "acme/private-other", other.Head()); err != nil {
		t.Fatal(err)
	}
	before := len(srv.Requests("acme/private-other"))

	res, rec := e.runEvent(checkoutOther, "build", forkPR(strings.Repeat("a", 40)))
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "acme/private-other cannot be read without a credential", "listed")
	if strings.Contains(rec.all(), "PRIVATE-CONTENT-33aa") {
		t.Fatalf("the fork read the private repository:\n%s", rec.all())
	}
	reqs := srv.Requests("acme/private-other")[before:]
	if len(reqs) == 0 {
		t.Fatal("the fork's checkout never asked the git server (it was served from the mirror)")
	}
	for _, r := range reqs {
		if r.HasAuth {
			t.Errorf("the fork's checkout presented a credential (%q)", r.Password)
		}
	}

	// A push of the same repository's owner: fetched with the job's token.
	res, rec = e.runEvent(checkoutOther, "build", pushEvent(strings.Repeat("a", 40)))
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "PRIVATE-CONTENT-33aa")
	got := srv.Passwords("acme/private-other")
	if !equal(got, []string{serverToken, jobToken}) {
		t.Errorf("credentials seen for acme/private-other = %q, want the server's (its own planning fetch) then the job's", got)
	}
	// Only the direct Fetch above used the server's token.
	for _, r := range srv.Requests("acme/private-other")[before:] {
		if r.Password == serverToken {
			t.Fatal("a job's checkout presented the server's credential")
		}
	}
}

// TestAttackSubmoduleFromHostPath: .gitmodules pointing at file:// or a
// host path of the server's mirror of a private repository is refused and
// nothing of it lands in the workspace; a relative URL on the git server
// still works.
func TestAttackSubmoduleFromHostPath(t *testing.T) {
	e, srv := httpEnv(t)
	secret := gittest.New(t, e.gitRoot, "acme/secret")
	secretSHA := secret.Commit("secret", map[string]string{"secret.txt": "MIRROR-SECRET-8d1f"})
	secret.Push("main")
	srv.Private("acme/secret", serverToken)
	m, err := e.git.Fetch(context.Background(), "acme/secret", secretSHA) // the host-local mirror
	if err != nil {
		t.Fatal(err)
	}
	before := len(srv.Requests("acme/secret"))
	lib := gittest.New(t, e.gitRoot, "acme/lib")
	libSHA := lib.Commit("lib", map[string]string{"lib.txt": "public lib"})
	lib.Push("main")

	for _, tt := range []struct{ name, url, sha, want string }{
		{"file-url", "file://" + m.Dir, secretSHA, "is refused"},
		{"host-path", m.Dir, secretSHA, "is refused"},
		{"server-root", filepath.Join(e.gitRoot, "acme/secret.git"), secretSHA, "is refused"},
		{"relative", "../lib.git", libSHA, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := gittest.New(t, e.gitRoot, "acme/app-"+tt.name)
			app.Commit("modules", map[string]string{".gitmodules": "[submodule \"dep\"]\n\tpath = dep\n\turl = " + tt.url + "\n"})
			app.Git("update-index", "--add", "--cacheinfo", "160000,"+tt.sha+",dep")
			app.Git("commit", "--quiet", "-m", "gitlink")
			app.Push("main")
			ev := pushEvent(app.Head())
			ev.Repo = "acme/app-" + tt.name
			res, rec := e.runEvent(`
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          submodules: true
      - if: always()
        run: cat dep/*.txt 2>/dev/null; echo "listed $(ls -A dep 2>/dev/null | tr '\n' ' ')"
`, "build", ev)
			if strings.Contains(rec.all(), "MIRROR-SECRET-8d1f") {
				t.Fatalf("the host's mirror was cloned into the workspace:\n%s", rec.all())
			}
			if tt.want == "" {
				wantConclusion(t, res, rec, "success")
				wantLog(t, rec, "public lib")
				return
			}
			wantConclusion(t, res, rec, "failure")
			wantLog(t, rec, "submodule dep: URL", tt.want, "listed")
		})
	}
	noServerToken(t, srv, "acme/lib")
	if n := len(srv.Requests("acme/secret")); n != before {
		t.Errorf("the refused submodules still reached the git server for acme/secret (%d requests)", n-before)
	}
}

const usesPrivate = `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/private-action@v1
`

// TestAttackForkUsesPrivateAction: a fork cannot use a private action of
// the owner (no credential is presented for it, and a copy cached by an
// earlier job is not handed out); a push job fetches it with the job's
// token, never the server's.
func TestAttackForkUsesPrivateAction(t *testing.T) {
	e, srv := httpEnv(t)
	act := gittest.New(t, e.gitRoot, "acme/private-action")
	act.Commit("action", map[string]string{"action.yml": "runs:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo PRIVATE-ACTION-RAN\n"})
	act.Push("HEAD:refs/tags/v1")
	srv.Private("acme/private-action", serverToken, jobToken)

	res, rec := e.runEvent(usesPrivate, "build", forkPR(strings.Repeat("a", 40)))
	wantConclusion(t, res, rec, "failure")
	wantLog(t, rec, "Unable to resolve action `acme/private-action@v1`")
	if strings.Contains(rec.all(), "PRIVATE-ACTION-RAN") {
		t.Fatal("a fork ran a private action")
	}
	if got := srv.Passwords("acme/private-action"); len(got) != 0 {
		t.Fatalf("a fork's fetch presented credentials %q", got)
	}

	res, rec = e.runEvent(usesPrivate, "build", pushEvent(strings.Repeat("a", 40)))
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, "PRIVATE-ACTION-RAN")
	if got := srv.Passwords("acme/private-action"); !equal(got, []string{jobToken}) {
		t.Fatalf("credentials seen for the action = %q, want only the job's", got)
	}

	// The action is now cached on the host, and the tag recorded: the fork
	// still gets nothing, even by the full commit id.
	sha := act.Head()
	for _, uses := range []string{"acme/private-action@v1", "acme/private-action@" + sha} {
		res, rec = e.runEvent(strings.ReplaceAll(usesPrivate, "acme/private-action@v1", uses), "build", forkPR(strings.Repeat("a", 40)))
		wantConclusion(t, res, rec, "failure")
		if strings.Contains(rec.all(), "PRIVATE-ACTION-RAN") {
			t.Fatalf("a fork ran the cached private action %s:\n%s", uses, rec.all())
		}
	}
	wantLog(t, rec, "acme/private-action cannot be read without a credential")
	if got := srv.Passwords("acme/private-action"); !equal(got, []string{jobToken}) {
		t.Fatalf("credentials seen for the action = %q, want only the job's", got)
	}

	// Another owner's action is fetched with no credential even from a push.
	other := gittest.New(t, e.gitRoot, "other/pub")
	other.Commit("a", map[string]string{"action.yml": "runs:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo PUBLIC-RAN\n"})
	other.Push("HEAD:refs/tags/v1")
	res, rec = e.runEvent(strings.ReplaceAll(usesPrivate, "acme/private-action", "other/pub"), "build", pushEvent(strings.Repeat("a", 40)))
	wantConclusion(t, res, rec, "success")
	if got := srv.Passwords("other/pub"); len(got) != 0 {
		t.Errorf("another owner's action was fetched with credentials %q", got)
	}
	noServerToken(t, srv, "other/pub")
}

// TestSubmoduleURLs: which .gitmodules URLs name a repository of the git
// server; everything else is refused before git sees it.
func TestSubmoduleURLs(t *testing.T) {
	e, srv := httpEnv(t)
	tests := []struct{ url, want string }{
		{"../lib.git", "acme/lib"},
		{"../../other/lib", "other/lib"},
		{"https://github.com/o/r.git", "o/r"},
		{"https://github.com/o/r", "o/r"},
		{"git@github.com:o/r.git", "o/r"},
		{srv.URL + "/o/r.git", "o/r"},
		{"./lib", ""},
		{"../../../x/y", ""},
		{"file:///var/lib/hookci/git/o/r.git", ""},
		{"/var/lib/hookci/git/o/r.git", ""},
		{"ext::sh -c touch% /tmp/pwned", ""},
		{"ssh://git@github.com/o/r.git", ""},
		{"https://evil.example/o/r.git", ""},
		{"https://user:pw@github.com/o/r.git", ""},
		{"https://github.com/o/r/../../x/y", ""},
	}
	for _, tt := range tests {
		got, err := e.r.submoduleRepo("acme/app", tt.url)
		if tt.want == "" {
			if err == nil {
				t.Errorf("submoduleRepo(%q) = %q, want refused", tt.url, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("submoduleRepo(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
}

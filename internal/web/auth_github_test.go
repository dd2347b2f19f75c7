package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
	"github.com/hookci/hookci/internal/store"
)

// ghFixture is hookci with Sign in with GitHub against the strict fake, and
// a run with one job and a log in each of three repositories.
type ghFixture struct {
	fake  *githubtest.Server
	base  string
	s     *Server
	st    *store.Store
	runs  map[string]int64 // repo → run id
	jobs  map[string]int64 // repo → job id
	logs  *syncBuffer
	calls int // control requests that reached the handler
	mu    sync.Mutex
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newGHFixture(t *testing.T) *ghFixture {
	t.Helper()
	ctx := context.Background()
	fake := githubtest.NewServer(t)
	for _, r := range []string{"acme/app", "acme/secret", "other/lib"} {
		o, n, _ := strings.Cut(r, "/")
		fake.AddRepo(o, n, 0)
	}
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &ghFixture{fake: fake, base: "http://" + l.Addr().String(), st: st, runs: map[string]int64{}, jobs: map[string]int64{},
		logs: &syncBuffer{}}
	fake.AddOAuthApp("hookci-client", "hookci-secret", f.base+"/oauth/callback")
	q := st.Queries()
	for _, repo := range []string{"acme/app", "acme/secret", "other/lib"} {
		run := &store.Run{DeliveryID: "d-" + repo, Repo: repo, WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push",
			SHA: "0123456789abcdef", Status: store.StatusInProgress}
		if err := q.CreateRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		job := &store.Job{RunID: run.ID, Key: "build", Name: "build", Status: store.StatusInProgress}
		if err := q.CreateJob(ctx, job, false); err != nil {
			t.Fatal(err)
		}
		if err := q.AppendLog(ctx, job.ID, 1, []byte("log of "+repo+"\n")); err != nil {
			t.Fatal(err)
		}
		f.runs[repo], f.jobs[repo] = run.ID, job.ID
	}
	f.s = New(st, NewMetrics(st.QueueDepth), Options{
		GitHub:    &github.OAuth{ClientID: "hookci-client", ClientSecret: "hookci-secret", WebURL: fake.URL(), APIURL: fake.URL()},
		PublicURL: f.base,
		Logger:    slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Artifacts: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ARTIFACT BYTES")) }),
	})
	mux := http.NewServeMux()
	mux.Handle("POST /api/runs/{id}/cancel", f.s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls++
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})))
	// Routes shaped like GitHub's API that check nothing themselves: the guard must.
	for _, p := range []string{"GET /t/actions/runs/{run_id}", "GET /t/actions/jobs/{job_id}/logs", "GET /t/repos/{owner}/{repo}/actions/runs"} {
		mux.Handle(p, f.s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("REACHED")) })))
	}
	mux.Handle("/", f.s.Handler(http.NotFoundHandler()))
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

// browserAs is a browser signed in to the fake GitHub as login (not yet to hookci).
func (f *ghFixture) browserAs(t *testing.T, login string) *http.Client {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(f.fake.URL())
	jar.SetCookies(u, []*http.Cookie{f.fake.GitHubSession(login)})
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches u with the browser's cookies and returns status, Location and body.
func get(t *testing.T, c *http.Client, u string, hdr ...string) (int, string, string) {
	t.Helper()
	// A leaked live log would stream until its job ends: the deadline
	// turns that hang into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// signIn runs the OAuth web flow from hookci to GitHub and back; it returns
// the page hookci sends the browser to.
func (f *ghFixture) signIn(t *testing.T, c *http.Client, next string) string {
	t.Helper()
	code, loc, _ := get(t, c, f.base+"/login/github?next="+url.QueryEscape(next))
	if code != http.StatusFound || !strings.HasPrefix(loc, f.fake.URL()+"login/oauth/authorize?") {
		t.Fatalf("start: got %d → %q, want 302 to the fake's authorize", code, loc)
	}
	code, loc, body := get(t, c, loc)
	if code != http.StatusFound || !strings.HasPrefix(loc, f.base+"/oauth/callback?") {
		t.Fatalf("authorize: got %d → %q (%s), want 302 to hookci's callback", code, loc, body)
	}
	code, loc, body = get(t, c, loc)
	if code != http.StatusSeeOther {
		t.Fatalf("callback: got %d (%s), want 303", code, body)
	}
	return loc
}

// TestGitHubSignIn: the whole flow against the fake, then what the user
// sees and may do follows GitHub: a repository they cannot read does not
// exist for them (run, jobs, log, live log, artifact, list, deliveries), a
// repository they can only read cannot be controlled, one they can write can.
func TestGitHubSignIn(t *testing.T) {
	f := newGHFixture(t)
	f.fake.SetUserPermission("alice", "acme/app", "read")
	f.fake.SetUserPermission("alice", "other/lib", "write")
	b := f.browserAs(t, "alice")

	// Not signed in: the dashboard sends the browser to /login, which offers GitHub.
	code, loc, _ := get(t, b, f.base+"/", "Accept", "text/html")
	if code != http.StatusSeeOther || loc != "/login?next=%2F" {
		t.Fatalf("GET / signed out: got %d → %q, want 303 → /login?next=%%2F", code, loc)
	}
	if _, _, page := get(t, b, f.base+"/login"); !strings.Contains(page, `href="/login/github?next=%2f"`) {
		t.Errorf("login page lacks the GitHub sign-in link:\n%s", page)
	}

	next := fmt.Sprintf("/runs/%d", f.runs["acme/app"])
	if got := f.signIn(t, b, next); got != next {
		t.Errorf("after sign-in: sent to %q, want %q", got, next)
	}

	// The list holds only what alice can read.
	code, _, body := get(t, b, f.base+"/api/runs")
	var runs []store.Run
	if err := json.Unmarshal([]byte(body), &runs); code != 200 || err != nil {
		t.Fatalf("GET /api/runs: %d %v %s", code, err, body)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.Repo)
	}
	if strings.Join(got, ",") != "other/lib,acme/app" {
		t.Errorf("GET /api/runs lists %v, want [other/lib acme/app]", got)
	}
	if _, _, page := get(t, b, f.base+"/"); strings.Contains(page, "acme/secret") || !strings.Contains(page, "acme/app") {
		t.Errorf("overview page: shows acme/secret or hides acme/app:\n%s", page)
	}

	// Attack: read another repository's run, jobs, log, live log, artifact.
	secretRun, secretJob := f.runs["acme/secret"], f.jobs["acme/secret"]
	for _, path := range []string{
		fmt.Sprintf("/runs/%d", secretRun),
		fmt.Sprintf("/api/runs/%d", secretRun),
		fmt.Sprintf("/api/jobs/%d/log", secretJob),
		fmt.Sprintf("/api/jobs/%d/log/stream", secretJob),
		fmt.Sprintf("/api/runs/%d/artifacts", secretRun),
		fmt.Sprintf("/runs/%d/artifacts/dist", secretRun),
		fmt.Sprintf("/t/actions/runs/%d", secretRun),
		fmt.Sprintf("/t/actions/jobs/%d/logs", secretJob),
		"/t/repos/acme/secret/actions/runs",
		"/t/repos/ACME/Secret/actions/runs",
	} {
		code, _, body := get(t, b, f.base+path)
		if code != http.StatusNotFound || strings.Contains(body, "log of acme/secret") || strings.Contains(body, "ARTIFACT") || strings.Contains(body, "REACHED") {
			t.Errorf("attack: GET %s as alice: got %d %q, want 404 without the data", path, code, body)
		}
	}
	for _, path := range []string{
		fmt.Sprintf("/api/runs/%d", f.runs["acme/app"]),
		fmt.Sprintf("/api/jobs/%d/log", f.jobs["acme/app"]),
		fmt.Sprintf("/runs/%d/artifacts/dist", f.runs["other/lib"]),
		fmt.Sprintf("/t/actions/runs/%d", f.runs["acme/app"]),
		fmt.Sprintf("/t/actions/jobs/%d/logs", f.jobs["other/lib"]),
		"/t/repos/acme/app/actions/runs",
	} {
		if code, _, _ := get(t, b, f.base+path); code != http.StatusOK {
			t.Errorf("GET %s as alice: got %d, want 200", path, code)
		}
	}
	if code, _, _ := get(t, b, f.base+"/metrics"); code != http.StatusForbidden {
		t.Errorf("GET /metrics as a GitHub user: got %d, want 403 (spans every repository)", code)
	}

	// Controls: write needed; no read is 404.
	for _, tc := range []struct {
		repo string
		want int
	}{{"acme/app", 403}, {"other/lib", 202}, {"acme/secret", 404}} {
		f.mu.Lock()
		before := f.calls
		f.mu.Unlock()
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/runs/%d/cancel", f.base, f.runs[tc.repo]), nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		f.mu.Lock()
		reached := f.calls > before
		f.mu.Unlock()
		if resp.StatusCode != tc.want || reached != (tc.want == 202) {
			t.Errorf("cancel a run of %s as alice: got %d (reached %v), want %d", tc.repo, resp.StatusCode, reached, tc.want)
		}
	}

	// Permissions are GitHub's, remembered for a minute: taken away on
	// GitHub, the run vanishes once the minute is over.
	f.fake.SetUserPermission("alice", "acme/app", "")
	appRun := fmt.Sprintf("%s/api/runs/%d", f.base, f.runs["acme/app"])
	if code, _, _ := get(t, b, appRun); code != http.StatusOK {
		t.Errorf("within the cache minute: got %d, want 200", code)
	}
	f.s.now = func() time.Time { return time.Now().Add(permTTL + time.Second) }
	if code, _, _ := get(t, b, appRun); code != http.StatusNotFound {
		t.Errorf("after the cache minute, access removed on GitHub: got %d, want 404", code)
	}

	// The user's GitHub token is in no page and no log line.
	if f.fake.UserTokens() != 1 {
		t.Errorf("the fake issued %d user tokens, want 1", f.fake.UserTokens())
	}
	_, _, page := get(t, b, f.base+"/runs/"+fmt.Sprint(f.runs["other/lib"]))
	for what, text := range map[string]string{"page": page, "logs": f.logs.String()} {
		if strings.Contains(text, "gho_") {
			t.Errorf("a GitHub user token appears in the %s", what)
		}
	}
	if !strings.Contains(f.logs.String(), "login=alice") {
		t.Errorf("sign-in not logged:\n%s", f.logs.String())
	}
}

// TestGitHubSignInAttacks: login CSRF (a callback this browser did not
// start, a state that does not match, a callback replayed) is refused
// without a session; an unknown client id or an unregistered callback is
// refused by GitHub; next never leaves hookci.
func TestGitHubSignInAttacks(t *testing.T) {
	f := newGHFixture(t)
	f.fake.SetUserPermission("mallory", "acme/app", "read")
	mallory, victim := f.browserAs(t, "mallory"), f.browserAs(t, "victim")

	// Mallory starts a sign-in and gets her callback URL (her code, her state)…
	_, loc, _ := get(t, mallory, f.base+"/login/github")
	_, callback, _ := get(t, mallory, loc)
	// …and makes the victim's browser open it: the victim has no state cookie.
	code, _, _ := get(t, victim, callback)
	if code != http.StatusBadRequest || hasSession(t, victim, f.base) {
		t.Errorf("login CSRF (someone else's callback): got %d, session %v; want 400 and none", code, hasSession(t, victim, f.base))
	}
	// The victim has started a sign-in of their own: Mallory's state still does not match.
	get(t, victim, f.base+"/login/github")
	code, _, _ = get(t, victim, callback)
	if code != http.StatusBadRequest || hasSession(t, victim, f.base) {
		t.Errorf("login CSRF (state mismatch): got %d, session %v; want 400 and none", code, hasSession(t, victim, f.base))
	}
	// A state-less callback.
	u, _ := url.Parse(callback)
	q := u.Query()
	q.Del("state")
	u.RawQuery = q.Encode()
	get(t, victim, f.base+"/login/github")
	if code, _, _ := get(t, victim, u.String()); code != http.StatusBadRequest || hasSession(t, victim, f.base) {
		t.Errorf("callback without state: got %d, want 400 and no session", code)
	}
	// Mallory's own callback works once; replayed, the state is gone.
	if code, _, _ := get(t, mallory, callback); code != http.StatusSeeOther || !hasSession(t, mallory, f.base) {
		t.Fatalf("mallory's own callback: got %d, want 303 and a session", code)
	}
	fresh := f.browserAs(t, "mallory")
	if code, _, _ := get(t, fresh, callback); code != http.StatusBadRequest {
		t.Errorf("replayed callback: got %d, want 400", code)
	}

	// GitHub refuses an unknown client and an unregistered callback.
	for _, tc := range []struct {
		name, query string
		want        int
		wantLoc     string
	}{
		{"unknown client_id", "client_id=nope&redirect_uri=" + url.QueryEscape(f.base+"/oauth/callback"), 404, ""},
		{"unregistered redirect_uri", "client_id=hookci-client&state=s&redirect_uri=" + url.QueryEscape("https://evil.example/cb"), 302,
			f.base + "/oauth/callback?error=redirect_uri_mismatch"},
	} {
		code, loc, _ := get(t, mallory, f.fake.URL()+"login/oauth/authorize?"+tc.query)
		if code != tc.want || !strings.HasPrefix(loc, tc.wantLoc) || strings.Contains(loc, "code=") {
			t.Errorf("%s: got %d → %q, want %d → %q… without a code", tc.name, code, loc, tc.want, tc.wantLoc)
		}
	}

	// next pointing elsewhere ends on hookci's front page.
	if got := f.signIn(t, f.browserAs(t, "mallory"), "https://evil.example/phish"); got != "/" {
		t.Errorf("GitHub sign-in with next=https://evil.example/phish: sent to %q, want /", got)
	}
}

func hasSession(t *testing.T, c *http.Client, base string) bool {
	u, _ := url.Parse(base)
	for _, k := range c.Jar.Cookies(u) {
		if k.Name == sessionCookieName {
			return true
		}
	}
	return false
}

// TestGitHubSessionEndsWithUserToken: a session made from an expiring user
// token (a GitHub App's) lasts no longer than the token.
func TestGitHubSessionEndsWithUserToken(t *testing.T) {
	f := newGHFixture(t)
	f.fake.SetUserTokenLifetime(time.Hour)
	b := f.browserAs(t, "dave")
	_, loc, _ := get(t, b, f.base+"/login/github")
	_, loc, _ = get(t, b, loc)
	resp, err := b.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == sessionCookieName {
			c = k
		}
	}
	if c == nil || c.MaxAge != 3600 {
		t.Fatalf("session cookie %v: want MaxAge 3600 (the user token's lifetime)", c)
	}
	f.s.now = func() time.Time { return time.Now().Add(time.Hour + time.Minute) }
	req, _ := http.NewRequest("GET", f.base+"/api/runs", nil)
	req.AddCookie(c)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session after the token's hour: got %v %v, want 401", resp.StatusCode, err)
	}
}

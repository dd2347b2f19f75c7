package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/hookci/hookci/internal/gitrepo/gittest"
)

// secretWorkflow is dispatched in octo/secret: a run there that only a user
// GitHub lets read octo/secret may see.
const secretWorkflow = "name: Secret\non: workflow_dispatch\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo secret-run\n"

// TestBrowserGitHubSignIn drives Sign in with GitHub in a real Chromium
// against a real server and the strict GitHub fake's OAuth web flow
// (authorize → callback with code and state → code exchanged with the
// client secret → the user's token asks GitHub for each repository's
// permission). Two repositories have runs: octo/hello (a run still going)
// and octo/secret. rita may read octo/hello only, mona may write it, and
// neither may see octo/secret.
//
//   - A browser without a session opening /runs is sent to /login, clicks
//     "Sign in with GitHub", goes through GitHub's authorize redirect and
//     lands back on /runs signed in.
//   - Each sees octo/hello's run and not octo/secret's; octo/secret's run
//     page is a 404 (attack: the id typed by hand).
//   - rita (read) gets no Cancel/Re-run buttons, and the cancel POST made
//     from the signed-in page anyway (attack: a same-origin fetch, as the
//     button would) is refused 403 and cancels nothing.
//   - mona (write) sees "Cancel run" and her click cancels the run.
func TestBrowserGitHubSignIn(t *testing.T) {
	ctx := newBrowser(t)
	gitRoot := t.TempDir()
	h := &harness{t: t, gh: newFakeGitHub(t), repo: newRepo(t, gitRoot), sandbox: "host"}
	secret := gittest.New(t, gitRoot, "octo/secret")
	secret.Commit("wf", map[string]string{".github/workflows/secret.yml": secretWorkflow})
	secret.Push("main")
	h.gh.AddRepo("octo", "secret", 0)
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	h.cfg.APIToken = apiToken
	h.cfg.GitHubOAuthClientID, h.cfg.GitHubOAuthClientSecret = "hookci-oauth-client", "hookci-oauth-secret"
	h.cfg.GitHubWebURL = h.gh.URL() // the fake serves github.com's sign-in pages too
	h.start()
	t.Cleanup(func() { h.stop() })
	h.gh.AddOAuthApp("hookci-oauth-client", "hookci-oauth-secret", h.url+"/oauth/callback")
	h.gh.SetUserPermission("rita", "octo/hello", "read")
	h.gh.SetUserPermission("mona", "octo/hello", "write")

	// The runs: octo/hello's (long: to be cancelled) and octo/secret's.
	sha := h.pushWorkflow("gh-signin-push", map[string]string{".github/workflows/ci.yml": controlsWorkflow})
	if code, body, _ := h.api("POST", "/api/repos/octo/secret/actions/workflows/secret.yml/dispatches", map[string]any{"ref": "main"}); code != http.StatusNoContent {
		t.Fatalf("dispatching octo/secret's workflow: %d %s", code, body)
	}
	var run, secretRun apiRunT
	waitFor(t, "octo/hello's run to start and octo/secret's to end", func() bool {
		var hello, sec struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?head_sha="+sha, &hello)
		h.apiJSON("/api/repos/octo/secret/actions/runs", &sec)
		if len(hello.Runs) == 1 && hello.Runs[0].Status == "in_progress" && len(sec.Runs) == 1 && sec.Runs[0].Status == "completed" {
			run, secretRun = hello.Runs[0], sec.Runs[0]
			return true
		}
		return false
	})
	runURL := fmt.Sprintf("%s/runs/%d", h.url, run.ID)

	signIn := func(login string) {
		t.Helper()
		cookie := h.gh.GitHubSession(login) // the browser is signed in to GitHub as login
		err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: cookie.Name, Value: cookie.Value, URL: h.gh.URL(), Path: "/"})
			return err
		}))
		if err != nil {
			t.Fatalf("%s: setting GitHub's session cookie: %v", login, err)
		}
		navigate(t, ctx, h.url+"/runs", `a[href^="/login/github"]`)
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/login?next=") {
			t.Fatalf("%s: unauthenticated /runs at %q, want /login?next=…", login, loc)
		}
		screenshot(t, ctx, "github-login-"+login)
		if err := chromedp.Do(ctx, chromedp.Click(`a[href^="/login/github"]`)); err != nil {
			t.Fatalf("%s: Sign in with GitHub: %v", login, err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = chromedp.Do(wctx, chromedp.WaitReady(chromedp.CSS("#runs")))
		cancel()
		if err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("%s: Sign in with GitHub: at %s (%v):\n%s", login, loc, err, body)
		}
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/runs") {
			t.Errorf("%s: after signing in at %q, want /runs", login, loc)
		}
		rows := text(t, ctx, "#runs")
		if !strings.Contains(rows, "octo/hello") {
			t.Errorf("%s: the runs list lacks octo/hello's run:\n%s", login, rows)
		}
		if strings.Contains(rows, "octo/secret") || strings.Contains(rows, "Secret") {
			t.Errorf("%s: the runs list shows octo/secret's run:\n%s", login, rows)
		}
		screenshot(t, ctx, "github-runs-"+login)
		// octo/secret's run page, its id typed by hand: 404.
		if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/runs/%d", h.url, secretRun.ID))); err != nil {
			t.Fatal(err)
		}
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`performance.getEntriesByType("navigation")[0].responseStatus`))
		if body := text(t, ctx, "body"); status != http.StatusNotFound || strings.Contains(body, "secret-run") {
			t.Errorf("%s: octo/secret's run page: status %d, body %q; want 404 showing nothing of it", login, status, body)
		}
	}

	// rita may read octo/hello: no controls, and a cancel is refused.
	signIn("rita")
	navigate(t, ctx, runURL, ".controls")
	if got := count(t, ctx, "button[data-post]"); got != 0 {
		t.Errorf("rita (read): %d control buttons on the run page, want none", got)
	}
	screenshot(t, ctx, "github-run-read")
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(
		`fetch("/api/repos/octo/hello/actions/runs/%d/cancel", {method: "POST", credentials: "same-origin", headers: {"Content-Type": "application/json"}, body: "{}"}).then(r => r.status)`,
		run.ID), chromedp.EvalAwaitPromise))
	if err != nil || status != http.StatusForbidden {
		t.Errorf("rita (read): cancel from the page answered %d (%v), want 403", status, err)
	}
	var now struct {
		Status string `json:"status"`
	}
	h.apiJSON(fmt.Sprintf("%s/%d", runsPath, run.ID), &now)
	if now.Status != "in_progress" {
		t.Fatalf("after rita's refused cancel the run is %s, want in_progress", now.Status)
	}

	// mona may write octo/hello: "Cancel run" is there and works.
	signIn("mona")
	navigate(t, ctx, runURL, `.controls button[data-post$="/cancel"]`)
	screenshot(t, ctx, "github-run-write")
	if err := chromedp.Do(ctx, chromedp.Click(`.controls button[data-post$="/cancel"]`)); err != nil {
		t.Fatalf("mona: clicking Cancel run: %v", err)
	}
	if got := h.waitRunOf(sha); concl(got.Conclusion) != "cancelled" {
		t.Errorf("after mona's Cancel run: %s, want cancelled", concl(got.Conclusion))
	}
	if n := h.gh.UserTokens(); n < 2 {
		t.Errorf("the fake issued %d user tokens, want one per sign-in (2): the OAuth flow was not used", n)
	}
}

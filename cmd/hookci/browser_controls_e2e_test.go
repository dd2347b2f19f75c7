package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// controlsWorkflow runs long on push (to be cancelled) and at once on
// workflow_dispatch, printing its typed inputs.
const controlsWorkflow = `name: CI
on:
  push:
  workflow_dispatch:
    inputs:
      greeting:
        description: what to say
        type: string
        required: true
        default: hello
      loud:
        type: boolean
        default: false
      level:
        type: choice
        options: [low, high]
        default: low
      count:
        type: number
        default: 2
jobs:
  work:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "inputs: ${{ inputs.greeting }} ${{ inputs.loud }} ${{ inputs.level }} ${{ inputs.count }}"
          if [ "${{ github.event_name }}" = push ]; then for i in $(seq 1 900); do echo "tick $i"; sleep 0.2; done; fi
`

// TestBrowserControls drives the dashboard's controls in a real Chromium
// against a real server with an API token: a browser without a session is
// sent to /login and signs in there (fields token and next) and lands on
// the page it asked for; the run page's live log grows while the job runs;
// "Cancel run" cancels the running run; "Re-run all jobs" makes attempt 2
// under the same run id, which the same page then shows, with a link to
// attempt 1's page; the "Run workflow" form is built from the
// workflow's typed inputs (checkbox, select, number, required mark, branch
// select), a missing required input comes back 422 naming it, and a filled
// form starts a workflow_dispatch run whose job sees the typed inputs.
func TestBrowserControls(t *testing.T) {
	ctx := newBrowser(t)
	h := newAPIHarness(t)
	sha := h.pushWorkflow("controls-push", map[string]string{".github/workflows/ci.yml": controlsWorkflow})

	// Sign in through /login.
	if err := chromedp.Do(ctx, chromedp.Navigate(h.url+"/runs"), chromedp.WaitReady(chromedp.CSS("#token"))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(loc, "/login?next=") {
		t.Fatalf("unauthenticated /runs: at %q (%v), want /login?next=…", loc, err)
	}
	screenshot(t, ctx, "login")
	if err := chromedp.Do(ctx, chromedp.SendKeys("#token", apiToken), chromedp.Submit("#token"), chromedp.WaitReady(chromedp.CSS("#runs"))); err != nil {
		t.Fatalf("signing in: %v", err)
	}
	if loc, _ = chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/runs") {
		t.Errorf("after sign-in: at %q, want /runs", loc)
	}

	// The run page while the job runs: the live log grows; then Cancel run.
	var run apiRunT
	waitFor(t, "the push run to start", func() bool {
		var list struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?head_sha="+sha, &list)
		if len(list.Runs) == 1 && list.Runs[0].Status == "in_progress" {
			run = list.Runs[0]
			return true
		}
		return false
	})
	runURL := fmt.Sprintf("%s/runs/%d", h.url, run.ID)
	if err := chromedp.Do(ctx, chromedp.Navigate(runURL), chromedp.WaitReady(chromedp.CSS(".log.live"))); err != nil {
		t.Fatal(err)
	}
	first := 0
	waitFor(t, "live log lines", func() bool { first = count(t, ctx, ".log.live .l"); return first > 0 })
	waitFor(t, "the live log to grow", func() bool { return count(t, ctx, ".log.live .l") > first })
	screenshot(t, ctx, "controls-live")
	if err := chromedp.Do(ctx, chromedp.Click(`.controls button[data-post$="/cancel"]`)); err != nil {
		t.Fatalf("clicking Cancel run: %v", err)
	}
	cancelled := h.waitRunOf(sha)
	if concl(cancelled.Conclusion) != "cancelled" || cancelled.RunAttempt != 1 {
		t.Fatalf("after Cancel run: got attempt %d %s, want attempt 1 cancelled", cancelled.RunAttempt, concl(cancelled.Conclusion))
	}

	// Re-run all jobs: attempt 2 appears, and the page shows it.
	navigate(t, ctx, runURL, `.controls button[data-post$="/rerun"]`)
	if err := chromedp.Do(ctx, chromedp.Click(`.controls button[data-post$="/rerun"]`)); err != nil {
		t.Fatalf("clicking Re-run all jobs: %v", err)
	}
	var second apiRunT
	waitFor(t, "attempt 2", func() bool {
		var list struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?head_sha="+sha, &list)
		if len(list.Runs) == 1 && list.Runs[0].RunAttempt == 2 {
			second = list.Runs[0]
			return true
		}
		return false
	})
	if second.ID != run.ID {
		t.Errorf("attempt 2 has id %d, want the run's id %d (GitHub keeps it)", second.ID, run.ID)
	}
	// The same page shows attempt 2 with a link to attempt 1. The Re-run
	// button's own navigation (after its POST answers) may land on top of
	// this one; the page is loaded again until it is settled.
	shown := false
	attempt1 := fmt.Sprintf("/runs/%d/attempts/1", run.ID)
	for range 10 {
		navigate(t, ctx, runURL, "#run-title")
		body := text(t, ctx, "body")
		if shown = strings.Contains(body, "attempt 2") && count(t, ctx, `#attempts a[href="`+attempt1+`"]`) == 1; shown {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !shown {
		t.Errorf("the run's page %s does not show attempt 2 with a link to attempt 1", runURL)
	}
	navigate(t, ctx, h.url+attempt1, "#run-title")
	if body := text(t, ctx, "body"); !strings.Contains(body, "attempt 1") || !strings.Contains(body, "cancelled") {
		t.Errorf("%s does not show attempt 1 cancelled:\n%s", attempt1, body)
	}
	screenshot(t, ctx, "controls-attempt2")
	if code, body, _ := h.api("POST", fmt.Sprintf("%s/%d/cancel", runsPath, second.ID), nil); code != 202 {
		t.Logf("cancel attempt 2: %d %s", code, body) // it may have ended; only a tidy-up
	}

	// Run workflow: the form from the typed inputs.
	form := h.url + "/repos/octo/hello/actions/workflows/ci.yml/run"
	navigate(t, ctx, form, "#dispatch-form")
	for sel, want := range map[string]int{
		`input[type=checkbox][name="in.loud"]:not(:checked)`:  1,
		`select[name="in.level"] option`:                      2,
		`input[type=number][name="in.count"][value="2"]`:      1,
		`input[type=text][name="in.greeting"][value="hello"]`: 1,
		`input[name="in.greeting"][required]`:                 1,
		`label[for="in.greeting"] [title=required]`:           1,
		`select[name=ref] option[selected]`:                   1,
	} {
		if got := count(t, ctx, sel); got != want {
			t.Errorf("dispatch form: %d of %s, want %d", got, sel, want)
		}
	}
	screenshot(t, ctx, "dispatch-form")
	// A missing required input: the browser's own check is taken off so the
	// server's (the API's validation) answers.
	setForm := func(js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](js+"; 0")); err != nil {
			t.Fatalf("filling the form (%s): %v", js, err)
		}
	}
	setForm(`const g = document.querySelector('input[name="in.greeting"]'); g.required = false; g.value = ""`)
	if err := chromedp.Do(ctx, chromedp.Click("#dispatch-run"), chromedp.WaitReady(chromedp.CSS("#dispatch-error"))); err != nil {
		t.Fatalf("submitting without the required input: %v", err)
	}
	if msg := text(t, ctx, "#dispatch-error"); !strings.Contains(msg, "greeting") {
		t.Errorf("refused dispatch: got %q, want a message naming greeting", msg)
	}
	screenshot(t, ctx, "dispatch-refused")
	setForm(`document.querySelector('input[name="in.greeting"]').value = "hi-there"; ` +
		`document.querySelector('input[name="in.loud"]').checked = true; ` +
		`document.querySelector('select[name="in.level"]').value = "high"`)
	if err := chromedp.Do(ctx, chromedp.Click("#dispatch-run"), chromedp.WaitReady(chromedp.CSS("#runs"))); err != nil {
		t.Fatalf("submitting the form: %v", err)
	}
	if loc, _ = chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/runs?") {
		t.Errorf("after Run workflow: at %q, want the workflow's runs", loc)
	}
	var dispatched apiRunT
	waitFor(t, "the dispatched run to complete", func() bool {
		var list struct {
			Runs []apiRunT `json:"workflow_runs"`
		}
		h.apiJSON(runsPath+"?event=workflow_dispatch", &list)
		if len(list.Runs) == 1 && list.Runs[0].Status == "completed" {
			dispatched = list.Runs[0]
			return true
		}
		return false
	})
	jobs := h.apiJobs(dispatched.ID)
	if len(jobs) != 1 {
		t.Fatalf("dispatched run: %d jobs, want 1", len(jobs))
	}
	if log := h.apiJobLog(jobs[0].ID); !strings.Contains(log, "inputs: hi-there true high 2") {
		t.Errorf("dispatched job's log lacks the typed inputs:\n%s", log)
	}
}

// navigate loads url and waits for selector; a load cut short by the page
// reloading itself (the run page does after a control or a job's end) is
// made again.
func navigate(t *testing.T, ctx context.Context, url, selector string) {
	t.Helper()
	var err error
	for range 10 {
		if err = chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS(selector))); err == nil {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("loading %s: %v", url, err)
}

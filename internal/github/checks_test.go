package github_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	gh "github.com/google/go-github/v93/github"
	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
)

func TestCheckRunLifecycleWithManyAnnotations(t *testing.T) {
	e := appEnv(t)
	ctx := context.Background()
	start := e.clock.Now()
	id, err := e.c.CreateCheckRun(ctx, repo, github.CheckRun{
		Name: "hookci / build", HeadSHA: sha1, Status: github.CheckInProgress,
		ExternalID: "run-1-job-2", DetailsURL: "https://ci.example/r/1", StartedAt: start,
	})
	if err != nil {
		t.Fatal(err)
	}
	var anns []github.Annotation
	for i := range 120 {
		anns = append(anns, github.Annotation{Path: fmt.Sprintf("pkg/f%d.go", i), StartLine: i + 1,
			Level: github.LevelWarning, Message: fmt.Sprintf("issue %d", i), StartColumn: 2, EndColumn: 5})
	}
	anns[7].EndLine = 20 // spans lines: columns must be dropped
	patchesBefore := e.srv.CountRequests("PATCH", fmt.Sprintf("/check-runs/%d", id))
	err = e.c.UpdateCheckRun(ctx, repo, id, github.CheckRunUpdate{
		Conclusion: github.ConclusionFailure,
		Output:     &github.CheckOutput{Title: "3 jobs failed", Summary: "summary", Text: "details", Annotations: anns},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.srv.CountRequests("PATCH", fmt.Sprintf("/check-runs/%d", id)) - patchesBefore; got != 3 {
		t.Errorf("got %d PATCH requests, want 3 (120 annotations, 50 per request)", got)
	}
	runs := e.srv.CheckRuns(full)
	if len(runs) != 1 {
		t.Fatalf("got %d check runs, want 1", len(runs))
	}
	cr := runs[0]
	want := githubtest.CheckRun{ID: id, Name: "hookci / build", HeadSHA: sha1, Status: "completed",
		Conclusion: "failure", ExternalID: "run-1-job-2", DetailsURL: "https://ci.example/r/1",
		StartedAt: start, CompletedAt: e.clock.Now(), Title: "3 jobs failed", Summary: "summary", Text: "details", Updates: 3}
	gotAnns := cr.Annotations
	cr.Annotations = nil
	if diff := cmp.Diff(want, cr); diff != "" {
		t.Errorf("check run (-want +got):\n%s", diff)
	}
	if len(gotAnns) != 120 {
		t.Fatalf("got %d annotations, want 120", len(gotAnns))
	}
	for i, a := range gotAnns {
		if a.Path != anns[i].Path || a.Message != anns[i].Message {
			t.Fatalf("annotation %d: got %s %q, want %s %q (order kept)", i, a.Path, a.Message, anns[i].Path, anns[i].Message)
		}
	}
	if a := gotAnns[7]; a.StartColumn != 0 || a.EndLine != 20 {
		t.Errorf("multi-line annotation: got columns %d-%d, end line %d; want no columns, end line 20", a.StartColumn, a.EndColumn, a.EndLine)
	}
	if a := gotAnns[0]; a.StartColumn != 2 || a.EndColumn != 5 || a.EndLine != 1 {
		t.Errorf("single-line annotation: got %+v, want columns 2-5 and end line 1", a)
	}
}

func TestCreateCheckRunIsIdempotent(t *testing.T) {
	e := appEnv(t)
	ctx := context.Background()
	cr := github.CheckRun{Name: "hookci / test", HeadSHA: sha1, ExternalID: "job-9"}
	e.srv.FailNextAfterApply("POST", "/check-runs", 502) // created, but the answer is lost
	id1, err := e.c.CreateCheckRun(ctx, repo, cr)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := e.c.CreateCheckRun(ctx, repo, cr) // a replayed job
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.c.CreateCheckRun(ctx, repo, github.CheckRun{Name: "hookci / test", HeadSHA: sha1, ExternalID: "job-10"})
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 || other == id1 {
		t.Errorf("got ids %d, %d, %d; want the first two equal and the third different", id1, id2, other)
	}
	if got := len(e.srv.CheckRuns(full)); got != 2 {
		t.Errorf("got %d check runs, want 2", got)
	}
	if got := e.srv.CountRequests("POST", "/check-runs"); got != 2 {
		t.Errorf("got %d create requests, want 2", got)
	}
}

func TestUpdateCheckRunTruncatesSummary(t *testing.T) {
	e := appEnv(t)
	ctx := context.Background()
	id, err := e.c.CreateCheckRun(ctx, repo, github.CheckRun{Name: "big", HeadSHA: sha1})
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("x", 70000)
	// Sent as is (through the raw go-github client), GitHub — and the fake — refuse it.
	rctx, err := e.c.RepoContext(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.c.REST().Checks.UpdateCheckRun(rctx, owner, name, id, gh.UpdateCheckRunOptions{
		Name: "big", Output: &gh.CheckRunOutput{Title: new("t"), Summary: new(huge)}})
	var er *gh.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 422 {
		t.Fatalf("raw oversized summary: got %v, want a 422 from the fake", err)
	}
	err = e.c.UpdateCheckRun(ctx, repo, id, github.CheckRunUpdate{Conclusion: github.ConclusionSuccess,
		Output: &github.CheckOutput{Title: "t", Summary: huge, Text: huge}})
	if err != nil {
		t.Fatalf("UpdateCheckRun with a 70,000-char summary: %v (the client must truncate)", err)
	}
	cr := e.srv.CheckRuns(full)[0]
	for name, s := range map[string]string{"summary": cr.Summary, "text": cr.Text} {
		if len(s) > github.MaxCheckText || !strings.Contains(s, "truncated") {
			t.Errorf("%s: got %d chars, want ≤ %d with a truncation note", name, len(s), github.MaxCheckText)
		}
	}
}

func TestCheckRunClientValidation(t *testing.T) {
	e := appEnv(t)
	ctx := context.Background()
	ok := github.Annotation{Path: "a.go", StartLine: 1, Level: github.LevelNotice, Message: "m"}
	tests := []struct {
		name string
		u    github.CheckRunUpdate
		want string
	}{
		{"unknown conclusion", github.CheckRunUpdate{Conclusion: "great"}, "invalid conclusion"},
		{"completed without conclusion", github.CheckRunUpdate{Status: github.CheckCompleted}, "needs a conclusion"},
		{"bad status", github.CheckRunUpdate{Status: "running"}, "invalid status"},
		{"annotation without path", github.CheckRunUpdate{Output: &github.CheckOutput{Title: "t", Summary: "s",
			Annotations: []github.Annotation{ok, {StartLine: 1, Level: "notice", Message: "m"}}}}, "annotation 1: empty path"},
		{"annotation bad level", github.CheckRunUpdate{Output: &github.CheckOutput{Title: "t", Summary: "s",
			Annotations: []github.Annotation{{Path: "a", StartLine: 1, Level: "error", Message: "m"}}}}, "invalid level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.c.UpdateCheckRun(ctx, repo, 1, tt.u)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if got := len(e.srv.Requests()); got != 0 {
		t.Errorf("got %d requests, want 0: invalid updates must be refused before sending", got)
	}
}

func TestCheckRunsNeedApp(t *testing.T) {
	e := tokenEnv(t)
	_, err := e.c.CreateCheckRun(context.Background(), repo, github.CheckRun{Name: "n", HeadSHA: sha1})
	if !errors.Is(err, github.ErrAppRequired) {
		t.Errorf("CreateCheckRun in token mode: got %v, want ErrAppRequired", err)
	}
	err = e.c.UpdateCheckRun(context.Background(), repo, 1, github.CheckRunUpdate{Status: github.CheckInProgress})
	if !errors.Is(err, github.ErrAppRequired) {
		t.Errorf("UpdateCheckRun in token mode: got %v, want ErrAppRequired", err)
	}
}

func TestCheckRunStatusOnlyUpdate(t *testing.T) {
	e := appEnv(t)
	ctx := context.Background()
	id, err := e.c.CreateCheckRun(ctx, repo, github.CheckRun{Name: "n", HeadSHA: sha1})
	if err != nil {
		t.Fatal(err)
	}
	done := e.clock.Now().Add(90 * time.Second)
	steps := []github.CheckRunUpdate{
		{Status: github.CheckInProgress},
		{Conclusion: github.ConclusionCancelled, CompletedAt: done},
	}
	for _, u := range steps {
		if err := e.c.UpdateCheckRun(ctx, repo, id, u); err != nil {
			t.Fatal(err)
		}
	}
	cr := e.srv.CheckRuns(full)[0]
	if cr.Name != "n" || cr.Status != "completed" || cr.Conclusion != "cancelled" || !cr.CompletedAt.Equal(done) || cr.Updates != 2 {
		t.Errorf("got %+v, want name n, completed/cancelled at %v after 2 updates", cr, done)
	}
}

package github_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	gh "github.com/google/go-github/v93/github"
	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
)

func TestUpsertPRCommentCreatesOnceThenEdits(t *testing.T) {
	e := appEnv(t)
	ctx := context.Background()
	e.srv.AddPullRequest(full, githubtest.PullRequest{Number: 7, HeadSHA: sha1, HeadRef: "feature", BaseRef: "main"})

	id1, err := e.c.UpsertPRComment(ctx, repo, 7, "summary", "first")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := e.c.UpsertPRComment(ctx, repo, 7, "<!-- hookci:summary -->", "second")
	if err != nil {
		t.Fatal(err)
	}
	id3, err := e.c.UpsertPRComment(ctx, repo, 7, "summary", "second") // unchanged: no edit
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 || id2 != id3 {
		t.Errorf("got ids %d, %d, %d, want one id", id1, id2, id3)
	}
	got := e.srv.Comments(full, 7)
	want := []githubtest.Comment{{ID: id1, Number: 7, Body: "<!-- hookci:summary -->\nsecond", Edits: 1}}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("comments: got %+v, want %+v", got, want)
	}
}

func TestUpsertPRCommentFindsMarkerOnLaterPage(t *testing.T) {
	e := tokenEnv(t)
	ctx := context.Background()
	e.srv.AddPullRequest(full, githubtest.PullRequest{Number: 3, HeadSHA: sha1})
	// Someone else's 130 comments (two pages of 100) come first, then ours.
	for i := range 130 {
		if _, err := e.c.UpsertPRComment(ctx, repo, 3, fmt.Sprintf("noise%d", i), "hi"); err != nil {
			t.Fatal(err)
		}
	}
	id1, err := e.c.UpsertPRComment(ctx, repo, 3, "summary", "v1")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := e.c.UpsertPRComment(ctx, repo, 3, "summary", "v2")
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 {
		t.Errorf("got ids %d and %d, want the same comment edited", id1, id2)
	}
	if got, want := len(e.srv.Comments(full, 3)), 131; got != want {
		t.Errorf("got %d comments, want %d", got, want)
	}
}

func TestUpsertPRCommentRetriedCreateDoesNotDuplicate(t *testing.T) {
	e := tokenEnv(t)
	ctx := context.Background()
	e.srv.AddPullRequest(full, githubtest.PullRequest{Number: 9, HeadSHA: sha1})
	e.srv.FailNext(1, 503, nil)                                 // the first listing: retried by the transport
	e.srv.FailNextAfterApply("POST", "/issues/9/comments", 502) // the create: applied, then 502
	id, err := e.c.UpsertPRComment(ctx, repo, 9, "summary", "body")
	if err != nil {
		t.Fatal(err)
	}
	got := e.srv.Comments(full, 9)
	if len(got) != 1 || got[0].ID != id || got[0].Edits != 0 {
		t.Fatalf("comments: got %+v, want exactly one, id %d, never edited", got, id)
	}
	if n := e.srv.CountRequests("POST", "/issues/9/comments"); n != 1 {
		t.Errorf("got %d create requests, want 1 (the retry must re-list, not re-create)", n)
	}
	if n := e.srv.CountRequests("GET", "/issues/9/comments"); n != 3 {
		t.Errorf("got %d list requests, want 3 (503, OK, re-list after the ambiguous create)", n)
	}
	id2, err := e.c.UpsertPRComment(ctx, repo, 9, "summary", "after")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Comments(full, 9); id2 != id || len(got) != 1 || got[0].Edits != 1 {
		t.Errorf("after update: id %d (want %d), comments %+v, want one with 1 edit", id2, id, got)
	}
}

func TestUpsertPRCommentIgnoresQuotes(t *testing.T) {
	e := tokenEnv(t)
	ctx := context.Background()
	e.srv.AddPullRequest(full, githubtest.PullRequest{Number: 4, HeadSHA: sha1})
	// A reviewer quoted our marker in their own comment: it must not be taken for ours.
	if _, _, err := e.c.REST().Issues.CreateComment(ctx, owner, name, 4, gh.IssueCommentRequest{
		Body: "> " + github.MarkerComment("summary") + "\n> old\n\nwhy did this fail?"}); err != nil {
		t.Fatal(err)
	}
	id, err := e.c.UpsertPRComment(ctx, repo, 4, "summary", "new")
	if err != nil {
		t.Fatal(err)
	}
	got := e.srv.Comments(full, 4)
	if len(got) != 2 || got[0].Edits != 0 || got[1].ID != id {
		t.Errorf("got %+v, want the quote untouched and a new comment %d", got, id)
	}
}

func TestUpsertPRCommentTruncatesBody(t *testing.T) {
	e := tokenEnv(t)
	e.srv.AddPullRequest(full, githubtest.PullRequest{Number: 1, HeadSHA: sha1})
	body := strings.Repeat("日本", 40000) // 240,000 bytes, 80,000 characters
	if _, err := e.c.UpsertPRComment(context.Background(), repo, 1, "summary", body); err != nil {
		t.Fatal(err)
	}
	got := e.srv.Comments(full, 1)[0].Body
	if len(got) > github.MaxCommentBody || !utf8.ValidString(got) || !strings.Contains(got, "truncated") {
		t.Errorf("got body of %d bytes (valid UTF-8: %v), want ≤ %d, valid, with a truncation note",
			len(got), utf8.ValidString(got), github.MaxCommentBody)
	}
}

func TestUpsertPRCommentErrors(t *testing.T) {
	e := tokenEnv(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		number int
		marker string
		want   string
	}{
		{"empty marker", 1, "", "invalid comment marker"},
		{"marker with --", 1, "a--b", "invalid comment marker"},
		{"zero number", 0, "m", "invalid number"},
		{"no such pull request (fake 404)", 12345, "m", "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.UpsertPRComment(ctx, repo, tt.number, tt.marker, "x")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

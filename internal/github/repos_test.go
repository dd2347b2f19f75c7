package github_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
)

func TestBranchHeadsPaginates(t *testing.T) {
	e := appEnv(t)
	want := map[string]string{}
	for i := range 230 {
		b, sha := fmt.Sprintf("branch-%03d", i), fmt.Sprintf("%040x", i+1)
		e.srv.SetBranch(full, b, sha)
		want[b] = sha
	}
	got, err := e.c.BranchHeads(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("branch heads (-want +got):\n%s", diff)
	}
	if n := e.srv.CountRequests("GET", "/branches"); n != 3 {
		t.Errorf("got %d list requests, want 3 (230 branches, 100 per page)", n)
	}
}

func TestOpenPullRequests(t *testing.T) {
	e := tokenEnv(t)
	var want []github.PullRequest
	for i := 1; i <= 150; i++ {
		pr := githubtest.PullRequest{Number: i, HeadSHA: fmt.Sprintf("%040x", i), HeadRef: fmt.Sprintf("f%d", i), BaseRef: "main"}
		if i%10 == 0 {
			pr.HeadRepoFullName = "someone/hello"
		}
		if i%7 == 0 {
			pr.State = "closed"
		}
		e.srv.AddPullRequest(full, pr)
		if pr.State == "closed" {
			continue
		}
		head := full
		if pr.HeadRepoFullName != "" {
			head = pr.HeadRepoFullName
		}
		want = append(want, github.PullRequest{Number: i, HeadSHA: pr.HeadSHA, HeadRef: pr.HeadRef, BaseRef: "main",
			HeadRepoFullName: head, Fork: head != full})
	}
	got, err := e.c.OpenPullRequests(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pull requests (-want +got):\n%s", diff)
	}
}

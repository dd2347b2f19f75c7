package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v93/github"
)

// PullRequest is an open pull request as the reconciler needs it.
type PullRequest struct {
	Number           int
	HeadSHA          string
	HeadRef          string // branch name in the head repository
	BaseRef          string // branch the pull request targets
	HeadRepoFullName string // "owner/name" of the head repository ("" if it was deleted)
	Fork             bool   // the head repository is not the base repository
}

// BranchHeads returns every branch of repo with the sha it points at (all pages).
func (c *Client) BranchHeads(ctx context.Context, repo Repo) (map[string]string, error) {
	ctx, err := c.RepoContext(ctx, repo)
	if err != nil {
		return nil, err
	}
	heads := map[string]string{}
	opts := &gh.BranchListOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		page, resp, err := c.gh.Repositories.ListBranches(ctx, repo.Owner, repo.Name, opts)
		if err != nil {
			return nil, fmt.Errorf("github: list branches of %s: %w", repo.FullName(), err)
		}
		for _, b := range page {
			heads[b.GetName()] = b.GetCommit().GetSHA()
		}
		if resp.NextPage == 0 {
			return heads, nil
		}
		opts.Page = resp.NextPage
	}
}

// OpenPullRequests returns the open pull requests of repo (all pages), oldest number first
// as GitHub orders them with sort=created, direction=asc.
func (c *Client) OpenPullRequests(ctx context.Context, repo Repo) ([]PullRequest, error) {
	ctx, err := c.RepoContext(ctx, repo)
	if err != nil {
		return nil, err
	}
	var out []PullRequest
	opts := &gh.PullRequestListOptions{State: "open", Sort: "created", Direction: "asc",
		ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		page, resp, err := c.gh.PullRequests.List(ctx, repo.Owner, repo.Name, opts)
		if err != nil {
			return nil, fmt.Errorf("github: list pull requests of %s: %w", repo.FullName(), err)
		}
		for _, pr := range page {
			head := pr.GetHead().GetRepo().GetFullName()
			out = append(out, PullRequest{
				Number:           pr.GetNumber(),
				HeadSHA:          pr.GetHead().GetSHA(),
				HeadRef:          pr.GetHead().GetRef(),
				BaseRef:          pr.GetBase().GetRef(),
				HeadRepoFullName: head,
				Fork:             !strings.EqualFold(head, repo.FullName()),
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

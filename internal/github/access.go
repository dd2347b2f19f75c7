package github

import (
	"context"
	"fmt"
)

// ActionsAccess is what GitHub says about sharing a repository's actions
// and reusable workflows with workflows of other repositories.
type ActionsAccess struct {
	// Visibility is "public", "private" or "internal".
	Visibility string
	// AccessLevel is the repository's Actions "Access" setting: "none",
	// "user", "organization" or "enterprise" ("" for a public repository,
	// which has none).
	AccessLevel string
}

// ActionsAccess reads repo's visibility (GET /repos/{owner}/{repo}) and,
// for a repository that is not public, its Actions access setting (GET
// /repos/{owner}/{repo}/actions/permissions/access, which needs the
// Administration: read permission of an App).
func (c *Client) ActionsAccess(ctx context.Context, repo Repo) (ActionsAccess, error) {
	ctx, err := c.RepoContext(ctx, repo)
	if err != nil {
		return ActionsAccess{}, err
	}
	r, _, err := c.gh.Repositories.Get(ctx, repo.Owner, repo.Name)
	if err != nil {
		return ActionsAccess{}, fmt.Errorf("github: get repository %s: %w", repo.FullName(), err)
	}
	out := ActionsAccess{Visibility: r.GetVisibility()}
	if out.Visibility == "" {
		out.Visibility = "public"
		if r.GetPrivate() {
			out.Visibility = "private"
		}
	}
	if out.Visibility == "public" {
		return out, nil
	}
	lvl, _, err := c.gh.Repositories.GetActionsAccessLevel(ctx, repo.Owner, repo.Name)
	if err != nil {
		return ActionsAccess{}, fmt.Errorf("github: Actions access setting of %s: %w", repo.FullName(), err)
	}
	out.AccessLevel = lvl.AccessLevel
	return out, nil
}

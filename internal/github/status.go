package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v93/github"
)

// Commit status states accepted by SetStatus.
const (
	StatePending = "pending"
	StateSuccess = "success"
	StateFailure = "failure"
	StateError   = "error"
)

// MaxStatusDescription is GitHub's limit on a commit status description, in characters.
const MaxStatusDescription = 140

// Status is one commit status.
type Status struct {
	State       string // StatePending, StateSuccess, StateFailure or StateError
	Context     string // e.g. "hookci/build"; empty means GitHub's "default"
	Description string // truncated to MaxStatusDescription characters
	TargetURL   string // link shown next to the status; may be empty
}

// SetStatus posts a commit status on sha. Posting the same status twice is harmless, so
// it is retried like any idempotent request.
func (c *Client) SetStatus(ctx context.Context, repo Repo, sha string, st Status) error {
	switch st.State {
	case StatePending, StateSuccess, StateFailure, StateError:
	default:
		return fmt.Errorf("github: set status: invalid state %q (want pending, success, failure or error)", st.State)
	}
	if sha == "" {
		return fmt.Errorf("github: set status on %s: empty sha", repo.FullName())
	}
	ctx, err := c.RepoContext(ctx, repo)
	if err != nil {
		return err
	}
	body := gh.RepoStatus{
		State:       new(st.State),
		Description: new(truncateRunes(st.Description, MaxStatusDescription, "…")),
	}
	if st.Context != "" {
		body.Context = new(st.Context)
	}
	if st.TargetURL != "" {
		body.TargetURL = new(st.TargetURL)
	}
	if _, _, err := c.gh.Repositories.CreateStatus(ctx, repo.Owner, repo.Name, sha, body); err != nil {
		return fmt.Errorf("github: set status %q=%s on %s@%s: %w", st.Context, st.State, repo.FullName(), shortSHA(sha), err)
	}
	return nil
}

func shortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v93/github"
)

// MaxCommentBody is GitHub's limit on an issue or pull-request comment body.
const MaxCommentBody = 65536

const truncatedNote = "\n\n… (truncated by hookci: GitHub limits this text)"

// MarkerComment returns the hidden HTML marker UpsertPRComment uses for key:
// "<!-- hookci:KEY -->".
func MarkerComment(key string) string { return "<!-- hookci:" + key + " -->" }

// UpsertPRComment keeps one comment per pull request (or issue) number, recognised by
// marker: either a full HTML comment ("<!-- hookci:summary -->") or just the key ("summary",
// wrapped by MarkerComment). The marker is put on the first line of the comment, the body
// follows; the whole is truncated to MaxCommentBody. An existing comment starting with the marker
// is edited in place (not at all when its body is already right); otherwise one is created. A
// create that failed ambiguously (5xx, transport error) is followed by a fresh listing before
// any new attempt, so retries never leave two comments. It returns the comment's id.
func (c *Client) UpsertPRComment(ctx context.Context, repo Repo, number int, marker, body string) (int64, error) {
	mark, err := normalizeMarker(marker)
	if err != nil {
		return 0, err
	}
	if number <= 0 {
		return 0, fmt.Errorf("github: comment on %s: invalid number %d", repo.FullName(), number)
	}
	ctx, err = c.RepoContext(ctx, repo)
	if err != nil {
		return 0, err
	}
	full := truncateBytes(mark+"\n"+body, MaxCommentBody, truncatedNote)
	for attempt := 0; ; attempt++ {
		id, err := c.upsertComment(ctx, repo, number, mark, full)
		if err == nil {
			return id, nil
		}
		if !ambiguous(ctx, err) || attempt >= c.maxRetries {
			return 0, fmt.Errorf("github: comment on %s#%d: %w", repo.FullName(), number, err)
		}
		if err := c.sleep(ctx, backoff(attempt)); err != nil {
			return 0, fmt.Errorf("github: comment on %s#%d: %w", repo.FullName(), number, err)
		}
	}
}

func (c *Client) upsertComment(ctx context.Context, repo Repo, number int, mark, full string) (int64, error) {
	existing, err := c.findComment(ctx, repo, number, mark)
	if err != nil {
		return 0, err
	}
	req := gh.IssueCommentRequest{Body: full}
	if existing != nil {
		if existing.GetBody() == full {
			return existing.GetID(), nil
		}
		_, _, err := c.gh.Issues.UpdateComment(ctx, repo.Owner, repo.Name, existing.GetID(), req)
		return existing.GetID(), err
	}
	created, _, err := c.gh.Issues.CreateComment(withoutBlindRetry(ctx), repo.Owner, repo.Name, number, req)
	if err != nil {
		return 0, err
	}
	return created.GetID(), nil
}

// findComment lists every comment of the issue (all pages) and returns the first that starts
// with mark (ours always do; a reply quoting ours does not).
func (c *Client) findComment(ctx context.Context, repo Repo, number int, mark string) (*gh.IssueComment, error) {
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		page, resp, err := c.gh.Issues.ListComments(ctx, repo.Owner, repo.Name, number, opts)
		if err != nil {
			return nil, err
		}
		for _, cm := range page {
			if strings.HasPrefix(cm.GetBody(), mark) {
				return cm, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

func normalizeMarker(m string) (string, error) {
	m = strings.TrimSpace(m)
	switch {
	case strings.HasPrefix(m, "<!--") && strings.HasSuffix(m, "-->") && len(m) > len("<!---->"):
		return m, nil
	case m == "" || strings.Contains(m, "--") || strings.ContainsAny(m, "<>\n"):
		return "", fmt.Errorf("github: invalid comment marker %q", m)
	}
	return MarkerComment(m), nil
}

// ambiguous reports whether a failed create may nevertheless have taken effect: a 5xx
// answer, a transport error or an attempt's timeout (but not the caller's own cancellation).
func ambiguous(ctx context.Context, err error) bool {
	var ce *credentialError
	if ctx.Err() != nil || errors.Is(err, ErrRateLimited) || errors.As(err, &ce) {
		return false // the caller gave up, or nothing was sent
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) {
		code := er.Response.StatusCode
		return code == http.StatusInternalServerError || code == http.StatusBadGateway ||
			code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
	}
	var rl *gh.RateLimitError
	var al *gh.AbuseRateLimitError
	return !errors.As(err, &rl) && !errors.As(err, &al)
}

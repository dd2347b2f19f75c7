package github

import (
	"context"
	"errors"
	"fmt"
	"time"

	gh "github.com/google/go-github/v93/github"
)

// HookDelivery is one webhook delivery as GitHub recorded it.
type HookDelivery struct {
	ID             int64
	GUID           string // the X-GitHub-Delivery header
	DeliveredAt    time.Time
	Redelivery     bool
	Status         string // e.g. "OK", "Invalid HTTP Response: 503"
	StatusCode     int    // hookci's answer (0: no answer)
	Event          string
	Action         string
	InstallationID int64
	RepositoryID   int64
}

// ListAppHookDeliveries returns up to limit of the App webhook's deliveries, newest first (App mode).
func (c *Client) ListAppHookDeliveries(ctx context.Context, limit int) ([]HookDelivery, error) {
	if !c.IsApp() {
		return nil, fmt.Errorf("github: list App hook deliveries: %w", ErrAppRequired)
	}
	ctx = withAuth(ctx, authMode{app: true})
	out, err := listDeliveries(limit, func(opts *gh.ListCursorOptions) ([]*gh.HookDelivery, *gh.Response, error) {
		return c.gh.Apps.ListHookDeliveries(ctx, opts)
	})
	if err != nil {
		return nil, fmt.Errorf("github: list App hook deliveries: %w", err)
	}
	return out, nil
}

// RedeliverAppHook asks GitHub to send App webhook delivery id again (App mode).
func (c *Client) RedeliverAppHook(ctx context.Context, id int64) error {
	if !c.IsApp() {
		return fmt.Errorf("github: redeliver App hook delivery: %w", ErrAppRequired)
	}
	_, _, err := c.gh.Apps.RedeliverHookDelivery(withAuth(ctx, authMode{app: true}), id)
	if err = accepted(err); err != nil {
		return fmt.Errorf("github: redeliver App hook delivery %d: %w", id, err)
	}
	return nil
}

// ListRepoHookDeliveries returns up to limit deliveries of repository webhook hookID, newest first.
func (c *Client) ListRepoHookDeliveries(ctx context.Context, repo Repo, hookID int64, limit int) ([]HookDelivery, error) {
	ctx, err := c.RepoContext(ctx, repo)
	if err != nil {
		return nil, err
	}
	out, err := listDeliveries(limit, func(opts *gh.ListCursorOptions) ([]*gh.HookDelivery, *gh.Response, error) {
		return c.gh.Repositories.ListHookDeliveries(ctx, repo.Owner, repo.Name, hookID, opts)
	})
	if err != nil {
		return nil, fmt.Errorf("github: list deliveries of hook %d on %s: %w", hookID, repo.FullName(), err)
	}
	return out, nil
}

// RedeliverRepoHook asks GitHub to send delivery id of repository webhook hookID again.
func (c *Client) RedeliverRepoHook(ctx context.Context, repo Repo, hookID, id int64) error {
	ctx, err := c.RepoContext(ctx, repo)
	if err != nil {
		return err
	}
	_, _, err = c.gh.Repositories.RedeliverHookDelivery(ctx, repo.Owner, repo.Name, hookID, id)
	if err = accepted(err); err != nil {
		return fmt.Errorf("github: redeliver delivery %d of hook %d on %s: %w", id, hookID, repo.FullName(), err)
	}
	return nil
}

// accepted maps go-github's "202 Accepted is an error" to success.
func accepted(err error) error {
	var ae *gh.AcceptedError
	if errors.As(err, &ae) {
		return nil
	}
	return err
}

func listDeliveries(limit int, list func(*gh.ListCursorOptions) ([]*gh.HookDelivery, *gh.Response, error)) ([]HookDelivery, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []HookDelivery
	opts := &gh.ListCursorOptions{PerPage: min(limit, 100)}
	for len(out) < limit {
		page, resp, err := list(opts)
		if err != nil {
			return nil, err
		}
		for _, d := range page {
			out = append(out, HookDelivery{
				ID: d.GetID(), GUID: d.GetGUID(), DeliveredAt: d.GetDeliveredAt().Time,
				Redelivery: d.GetRedelivery(), Status: d.GetStatus(), StatusCode: d.GetStatusCode(),
				Event: d.GetEvent(), Action: d.GetAction(),
				InstallationID: d.GetInstallationID(), RepositoryID: d.GetRepositoryID(),
			})
		}
		if resp.Cursor == "" {
			break
		}
		opts.Cursor = resp.Cursor
	}
	return out[:min(len(out), limit)], nil
}

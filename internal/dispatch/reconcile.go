package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// HeadsSource gives the reconciler the branch heads and open pull request
// heads of a repository ("owner/name"); serve adapts the GitHub client to it.
type HeadsSource interface {
	BranchHeads(ctx context.Context, repo string) (map[string]string, error)
	OpenPullRequests(ctx context.Context, repo string) ([]PullHead, error)
}

// PullHead is an open pull request's head.
type PullHead struct {
	Number           int
	HeadSHA, HeadRef string
	BaseRef          string
	HeadRepo         string // owner/name of the head repository
}

// Reconcile compares the branch heads and open pull request heads of repos
// with the deliveries hookci has, and starts what is missing (GitHub never
// retries a failed webhook delivery). It returns how many deliveries it made.
func (d *Dispatcher) Reconcile(ctx context.Context, src HeadsSource, repos []string) (int, error) {
	q := d.cfg.Store.Queries()
	started := 0
	var errs []error
	for _, repo := range repos {
		heads, err := src.BranchHeads(ctx, repo)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: branches: %w", repo, err))
			continue
		}
		branches := make([]string, 0, len(heads))
		for b := range heads {
			branches = append(branches, b)
		}
		sort.Strings(branches)
		for _, b := range branches {
			sha := heads[b]
			body, _ := json.Marshal(map[string]any{
				"ref": "refs/heads/" + b, "before": strings.Repeat("0", 40), "after": sha,
				"repository": map[string]any{"full_name": repo}, "sender": map[string]any{"login": "hookci-reconciler"},
			})
			ok, err := d.missed(ctx, q, repo, sha, "reconcile-push-"+repo+"-"+b+"-"+sha, "push", "", body)
			if err != nil {
				errs = append(errs, err)
			} else if ok {
				started++
			}
		}
		prs, err := src.OpenPullRequests(ctx, repo)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: pull requests: %w", repo, err))
			continue
		}
		for _, pr := range prs {
			headRepo := pr.HeadRepo
			if headRepo == "" {
				headRepo = repo
			}
			body, _ := json.Marshal(map[string]any{
				"action": "synchronize", "number": pr.Number,
				"pull_request": map[string]any{"number": pr.Number,
					"head": map[string]any{"sha": pr.HeadSHA, "ref": pr.HeadRef, "repo": map[string]any{"full_name": headRepo}},
					"base": map[string]any{"ref": pr.BaseRef, "repo": map[string]any{"full_name": repo}}},
				"repository": map[string]any{"full_name": repo}, "sender": map[string]any{"login": "hookci-reconciler"},
			})
			id := fmt.Sprintf("reconcile-pr-%s-%d-%s", repo, pr.Number, pr.HeadSHA)
			ok, err := d.missed(ctx, q, repo, pr.HeadSHA, id, "pull_request", "synchronize", body)
			if err != nil {
				errs = append(errs, err)
			} else if ok {
				started++
			}
		}
	}
	return started, errors.Join(errs...)
}

// missed stores and plans a synthesized delivery for sha unless some
// delivery already named it.
func (d *Dispatcher) missed(ctx context.Context, q *store.Queries, repo, sha, id, event, action string, body []byte) (bool, error) {
	if sha == "" {
		return false, nil
	}
	seen, err := q.HasDeliveryFor(ctx, repo, sha)
	if err != nil || seen {
		return false, err
	}
	dup, err := d.cfg.Store.AddDelivery(ctx, store.Delivery{ID: id, Event: event, Action: action, Repo: repo, SHA: sha,
		ReceivedAt: time.Now(), Payload: body, Status: store.DeliveryQueued}, true)
	if err != nil {
		return false, err
	}
	if !dup {
		d.log.Info("reconciler: starting a missed event", "repo", repo, "event", event, "sha", sha)
	}
	return !dup, nil
}

package github

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"time"
)

// installPermsTTL is how long an installation's granted permissions are
// cached (an owner may accept new permissions at any time).
const installPermsTTL = 10 * time.Minute

type installPerms struct {
	perms   map[string]string
	fetched time.Time
}

// JobToken is a GITHUB_TOKEN minted for one job.
type JobToken struct {
	Token   string
	Expires time.Time
	// Permissions is what GitHub granted (App permission name → read/write).
	Permissions map[string]string
}

// levelRank orders permission levels.
var levelRank = map[string]int{"read": 1, "write": 2, "admin": 3}

// MintJobToken mints one installation token limited to repo and to perms
// (App permission names such as contents, pull_requests → "read" or
// "write"; metadata:read is always added). A permission the installation
// lacks is left out and a level above the installation's is lowered to it:
// a token never asks for more than the installation was granted, which GitHub
// would refuse. It needs App mode (ErrAppRequired otherwise).
func (c *Client) MintJobToken(ctx context.Context, repo Repo, perms map[string]string) (JobToken, error) {
	if err := validRepo(repo); err != nil {
		return JobToken{}, err
	}
	if !c.IsApp() {
		return JobToken{}, ErrAppRequired
	}
	id, err := c.installationFor(ctx, repo)
	if err != nil {
		return JobToken{}, err
	}
	has, err := c.installationPermissions(ctx, id)
	if err != nil {
		return JobToken{}, err
	}
	ask := map[string]string{"metadata": "read"}
	for p, level := range perms {
		granted, ok := has[p]
		if !ok || levelRank[level] == 0 {
			continue
		}
		if levelRank[level] > levelRank[granted] {
			level = granted
		}
		ask[p] = level
	}
	body := map[string]any{"repositories": []string{repo.Name}, "permissions": ask}
	// A second token is harmless: retry like the installation token request.
	actx := context.WithValue(withAuth(ctx, authMode{app: true}), noBlindRetryKey{}, nil)
	req, err := c.gh.NewRequest(actx, http.MethodPost, fmt.Sprintf("app/installations/%d/access_tokens", id), body)
	if err != nil {
		return JobToken{}, fmt.Errorf("github: job token request: %w", err)
	}
	var out struct {
		Token       string            `json:"token"`
		ExpiresAt   time.Time         `json:"expires_at"`
		Permissions map[string]string `json:"permissions"`
	}
	if _, err := c.gh.Do(req, &out); err != nil {
		return JobToken{}, fmt.Errorf("github: job token for %s: %w", repo.FullName(), err)
	}
	if out.Token == "" {
		return JobToken{}, fmt.Errorf("github: job token for %s: empty token in answer", repo.FullName())
	}
	if out.ExpiresAt.IsZero() {
		out.ExpiresAt = c.now().Add(time.Hour)
	}
	return JobToken{Token: out.Token, Expires: out.ExpiresAt, Permissions: out.Permissions}, nil
}

// RevokeToken revokes an installation token (DELETE /installation/token,
// authenticated with that token). A token GitHub no longer accepts (401:
// revoked already, or expired) counts as revoked.
func (c *Client) RevokeToken(ctx context.Context, tok string) error {
	if tok == "" {
		return nil
	}
	req, err := c.gh.NewRequest(withAuth(ctx, authMode{bearer: tok}), http.MethodDelete, "installation/token", nil)
	if err != nil {
		return fmt.Errorf("github: revoke request: %w", err)
	}
	_, err = c.gh.Do(req, nil)
	if err != nil && HTTPStatus(err) != http.StatusUnauthorized {
		return fmt.Errorf("github: revoke job token: %w", err)
	}
	return nil
}

// installationPermissions returns what installation id was granted
// (GET /app/installations/{id}), cached for installPermsTTL.
func (c *Client) installationPermissions(ctx context.Context, id int64) (map[string]string, error) {
	c.mu.Lock()
	p, ok := c.installPerms[id]
	c.mu.Unlock()
	if ok && c.now().Sub(p.fetched) < installPermsTTL {
		return p.perms, nil
	}
	req, err := c.gh.NewRequest(withAuth(ctx, authMode{app: true}), http.MethodGet, fmt.Sprintf("app/installations/%d", id), nil)
	if err != nil {
		return nil, fmt.Errorf("github: installation request: %w", err)
	}
	var inst struct {
		Permissions map[string]string `json:"permissions"`
	}
	if _, err := c.gh.Do(req, &inst); err != nil {
		return nil, fmt.Errorf("github: installation %d permissions: %w", id, err)
	}
	perms := inst.Permissions
	if perms == nil {
		perms = map[string]string{}
	}
	c.mu.Lock()
	c.installPerms[id] = installPerms{perms: perms, fetched: c.now()}
	c.mu.Unlock()
	return maps.Clone(perms), nil
}

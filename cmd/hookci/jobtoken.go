package main

import (
	"context"
	"github.com/hookci/hookci/internal/config"
	"log/slog"
	"strings"

	"github.com/hookci/hookci/internal/dispatch"
	"github.com/hookci/hookci/internal/github"
)

// jobTokens gives jobs their GITHUB_TOKEN. App mode: one installation token
// per job, limited to the job's repository and permissions:, revoked when
// the job ends. Token mode (a PAT): none, unless the operator opted in with
// job_token = "server" (then the PAT itself, never to a fork's job).
type jobTokens struct {
	gh          *github.Client // nil: GitHub not configured
	serverToken string         // the PAT, when job_token = "server"
}

func (t jobTokens) Mint(ctx context.Context, req dispatch.TokenRequest) (string, error) {
	switch {
	case t.gh == nil:
		return "", nil
	case t.gh.IsApp():
		owner, name, _ := strings.Cut(req.Repo, "/")
		jt, err := t.gh.MintJobToken(ctx, github.Repo{Owner: owner, Name: name}, req.Permissions)
		return jt.Token, err
	case req.Fork:
		return "", nil
	}
	return t.serverToken, nil
}

func (t jobTokens) Revoke(ctx context.Context, tok string) error {
	if t.gh == nil || !t.gh.IsApp() || tok == t.serverToken {
		return nil // the server's own token is never revoked
	}
	return t.gh.RevokeToken(ctx, tok)
}

// newJobTokens wires jobTokens from the configuration, warning when jobs are
// to get the server's own token.
func newJobTokens(gh *github.Client, cfg config.Config, log *slog.Logger) jobTokens {
	t := jobTokens{gh: gh}
	if gh != nil && !gh.IsApp() && cfg.JobToken == "server" {
		log.Warn("job_token = server: every non-fork job gets the server's own GitHub token as GITHUB_TOKEN, with all its access")
		t.serverToken = cfg.GitHubToken
	}
	return t
}

package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/dispatch"
	"github.com/hookci/hookci/internal/github"
)

// TestJobTokensTokenMode: in token mode the server's PAT reaches a job only
// with job_token = "server", never a fork's job, and is never revoked.
func TestJobTokensTokenMode(t *testing.T) {
	gh := newFakeGitHub(t)
	client, err := github.New(github.Config{APIURL: gh.URL(), Token: e2eToken})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	for _, tc := range []struct {
		jobToken string
		fork     bool
		want     string
	}{
		{"", false, ""},
		{"none", false, ""},
		{"server", false, e2eToken},
		{"server", true, ""},
	} {
		cfg := config.Default()
		cfg.GitHubToken, cfg.JobToken = e2eToken, tc.jobToken
		tokens := newJobTokens(client, cfg, log)
		got, err := tokens.Mint(ctx, dispatch.TokenRequest{Repo: e2eRepo, Fork: tc.fork, Permissions: map[string]string{"contents": "write"}})
		if err != nil || got != tc.want {
			t.Errorf("job_token=%q fork=%v: got %q, %v; want %q", tc.jobToken, tc.fork, got, err, tc.want)
		}
		if err := tokens.Revoke(ctx, got); err != nil {
			t.Errorf("revoke: %v", err)
		}
	}
	if n := gh.CountRequests("DELETE", "/installation/token"); n != 0 {
		t.Errorf("the PAT was sent to DELETE /installation/token %d times", n)
	}
}

package actions

import (
	"encoding/json"
	"strings"

	"github.com/hookci/hookci/internal/runner"
)

// Which credential a job's fetch of another repository presents. The
// server's own credential (HOOKCI_GITHUB_TOKEN, the App's installation
// token) is only for hookci's planning mirror of the run's repository;
// anything a job chooses to fetch — a remote action, a checkout of another
// repository, a submodule — presents the job's own token (github.token, or
// checkout's token: input) or nothing, and a pull request from a fork reads
// other repositories with no credential at all (public reads only).

// isFork reports whether the job runs for a pull request from another
// repository (read from the event payload as the dispatcher decides it; an
// unreadable pull_request payload counts as a fork).
func isFork(ev runner.EventInfo) bool {
	if ev.Name != "pull_request" {
		return false
	}
	var p struct {
		PullRequest *struct {
			Head struct {
				Repo *struct {
					FullName string `json:"full_name"`
				} `json:"repo"`
			} `json:"head"`
		} `json:"pull_request"`
	}
	if err := json.Unmarshal(ev.Payload, &p); err != nil || p.PullRequest == nil || p.PullRequest.Head.Repo == nil {
		return true
	}
	return !strings.EqualFold(p.PullRequest.Head.Repo.FullName, ev.Repo)
}

func ownerOf(repo string) string {
	o, _, _ := strings.Cut(repo, "/")
	return o
}

// actionToken is the token a remote action of owner is fetched with: the
// job's token for an action of the job's own owner, none for any other
// action and none at all for a fork.
func actionToken(ev runner.EventInfo, owner string) string {
	if isFork(ev) || !strings.EqualFold(owner, ownerOf(ev.Repo)) {
		return ""
	}
	return ev.Token
}

// checkoutToken is the token a checkout of another repository is fetched
// with: the step's token: input, else the job's token; a fork presents
// neither the job's token nor anything equal to it.
func checkoutToken(ev runner.EventInfo, with map[string]string) string {
	tok := strings.TrimSpace(with["token"])
	if tok == "" {
		tok = ev.Token
	}
	if isFork(ev) && tok == ev.Token {
		return ""
	}
	return tok
}

package githubtest

import (
	"net/http"
	"slices"
	"strings"
)

// GET /repos/{owner}/{repo}
func (s *Server) handleGetRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	out := map[string]any{
		"id": repo.id, "name": repo.name, "full_name": repo.fullName(), "private": repo.visibility != "public",
		"visibility":     repo.visibility,
		"owner":          map[string]any{"login": repo.owner},
		"default_branch": "main",
		"clone_url":      "http://" + r.Host + "/" + repo.fullName() + ".git",
	}
	if perms, ok := s.userPermissions(r); ok {
		out["permissions"] = perms
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /repos/{owner}/{repo}/branches
func (s *Server) handleListBranches(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range repo.branches {
			if !yield(n) {
				return
			}
		}
	})
	out := []map[string]any{}
	for _, n := range paginate(w, r, names) {
		out = append(out, map[string]any{"name": n, "protected": false,
			"commit": map[string]any{"sha": repo.branches[n]}})
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /repos/{owner}/{repo}/pulls
func (s *Server) handleListPulls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "open"
	}
	if !oneOf(state, "open", "closed", "all") {
		invalid(w, "PullRequest", "state", "invalid", "state is not included in the list")
		return
	}
	var match []PullRequest
	for _, p := range repo.pulls {
		if state == "all" || p.State == state {
			match = append(match, p)
		}
	}
	out := []map[string]any{}
	for _, p := range paginate(w, r, match) {
		out = append(out, pullJSON(repo, p))
	}
	writeJSON(w, http.StatusOK, out)
}

func pullJSON(repo *repoState, p PullRequest) map[string]any {
	headOwner, _, _ := strings.Cut(p.HeadRepoFullName, "/")
	return map[string]any{
		"number": p.Number, "state": p.State, "title": p.Title,
		"head": map[string]any{"ref": p.HeadRef, "sha": p.HeadSHA, "label": headOwner + ":" + p.HeadRef,
			"repo": map[string]any{"full_name": p.HeadRepoFullName, "fork": p.HeadRepoFullName != repo.fullName()}},
		"base": map[string]any{"ref": p.BaseRef, "sha": p.BaseSHA,
			"repo": map[string]any{"full_name": repo.fullName(), "fork": false}},
	}
}

// GET /rate_limit (no credential check; never counts down)
func (s *Server) handleRateLimit(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate.roll(s.now())
	core := map[string]any{"limit": s.rate.limit, "remaining": s.rate.limit - s.rate.used, "used": s.rate.used,
		"reset": s.rate.reset.Unix()}
	writeJSON(w, http.StatusOK, map[string]any{"resources": map[string]any{"core": core}, "rate": core})
}

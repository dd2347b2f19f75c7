package githubtest

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// DefaultInstallationPermissions are the permissions an installation has unless
// SetInstallationPermissions says otherwise: what hookci asks for (checks,
// statuses, pull request comments, contents) and the common job scopes.
var defaultInstallationPermissions = map[string]string{
	"metadata": "read", "contents": "write", "checks": "write", "statuses": "write",
	"pull_requests": "write", "issues": "write", "actions": "write", "deployments": "write",
	"packages": "write", "pages": "write", "security_events": "write", "discussions": "write",
	"repository_projects": "write", "repository_hooks": "write",
}

// levels orders permission levels.
var levels = map[string]int{"read": 1, "write": 2, "admin": 3}

// need is what an endpoint requires of an installation token: one of the
// permissions (names as GitHub Apps spell them) at the level.
type need struct {
	perms []string
	level string
}

// endpointNeeds maps each repository route pattern to the permission it
// needs, as GitHub documents for fine-grained tokens and Apps. A route that
// is missing here answers 500 so that a new endpoint cannot skip the check.
var endpointNeeds = map[string]need{
	"GET /repos/{owner}/{repo}":                                              {[]string{"metadata"}, "read"},
	"GET /repos/{owner}/{repo}/actions/permissions/access":                   {[]string{"administration"}, "read"},
	"GET /repos/{owner}/{repo}/branches":                                     {[]string{"metadata"}, "read"},
	"GET /repos/{owner}/{repo}/pulls":                                        {[]string{"pull_requests"}, "read"},
	"POST /repos/{owner}/{repo}/statuses/{sha}":                              {[]string{"statuses"}, "write"},
	"GET /repos/{owner}/{repo}/issues/{number}/comments":                     {[]string{"issues", "pull_requests"}, "read"},
	"POST /repos/{owner}/{repo}/issues/{number}/comments":                    {[]string{"issues", "pull_requests"}, "write"},
	"PATCH /repos/{owner}/{repo}/issues/comments/{id}":                       {[]string{"issues", "pull_requests"}, "write"},
	"POST /repos/{owner}/{repo}/check-runs":                                  {[]string{"checks"}, "write"},
	"PATCH /repos/{owner}/{repo}/check-runs/{id}":                            {[]string{"checks"}, "write"},
	"GET /repos/{owner}/{repo}/commits/{ref}/check-runs":                     {[]string{"checks"}, "read"},
	"GET /repos/{owner}/{repo}/hooks/{hook}/deliveries":                      {[]string{"repository_hooks"}, "read"},
	"POST /repos/{owner}/{repo}/hooks/{hook}/deliveries/{delivery}/attempts": {[]string{"repository_hooks"}, "write"},
}

// MintedToken is an installation token the fake issued, as it was asked for.
type MintedToken struct {
	Token        string
	Installation int64
	Repositories []string          // nil: every repository of the installation
	Permissions  map[string]string // what the token holds
	Revoked      bool              // DELETE /installation/token was called with it
}

// SetInstallationPermissions replaces what installation id is granted
// (permission name → read/write); tokens never exceed it.
func (s *Server) SetInstallationPermissions(id int64, perms map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instPerms[id] = maps.Clone(perms)
}

// MintedTokens returns every installation token issued so far, in order.
func (s *Server) MintedTokens() []MintedToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]MintedToken, len(s.minted))
	for i, m := range s.minted {
		out[i] = *m
		out[i].Permissions = maps.Clone(m.Permissions)
	}
	return out
}

// installationPerms is what installation id is granted. The caller holds s.mu.
func (s *Server) installationPerms(id int64) map[string]string {
	if p, ok := s.instPerms[id]; ok {
		return p
	}
	return defaultInstallationPermissions
}

// allows reports whether a token holding perms may use the route of r; an
// unknown route is reported through known=false.
func allows(perms map[string]string, r *http.Request) (ok, known bool) {
	n, known := endpointNeeds[r.Pattern]
	if !known {
		return false, false
	}
	for _, p := range n.perms {
		if levels[perms[p]] >= levels[n.level] || (p == "metadata" && n.level == "read") {
			return true, true
		}
	}
	return false, true
}

// inScope reports whether a token limited to repos (nil: all) covers name.
func inScope(repos []string, name string) bool {
	return repos == nil || slices.ContainsFunc(repos, func(r string) bool { return strings.EqualFold(r, name) })
}

// grant checks a token request against what installation id has and returns
// the permissions the token gets, or GitHub's 422 message.
func (s *Server) grant(id int64, asked map[string]string) (map[string]string, string) {
	has := s.installationPerms(id)
	if len(asked) == 0 {
		return maps.Clone(has), ""
	}
	out := map[string]string{}
	for p, level := range asked {
		if _, ok := levels[level]; !ok {
			return nil, "The permissions requested are not valid: " + p + " " + level
		}
		if levels[has[p]] < levels[level] {
			return nil, "The permissions requested are not granted to this installation."
		}
		out[p] = level
	}
	out["metadata"] = "read"
	return out, ""
}

// checkRepos resolves the repositories a token request names; each must be
// covered by installation id.
func (s *Server) checkRepos(id int64, names []string) ([]string, string) {
	if names == nil {
		return nil, ""
	}
	for _, n := range names {
		found := false
		for _, r := range s.repos {
			if r.installationID == id && strings.EqualFold(r.name, n) {
				found = true
			}
		}
		if !found {
			return nil, "There is at least one repository that does not exist or is not accessible to the parent installation."
		}
	}
	return slices.Clone(names), ""
}

// handleRevokeToken is DELETE /installation/token: the token in the
// Authorization header stops working.
func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := bearer(r)
	it, ok := s.instTokens[tok]
	if !ok || !s.now().Before(it.expires) {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	delete(s.instTokens, tok)
	if it.minted != nil {
		it.minted.Revoked = true
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleGetInstallation is GET /app/installations/{id} (App JWT).
func (s *Server) handleGetInstallation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.appInstallation(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "app_id": s.appID, "repository_selection": "all",
		"permissions": s.installationPerms(id), "created_at": ts(s.now().Add(-24 * time.Hour))})
}

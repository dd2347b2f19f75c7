package githubtest

import "net/http"

// SetRepoVisibility makes repository full ("owner/name") public, private
// (the default) or internal.
func (s *Server) SetRepoVisibility(full, visibility string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if visibility != "public" && visibility != "private" && visibility != "internal" {
		s.t.Fatalf("githubtest: SetRepoVisibility: %q is not a visibility", visibility)
	}
	s.mustRepo(full).visibility = visibility
}

// SetActionsAccessLevel sets repository full's Actions "Access" setting:
// none (the default), user, organization or enterprise.
func (s *Server) SetActionsAccessLevel(full, level string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !oneOf(level, "none", "user", "organization", "enterprise") {
		s.t.Fatalf("githubtest: SetActionsAccessLevel: %q is not an access level", level)
	}
	s.mustRepo(full).accessLevel = level
}

// GET /repos/{owner}/{repo}/actions/permissions/access (Administration:
// read). GitHub keeps the setting for repositories that are not public.
func (s *Server) handleActionsAccess(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	if repo.visibility == "public" {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_level": repo.accessLevel})
}

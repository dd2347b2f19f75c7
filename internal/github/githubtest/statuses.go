package githubtest

import (
	"net/http"
	"regexp"
	"unicode/utf8"
)

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

type statusBody struct {
	State       *string `json:"state"`
	Context     *string `json:"context"`
	Description *string `json:"description"`
	TargetURL   *string `json:"target_url"`
}

// POST /repos/{owner}/{repo}/statuses/{sha}
func (s *Server) handleCreateStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	var b statusBody
	if !decodeBody(w, r, &b) {
		return
	}
	sha := r.PathValue("sha")
	st := Status{ID: s.newID(), Context: "default", CreatedAt: s.now()}
	switch {
	case !shaRE.MatchString(sha):
		invalid(w, "Status", "sha", "invalid", "No commit found for SHA: "+sha)
		return
	case b.State == nil:
		invalid(w, "Status", "state", "missing_field", "")
		return
	case !oneOf(*b.State, "pending", "success", "failure", "error"):
		invalid(w, "Status", "state", "custom", "state is not included in the list")
		return
	case b.Description != nil && utf8.RuneCountInString(*b.Description) > 140:
		invalid(w, "Status", "description", "custom", "description is too long (maximum is 140 characters)")
		return
	}
	st.State = *b.State
	st.Context = deref(b.Context, "default")
	st.Description = deref(b.Description, "")
	st.TargetURL = deref(b.TargetURL, "")
	repo.statuses[sha] = append(repo.statuses[sha], st)
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": st.ID, "state": st.State, "context": st.Context, "description": st.Description,
		"target_url": st.TargetURL, "created_at": ts(st.CreatedAt), "updated_at": ts(st.CreatedAt),
	})
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func deref(p *string, def string) string {
	if p == nil || *p == "" {
		return def
	}
	return *p
}

package githubtest

import (
	"net/http"
	"slices"
)

// POST /repos/{owner}/{repo}/check-runs
func (s *Server) handleCreateCheckRun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	if !s.requireInstallation(w, r) {
		return
	}
	var b checkBody
	if !decodeBody(w, r, &b) {
		return
	}
	if e := b.validate(true); e != nil {
		invalid(w, "CheckRun", e.field, "invalid", e.msg)
		return
	}
	cr := &CheckRun{ID: s.newID(), HeadSHA: *b.HeadSHA, Status: "queued"}
	b.apply(cr, s.now())
	repo.checkRuns = append(repo.checkRuns, cr)
	writeJSON(w, http.StatusCreated, checkRunJSON(r, repo, cr))
}

// PATCH /repos/{owner}/{repo}/check-runs/{id}
func (s *Server) handleUpdateCheckRun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok || !s.requireInstallation(w, r) {
		return
	}
	id, ok := pathInt(w, r, "id")
	if !ok {
		return
	}
	i := slices.IndexFunc(repo.checkRuns, func(c *CheckRun) bool { return c.ID == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	var b checkBody
	if !decodeBody(w, r, &b) {
		return
	}
	if e := b.validate(false); e != nil {
		invalid(w, "CheckRun", e.field, "invalid", e.msg)
		return
	}
	cr := repo.checkRuns[i]
	b.apply(cr, s.now())
	cr.Updates++
	writeJSON(w, http.StatusOK, checkRunJSON(r, repo, cr))
}

// GET /repos/{owner}/{repo}/commits/{ref}/check-runs
func (s *Server) handleListCheckRuns(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	sha := r.PathValue("ref")
	if b, ok := repo.branches[sha]; ok {
		sha = b
	}
	q := r.URL.Query()
	var match []*CheckRun
	for _, cr := range slices.Backward(repo.checkRuns) { // newest first, like GitHub
		if cr.HeadSHA != sha || (q.Get("check_name") != "" && cr.Name != q.Get("check_name")) ||
			(q.Get("status") != "" && cr.Status != q.Get("status")) {
			continue
		}
		if q.Get("filter") != "all" && slices.ContainsFunc(match, func(m *CheckRun) bool { return m.Name == cr.Name }) {
			continue // filter=latest (the default): the most recent run per name
		}
		match = append(match, cr)
	}
	out := []map[string]any{}
	for _, cr := range paginate(w, r, match) {
		out = append(out, checkRunJSON(r, repo, cr))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(match), "check_runs": out})
}

// requireInstallation refuses check run writes from anything but an installation token, as
// GitHub does ("You must authenticate via a GitHub App."). The caller holds s.mu.
func (s *Server) requireInstallation(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := s.instTokens[bearer(r)]; !ok {
		writeError(w, http.StatusForbidden, "You must authenticate via a GitHub App.")
		return false
	}
	return true
}

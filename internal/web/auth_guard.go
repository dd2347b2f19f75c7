package web

import (
	"net/http"
	"strconv"
	"strings"
)

// guardPath is auth's second line behind the handlers' own canRead and
// canWrite calls (viewer.go): for a viewer limited to some repositories, a
// route naming a repository ({owner}/{repo}), a run (…/runs/{id} or
// {run_id}) or a job (…/jobs/{id} or {job_id}) in its pattern is refused
// unless the viewer may read that repository (404, as for a run that does
// not exist) and, for an unsafe method, write it (403). So a route that forgets a check, or a handler
// mounted from elsewhere (artifacts), does not show another repository's
// runs. /metrics, which spans every repository, needs the API token.
//
// It answers the refusal itself and reports whether the request may go on.
// An id that does not parse or names nothing is left to the handler.
func (s *Server) guardPath(w http.ResponseWriter, r *http.Request, v *viewer) bool {
	if v.all {
		return true
	}
	if strings.HasSuffix(r.Pattern, " /metrics") {
		writeJSONStatus(w, http.StatusForbidden, "metrics need the API token")
		return false
	}
	var repos []string
	if o, n := r.PathValue("owner"), r.PathValue("repo"); o != "" && n != "" {
		repos = append(repos, o+"/"+n)
	}
	q := s.st.Queries()
	if id, ok := guardID(r, "run_id", "/runs/{id}"); ok {
		if run, err := q.Run(r.Context(), id); err == nil {
			repos = append(repos, run.Repo)
		}
	}
	if id, ok := guardID(r, "job_id", "/jobs/{id}"); ok {
		if job, err := q.Job(r.Context(), id); err == nil {
			if run, err := q.Run(r.Context(), job.RunID); err == nil {
				repos = append(repos, run.Repo)
			}
		}
	}
	unsafe := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
	for _, repo := range repos {
		if !s.canRead(r, repo) {
			writeJSONStatus(w, http.StatusNotFound, "Not Found")
			return false
		}
		if unsafe && !s.canWrite(r, repo) {
			writeJSONStatus(w, http.StatusForbidden, "you may not change "+repo+"'s runs")
			return false
		}
	}
	return true
}

// guardID returns the positive id in wildcard name, or in {id} when the
// pattern contains idPath.
func guardID(r *http.Request, name, idPath string) (int64, bool) {
	v := r.PathValue(name)
	if v == "" && strings.Contains(r.Pattern, idPath) {
		v = r.PathValue("id")
	}
	id, err := strconv.ParseInt(v, 10, 64)
	return id, err == nil && id > 0
}

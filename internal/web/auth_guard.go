package web

import (
	"net/http"
	"strconv"
	"strings"
)

// guardPath is auth's second line behind the handlers' own canRead and
// canWrite calls (viewer.go): for a viewer limited to some repositories, a
// route naming a repository ({owner}/{repo}), a run (…/runs/{id}) or a job
// (…/jobs/{id}) in its pattern is refused unless the viewer may read that
// repository (404, as for a run that does not exist) and, for an unsafe
// method, write it (403). So a route that forgets a check, or a handler
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
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil && id > 0 {
		q := s.st.Queries()
		switch {
		case strings.Contains(r.Pattern, "/runs/{id}"):
			if run, err := q.Run(r.Context(), id); err == nil {
				repos = append(repos, run.Repo)
			}
		case strings.Contains(r.Pattern, "/jobs/{id}"):
			if job, err := q.Job(r.Context(), id); err == nil {
				if run, err := q.Run(r.Context(), job.RunID); err == nil {
					repos = append(repos, run.Repo)
				}
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

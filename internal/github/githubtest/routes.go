package githubtest

import "net/http"

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, http.StatusNotFound, "Not Found") })
	m.HandleFunc("GET /rate_limit", s.handleRateLimit)
	m.HandleFunc("GET /login/oauth/authorize", s.handleAuthorize)
	m.HandleFunc("POST /login/oauth/access_token", s.handleOAuthToken)
	m.HandleFunc("GET /user", s.handleUser)
	m.HandleFunc("POST /app/installations/{id}/access_tokens", s.handleAccessToken)
	m.HandleFunc("GET /app/installations/{id}", s.handleGetInstallation)
	m.HandleFunc("DELETE /installation/token", s.handleRevokeToken)
	m.HandleFunc("GET /app/hook/deliveries", s.handleListDeliveries)
	m.HandleFunc("POST /app/hook/deliveries/{delivery}/attempts", s.handleRedeliver)
	m.HandleFunc("GET /repos/{owner}/{repo}", s.handleGetRepo)
	m.HandleFunc("GET /repos/{owner}/{repo}/installation", s.handleRepoInstallation)
	m.HandleFunc("GET /repos/{owner}/{repo}/actions/permissions/access", s.handleActionsAccess)
	m.HandleFunc("GET /repos/{owner}/{repo}/branches", s.handleListBranches)
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls", s.handleListPulls)
	m.HandleFunc("POST /repos/{owner}/{repo}/statuses/{sha}", s.handleCreateStatus)
	m.HandleFunc("GET /repos/{owner}/{repo}/issues/{number}/comments", s.handleListComments)
	m.HandleFunc("POST /repos/{owner}/{repo}/issues/{number}/comments", s.handleCreateComment)
	m.HandleFunc("PATCH /repos/{owner}/{repo}/issues/comments/{id}", s.handleEditComment)
	m.HandleFunc("POST /repos/{owner}/{repo}/check-runs", s.handleCreateCheckRun)
	m.HandleFunc("PATCH /repos/{owner}/{repo}/check-runs/{id}", s.handleUpdateCheckRun)
	m.HandleFunc("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", s.handleListCheckRuns)
	m.HandleFunc("GET /repos/{owner}/{repo}/hooks/{hook}/deliveries", s.handleListDeliveries)
	m.HandleFunc("POST /repos/{owner}/{repo}/hooks/{hook}/deliveries/{delivery}/attempts", s.handleRedeliver)
}

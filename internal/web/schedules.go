package web

import (
	"net/http"
	"time"
)

// apiSchedules lists the schedules of the repositories the viewer may read:
// each on.schedule cron of the default branch's workflows, when it last
// fired and when it fires next (GET /api/schedules, optional ?repo=).
func (s *Server) apiSchedules(w http.ResponseWriter, r *http.Request) {
	scheds, err := s.st.Queries().Schedules(r.Context(), r.URL.Query().Get("repo"))
	if err != nil {
		s.log.Error("listing schedules", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	type out struct {
		Repo     string `json:"repo"`
		Workflow string `json:"workflow"`
		Path     string `json:"path"`
		Cron     string `json:"cron"`
		Timezone string `json:"timezone,omitempty"`
		// LastRunAt is the scheduled time of the last firing (null: never);
		// NextRunAt the next one (null: the cron matches no date).
		LastRunAt *time.Time `json:"last_run_at"`
		NextRunAt *time.Time `json:"next_run_at"`
	}
	res := []out{}
	for _, sc := range scheds {
		if !s.canRead(r, sc.Repo) {
			continue
		}
		res = append(res, out{sc.Repo, sc.WorkflowName, sc.WorkflowFile, sc.Cron, sc.Timezone, utcOrNil(sc.LastFired), utcOrNil(sc.NextAt)})
	}
	writeJSON(w, res)
}

func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

package web

import (
	"net/http"
	"time"
)

// scheduleJSON is one on.schedule cron as /api/schedules and /schedules show it.
type scheduleJSON struct {
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

// readableSchedules lists the schedules of the repositories the viewer may
// read (repo: only that one when set).
func (s *Server) readableSchedules(r *http.Request, repo string) ([]scheduleJSON, error) {
	scheds, err := s.st.Queries().Schedules(r.Context(), repo)
	if err != nil {
		return nil, err
	}
	res := []scheduleJSON{}
	for _, sc := range scheds {
		if !s.canRead(r, sc.Repo) {
			continue
		}
		res = append(res, scheduleJSON{sc.Repo, sc.WorkflowName, sc.WorkflowFile, sc.Cron, sc.Timezone, utcOrNil(sc.LastFired), utcOrNil(sc.NextAt)})
	}
	return res, nil
}

// apiSchedules lists the schedules of the repositories the viewer may read:
// each on.schedule cron of the default branch's workflows, when it last
// fired and when it fires next (GET /api/schedules, optional ?repo=).
func (s *Server) apiSchedules(w http.ResponseWriter, r *http.Request) {
	res, err := s.readableSchedules(r, r.URL.Query().Get("repo"))
	if err != nil {
		s.log.Error("listing schedules", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeJSON(w, res)
}

// schedulesPage shows the same list with each workflow's next fire time
// (GET /schedules, optional ?repo=).
func (s *Server) schedulesPage(w http.ResponseWriter, r *http.Request) {
	res, err := s.readableSchedules(r, r.URL.Query().Get("repo"))
	if err != nil {
		s.log.Error("listing schedules", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	type row struct {
		scheduleJSON
		In string // how long until the next fire ("" when none)
	}
	now := time.Now()
	rows := make([]row, 0, len(res))
	for _, sc := range res {
		in := ""
		if sc.NextRunAt != nil {
			in = "in " + sc.NextRunAt.Sub(now).Truncate(time.Minute).String()
			if !sc.NextRunAt.After(now) {
				in = "due now"
			}
		}
		rows = append(rows, row{sc, in})
	}
	s.page(w, r, "schedules.html", "Schedules", rows)
}

func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

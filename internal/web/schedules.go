package web

import (
	"net/http"
	"time"

	"github.com/hookci/hookci/internal/store"
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
	// State is the workflow's (GitHub's names): active, disabled_manually,
	// disabled_inactivity; a disabled workflow's slots pass without runs.
	State string `json:"state"`
}

// readableSchedules lists the schedules of the repositories the viewer may
// read (repo: only that one when set).
func (s *Server) readableSchedules(r *http.Request, repo string) ([]scheduleJSON, error) {
	scheds, err := s.st.Queries().Schedules(r.Context(), repo)
	if err != nil {
		return nil, err
	}
	res := []scheduleJSON{}
	states := map[string]map[string]store.WorkflowState{}
	for _, sc := range scheds {
		if !s.canRead(r, sc.Repo) {
			continue
		}
		st, ok := states[sc.Repo]
		if !ok {
			if st, err = s.st.Queries().WorkflowStates(r.Context(), sc.Repo); err != nil {
				return nil, err
			}
			states[sc.Repo] = st
		}
		state := store.WorkflowActive
		if ws := st[sc.WorkflowFile]; ws.Disabled() {
			state = ws.State
		}
		res = append(res, scheduleJSON{sc.Repo, sc.WorkflowName, sc.WorkflowFile, sc.Cron, sc.Timezone, utcOrNil(sc.LastFired), utcOrNil(sc.NextAt), state})
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
		if sc.State != store.WorkflowActive {
			in = "not while " + sc.State
		} else if sc.NextRunAt != nil {
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

package githubtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// AddHookDelivery records a webhook delivery GitHub would list. HookID 0 is the App's webhook
// (listed with the App JWT); otherwise d.Repo ("owner/name") names the repository whose webhook
// HookID made it. A zero ID is assigned; it returns the delivery's id.
func (s *Server) AddHookDelivery(d HookDelivery) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.HookID != 0 {
		s.mustRepo(d.Repo).hooks[d.HookID] = true
	}
	if d.ID == 0 {
		d.ID = s.newID()
	}
	if d.DeliveredAt.IsZero() {
		d.DeliveredAt = s.now()
	}
	s.deliveries = append(s.deliveries, &d)
	return d.ID
}

// Redeliveries returns the ids of the deliveries redelivered so far, in order.
func (s *Server) Redeliveries() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.redeliveries...)
}

// hookScope authenticates a deliveries request and returns the hook id (0 = App) and repository
// ("" for the App hook). The caller holds s.mu.
func (s *Server) hookScope(w http.ResponseWriter, r *http.Request) (int64, string, bool) {
	if strings.HasPrefix(r.URL.Path, "/app/") {
		return 0, "", s.requireApp(w, r)
	}
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return 0, "", false
	}
	hook, ok := pathInt(w, r, "hook")
	if !ok {
		return 0, "", false
	}
	if !repo.hooks[hook] {
		writeError(w, http.StatusNotFound, "Not Found")
		return 0, "", false
	}
	return hook, repo.fullName(), true
}

// GET /app/hook/deliveries, GET /repos/{owner}/{repo}/hooks/{hook}/deliveries (cursor pagination)
func (s *Server) handleListDeliveries(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hook, repo, ok := s.hookScope(w, r)
	if !ok {
		return
	}
	var match []*HookDelivery
	for i := len(s.deliveries) - 1; i >= 0; i-- { // newest first
		if d := s.deliveries[i]; d.HookID == hook && (hook == 0 || d.Repo == repo) {
			match = append(match, d)
		}
	}
	q := r.URL.Query()
	start, _ := strconv.Atoi(strings.TrimPrefix(q.Get("cursor"), "v1_"))
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per < 1 {
		per = 30
	}
	start, end := min(max(start, 0), len(match)), min(max(start, 0)+min(per, 100), len(match))
	if end < len(match) {
		q.Set("cursor", fmt.Sprintf("v1_%d", end))
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?%s>; rel="next"`, r.Host, r.URL.Path, q.Encode()))
	}
	out := []map[string]any{}
	for _, d := range match[start:end] {
		out = append(out, map[string]any{"id": d.ID, "guid": d.GUID, "delivered_at": ts(d.DeliveredAt),
			"redelivery": d.Redelivery, "duration": 0.1, "status": http.StatusText(d.StatusCode),
			"status_code": d.StatusCode, "event": d.Event, "action": nilIfEmpty(d.Action)})
	}
	writeJSON(w, http.StatusOK, out)
}

// POST .../deliveries/{delivery}/attempts: 202, and a new delivery marked as a redelivery.
func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hook, _, ok := s.hookScope(w, r)
	if !ok {
		return
	}
	id, ok := pathInt(w, r, "delivery")
	if !ok {
		return
	}
	for _, d := range s.deliveries {
		if d.ID == id && d.HookID == hook {
			again := *d
			again.ID, again.Redelivery, again.DeliveredAt = s.newID(), true, s.now()
			s.deliveries = append(s.deliveries, &again)
			s.redeliveries = append(s.redeliveries, id)
			writeJSON(w, http.StatusAccepted, map[string]any{})
			return
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

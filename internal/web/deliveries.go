package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/hookci/hookci/internal/store"
)

// Redeliver asks GitHub to send a webhook delivery again, named by its
// X-GitHub-Delivery id (App mode: the hook deliveries API). A refusal the
// caller should see carries its HTTP status through StatusCode() int (404:
// GitHub does not list it; 422: GitHub refused it).
type Redeliver func(ctx context.Context, guid string) error

// routeDeliveries mounts the refused-webhook list and Redeliver.
func (s *Server) routeDeliveries(mux *http.ServeMux) {
	mux.Handle("GET /api/deliveries/refused", s.auth(http.HandlerFunc(s.apiRefused)))
	mux.Handle("POST /api/deliveries/{guid}/redeliver", s.auth(http.HandlerFunc(s.apiRedeliver)))
	mux.Handle("POST /deliveries/{guid}/redeliver", s.auth(http.HandlerFunc(s.redeliverButton)))
}

// apiRefused is GET /api/deliveries/refused: the webhooks refused or found
// duplicate since the server started (the newest 500), newest first. They
// name no checked repository, so only a viewer who reads every repository
// sees them.
func (s *Server) apiRefused(w http.ResponseWriter, r *http.Request) {
	if !readsAll(r) {
		ghError(w, http.StatusForbidden, "Must be able to read every repository.")
		return
	}
	writeJSON(w, s.refused.recent(r.Context()))
}

// apiRedeliver is POST /api/deliveries/{guid}/redeliver: 202, or the
// refusal's status with its message.
func (s *Server) apiRedeliver(w http.ResponseWriter, r *http.Request) {
	code, msg := s.redeliver(r)
	if code != http.StatusAccepted {
		ghError(w, code, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte("{}\n"))
}

// redeliverButton is the form post of /deliveries' Redeliver button.
func (s *Server) redeliverButton(w http.ResponseWriter, r *http.Request) {
	code, msg := s.redeliver(r)
	if code != http.StatusAccepted {
		s.errorPage(w, r, code, msg)
		return
	}
	http.Redirect(w, r, "/deliveries?"+url.Values{"redelivered": {r.PathValue("guid")}}.Encode(), http.StatusSeeOther)
}

// redeliver checks and makes a redelivery; it returns 202 or the refusal.
// A stored delivery needs write access to its repository; one the store
// does not hold (refused at intake, so its repository was never verified)
// needs a viewer who may read and change everything.
func (s *Server) redeliver(r *http.Request) (int, string) {
	guid := r.PathValue("guid")
	if guid == "" || len(guid) > 200 || strings.HasPrefix(guid, "dispatch-") || strings.HasPrefix(guid, "reconcile-") {
		return http.StatusNotFound, "Not Found" // hookci's own deliveries were never GitHub's
	}
	d, err := s.st.Queries().Delivery(r.Context(), guid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !readsAll(r) {
			return http.StatusNotFound, "Not Found"
		}
	case err != nil:
		s.log.Error("redeliver", "delivery", guid, "err", err)
		return http.StatusInternalServerError, "internal error"
	case !s.canRead(r, d.Repo):
		return http.StatusNotFound, "Not Found"
	case !s.canWrite(r, d.Repo):
		return http.StatusForbidden, "Must have write access to this repository."
	}
	if s.redeliverFn == nil {
		return http.StatusNotImplemented, "Redeliver needs App mode (the hook deliveries API)"
	}
	if err := s.redeliverFn(r.Context(), guid); err != nil {
		var sc interface{ StatusCode() int }
		if errors.As(err, &sc) {
			return sc.StatusCode(), err.Error()
		}
		s.log.Error("redeliver", "delivery", guid, "err", err)
		return http.StatusBadGateway, "GitHub did not redeliver: " + err.Error()
	}
	s.log.Info("redelivery requested", "delivery", guid, "actor", s.actorOf(r))
	return http.StatusAccepted, ""
}

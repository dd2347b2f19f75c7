// Package webhook owns GitHub webhook intake: the body limit, the
// HMAC-SHA256 signature check, event routing, delivery dedupe and the durable
// hand-off to the planner. A 2xx answer means the delivery is stored and its
// planning queued in the same transaction.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// MaxBody is GitHub's own cap on webhook payloads (25 MiB).
const MaxBody = 25 << 20

// Store is where deliveries go.
type Store interface {
	AddDelivery(ctx context.Context, d store.Delivery, plan bool) (duplicate bool, err error)
}

// Outcomes counted by the Observe callback.
const (
	OutcomeAccepted     = "accepted"
	OutcomeDuplicate    = "duplicate"
	OutcomeIgnored      = "ignored"
	OutcomePing         = "ping"
	OutcomeBadSignature = "bad_signature"
	OutcomeTooLarge     = "too_large"
	OutcomeMalformed    = "malformed"
	OutcomeError        = "error"
)

// Handler is the POST /webhook endpoint.
type Handler struct {
	secret  []byte
	store   Store
	logger  *slog.Logger
	observe func(event, outcome string)
	allowed func(repo string) bool
}

// Options are the Handler's optional collaborators.
type Options struct {
	Logger *slog.Logger
	// Observe is told the event and outcome of every request (metrics).
	Observe func(event, outcome string)
	// Allowed says whether a repository's deliveries are run (nil: all are).
	// Others are acknowledged, stored as ignored and logged.
	Allowed func(repo string) bool
}

// New returns a handler that checks signatures with secret and stores
// deliveries in st.
func New(secret string, st Store, opts Options) *Handler {
	h := &Handler{secret: []byte(secret), store: st, logger: opts.Logger, observe: opts.Observe, allowed: opts.Allowed}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.observe == nil {
		h.observe = func(string, string) {}
	}
	return h
}

// plannedEvents are the events whose deliveries are planned (the workflows'
// own triggers then decide what runs).
var plannedEvents = map[string]bool{
	"push":                true,
	"pull_request":        true,
	"pull_request_target": true,
	"workflow_dispatch":   true,
	"repository_dispatch": true,
	"release":             true,
	"create":              true,
	"delete":              true,
	"check_run":           true, // rerequested: re-run that job
	"check_suite":         true, // rerequested: re-run the commit's runs
}

// Planned reports whether deliveries of event are planned into runs.
func Planned(event string) bool { return plannedEvents[event] }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// No panic may escape to net/http (which would log and drop the connection).
	defer func() {
		if v := recover(); v != nil {
			h.logger.Error("webhook handler panic", "panic", fmt.Sprint(v))
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		}
	}()
	event := r.Header.Get("X-GitHub-Event")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.reject(w, event, OutcomeTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload over %d bytes", MaxBody))
			return
		}
		h.reject(w, event, OutcomeMalformed, http.StatusBadRequest, "could not read body")
		return
	}
	if err := h.verify(r.Header.Get("X-Hub-Signature-256"), body); err != nil {
		h.reject(w, event, OutcomeBadSignature, http.StatusUnauthorized, err.Error())
		return
	}
	id := r.Header.Get("X-GitHub-Delivery")
	log := h.logger.With("delivery", id, "event", event)
	if event == "" {
		h.reject(w, event, OutcomeMalformed, http.StatusBadRequest, "missing X-GitHub-Event header")
		return
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		h.reject(w, event, OutcomeMalformed, http.StatusBadRequest, "malformed JSON payload: "+err.Error())
		return
	}
	if event == "ping" {
		h.observe(event, OutcomePing)
		log.Info("ping", "hook_id", p.HookID)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "hook_id": p.HookID, "zen": p.Zen})
		return
	}
	if id == "" || len(id) > 200 {
		h.reject(w, event, OutcomeMalformed, http.StatusBadRequest, "missing or invalid X-GitHub-Delivery header")
		return
	}
	d := store.Delivery{ID: id, Event: event, Action: p.Action, Repo: p.Repository.FullName, SHA: p.sha(event),
		ReceivedAt: time.Now(), Payload: body, Status: store.DeliveryQueued}
	plan, why := h.shouldPlan(event, &p)
	if !plan {
		d.Status, d.Message = store.DeliveryIgnored, why
	}
	dup, err := h.store.AddDelivery(r.Context(), d, plan)
	switch {
	case err != nil:
		log.Error("storing delivery", "err", err)
		h.observe(event, OutcomeError)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not store the delivery"})
	case dup:
		h.observe(event, OutcomeDuplicate)
		log.Info("duplicate delivery")
		writeJSON(w, http.StatusOK, map[string]string{"status": "duplicate", "delivery": id})
	case !plan:
		h.observe(event, OutcomeIgnored)
		log.Info("delivery ignored", "why", why)
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "delivery": id, "reason": why})
	default:
		h.observe(event, OutcomeAccepted)
		log.Info("delivery accepted", "repo", d.Repo, "action", d.Action)
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted", "delivery": id})
	}
}

// payload is the part of any event the handler looks at.
type payload struct {
	Action     string `json:"action"`
	HookID     int64  `json:"hook_id"`
	Zen        string `json:"zen"`
	Deleted    bool   `json:"deleted"`
	After      string `json:"after"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	PullRequest *struct {
		Head struct {
			SHA string `json:"sha"`
		} `json:"head"`
	} `json:"pull_request"`
	CheckSuite *struct {
		HeadSHA string `json:"head_sha"`
	} `json:"check_suite"`
	CheckRun *struct {
		HeadSHA string `json:"head_sha"`
	} `json:"check_run"`
}

// sha is the commit the delivery is about, if it names one.
func (p *payload) sha(event string) string {
	switch {
	case event == "push":
		return p.After
	case p.PullRequest != nil:
		return p.PullRequest.Head.SHA
	case p.CheckSuite != nil:
		return p.CheckSuite.HeadSHA
	case p.CheckRun != nil:
		return p.CheckRun.HeadSHA
	}
	return ""
}

func (h *Handler) shouldPlan(event string, p *payload) (bool, string) {
	if !plannedEvents[event] {
		return false, "event " + event + " does not start workflows here"
	}
	if p.Repository.FullName == "" {
		return false, "payload names no repository"
	}
	if h.allowed != nil && !h.allowed(p.Repository.FullName) {
		return false, "repository " + p.Repository.FullName + " is not in the allow-list"
	}
	if (event == "check_run" || event == "check_suite") && p.Action != "rerequested" {
		return false, event + " " + p.Action + " needs no action"
	}
	if event == "push" && (p.Deleted || strings.Trim(p.After, "0") == "") {
		return false, "push deletes a ref"
	}
	return true, ""
}

// verify checks GitHub's X-Hub-Signature-256 ("sha256=<hex HMAC of the body>")
// in constant time. The SHA-1 X-Hub-Signature header is never enough.
func (h *Handler) verify(header string, body []byte) error {
	if header == "" {
		return errors.New("missing X-Hub-Signature-256 header")
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return errors.New("X-Hub-Signature-256 is not of the form sha256=<hex>")
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return errors.New("X-Hub-Signature-256 is not of the form sha256=<hex>")
	}
	if !hmac.Equal(got, Sign(h.secret, body)) {
		return errors.New("signature does not match")
	}
	return nil
}

// Sign returns the HMAC-SHA256 of body under secret.
func Sign(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}

// SignatureHeader is the X-Hub-Signature-256 value GitHub sends for body.
func SignatureHeader(secret, body []byte) string {
	return "sha256=" + hex.EncodeToString(Sign(secret, body))
}

func (h *Handler) reject(w http.ResponseWriter, event, outcome string, status int, msg string) {
	h.observe(event, outcome)
	h.logger.Warn("webhook rejected", "event", event, "outcome", outcome, "status", status, "reason", msg)
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

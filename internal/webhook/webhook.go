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
	"fmt"
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
	Intake(ctx context.Context, d store.Delivery, opts store.IntakeOptions) (store.IntakeResult, error)
}

// Outcomes counted by the Observe callback.
const (
	OutcomeAccepted     = "accepted"
	OutcomeDuplicate    = "duplicate"
	OutcomeReplay       = "replay"
	OutcomeIgnored      = "ignored"
	OutcomePing         = "ping"
	OutcomeBadSignature = "bad_signature"
	OutcomeTooLarge     = "too_large"
	OutcomeMalformed    = "malformed"
	OutcomeBusy         = "busy"
	OutcomeError        = "error"
)

// Handler is the POST /webhook endpoint.
type Handler struct {
	secret   []byte
	store    Store
	logger   *slog.Logger
	observe  func(event, outcome string)
	allowed  func(repo string) bool
	accepted func(store.Delivery)
	replay   time.Duration
	limits   *limiter
	pending  pendingBudget
	bufs     bufferPool
}

// Options are the Handler's optional collaborators and limits.
type Options struct {
	Logger *slog.Logger
	// Observe is told the event and outcome of every request (metrics). The
	// event is EventLabel's: a GitHub event name or "other"/"unknown".
	Observe func(event, outcome string)
	// Accepted, when set, is called with each delivery about to be stored
	// for planning (signature verified, repository allowed), so that the
	// dispatcher fetches its commit while it is stored and queued
	// (Dispatcher.Prefetch). It must not block. The delivery's Payload is
	// its own copy: it may be kept.
	Accepted func(store.Delivery)
	// Allowed says whether a repository's deliveries are run (nil: all are).
	// Others are acknowledged, stored as ignored and logged.
	Allowed func(repo string) bool
	// MaxConcurrent caps the requests whose bodies are read at once
	// (default DefaultMaxConcurrent); one more is answered 503 at once.
	MaxConcurrent int
	// MaxLarge caps how many of those may hold a body over SmallBody
	// (default DefaultMaxLarge), so that held memory stays bounded.
	MaxLarge int
	// MaxPending caps the bytes of verified small deliveries waiting for
	// their durable write (default DefaultMaxPending); one more is answered
	// 503 at once.
	MaxPending int64
	// ReplayWindow: a new delivery id whose event and body repeat those of a
	// delivery received within the window is a replay (default
	// DefaultReplayWindow; negative turns the check off).
	ReplayWindow time.Duration
}

// Defaults of Options.
const (
	DefaultMaxConcurrent = 32
	DefaultMaxLarge      = 2
	DefaultMaxPending    = 64 << 20
	DefaultReplayWindow  = time.Hour
)

// New returns a handler that checks signatures with secret and stores
// deliveries in st.
func New(secret string, st Store, opts Options) *Handler {
	h := &Handler{secret: []byte(secret), store: st, logger: opts.Logger, observe: opts.Observe, allowed: opts.Allowed, accepted: opts.Accepted,
		replay: opts.ReplayWindow}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.observe == nil {
		h.observe = func(string, string) {}
	}
	if h.replay == 0 {
		h.replay = DefaultReplayWindow
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.MaxLarge <= 0 {
		opts.MaxLarge = DefaultMaxLarge
	}
	h.limits = newLimiter(opts.MaxConcurrent, opts.MaxLarge)
	h.pending.max = opts.MaxPending
	if h.pending.max <= 0 {
		h.pending.max = DefaultMaxPending
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
	"check_run":           true, // rerequested: re-run that job; others' checks: workflows
	"check_suite":         true, // rerequested: re-run the commit's runs; others' checks: workflows
	// Every other webhook event GitHub Actions runs workflows on (dispatch
	// routes each to its ref and commit; workflow_run is made by hookci's
	// own runs, never taken from GitHub's).
	"branch_protection_rule": true, "deployment": true, "deployment_status": true, "discussion": true,
	"discussion_comment": true, "fork": true, "gollum": true, "issue_comment": true, "issues": true, "label": true,
	"merge_group": true, "milestone": true, "page_build": true, "project": true, "project_card": true,
	"project_column": true, "public": true, "pull_request_review": true, "pull_request_review_comment": true,
	"registry_package": true, "status": true, "watch": true,
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
		// Counted and recorded like any refused request (as malformed).
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, event, OutcomeMalformed, http.StatusMethodNotAllowed, "use POST, not "+r.Method)
		return
	}
	// Everything that can be refused from the headers is refused before a
	// byte of the body is read.
	want, err := parseSignature(r.Header.Get("X-Hub-Signature-256"))
	if err != nil {
		h.reject(w, event, OutcomeBadSignature, http.StatusUnauthorized, err.Error())
		return
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		h.reject(w, event, OutcomeMalformed, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	if r.ContentLength > MaxBody {
		h.reject(w, event, OutcomeTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("payload over %d bytes", MaxBody))
		return
	}
	release, ok := h.limits.acquire(r.ContentLength)
	if !ok {
		h.busy(w, event)
		return
	}
	body, err := h.readBody(w, r, want)
	if err != nil {
		release()
		h.rejectRead(w, event, err)
		return
	}
	if body.small() {
		// Verified and small: it waits for its durable write as a copy of
		// its own size, counted against the pending budget, and frees its
		// slot for the next request to be read. Slots held through the
		// store turned a 20 ms fsync stall at 2,000/s into 503s.
		body.detach()
		release()
		n := int64(len(body.bytes()))
		if !h.pending.take(n) {
			h.busy(w, event)
			return
		}
		defer h.pending.give(n)
	} else {
		defer release() // a large body keeps its slots (and its buffer) until stored
	}
	defer body.free()
	h.handle(w, r, event, body)
}

// handle answers a request whose body is read and whose signature is good.
func (h *Handler) handle(w http.ResponseWriter, r *http.Request, event string, body *signedBody) {
	id := r.Header.Get("X-GitHub-Delivery")
	if event == "" {
		h.reject(w, event, OutcomeMalformed, http.StatusBadRequest, "missing X-GitHub-Event header")
		return
	}
	if !validEvent(event) {
		h.reject(w, event, OutcomeMalformed, http.StatusBadRequest, "invalid X-GitHub-Event header")
		return
	}
	label := EventLabel(event)
	log := h.logger.With("delivery", logField(id), "event", logField(event))
	var p payload
	if err := json.Unmarshal(body.bytes(), &p); err != nil {
		h.reject(w, event, OutcomeMalformed, http.StatusBadRequest, "malformed JSON payload: "+err.Error())
		return
	}
	if event == "ping" {
		h.observe(label, OutcomePing)
		log.Info("ping", "hook_id", p.HookID)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "hook_id": p.HookID, "zen": p.Zen})
		return
	}
	if id == "" || len(id) > 200 {
		h.reject(w, event, OutcomeMalformed, http.StatusBadRequest, "missing or invalid X-GitHub-Delivery header")
		return
	}
	d := store.Delivery{ID: id, Event: event, Action: p.Action, Repo: p.Repository.FullName, SHA: p.sha(event),
		ReceivedAt: time.Now(), Payload: body.bytes(), Status: store.DeliveryQueued, Fingerprint: body.fingerprint}
	plan, why := h.shouldPlan(event, &p)
	if !plan {
		d.Status, d.Message = store.DeliveryIgnored, why
	} else if h.accepted != nil {
		h.accepted(d) // beside the durable write below: it only reads
	}
	res, err := h.store.Intake(r.Context(), d, store.IntakeOptions{Plan: plan, ReplayWindow: max(h.replay, 0)})
	switch {
	case err != nil:
		// The database is unreachable or failing: 503. GitHub does not
		// retry a failed delivery by itself; say so where operators look.
		log.Error("storing delivery failed: it is not accepted; GitHub does not retry it automatically "+
			"(redeliver it from the webhook's Recent Deliveries once the database is back)", "err", err)
		h.observe(label, OutcomeError)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "could not store the delivery"})
	case res.ReplayOf != "":
		h.observe(label, OutcomeReplay)
		log.Warn("replayed payload under a new delivery id: not planned", "replay_of", res.ReplayOf)
		writeJSON(w, http.StatusOK, map[string]string{"status": "duplicate", "delivery": id, "replay_of": res.ReplayOf,
			"reason": "replay of " + res.ReplayOf})
	case res.Duplicate:
		h.observe(label, OutcomeDuplicate)
		log.Info("duplicate delivery")
		writeJSON(w, http.StatusOK, map[string]string{"status": "duplicate", "delivery": id})
	case !plan:
		h.observe(label, OutcomeIgnored)
		log.Info("delivery ignored", "why", logField(why))
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "delivery": id, "reason": why})
	default:
		h.observe(label, OutcomeAccepted)
		log.Info("delivery accepted", "repo", d.Repo, "action", d.Action, "redelivery", res.Replanned)
		out := map[string]any{"status": "accepted", "delivery": id}
		if res.Replanned {
			out["redelivery"] = true
		}
		writeJSON(w, http.StatusAccepted, out)
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
	if event == "push" && (p.Deleted || strings.Trim(p.After, "0") == "") {
		return false, "push deletes a ref"
	}
	return true, ""
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
	h.observe(EventLabel(event), outcome)
	h.logger.Warn("webhook rejected", "event", logField(event), "outcome", outcome, "status", status, "reason", logField(msg))
	writeJSON(w, status, map[string]string{"error": msg})
}

// busy answers a request over the intake limit: GitHub (or the sender)
// may try again; nothing waits in line.
func (h *Handler) busy(w http.ResponseWriter, event string) {
	h.observe(EventLabel(event), OutcomeBusy)
	h.logger.Warn("webhook intake busy", "event", logField(event))
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "too many webhook requests at once; retry later"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

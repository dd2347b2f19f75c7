package githubtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
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
		if d := s.deliveries[i]; d.HookID == hook && (hook == 0 || d.Repo == repo) && s.now().Sub(d.DeliveredAt) <= DeliveryRetention {
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

// DeliveryRetention is how long GitHub keeps a webhook delivery: older ones
// are neither listed nor redelivered.
const DeliveryRetention = 3 * 24 * time.Hour

// appHook is the App webhook's target, for redeliveries that really send.
type appHook struct {
	url    string
	secret []byte
}

// SetAppWebhook makes App hook redeliveries of deliveries with a Payload
// POST it to url again, signed with secret (X-Hub-Signature-256), with the
// delivery's GUID and event, as GitHub does. The fake records the answer's
// status on the new delivery.
func (s *Server) SetAppWebhook(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appHook = appHook{url: url, secret: []byte(secret)}
}

// POST .../deliveries/{delivery}/attempts: 202, and a new delivery marked as
// a redelivery (sent to the App's webhook URL when one is set). An unknown
// delivery, or one past GitHub's retention, is 404; a delivery id that is
// not a positive number is 422, as GitHub.
func (s *Server) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hook, _, ok := s.hookScope(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("delivery"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed")
		return
	}
	for _, d := range s.deliveries {
		if d.ID != id || d.HookID != hook {
			continue
		}
		if s.now().Sub(d.DeliveredAt) > DeliveryRetention {
			break
		}
		again := *d
		again.ID, again.Redelivery, again.DeliveredAt, again.StatusCode = s.newID(), true, s.now(), 0
		s.deliveries = append(s.deliveries, &again)
		s.redeliveries = append(s.redeliveries, id)
		if hook == 0 && s.appHook.url != "" && d.Payload != nil {
			go s.send(s.appHook, &again)
		}
		writeJSON(w, http.StatusAccepted, map[string]any{})
		return
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

// send delivers d to the hook as GitHub would and records the answer's status.
func (s *Server) send(h appHook, d *HookDelivery) {
	req, err := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(d.Payload))
	if err != nil {
		s.t.Errorf("githubtest: redelivery request: %v", err)
		return
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(d.Payload)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/githubtest")
	req.Header.Set("X-GitHub-Event", d.Event)
	req.Header.Set("X-GitHub-Delivery", d.GUID)
	req.Header.Set("X-GitHub-Hook-ID", "0")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	code := 0
	if err == nil {
		code = resp.StatusCode
		resp.Body.Close()
	}
	s.mu.Lock()
	d.StatusCode = code
	s.mu.Unlock()
}

package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Webhook requests the store never holds as a delivery of their own — refused
// ones (bad signature, oversized, malformed, intake busy, store down) and
// duplicates (a delivery id seen before, or a payload replayed under a new
// id) — are kept here, in memory and bounded, so that /deliveries can show
// them with their reason and the overview can count them. Refused requests
// are not stored durably by design: their bodies are unverified, and a flood
// of them must not grow the database. The record ends with the process.

// Bounds of the refused-webhook record.
const (
	refusedKept   = 500  // newest entries listed on /deliveries
	refusedReason = 300  // bytes of a reason kept
	refusedField  = 200  // bytes of an event or delivery id kept
	refusedBody   = 4096 // bytes of the handler's answer read for its reason
)

// Refused-webhook outcomes, as shown and counted.
const (
	RefusedBadSignature = "bad_signature"
	RefusedTooLarge     = "too_large"
	RefusedMalformed    = "malformed"
	RefusedBusy         = "busy"
	RefusedUnavailable  = "unavailable" // the store could not take it
	RefusedDuplicate    = "duplicate"
)

// Refusal is one webhook request that made no delivery row of its own.
type Refusal struct {
	At       time.Time `json:"received_at"`
	Event    string    `json:"event"`
	Delivery string    `json:"delivery"`
	Outcome  string    `json:"outcome"`
	Status   int       `json:"status"`
	Reason   string    `json:"reason"`
	// Of is the stored delivery a duplicate repeats ("" for a refusal).
	Of string `json:"duplicate_of,omitempty"`
}

// refusedLog is the bounded record: a ring of the newest entries and
// per-hour counts of the last 24 hours by outcome.
type refusedLog struct {
	now func() time.Time

	mu    sync.Mutex // guards the fields below
	ring  []Refusal
	next  int // where the next entry goes once the ring is full
	hours [24]hourCounts
}

type hourCounts struct {
	hour   int64 // unix hour these counts are of
	counts map[string]int
}

func newRefusedLog() *refusedLog { return &refusedLog{now: time.Now} }

func (l *refusedLog) add(e Refusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) < refusedKept {
		l.ring = append(l.ring, e)
	} else {
		l.ring[l.next] = e
		l.next = (l.next + 1) % refusedKept
	}
	h := e.At.Unix() / 3600
	b := &l.hours[h%24]
	if b.hour != h || b.counts == nil {
		b.hour, b.counts = h, map[string]int{}
	}
	b.counts[e.Outcome]++
}

// recent returns the entries kept, newest first.
func (l *refusedLog) recent() []Refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Refusal, 0, len(l.ring))
	for i := len(l.ring) - 1; i >= 0; i-- {
		out = append(out, l.ring[(l.next+i)%len(l.ring)])
	}
	return out
}

// day returns the counts by outcome of the last 24 hours.
func (l *refusedLog) day() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().Unix() / 3600
	out := map[string]int{}
	for _, b := range l.hours {
		if b.counts != nil && now-b.hour < 24 {
			for k, n := range b.counts {
				out[k] += n
			}
		}
	}
	return out
}

// wrap records what next refuses or finds duplicate, from its answer: the
// status code and the JSON body's error, status and reason.
func (l *refusedLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &answerRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if e, ok := refusalOf(r, rec.status, rec.body.Bytes()); ok {
			e.At = l.now()
			l.add(e)
		}
	})
}

// refusalOf classifies a webhook answer; ok is false for a stored delivery.
func refusalOf(r *http.Request, status int, body []byte) (Refusal, bool) {
	var ans struct {
		Error    string `json:"error"`
		Status   string `json:"status"`
		Reason   string `json:"reason"`
		ReplayOf string `json:"replay_of"`
	}
	json.Unmarshal(body, &ans) // a cut or odd answer leaves fields empty
	e := Refusal{Event: clip(r.Header.Get("X-GitHub-Event"), refusedField),
		Delivery: clip(r.Header.Get("X-GitHub-Delivery"), refusedField), Status: status}
	switch {
	case status == 0 || status < 400 && ans.Status != "duplicate":
		return e, false
	case status < 400:
		e.Outcome, e.Of, e.Reason = RefusedDuplicate, e.Delivery, "delivery id already received"
		if ans.ReplayOf != "" {
			e.Of, e.Reason = clip(ans.ReplayOf, refusedField), "same event and payload as "+ans.ReplayOf+" (replay under a new id)"
		}
	case status == http.StatusUnauthorized:
		e.Outcome = RefusedBadSignature
	case status == http.StatusRequestEntityTooLarge:
		e.Outcome = RefusedTooLarge
	case status == http.StatusServiceUnavailable && strings.Contains(ans.Error, "too many webhook requests"):
		e.Outcome = RefusedBusy
	case status == http.StatusServiceUnavailable:
		e.Outcome = RefusedUnavailable
	default:
		e.Outcome = RefusedMalformed
	}
	if e.Reason == "" {
		e.Reason = ans.Error
	}
	e.Reason = clip(e.Reason, refusedReason)
	return e, true
}

// clip cuts s to at most n bytes.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// answerRecorder keeps the status and the first bytes of an answer.
type answerRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (a *answerRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerRecorder) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if room := refusedBody - a.body.Len(); room > 0 {
		a.body.Write(p[:min(len(p), room)])
	}
	return a.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (a *answerRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

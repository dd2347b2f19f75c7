package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Each answer of the webhook handler is classified as the deliveries page
// shows it: refusals by status, duplicates and replays by the body, stored
// deliveries not at all.
func TestRefusalOf(t *testing.T) {
	cases := []struct {
		status      int
		body        string
		wantOK      bool
		wantOutcome string
		wantReason  string
	}{
		{202, `{"status":"accepted","delivery":"d"}`, false, "", ""},
		{200, `{"status":"ignored","delivery":"d","reason":"x"}`, false, "", ""},
		{200, `{"status":"duplicate","delivery":"d"}`, true, RefusedDuplicate, "already received"},
		{200, `{"status":"duplicate","delivery":"d","replay_of":"first"}`, true, RefusedDuplicate, "same event and payload as first"},
		{401, `{"error":"signature mismatch"}`, true, RefusedBadSignature, "signature mismatch"},
		{413, `{"error":"payload over 26214400 bytes"}`, true, RefusedTooLarge, "payload over"},
		{400, `{"error":"malformed JSON payload: x"}`, true, RefusedMalformed, "malformed JSON"},
		{415, `{"error":"content type"}`, true, RefusedMalformed, "content type"},
		{503, `{"error":"too many webhook requests at once; retry later"}`, true, RefusedBusy, "too many"},
		{503, `{"error":"could not store the delivery"}`, true, RefusedUnavailable, "could not store"},
		{400, `{"error":"` + strings.Repeat("x", 2000) + `"}`, true, RefusedMalformed, strings.Repeat("x", refusedReason)},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/webhook", nil)
		r.Header.Set("X-GitHub-Event", "push")
		r.Header.Set("X-GitHub-Delivery", "d")
		got, ok := refusalOf(r, c.status, []byte(c.body))
		if ok != c.wantOK || got.Outcome != c.wantOutcome || !strings.Contains(got.Reason, c.wantReason) {
			t.Errorf("%d %.60s: got %v %q %q, want %v %q containing %q", c.status, c.body, ok, got.Outcome, got.Reason, c.wantOK, c.wantOutcome, c.wantReason)
		}
		if len(got.Reason) > refusedReason+len("…") {
			t.Errorf("%d: reason of %d bytes kept, want at most %d", c.status, len(got.Reason), refusedReason)
		}
	}
}

// A flood of refused requests keeps the newest refusedKept entries (memory
// stays bounded) while the day's counts count every one; counts older than
// 24 hours drop out.
func TestRefusedLogBounded(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	l := newRefusedLog()
	l.now = func() time.Time { return now }
	h := l.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"bad %s"}`, r.Header.Get("X-GitHub-Delivery"))
	}))
	const n = refusedKept + 250
	for i := range n {
		r := httptest.NewRequest("POST", "/webhook", nil)
		r.Header.Set("X-GitHub-Delivery", fmt.Sprint(i))
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	got := l.recent()
	if len(got) != refusedKept {
		t.Fatalf("kept %d entries, want %d", len(got), refusedKept)
	}
	if got[0].Delivery != fmt.Sprint(n-1) || got[len(got)-1].Delivery != fmt.Sprint(n-refusedKept) {
		t.Errorf("kept %s … %s, want the newest %d … %d", got[0].Delivery, got[len(got)-1].Delivery, n-1, n-refusedKept)
	}
	if c := l.day()[RefusedBadSignature]; c != n {
		t.Errorf("day's bad_signature count: got %d, want %d", c, n)
	}
	now = now.Add(25 * time.Hour)
	if c := l.day()[RefusedBadSignature]; c != 0 {
		t.Errorf("count a day later: got %d, want 0", c)
	}
}

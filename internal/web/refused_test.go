package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/store/pgtest"
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
	got := l.recent(context.Background())
	if len(got) != refusedKept {
		t.Fatalf("kept %d entries, want %d", len(got), refusedKept)
	}
	if got[0].Delivery != fmt.Sprint(n-1) || got[len(got)-1].Delivery != fmt.Sprint(n-refusedKept) {
		t.Errorf("kept %s … %s, want the newest %d … %d", got[0].Delivery, got[len(got)-1].Delivery, n-1, n-refusedKept)
	}
	if c := l.day(context.Background())[RefusedBadSignature]; c != n {
		t.Errorf("day's bad_signature count: got %d, want %d", c, n)
	}
	now = now.Add(25 * time.Hour)
	if c := l.day(context.Background())[RefusedBadSignature]; c != 0 {
		t.Errorf("count a day later: got %d, want 0", c)
	}
}

// The durable record (a real store, SQLite or the PostgreSQL of
// HOOKCI_TEST_STORE=postgres): refusals reach the store through the writer,
// the newest refusedStored stay, the day's counts count every one (also
// the pruned), a new record on the same store (a restarted server) reads
// them back, and nothing is dropped at this pace.
func TestRefusedRecordDurable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir, store.Options{DatabaseURL: pgtest.StoreURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flush, rows := refusedFlush, refusedRowsPerFlush
	refusedFlush, refusedRowsPerFlush = 5*time.Millisecond, 1<<20 // every refusal a row: this test is about the bound
	defer func() { refusedFlush, refusedRowsPerFlush = flush, rows }()
	now := time.Now().UTC().Truncate(time.Second)
	var dropped atomic.Int64
	l := newRefusedLog()
	l.st, l.now, l.dropped = st, func() time.Time { return now }, func(n int) { dropped.Add(int64(n)) }
	h := l.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"bad %s"}`, r.Header.Get("X-GitHub-Delivery"))
	}))
	const n = refusedStored + 2500
	for i := range n {
		r := httptest.NewRequest("POST", "/webhook", nil)
		r.Header.Set("X-GitHub-Event", "push")
		r.Header.Set("X-GitHub-Delivery", fmt.Sprint(i))
		h.ServeHTTP(httptest.NewRecorder(), r)
		for len(l.ch) > refusedBuffer/2 { // this test is about the store, not the buffer
			time.Sleep(time.Millisecond)
		}
	}
	l.close()
	if d := dropped.Load(); d != 0 {
		t.Fatalf("%d refusals dropped", d)
	}
	l2 := newRefusedLog() // a restarted server: nothing in memory
	l2.st, l2.now = st, func() time.Time { return now }
	got := l2.recent(ctx)
	if len(got) != refusedKept || got[0].Delivery != fmt.Sprint(n-1) || got[0].Reason != fmt.Sprintf("bad %d", n-1) ||
		got[0].Outcome != RefusedBadSignature || got[0].Status != 401 || got[0].Event != "push" || !got[0].At.Equal(now) {
		t.Fatalf("read back %d, newest %+v; want %d, newest delivery %d", len(got), got[0], refusedKept, n-1)
	}
	if c := l2.day(ctx)[RefusedBadSignature]; c != n {
		t.Errorf("day's count after a restart: %d, want %d", c, n)
	}
	all, err := st.Queries().Refusals(ctx, 10*refusedStored)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != refusedStored || all[len(all)-1].Delivery != fmt.Sprint(n-refusedStored) {
		t.Errorf("store keeps %d rows (oldest %s), want the newest %d (oldest %d)", len(all), all[len(all)-1].Delivery, refusedStored, n-refusedStored)
	}
	// Counts older than 24 hours are not the day's.
	l2.now = func() time.Time { return now.Add(25 * time.Hour) }
	if c := l2.day(ctx)[RefusedBadSignature]; c != 0 {
		t.Errorf("a day later: %d, want 0", c)
	}
}

// A full buffer (the writer cannot keep up, or the store is stuck) drops
// records and counts them; the intake's request is never held.
func TestRefusedBufferFullDrops(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var dropped atomic.Int64
	l := newRefusedLog()
	l.st, l.dropped = st, func(n int) { dropped.Add(int64(n)) }
	l.start.Do(func() {}) // no writer: the buffer only fills
	h := l.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusRequestEntityTooLarge) }))
	start := time.Now()
	for range refusedBuffer + 100 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/webhook", nil))
	}
	if d := dropped.Load(); d != 100 {
		t.Errorf("dropped %d, want 100", d)
	}
	if el := time.Since(start); el > time.Minute {
		t.Errorf("the requests waited (%s)", el)
	}
	if c := l.day(ctx); c[RefusedTooLarge] != 0 {
		t.Errorf("the store counted %v with no writer", c)
	}
}

// A flood is counted exactly but sampled: one flush writes rows for its
// newest refusedRowsPerFlush refusals only.
func TestRefusedFloodSampled(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{DatabaseURL: pgtest.StoreURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := newRefusedLog()
	l.st = st
	h := l.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnsupportedMediaType) }))
	const n = 5000
	for i := range n {
		r := httptest.NewRequest("POST", "/webhook", nil)
		r.Header.Set("X-GitHub-Delivery", fmt.Sprint(i))
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	l.close() // one flush: everything was buffered within refusedFlush
	rs, err := st.Queries().Refusals(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != refusedRowsPerFlush || rs[0].Delivery != fmt.Sprint(n-1) {
		t.Errorf("%d rows (newest %v), want the newest %d", len(rs), rs[0].Delivery, refusedRowsPerFlush)
	}
	if c, _ := st.Queries().RefusedCounts(ctx, time.Now().Add(-time.Hour)); c[RefusedMalformed] != n {
		t.Errorf("counted %v, want %d malformed", c, n)
	}
}

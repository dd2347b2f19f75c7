package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// Webhook requests the store never holds as a delivery of their own — refused
// ones (bad signature, oversized, malformed, intake busy, store down) and
// duplicates (a delivery id seen before, or a payload replayed under a new
// id) — are recorded so that /deliveries can show them with their reason and
// the overview can count them. The record is durable and bounded
// (store.AddRefusals: the newest refusedStored rows, hourly counts for two
// days; never a body, which is unverified), and costs the intake little: a
// refusal goes into a bounded buffer that one writer drains once a second in
// one transaction (SQLite has one writer: every transaction the record
// takes is one the intake may wait behind), which adds all of them to the
// counts but writes rows only for the newest refusedRowsPerFlush — a flood
// is counted exactly and sampled, not stored request by request. A flood
// that overflows the buffer loses records, not speed: the lost ones are
// counted (hookci_webhook_refusals_dropped_total), and the requests
// themselves are counted by hookci_webhook_deliveries_total{outcome}
// whatever happens. A small ring in memory answers while the store cannot
// (and when there is none).

// Bounds of the refused-webhook record.
const (
	refusedKept   = 500    // newest entries listed on /deliveries (and kept in memory)
	refusedStored = 10_000 // newest entries kept in the store
	refusedReason = 300    // bytes of a reason kept
	refusedField  = 200    // bytes of an event or delivery id kept
	refusedBody   = 4096   // bytes of the handler's answer read for its reason
	refusedBuffer = 16_384 // refusals waiting for the writer
	refusedTries  = 5      // attempts at writing one batch before it is dropped
)

var (
	// refusedFlush is how often the writer writes what the buffer holds.
	refusedFlush = time.Second
	// refusedRowsPerFlush is how many of a flush's refusals (the newest)
	// are stored as rows; all are counted.
	refusedRowsPerFlush = 200
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

// refusedLog is the record: the store (st, nil for none) written by one
// writer from a bounded buffer, and in memory a ring of the newest entries
// and per-hour counts of the last 24 hours by outcome.
type refusedLog struct {
	now     func() time.Time
	st      *store.Store
	log     *slog.Logger
	dropped func(n int) // counts refusals the record lost (metrics)
	retry   time.Duration

	start    sync.Once
	closing  sync.Once
	ch       chan Refusal
	flushReq chan chan struct{} // flush: write now, then close the channel sent
	pending  atomic.Int64       // refusals buffered or being written
	done     chan struct{}      // closed when the writer has ended
	quit     chan struct{}      // closed by close: write what is buffered and end

	mu    sync.Mutex // guards the fields below
	ring  []Refusal
	next  int // where the next entry goes once the ring is full
	hours [24]hourCounts
}

type hourCounts struct {
	hour   int64 // unix hour these counts are of
	counts map[string]int
}

func newRefusedLog() *refusedLog {
	return &refusedLog{now: time.Now, log: slog.New(slog.DiscardHandler), dropped: func(int) {}, retry: time.Second,
		ch: make(chan Refusal, refusedBuffer), flushReq: make(chan chan struct{}), done: make(chan struct{}), quit: make(chan struct{})}
}

func (l *refusedLog) add(e Refusal) {
	l.mu.Lock()
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
	l.mu.Unlock()
	if l.st == nil {
		return
	}
	l.start.Do(func() { go l.writer() })
	select {
	case l.ch <- e:
		l.pending.Add(1)
	default: // the buffer is full: never make the intake wait
		l.dropped(1)
	}
}

// writer drains the buffer into the store once per refusedFlush (from
// the first refusal waiting) until close.
func (l *refusedLog) writer() {
	defer close(l.done)
	var batch []Refusal
	for {
		select {
		case e := <-l.ch:
			batch = append(batch, e)
		case <-l.quit:
			for len(l.ch) > 0 {
				batch = append(batch, <-l.ch)
			}
			l.write(batch, 1)
			return
		}
		t := time.NewTimer(refusedFlush)
		var asked chan struct{}
		select {
		case <-t.C:
		case <-l.quit:
			t.Stop()
		case asked = <-l.flushReq: // a reader wants the record current
			t.Stop()
		}
		for len(l.ch) > 0 {
			batch = append(batch, <-l.ch)
		}
		l.write(batch, refusedTries)
		l.pending.Add(-int64(len(batch)))
		batch = nil
		if asked != nil {
			close(asked)
		}
	}
}

// flush has the writer write what is buffered now, and waits for it (a
// little): readers see every refusal answered before they asked.
func (l *refusedLog) flush(ctx context.Context) {
	if l.st == nil || l.pending.Load() == 0 {
		return
	}
	done := make(chan struct{})
	select {
	case l.flushReq <- done:
	case <-l.done:
		return
	case <-ctx.Done():
		return
	case <-time.After(2 * time.Second):
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
}

// write stores batch, trying up to tries times (waiting l.retry, doubled,
// between), and counts it as dropped when it cannot.
func (l *refusedLog) write(batch []Refusal, tries int) {
	if len(batch) == 0 {
		return
	}
	rs := make([]store.Refusal, len(batch))
	for i, e := range batch {
		rs[i] = store.Refusal{At: e.At, Event: e.Event, Delivery: e.Delivery, Outcome: e.Outcome, Status: e.Status, Reason: e.Reason, Of: e.Of}
	}
	wait := l.retry
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := l.st.AddRefusals(ctx, rs, refusedRowsPerFlush, refusedStored)
		cancel()
		if err == nil {
			return
		}
		if try >= tries {
			l.log.Warn("refused webhooks: not recorded", "n", len(rs), "err", err)
			l.dropped(len(rs))
			return
		}
		select {
		case <-time.After(wait):
		case <-l.quit:
			tries = try + 1 // one last try, now
		}
		wait *= 2
	}
}

// close writes what is buffered and stops the writer (if it ever started).
func (l *refusedLog) close() {
	started := true
	l.start.Do(func() { started = false }) // no writer starts after this
	l.closing.Do(func() { close(l.quit) })
	if started {
		<-l.done
	}
}

// recent returns the newest refusals, newest first: the store's, else (no
// store, or it cannot answer) the memory ring's.
func (l *refusedLog) recent(ctx context.Context) []Refusal {
	if l.st != nil {
		l.flush(ctx)
		rs, err := l.st.Queries().Refusals(ctx, refusedKept)
		if err == nil {
			out := make([]Refusal, len(rs))
			for i, r := range rs {
				out[i] = Refusal{At: r.At, Event: r.Event, Delivery: r.Delivery, Outcome: r.Outcome, Status: r.Status, Reason: r.Reason, Of: r.Of}
			}
			return out
		}
		l.log.Warn("refused webhooks: reading the record", "err", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Refusal, 0, len(l.ring))
	for i := len(l.ring) - 1; i >= 0; i-- {
		out = append(out, l.ring[(l.next+i)%len(l.ring)])
	}
	return out
}

// day returns the counts by outcome of the last 24 hours: the store's,
// else the memory's.
func (l *refusedLog) day(ctx context.Context) map[string]int {
	now := l.now()
	if l.st != nil {
		l.flush(ctx)
		c, err := l.st.Queries().RefusedCounts(ctx, now.Add(-23*time.Hour))
		if err == nil {
			return c
		}
		l.log.Warn("refused webhooks: reading the counts", "err", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := now.Unix() / 3600
	out := map[string]int{}
	for _, b := range l.hours {
		if b.counts != nil && h-b.hour < 24 {
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

package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// streamLog is GET /api/jobs/{id}/log/stream: the job's log as server-sent
// events ("log" events with {seq, step, data}), from ?after= or the
// Last-Event-ID header on, followed live until the job completes ("end").
// The history is read by each client; what is new is read once per job by
// the server's logHub and fanned out, so N viewers of a running job cost one
// store poll, not N.
func (s *Server) streamLog(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.Error(w, "bad job id", http.StatusBadRequest)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		after, _ = strconv.ParseInt(v, 10, 64)
	}
	q := s.st.Queries()
	if _, err := q.Job(r.Context(), id); err != nil {
		http.Error(w, "no such job", http.StatusNotFound)
		return
	}
	// Subscribe before reading the history: everything after the feed's
	// position comes through the channel, everything up to the history's
	// end was read; seqs already written are skipped.
	feed, err := s.logs.subscribe(r.Context(), id)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer s.logs.unsubscribe(id, feed)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	write := func(c store.LogChunk) error {
		after = c.Seq
		_, err := w.Write(logEvent(c))
		return err
	}
	if err := q.EachLog(r.Context(), id, after, write); err != nil {
		return
	}
	flusher.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case it, ok := <-feed:
			if !ok {
				return // too slow to keep up: the client reconnects with Last-Event-ID
			}
			if it.end {
				fmt.Fprintf(w, "event: end\ndata: %q\n\n", it.conclusion)
				flusher.Flush()
				return
			}
			if it.seq <= after {
				continue
			}
			after = it.seq
			if _, err := w.Write(it.event); err != nil {
				return
			}
			if len(feed) == 0 {
				flusher.Flush()
			}
		}
	}
}

// feedItem is a new log chunk of a job (its seq and its event, encoded
// once for every viewer), or its end.
type feedItem struct {
	seq        int64
	event      []byte
	end        bool
	conclusion string
}

// logEvent is a chunk as a server-sent "log" event.
func logEvent(c store.LogChunk) []byte {
	ev := map[string]any{"seq": c.Seq, "step": c.StepIdx, "data": string(c.Data)}
	if len(c.Times) > 0 {
		ts := make([]string, len(c.Times))
		for i, t := range c.Times {
			ts[i] = store.FormatLineTime(t)
		}
		ev["times"] = ts
	}
	b, _ := json.Marshal(ev)
	return fmt.Appendf(nil, "id: %d\nevent: log\ndata: %s\n\n", c.Seq, b)
}

// logHub polls each followed job's new log chunks once and hands them to
// every subscriber.
type logHub struct {
	st   *store.Store
	log  *slog.Logger
	tick time.Duration

	mu    sync.Mutex
	feeds map[int64]*jobFeed
}

type jobFeed struct {
	subs map[chan feedItem]bool
	last int64 // the highest seq read
}

// feedBuffer is how many items a subscriber may lag behind before it is
// dropped (and reconnects).
const feedBuffer = 1024

func newLogHub(st *store.Store, log *slog.Logger) *logHub {
	return &logHub{st: st, log: log, tick: 250 * time.Millisecond, feeds: map[int64]*jobFeed{}}
}

// subscribe returns a channel of job id's chunks written from now on and
// its end; the first subscriber of a job starts its poller.
func (h *logHub) subscribe(ctx context.Context, id int64) (chan feedItem, error) {
	ch := make(chan feedItem, feedBuffer)
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.feeds[id]; f != nil {
		f.subs[ch] = true
		return ch, nil
	}
	last, err := h.st.Queries().LastLogSeq(ctx, id)
	if err != nil {
		return nil, err
	}
	f := &jobFeed{subs: map[chan feedItem]bool{ch: true}, last: last}
	h.feeds[id] = f
	go h.poll(id, f)
	return ch, nil
}

func (h *logHub) unsubscribe(id int64, ch chan feedItem) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.feeds[id]; f != nil && f.subs[ch] {
		delete(f.subs, ch)
		close(ch)
	}
}

// poll reads job id's new chunks every tick and sends them to the feed's
// subscribers until the job completes or nobody follows it.
func (h *logHub) poll(id int64, f *jobFeed) {
	ctx := context.Background()
	q := h.st.Queries()
	for {
		// The job's state before its log: a job seen completed has all its log stored.
		job, err := q.Job(ctx, id)
		if err == nil {
			err = q.EachLog(ctx, id, f.last, func(c store.LogChunk) error {
				f.last = c.Seq
				h.send(id, f, feedItem{seq: c.Seq, event: logEvent(c)})
				return nil
			})
		}
		if err != nil {
			h.log.Warn("following a job's log", "job", id, "err", err)
		}
		h.mu.Lock()
		if err == nil && job.Status == store.StatusCompleted || len(f.subs) == 0 {
			for ch := range f.subs {
				select {
				case ch <- feedItem{end: true, conclusion: job.Conclusion}:
				default:
				}
				delete(f.subs, ch)
				close(ch)
			}
			delete(h.feeds, id)
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		h.st.WaitLog(ctx, id, h.tick) // woken by a flush on any host (store/lognotify.go), else the tick
	}
}

// send hands it to every subscriber; one whose buffer is full is dropped.
func (h *logHub) send(id int64, f *jobFeed, it feedItem) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- it:
		default:
			delete(f.subs, ch)
			close(ch)
		}
	}
}

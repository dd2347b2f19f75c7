package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/hookci/hookci/internal/store"
)

// streamLog is GET /api/jobs/{id}/log/stream: the job's log as server-sent
// events ("log" events with {seq, step, data, times}), from ?after= or the
// Last-Event-ID header on, followed live until the job completes ("end").
//
// A running job's log comes from its feed in the server's logHub
// (loghub.go): one reader of the store per followed job, its events encoded
// once and kept in memory, so a viewer joining costs no store read (unless
// it asks for chunks older than what the feed holds) and N viewers cost one
// store poll and one write per viewer per fan-out, not N polls.
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
	sub, err := s.logs.subscribe(r.Context(), id, after)
	switch {
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "no such job", http.StatusNotFound)
		return
	case err != nil && r.Context().Err() != nil:
		return // the viewer left while the feed loaded
	case err != nil:
		s.log.Warn("following a job's log", "job", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if sub.feed != nil {
		defer s.logs.unsubscribe(id, sub.feed)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	// What the feed no longer holds (or, for a completed job, everything)
	// comes from the store, up to the feed's base.
	if after < sub.base {
		err := s.st.Queries().EachLog(r.Context(), id, after, func(c store.LogChunk) error {
			if c.Seq > sub.base {
				return errEnough
			}
			after = c.Seq
			_, err := w.Write(logEvent(c))
			return err
		})
		if err != nil && !errors.Is(err, errEnough) {
			return
		}
	}
	for _, it := range sub.held {
		if it.seq > after {
			if _, err := w.Write(it.data); err != nil {
				return
			}
			after = it.seq
		}
	}
	if sub.feed == nil {
		fmt.Fprintf(w, "event: end\ndata: %q\n\n", sub.conclusion)
		flusher.Flush()
		return
	}
	flusher.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case it, ok := <-sub.feed:
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
			if _, err := w.Write(it.data); err != nil {
				return
			}
			if len(sub.feed) == 0 {
				flusher.Flush()
			}
		}
	}
}

// errEnough ends a walk of the store's log at the feed's base.
var errEnough = errors.New("enough")

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

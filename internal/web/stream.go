package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// streamLog is GET /api/jobs/{id}/log/stream: the job's log as server-sent
// events ("log" events with {seq, step, data}), from ?after= or the
// Last-Event-ID header on, followed live until the job completes ("end").
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
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		// Read the job's state before its log: a job seen completed has all its log stored.
		job, err := q.Job(r.Context(), id)
		if err != nil {
			return
		}
		// A page of chunks at a time, never the whole log (logs.go).
		err = q.EachLog(r.Context(), id, after, func(c store.LogChunk) error {
			b, _ := json.Marshal(map[string]any{"seq": c.Seq, "step": c.StepIdx, "data": string(c.Data)})
			after = c.Seq
			_, err := fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", c.Seq, b)
			return err
		})
		if err != nil {
			return
		}
		if job.Status == store.StatusCompleted {
			fmt.Fprintf(w, "event: end\ndata: %q\n\n", job.Conclusion)
			flusher.Flush()
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/store"
)

// A feed that holds only the newest few chunks in memory: viewers joining
// at the start, in the middle (Last-Event-ID) and past the end each get
// every chunk after their position once, in order — the older ones from
// the store, the rest from the feed and the live fan-out — and the end.
func TestLogHubHeldWindow(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := st.Queries()
	run := &store.Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push", SHA: "s", Status: store.StatusInProgress}
	if err := q.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	job := &store.Job{RunID: run.ID, Key: "j", Name: "j", Status: store.StatusInProgress}
	if err := q.CreateJob(ctx, job, false); err != nil {
		t.Fatal(err)
	}
	ws := New(st, NewMetrics(st.QueueDepth), Options{})
	ws.logs.max = 300 // a few events
	srv := httptest.NewServer(ws.Handler(http.NotFoundHandler()))
	defer srv.Close()
	for n := 1; n <= 20; n++ {
		q.AppendLog(ctx, job.ID, 0, []byte(fmt.Sprintf("early line %d\n", n)))
	}
	type result struct {
		seqs []int64
		end  string
	}
	follow := func(after int64, out chan<- result) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/jobs/%d/log/stream", srv.URL, job.ID), nil)
		if after > 0 {
			req.Header.Set("Last-Event-ID", fmt.Sprint(after))
		}
		var r result
		defer func() { out <- r }()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var c struct{ Seq int64 }
				if json.Unmarshal([]byte(data), &c) == nil && c.Seq > 0 {
					r.seqs = append(r.seqs, c.Seq)
				} else {
					r.end = data
				}
			}
		}
	}
	afters := []int64{0, 3, 15, 20}
	outs := make([]chan result, len(afters))
	for i, a := range afters {
		outs[i] = make(chan result, 1)
		go follow(a, outs[i])
	}
	for n := 21; n <= 40; n++ {
		q.AppendLog(ctx, job.ID, 0, []byte(fmt.Sprintf("late line %d\n", n)))
		st.LogWritten(job.ID)
	}
	job.Status, job.Conclusion = store.StatusCompleted, store.ConclusionSuccess
	if err := q.UpdateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	for i, a := range afters {
		r := <-outs[i]
		if r.end != `"success"` {
			t.Errorf("after %d: got end %q, want \"success\"", a, r.end)
		}
		if got, want := len(r.seqs), int(40-a); got != want {
			t.Errorf("after %d: got %d chunks, want %d (%v)", a, got, want, r.seqs)
			continue
		}
		for k, s := range r.seqs {
			if s != a+int64(k)+1 {
				t.Errorf("after %d: chunk %d has seq %d, want %d", a, k, s, a+int64(k)+1)
				break
			}
		}
	}
	ws.logs.mu.Lock()
	defer ws.logs.mu.Unlock()
	if ws.logs.feeds[job.ID] != nil {
		t.Error("the feed outlived its job")
	}
}

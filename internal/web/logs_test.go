package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// TestStreamedLogsAreWhole: logs written in many chunks (more than one
// read page, a UTF-8 sequence split between chunks, quotes, HTML) come back
// whole and well-formed from the run view, the log API and the run page.
func TestStreamedLogsAreWhole(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := st.Queries()
	run := &store.Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push", SHA: "s", Status: store.StatusCompleted}
	q.CreateRun(ctx, run)
	job := &store.Job{RunID: run.ID, Key: "j", Name: "j", Status: store.StatusCompleted, Conclusion: "success"}
	q.CreateJob(ctx, job, false)
	for idx := 1; idx <= 2; idx++ {
		q.PutStep(ctx, store.Step{JobID: job.ID, Index: idx, Name: fmt.Sprint("step ", idx), Status: store.StatusCompleted,
			Conclusion: "success", StartedAt: time.Now(), FinishedAt: time.Now()})
	}
	want := map[int]*strings.Builder{1: {}, 2: {}}
	for i := 0; i < 100; i++ { // 100 chunks: more than three read pages, steps interleaved
		idx := 1 + i%2
		chunk := fmt.Sprintf("line %d \"q\" <b>&</b>\n", i)
		if idx == 1 && i%10 == 0 {
			chunk = "split é here\n"
			q.AppendLog(ctx, job.ID, idx, []byte(chunk[:7])) // ends inside é
			q.AppendLog(ctx, job.ID, idx, []byte(chunk[7:]))
			want[idx].WriteString(chunk)
			continue
		}
		q.AppendLog(ctx, job.ID, idx, []byte(chunk))
		want[idx].WriteString(chunk)
	}
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	var view RunView
	if err := json.Unmarshal([]byte(get(fmt.Sprintf("/api/runs/%d", run.ID))), &view); err != nil {
		t.Fatalf("run view is not JSON: %v", err)
	}
	if len(view.Jobs) != 1 || len(view.Jobs[0].Steps) != 2 || view.Jobs[0].Name != "j" || view.Run.Repo != "o/r" {
		t.Fatalf("run view = %+v", view)
	}
	for _, s := range view.Jobs[0].Steps {
		if s.Log != want[s.Index].String() {
			t.Errorf("step %d log = %q, want %q", s.Index, s.Log, want[s.Index].String())
		}
	}

	var chunks []struct {
		Seq  int64  `json:"seq"`
		Step int    `json:"step"`
		Data string `json:"data"`
	}
	if err := json.Unmarshal([]byte(get(fmt.Sprintf("/api/jobs/%d/log?after=3", job.ID))), &chunks); err != nil {
		t.Fatalf("log is not JSON: %v", err)
	}
	if got, wantN := len(chunks), 110-3; got != wantN || chunks[0].Seq != 4 {
		t.Errorf("log after 3: %d chunks from seq %d, want %d from 4", got, chunks[0].Seq, wantN)
	}
	if got := get("/api/jobs/999/log"); strings.TrimSpace(got) != "[]" {
		t.Errorf("unknown job's log = %q, want []", got)
	}

	page := get(fmt.Sprintf("/runs/%d", run.ID))
	if n := strings.Count(page, "split é here"); n != 10 {
		t.Errorf("run page shows the split line %d times, want 10", n)
	}
	if strings.Contains(page, "<b>&</b>") || !strings.Contains(page, "&lt;b&gt;&amp;&lt;/b&gt;") {
		t.Error("run page does not escape the log")
	}
	if !strings.Contains(page, "</html>") {
		t.Error("run page is cut short")
	}
}

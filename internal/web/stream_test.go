package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hookci/hookci/internal/store"
)

// Many viewers of one running job, joining while it writes: each one gets
// every chunk once, in order, then the end (the hub's fan-out loses and
// repeats nothing, whenever a viewer joins).
func TestLogStreamManyViewers(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := st.Queries()
	run := &store.Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push", SHA: "s", Status: store.StatusInProgress}
	q.CreateRun(ctx, run)
	job := &store.Job{RunID: run.ID, Key: "j", Name: "j", Status: store.StatusInProgress}
	q.CreateJob(ctx, job, false)
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	const chunks, viewers = 60, 30
	var wg sync.WaitGroup
	results := make([][]int64, viewers)
	ends := make([]bool, viewers)
	started := make(chan struct{}, viewers)
	for v := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(fmt.Sprintf("%s/api/jobs/%d/log/stream", srv.URL, job.ID))
			started <- struct{}{}
			if err != nil {
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line := sc.Text()
				if line == "event: end" {
					ends[v] = true
				}
				if data, ok := strings.CutPrefix(line, "data: {"); ok {
					var c struct{ Seq int64 }
					json.Unmarshal([]byte("{"+data), &c)
					results[v] = append(results[v], c.Seq)
				}
			}
		}()
		if v%3 == 0 { // viewers join while the log grows
			q.AppendLog(ctx, job.ID, 0, []byte(fmt.Sprintf("line %d\n", v)))
		}
	}
	for range viewers {
		<-started
	}
	for n := len(results) / 3; n < chunks; n++ {
		q.AppendLog(ctx, job.ID, 0, []byte(fmt.Sprintf("line %d\n", n)))
	}
	job.Status, job.Conclusion = store.StatusCompleted, store.ConclusionSuccess
	q.UpdateJob(ctx, job)
	wg.Wait()
	for v, seqs := range results {
		if !ends[v] {
			t.Errorf("viewer %d: no end event", v)
		}
		if len(seqs) != chunks {
			t.Errorf("viewer %d: got %d chunks, want %d", v, len(seqs), chunks)
			continue
		}
		for i, s := range seqs {
			if s != int64(i+1) {
				t.Errorf("viewer %d: chunk %d has seq %d, want %d", v, i, s, i+1)
				break
			}
		}
	}
}

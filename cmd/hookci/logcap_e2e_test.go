package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/github/githubtest"
)

// floodWorkflow writes 200 MB of log in one step and two 60 MB step summaries.
const floodWorkflow = `name: CI
on: push
jobs:
  flood:
    runs-on: ubuntu-latest
    steps:
      - name: flood
        run: |
          echo first-line-of-the-flood
          head -c 200000000 /dev/zero | tr '\0' 'a' | fold -w 1000
          echo last-line-of-the-flood
      - run: head -c 60000000 /dev/zero | tr '\0' 's' > "$GITHUB_STEP_SUMMARY"
      - run: head -c 60000000 /dev/zero | tr '\0' 't' > "$GITHUB_STEP_SUMMARY"
      - run: echo "## a small summary" >> "$GITHUB_STEP_SUMMARY"
`

// floodHeapBound is the most the server's heap may grow while it serves one
// read of the flooded job's log (a memory bound, not a timing). It is below
// the 16 MiB stored log, so a read that holds the log whole fails; measured
// 4–7 MiB.
const floodHeapBound = 12 << 20

// floodRunHeapBound is the most the server's heap may grow while the job
// runs (its log's held-back tail is 12 MiB; the summaries are never read;
// measured 27–31 MiB).
const floodRunHeapBound = 64 << 20

// TestLogFloodIsCapped performs issue 9 item 6's attack: a job writes 200 MB
// of log and two 60 MB step summaries. What is stored must be within the
// caps (the step's head and tail with an omission notice; the summaries
// dropped with GitHub's error), and reading the log through the API, the run
// view, the run page and the event stream must not grow the server's heap
// by more than floodHeapBound per request (in-process server; peak
// HeapInuse sampled during the request, after a GC).
func TestLogFloodIsCapped(t *testing.T) {
	h := newHarness(t, "host")
	zero := strings.Repeat("0", 40)
	sha := h.repo.Commit("flood", map[string]string{".github/workflows/ci.yml": floodWorkflow})
	h.repo.Push("main")
	stop := sampleHeap()
	h.sendSigned("push", "flood", pushPayload(t, zero, sha))
	sts := h.waitStatusWithin(sha, 10*time.Minute)
	growth, alloc := stop()
	t.Logf("running the job: heap growth %.1f MiB, allocated %.1f MiB", mib(growth), mib(alloc))
	if growth > floodRunHeapBound {
		t.Errorf("running the job grew the heap by %.1f MiB, want at most %.0f MiB", mib(growth), mib(floodRunHeapBound))
	}
	if st := sts[len(sts)-1].State; st != "success" {
		t.Errorf("final status %s, want success (a dropped summary does not fail a step)", st)
	}
	var runs []struct{ ID int64 }
	json.Unmarshal([]byte(h.get("/api/runs")), &runs)
	if len(runs) != 1 {
		t.Fatalf("runs = %d, want 1", len(runs))
	}
	var view struct {
		Jobs []struct {
			ID      int64
			Summary string
			Steps   []struct {
				Index int
				Name  string
			} `json:"steps"`
		} `json:"jobs"`
	}
	// Decode the view streamed (its logs are large) to find the job.
	resp, err := http.Get(fmt.Sprintf("%s/api/runs/%d", h.url, runs[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&view)
	resp.Body.Close()
	if err != nil || len(view.Jobs) != 1 {
		t.Fatalf("run view: %v, %d jobs", err, len(view.Jobs))
	}
	job := view.Jobs[0]

	// The memory bound, per read path.
	for _, path := range []string{
		fmt.Sprintf("/api/jobs/%d/log", job.ID),
		fmt.Sprintf("/api/runs/%d", runs[0].ID),
		fmt.Sprintf("/runs/%d", runs[0].ID),
		fmt.Sprintf("/api/jobs/%d/log/stream", job.ID),
	} {
		growth, alloc, n := heapDuring(t, h.url+path)
		t.Logf("GET %s: %d bytes; heap growth %.1f MiB, allocated %.1f MiB", path, n, mib(growth), mib(alloc))
		if growth > floodHeapBound {
			t.Errorf("GET %s grew the heap by %.1f MiB, want at most %.0f MiB", path, mib(growth), mib(floodHeapBound))
		}
		if n < 16<<20 {
			t.Errorf("GET %s: %d bytes, want the capped log (about 16 MiB)", path, n)
		}
	}

	// What is stored.
	var chunks []struct {
		Step int    `json:"step"`
		Data string `json:"data"`
	}
	if err := json.Unmarshal([]byte(h.get(fmt.Sprintf("/api/jobs/%d/log", job.ID))), &chunks); err != nil {
		t.Fatal(err)
	}
	logs := map[int]*strings.Builder{}
	for _, c := range chunks {
		if logs[c.Step] == nil {
			logs[c.Step] = &strings.Builder{}
		}
		logs[c.Step].WriteString(c.Data)
	}
	stepLog := func(idx int) string {
		if logs[idx] == nil {
			return ""
		}
		return logs[idx].String()
	}
	flood := stepLog(1)
	t.Logf("stored: flood step %d bytes (of 200 MB written), job summary %d bytes", len(flood), len(job.Summary))
	if len(flood) > 16<<20+4096 {
		t.Errorf("flood step stored %d bytes, want at most the 16 MiB cap", len(flood))
	}
	for _, want := range []string{"first-line-of-the-flood", "bytes (", "lines) of this step's log omitted", "last-line-of-the-flood"} {
		if !strings.Contains(flood, want) {
			t.Errorf("flood step's log lacks %q", want)
		}
	}
	if i, j := strings.Index(flood, "first-line"), strings.Index(flood, "omitted"); i < 0 || j < i || strings.Index(flood, "last-line") < j {
		t.Error("flood step's log is not head, notice, tail in that order")
	}
	for _, idx := range []int{2, 3} {
		if l := stepLog(idx); !strings.Contains(l, "$GITHUB_STEP_SUMMARY upload aborted, supports content up to a size of 1024k, got 58593k.") {
			t.Errorf("step %d's log lacks GitHub's summary error:\n%.500s", idx, l)
		}
	}
	if !strings.Contains(job.Summary, "## a small summary") || len(job.Summary) > 1<<20 {
		t.Errorf("job summary (%d bytes) = %.200q…, want only the small summary", len(job.Summary), job.Summary)
	}
}

// heapDuring GETs url, reading the body to the end, and returns the peak
// growth of HeapInuse over its value before the request (after a GC), the
// bytes allocated meanwhile, and the body's size.
func heapDuring(t *testing.T, url string) (growth, alloc uint64, n int64) {
	t.Helper()
	stop := sampleHeap()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	n, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	growth, alloc = stop()
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return growth, alloc, n
}

// sampleHeap starts sampling HeapInuse (after a GC, collecting at 10 %
// growth) every 2 ms; the function
// it returns stops and gives the peak growth and the bytes allocated.
func sampleHeap() func() (growth, alloc uint64) {
	// With the default GOGC the heap may double its live size in garbage
	// before a collection, so the peak would measure the collector's pace,
	// not what a request holds: collect early while sampling.
	oldGC := debug.SetGCPercent(10)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(stop)
		wg.Wait()
		debug.SetGCPercent(oldGC)
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		growth := uint64(0)
		if peak > before.HeapInuse {
			growth = peak - before.HeapInuse
		}
		return growth, after.TotalAlloc - before.TotalAlloc
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// waitStatusWithin is waitStatus with a longer deadline (a job that writes
// hundreds of MB takes a while on a loaded machine).
func (h *harness) waitStatusWithin(sha string, d time.Duration) []githubtest.Status {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		sts := h.runStatuses(sha, "hookci/CI")
		if n := len(sts); n > 0 && sts[n-1].State != "pending" {
			return sts
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("no final status for %s", sha)
	return nil
}

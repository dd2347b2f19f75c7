package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// seedRuns stores n runs alternating between two repositories, each with
// its own push delivery (actor alice or bob), completed success or failure.
func seedRuns(t testing.TB, st *store.Store, n int) {
	ctx := context.Background()
	for i := range n {
		actor := []string{"alice", "bob"}[i%2]
		if _, err := st.AddDelivery(ctx, store.Delivery{ID: fmt.Sprintf("d-%d", i), Event: "push", Repo: "o/r",
			ReceivedAt: time.Now(), Payload: []byte(fmt.Sprintf(`{"sender":{"login":%q},"head_commit":{"message":"commit %d\n\nbody"}}`, actor, i)), Status: store.DeliveryPlanned}, false); err != nil {
			t.Fatal(err)
		}
	}
	err := st.InTx(ctx, func(q *store.Queries) error {
		for i := range n {
			r := &store.Run{DeliveryID: fmt.Sprintf("d-%d", i), Repo: []string{"o/r", "o/other"}[i%3/2],
				WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "CI", Event: "push", SHA: fmt.Sprintf("%040d", i),
				Ref: "refs/heads/main", Status: store.StatusCompleted, Conclusion: []string{"success", "failure"}[i%5/4]}
			if err := q.CreateRun(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestActionsRunsPaging: page/per_page with Link rel="next" visit every run
// of the repository once, newest first, with total_count; filters on the
// actor (from the delivery) and on the conclusion count what they match.
func TestActionsRunsPaging(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 300
	seedRuns(t, st, n)
	want, wantAlice, wantFailure := 0, 0, 0
	for i := range n {
		if i%3/2 == 0 {
			want++
			if i%2 == 0 {
				wantAlice++
			}
			if i%5/4 == 1 {
				wantFailure++
			}
		}
	}
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	type page struct {
		TotalCount int `json:"total_count"`
		Runs       []struct {
			ID           int64  `json:"id"`
			DisplayTitle string `json:"display_title"`
			Repository   struct {
				FullName string `json:"full_name"`
			} `json:"repository"`
		} `json:"workflow_runs"`
	}
	get := func(url string) (page, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p page
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
		}
		next := ""
		if m := nextLink.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
			next = m[1]
		}
		return p, next
	}
	seen := map[int64]bool{}
	last := int64(1 << 62)
	url, pages := srv.URL+"/api/repos/o/r/actions/runs?per_page=40", 0
	for url != "" {
		var p page
		p, url = get(url)
		pages++
		if p.TotalCount != want {
			t.Fatalf("total_count %d, want %d", p.TotalCount, want)
		}
		for _, r := range p.Runs {
			if seen[r.ID] || r.ID >= last || r.Repository.FullName != "o/r" {
				t.Fatalf("run %d (%s) out of order, repeated or of another repository", r.ID, r.Repository.FullName)
			}
			seen[r.ID], last = true, r.ID
			if want := fmt.Sprintf("commit %d", r.ID-1); r.DisplayTitle != want {
				t.Errorf("run %d: display_title %q, want %q (the head commit's first line)", r.ID, r.DisplayTitle, want)
			}
		}
	}
	if len(seen) != want || pages != (want+39)/40 {
		t.Errorf("visited %d runs in %d pages, want %d in %d", len(seen), pages, want, (want+39)/40)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{{"actor=alice", wantAlice}, {"status=failure", wantFailure}, {"status=success", want - wantFailure}} {
		if p, _ := get(srv.URL + "/api/repos/o/r/actions/runs?" + tc.query); p.TotalCount != tc.want {
			t.Errorf("?%s: total_count %d, want %d", tc.query, p.TotalCount, tc.want)
		}
	}
	if p, _ := get(srv.URL + "/api/actions/runs?per_page=1"); p.TotalCount != n {
		t.Errorf("every repository: total_count %d, want %d", p.TotalCount, n)
	}
}

// BenchmarkActionsRuns measures a first page of a filtered runs list over
// 20,000 runs, and page 100 (one indexed store query for the page, one for
// total_count; see docs/architecture.md).
func BenchmarkActionsRuns(b *testing.B) {
	st, err := store.Open(context.Background(), b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seedRuns(b, st, 20000)
	// Through a loopback server as TestActionsRunsPaging (a recorder's
	// request is not from loopback and is refused, 403).
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	for _, q := range []string{"", "?status=failure", "?actor=alice", "?per_page=100&page=100"} {
		b.Run("q="+q, func(b *testing.B) {
			for range b.N {
				resp, err := http.Get(srv.URL + "/api/repos/o/r/actions/runs" + q)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.StatusCode)
				}
			}
		})
	}
}

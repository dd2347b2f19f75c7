package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

// TestRunsBranchFilterFindsTagRuns: GitHub gives a tag push's run the tag's
// name as head_branch, and its runs list's ?branch= matches head_branch, so
// ?branch=v1.2.0 finds the tag's run (as `gh run list --branch v1.2.0`
// does). Here the Actions API, the old /api/runs alias and the dashboard's
// runs page each find it by the tag and not by a branch of the same commit,
// and a branch's run is not found by the tag.
func TestRunsBranchFilterFindsTagRuns(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sha := strings.Repeat("a", 40)
	for _, d := range []struct{ id, ref string }{{"d-tag", "refs/tags/v1.2.0"}, {"d-main", "refs/heads/main"}} {
		if _, err := st.AddDelivery(ctx, store.Delivery{ID: d.id, Event: "push", Repo: "o/r", ReceivedAt: time.Now(),
			Payload: []byte(`{"ref":"` + d.ref + `","sender":{"login":"mona"},"head_commit":{"message":"release"}}`),
			Status:  store.DeliveryPlanned}, false); err != nil {
			t.Fatal(err)
		}
		r := &store.Run{DeliveryID: d.id, Repo: "o/r", WorkflowFile: ".github/workflows/ci.yml", WorkflowName: "CI",
			Event: "push", SHA: sha, Ref: d.ref, Status: store.StatusCompleted, Conclusion: store.ConclusionSuccess}
		if err := st.Queries().CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	cases := []struct {
		branch string
		want   []string // head_branch of each run found, newest first
	}{
		{"v1.2.0", []string{"v1.2.0"}},
		{"main", []string{"main"}},
		{"refs/tags/v1.2.0", nil},
		{"v1.2", nil},
	}
	for _, c := range cases {
		resp, err := http.Get(srv.URL + "/api/repos/o/r/actions/runs?branch=" + c.branch)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			TotalCount   int `json:"total_count"`
			WorkflowRuns []struct {
				HeadBranch string `json:"head_branch"`
			} `json:"workflow_runs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("branch=%s: %d %v", c.branch, resp.StatusCode, err)
		}
		var got []string
		for _, r := range v.WorkflowRuns {
			got = append(got, r.HeadBranch)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") || v.TotalCount != len(c.want) {
			t.Errorf("actions/runs?branch=%s: got %v (total %d), want %v", c.branch, got, v.TotalCount, c.want)
		}
		_, _, page := get(t, http.DefaultClient, srv.URL+"/runs?repo=o/r&branch="+c.branch)
		if n := strings.Count(page, "<code>"+c.branch+"</code>"); n != len(c.want) {
			t.Errorf("runs page ?branch=%s: got %d rows showing it, want %d", c.branch, n, len(c.want))
		}
	}
}

package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
)

var nextLink = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// walk follows rel="next" links from url and returns every item's id field
// and the number of pages.
func walk(t *testing.T, url, idField string) (ids []string, pages int) {
	t.Helper()
	for url != "" {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		var items []map[string]any
		err = json.NewDecoder(resp.Body).Decode(&items)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
		}
		pages++
		for _, it := range items {
			ids = append(ids, fmt.Sprint(it[idField]))
		}
		url = ""
		if l := resp.Header.Get("Link"); l != "" {
			m := nextLink.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("Link header %q is not <url>; rel=\"next\"", l)
			}
			url = m[1]
		}
		if pages > 100 {
			t.Fatal("paging does not end")
		}
	}
	return ids, pages
}

// TestListsPageThroughEverything (issue 9 item 17): with 250 runs and 250
// deliveries, following the Link headers visits every one exactly once,
// newest first, in pages of per_page.
func TestListsPageThroughEverything(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 250
	err = st.InTx(ctx, func(q *store.Queries) error {
		for i := range n {
			r := &store.Run{DeliveryID: "d", Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push",
				SHA: fmt.Sprintf("%040d", i), Status: store.StatusQueued}
			if err := q.CreateRun(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	for i := range n {
		// Same received_at for all: the order must not depend on the clock.
		if _, err := st.AddDelivery(ctx, store.Delivery{ID: fmt.Sprintf("guid-%03d", i), Event: "star", ReceivedAt: at,
			Payload: []byte("{}"), Status: store.DeliveryIgnored}, false); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(New(st, NewMetrics(st.QueueDepth), Options{}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	for _, tc := range []struct {
		path, idField string
		perPage       int
		wantPages     int
		want          func(i int) string // id of the i-th newest
	}{
		{"/api/runs?per_page=100", "ID", 100, 3, func(i int) string { return fmt.Sprint(n - i) }},
		{"/api/runs?per_page=7", "ID", 7, 36, func(i int) string { return fmt.Sprint(n - i) }},
		{"/api/runs", "ID", defaultPerPage, 9, func(i int) string { return fmt.Sprint(n - i) }},
		{"/api/runs?per_page=1000", "ID", maxPerPage, 3, func(i int) string { return fmt.Sprint(n - i) }},
		{"/api/deliveries?per_page=100", "id", 100, 3, func(i int) string { return fmt.Sprintf("guid-%03d", n-1-i) }},
		{"/api/deliveries?per_page=50", "id", 50, 6, func(i int) string { return fmt.Sprintf("guid-%03d", n-1-i) }},
	} {
		ids, pages := walk(t, srv.URL+tc.path, tc.idField)
		if len(ids) != n {
			t.Errorf("%s: got %d items, want %d", tc.path, len(ids), n)
			continue
		}
		seen := map[string]bool{}
		for i, id := range ids {
			if seen[id] {
				t.Errorf("%s: %s listed twice", tc.path, id)
			}
			seen[id] = true
			if want := tc.want(i); id != want {
				t.Errorf("%s: item %d is %s, want %s", tc.path, i, id, want)
				break
			}
		}
		// A full last page is followed by one empty page, as with any keyset cursor.
		if pages != tc.wantPages && pages != tc.wantPages+1 {
			t.Errorf("%s: %d pages, want %d", tc.path, pages, tc.wantPages)
		}
	}
	for _, bad := range []string{"/api/runs?per_page=0", "/api/runs?per_page=x", "/api/runs?before=x", "/api/deliveries?per_page=-1"} {
		resp, err := http.Get(srv.URL + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: got %d, want 400", bad, resp.StatusCode)
		}
	}
}

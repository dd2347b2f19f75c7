package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookci/hookci/internal/store"
)

// TestHostsPageAndGauges: the hosts page lists a registered host with its
// name, labels and state (names escaped), and /metrics counts hosts by state
// and the alive hosts' job slots.
func TestHostsPageAndGauges(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{MaxJobs: 3,
		Host: store.HostInfo{Name: "ci-<b>1</b>", Labels: []string{"sandbox:host", "gpu"}, MaxJobs: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.StartQueue(ctx, store.Handlers{}); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(st.QueueDepth)
	if err := RegisterHostGauges(m, st); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(st, m, Options{}).Handler(http.NotFoundHandler()))
	defer srv.Close()
	get := func(path string) string {
		r, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, r.Status)
		}
		return string(b)
	}
	page := get("/hosts")
	for _, want := range []string{"ci-&lt;b&gt;1&lt;/b&gt;", "<code>gpu</code>", ">alive<", "1 alive, 3 job slots"} {
		if !strings.Contains(page, want) {
			t.Errorf("hosts page lacks %q:\n%s", want, page)
		}
	}
	metrics := get("/metrics")
	for _, want := range []string{`hookci_hosts{state="alive"} 1`, `hookci_hosts{state="dead"} 0`, "hookci_host_job_slots 3"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

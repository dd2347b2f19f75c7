package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/github/githubtest"
)

const redeliverWorkflow = `name: CI
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo redelivered-and-ran
`

// TestRedeliverThroughGitHub: in App mode a push whose first delivery was
// refused (signed with a wrong secret, as after a secret rotation) is listed
// on /deliveries as refused, with the reason and a Redeliver button; the
// overview counts it; POST /deliveries/{guid}/redeliver goes through GitHub's
// hook deliveries API (the fake lists the App hook's deliveries, takes the
// attempt, and sends the same payload and GUID again, signed), and the
// redelivered push makes its run. A delivery GitHub does not list (or that
// is past its three days) is refused with the status GitHub's answer means,
// and hookci's own dispatch deliveries cannot be redelivered.
func TestRedeliverThroughGitHub(t *testing.T) {
	h := newAppHarness(t)
	h.gh.SetAppWebhook(h.url+"/webhook", e2eSecret)
	sha := h.repo.Commit("redeliver", map[string]string{".github/workflows/ci.yml": redeliverWorkflow})
	h.repo.Push("main")
	body := payload(t, "push", "payload.json", func(p map[string]any) {
		p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", strings.Repeat("0", 40), sha, false, []any{}
		p["installation"] = map[string]any{"id": installation}
	})
	const guid = "11111111-2222-3333-4444-555555555555"
	// GitHub's record of the first attempt: hookci answered 401.
	h.gh.AddHookDelivery(githubtest.HookDelivery{GUID: guid, Event: "push", StatusCode: 401, Payload: body})
	if code, msg := h.send("push", guid, body, "sha256="+strings.Repeat("ab", 32)); code != http.StatusUnauthorized {
		t.Fatalf("wrongly signed push: got %d %s, want 401", code, msg)
	}

	page := h.get("/deliveries")
	for _, want := range []string{`id="refused"`, guid, "bad_signature", "signature", `action="/deliveries/` + guid + `/redeliver"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/deliveries lacks %q:\n%s", want, page)
		}
	}
	var o struct {
		Day struct{ Deliveries map[string]int } `json:"last_24h"`
	}
	json.Unmarshal([]byte(h.get("/api/overview")), &o)
	if got := o.Day.Deliveries["bad_signature"]; got != 1 {
		t.Errorf("overview's 24 h bad_signature: got %d, want 1 (%v)", got, o.Day.Deliveries)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Post(h.url+"/deliveries/"+guid+"/redeliver", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Redeliver button: got %d, want 303", resp.StatusCode)
	}
	if got := h.gh.Redeliveries(); len(got) != 1 {
		t.Fatalf("GitHub redeliveries: got %v, want one", got)
	}
	d := h.waitDelivery(guid, "the redelivered push to be planned", func(d map[string]any) bool { return d["status"] == "planned" })
	if d["repo"] != e2eRepo && d["Repo"] != e2eRepo {
		t.Logf("delivery: %v", d)
	}
	run := h.waitRunOfApp(sha)
	if run != "success" {
		t.Errorf("run of the redelivered push: got %s, want success", run)
	}

	for _, c := range []struct {
		guid string
		want int
	}{
		{"99999999-0000-0000-0000-000000000000", http.StatusNotFound}, // GitHub lists no such delivery
		{"dispatch-abc", http.StatusNotFound},                         // hookci's own
	} {
		code, msg := postJSON(t, h.url+"/api/deliveries/"+c.guid+"/redeliver")
		if code != c.want {
			t.Errorf("redeliver %s: got %d %s, want %d", c.guid, code, msg, c.want)
		}
	}
	// Past GitHub's retention the fake neither lists nor redelivers it.
	old := "22222222-2222-3333-4444-555555555555"
	h.gh.AddHookDelivery(githubtest.HookDelivery{GUID: old, Event: "push", StatusCode: 503, Payload: body,
		DeliveredAt: time.Now().Add(-githubtest.DeliveryRetention - time.Hour)})
	if code, msg := postJSON(t, h.url+"/api/deliveries/"+old+"/redeliver"); code != http.StatusNotFound {
		t.Errorf("redeliver a delivery past GitHub's retention: got %d %s, want 404", code, msg)
	}
	if got := h.gh.Redeliveries(); len(got) != 1 {
		t.Errorf("GitHub redeliveries after the refused ones: got %v, want still one", got)
	}
}

// waitRunOfApp waits for the run of sha to complete and returns its conclusion.
func (h *harness) waitRunOfApp(sha string) string {
	h.t.Helper()
	var concl string
	waitFor(h.t, "the run of "+sha[:7]+" to complete", func() bool {
		var list struct {
			Runs []struct {
				Status     string  `json:"status"`
				Conclusion *string `json:"conclusion"`
			} `json:"workflow_runs"`
		}
		json.Unmarshal([]byte(h.get("/api/repos/octo/hello/actions/runs?head_sha="+sha)), &list)
		if len(list.Runs) == 1 && list.Runs[0].Status == "completed" && list.Runs[0].Conclusion != nil {
			concl = *list.Runs[0].Conclusion
			return true
		}
		return false
	})
	return concl
}

func postJSON(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

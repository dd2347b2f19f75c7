package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/webhook"
)

// Issue 9 items 7 and 12, end to end on a real server: a real git server that
// goes away (its repository moved off the file:// URL) and comes back, real
// SQLite, real HTTP.

const oneJobWorkflow = `name: CI
on: push
jobs:
  hello:
    runs-on: ubuntu-latest
    steps:
      - run: echo planned and ran
`

// intakeHarness is a started server whose planning retries follow retry.
func intakeHarness(t *testing.T, retry func(cfg *config.Config)) *harness {
	t.Helper()
	gitRoot := t.TempDir()
	h := &harness{t: t, sandbox: "host"}
	h.gh = newFakeGitHub(t)
	h.repo = newRepo(t, gitRoot)
	h.cfg = baseConfig(t, gitRoot, h.gh.URL())
	retry(&h.cfg)
	h.start()
	t.Cleanup(func() { h.stop() })
	return h
}

// gitDown moves the served repository away; the returned func brings it back.
func gitDown(t *testing.T, h *harness) (up func()) {
	t.Helper()
	away := h.repo.Bare + ".away"
	if err := os.Rename(h.repo.Bare, away); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := os.Rename(away, h.repo.Bare); err != nil {
			t.Fatal(err)
		}
	}
}

// signed is the X-Hub-Signature-256 of body under the test secret.
func signed(body []byte) string { return webhook.SignatureHeader([]byte(e2eSecret), body) }

// runIDs lists the newest 100 runs' ids.
func (h *harness) runIDs() []int64 {
	var runs []struct{ ID int64 }
	if err := json.Unmarshal([]byte(h.get("/api/runs?per_page=100")), &runs); err != nil {
		h.t.Fatalf("/api/runs: %v", err)
	}
	var ids []int64
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	return ids
}

// delivery returns the API's view of delivery id.
func (h *harness) delivery(id string) map[string]any {
	for _, d := range h.deliveries() {
		if d["id"] == id {
			return d
		}
	}
	return nil
}

// waitDelivery polls the API until ok(delivery) holds.
func (h *harness) waitDelivery(id, what string, ok func(d map[string]any) bool) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if d := h.delivery(id); d != nil && ok(d) {
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("delivery %s never became %s; it is %v", id, what, h.delivery(id))
	return nil
}

// metricLine returns the /metrics sample line starting with prefix ("" if none).
func (h *harness) metricLine(prefix string) string {
	for _, l := range strings.Split(h.get("/metrics"), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestPlanningOutlivesGitOutage (item 7a): the git server is down when the
// delivery is acknowledged and for more attempts than the old limit (3); the
// run is planned and runs once it is back.
func TestPlanningOutlivesGitOutage(t *testing.T) {
	h := intakeHarness(t, func(cfg *config.Config) {
		cfg.PlanRetryMin, cfg.PlanRetryMax = config.Duration(100*time.Millisecond), config.Duration(400*time.Millisecond)
		cfg.PlanRetryBudget = config.Duration(10 * time.Minute)
	})
	sha := h.repo.Commit("ci", map[string]string{".github/workflows/ci.yml": oneJobWorkflow})
	h.repo.Push("main")
	up := gitDown(t, h)
	if code := h.sendSigned("push", "outage-1", pushPayload(t, strings.Repeat("0", 40), sha)); code != 202 {
		t.Fatalf("push answered %d, want 202", code)
	}
	// Planning fails again and again, and says so, but keeps the delivery.
	h.waitDelivery("outage-1", "retried a 5th time", func(d map[string]any) bool {
		return d["status"] == store.DeliveryQueued && strings.Contains(fmt.Sprint(d["message"]), "attempt 5 failed, retrying")
	})
	up()
	if got := h.waitStatus(sha); got[len(got)-1].State != "success" {
		t.Fatalf("after the outage the run ended %q, want success", got[len(got)-1].State)
	}
	if d := h.delivery("outage-1"); d["status"] != store.DeliveryPlanned {
		t.Errorf("delivery status %v, want planned: %v", d["status"], d)
	}
}

// TestOutageLongerThanBudgetFailsVisiblyAndRedeliveryPlans (items 7b, 7c):
// an outage longer than the retry budget ends the delivery failed with its
// reason, in the API and the metric; GitHub's redelivery (same GUID) then
// plans it, and a redelivery of a planned delivery stays a duplicate.
func TestOutageLongerThanBudgetFailsVisiblyAndRedeliveryPlans(t *testing.T) {
	h := intakeHarness(t, func(cfg *config.Config) {
		cfg.PlanRetryMin, cfg.PlanRetryMax = config.Duration(100*time.Millisecond), config.Duration(300*time.Millisecond)
		cfg.PlanRetryBudget = config.Duration(2 * time.Second)
	})
	sha := h.repo.Commit("ci", map[string]string{".github/workflows/ci.yml": oneJobWorkflow})
	h.repo.Push("main")
	body := pushPayload(t, strings.Repeat("0", 40), sha)
	up := gitDown(t, h)
	if code := h.sendSigned("push", "outage-2", body); code != 202 {
		t.Fatalf("push answered %d, want 202", code)
	}
	d := h.waitDelivery("outage-2", "failed", func(d map[string]any) bool { return d["status"] != store.DeliveryQueued })
	if d["status"] != store.DeliveryFailed || !strings.HasPrefix(fmt.Sprint(d["message"]), store.ReasonRetriesExhausted+": gave up after") {
		t.Fatalf("after the budget: status %v message %q; want failed, %q…", d["status"], d["message"], store.ReasonRetriesExhausted)
	}
	if got, want := h.metricLine(`hookci_deliveries_failed_total{reason="retries_exhausted"}`), `hookci_deliveries_failed_total{reason="retries_exhausted"} 1`; got != want {
		t.Errorf("metric: got %q, want %q", got, want)
	}
	if !strings.Contains(h.get("/deliveries"), "retries_exhausted") {
		t.Error("the dashboard does not show the failed delivery's reason")
	}
	up()
	code, msg := h.send("push", "outage-2", body, signed(body))
	if code != 202 {
		t.Fatalf("redelivery of the failed delivery answered %d %s, want 202", code, msg)
	}
	if got := h.waitStatus(sha); got[len(got)-1].State != "success" {
		t.Fatalf("redelivered run ended %q, want success", got[len(got)-1].State)
	}
	code, msg = h.send("push", "outage-2", body, signed(body))
	if code != 200 || !strings.Contains(msg, `"duplicate"`) {
		t.Errorf("redelivery of a planned delivery answered %d %s, want 200 duplicate", code, msg)
	}
	if n := len(h.runIDs()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

// TestMalformedDeliveryFailsAtOnce (item 7d): a correctly signed payload
// that cannot be planned ends failed with its reason on the first attempt.
// The retry backoff is an hour, so a payload wrongly treated as transient
// would stay queued and the test would fail.
func TestMalformedDeliveryFailsAtOnce(t *testing.T) {
	h := intakeHarness(t, func(cfg *config.Config) {
		cfg.PlanRetryMin, cfg.PlanRetryMax = config.Duration(time.Hour), config.Duration(time.Hour)
	})
	sha := h.repo.Commit("ci", map[string]string{".github/workflows/ci.yml": oneJobWorkflow})
	h.repo.Push("main")
	zero := strings.Repeat("0", 40)
	for _, tc := range []struct {
		name, reason string
		edit         func(p map[string]any)
	}{
		{"commits-not-a-list", store.ReasonMalformedPayload, func(p map[string]any) { p["commits"] = "nope" }},
		{"bad-commit-id", store.ReasonInvalidCommit, func(p map[string]any) { p["after"] = strings.Repeat("z", 40) }},
		{"bad-repository", store.ReasonInvalidRepository, func(p map[string]any) {
			p["repository"].(map[string]any)["full_name"] = "../../etc"
		}},
	} {
		body := payload(t, "push", "payload.json", func(p map[string]any) {
			p["ref"], p["before"], p["after"], p["deleted"], p["commits"] = "refs/heads/main", zero, sha, false, []any{}
			tc.edit(p)
		})
		if code := h.sendSigned("push", tc.name, body); code != 202 {
			t.Fatalf("%s: answered %d, want 202 (the intake cannot tell)", tc.name, code)
		}
		d := h.waitDelivery(tc.name, "failed", func(d map[string]any) bool { return d["status"] != store.DeliveryQueued })
		if d["status"] != store.DeliveryFailed || !strings.HasPrefix(fmt.Sprint(d["message"]), tc.reason+": ") {
			t.Errorf("%s: status %v message %q; want failed, %s", tc.name, d["status"], d["message"], tc.reason)
		}
		if got, want := h.metricLine(`hookci_deliveries_failed_total{reason="`+tc.reason+`"}`),
			`hookci_deliveries_failed_total{reason="`+tc.reason+`"} 1`; got != want {
			t.Errorf("%s: metric: got %q, want %q", tc.name, got, want)
		}
	}
}

// TestReplayUnderNewDeliveryID (item 12): one captured signed body sent 200
// times under fresh delivery ids makes exactly one run; every replay is
// answered 200 duplicate naming the original.
func TestReplayUnderNewDeliveryID(t *testing.T) {
	h := intakeHarness(t, func(*config.Config) {})
	sha := h.repo.Commit("ci", map[string]string{".github/workflows/ci.yml": oneJobWorkflow})
	h.repo.Push("main")
	body := pushPayload(t, strings.Repeat("0", 40), sha)
	accepted := 0
	for i := range 200 {
		code, msg := h.send("push", fmt.Sprintf("replay-%03d", i), body, signed(body))
		switch {
		case code == 202:
			accepted++
		case code == 200 && strings.Contains(msg, `"replay_of":"replay-000"`):
		default:
			t.Fatalf("send %d answered %d %s; want 202 once, then 200 duplicate (replay of replay-000)", i, code, msg)
		}
	}
	if accepted != 1 {
		t.Errorf("%d sends accepted, want 1", accepted)
	}
	if got := h.waitStatus(sha); got[len(got)-1].State != "success" {
		t.Fatalf("run ended %q, want success", got[len(got)-1].State)
	}
	time.Sleep(500 * time.Millisecond) // a wrongly accepted replay would have queued by now
	if n := len(h.runIDs()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
	if n := len(h.deliveries()); n != 1 {
		t.Errorf("%d deliveries stored, want 1", n)
	}
	if got := h.metricLine(`hookci_webhook_deliveries_total{event="push",outcome="replay"}`); got != `hookci_webhook_deliveries_total{event="push",outcome="replay"} 199` {
		t.Errorf("replay metric: got %q, want 199", got)
	}
}

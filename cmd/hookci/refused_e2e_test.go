package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/webhook"
)

type refusalT struct {
	Event    string `json:"event"`
	Delivery string `json:"delivery"`
	Outcome  string `json:"outcome"`
	Status   int    `json:"status"`
	Reason   string `json:"reason"`
	Of       string `json:"duplicate_of"`
}

func (h *harness) refusals() []refusalT {
	var rs []refusalT
	json.Unmarshal([]byte(h.get("/api/deliveries/refused")), &rs)
	return rs
}

// TestRefusedWebhooksSurviveRestart: a badly signed webhook and a
// duplicate are on /api/deliveries/refused, the deliveries page and the
// overview's 24-hour counts, and still are after the server restarts on
// the same data directory.
func TestRefusedWebhooksSurviveRestart(t *testing.T) {
	h := newHarness(t, "host")
	sha := h.repo.Commit("c", map[string]string{"README": "x"})
	h.repo.Push("main")
	body := pushPayload(t, strings.Repeat("0", 40), sha)
	if code, _ := h.send("push", "forged-1", body, "sha256="+strings.Repeat("ab", 32)); code != http.StatusUnauthorized {
		t.Fatalf("forged webhook: %d, want 401", code)
	}
	if code := h.sendSigned("push", "real-1", body); code >= 300 {
		t.Fatalf("signed webhook: %d", code)
	}
	if code := h.sendSigned("push", "real-1", body); code != http.StatusOK {
		t.Fatalf("duplicate: %d, want 200", code)
	}
	check := func(when string) {
		t.Helper()
		var rs []refusalT
		waitFor(t, when+": both refusals recorded", func() bool { rs = h.refusals(); return len(rs) == 2 })
		if rs[0].Delivery != "real-1" || rs[0].Outcome != "duplicate" || rs[1].Delivery != "forged-1" || rs[1].Outcome != "bad_signature" ||
			rs[1].Status != 401 || rs[1].Reason == "" {
			t.Errorf("%s: refusals %+v", when, rs)
		}
		var ov struct {
			Day struct {
				Deliveries map[string]int `json:"deliveries"`
			} `json:"last_24h"`
		}
		json.Unmarshal([]byte(h.get("/api/overview")), &ov)
		if ov.Day.Deliveries["bad_signature"] != 1 || ov.Day.Deliveries["duplicate"] != 1 {
			t.Errorf("%s: the overview's 24 h deliveries %v lack one bad_signature and one duplicate", when, ov.Day.Deliveries)
		}
		if page := h.get("/deliveries"); !strings.Contains(page, "forged-1") || !strings.Contains(page, "bad_signature") {
			t.Errorf("%s: the deliveries page does not list the forged webhook", when)
		}
	}
	check("before the restart")
	h.stop()
	h.start()
	check("after the restart")
}

// TestAttackRefusedFloodBounded floods a real server's /webhook with 20,000
// refused requests (forged signatures, wrong content types) from 16
// connections while 40 signed webhooks arrive among them. The attack must
// not grow the database without bound nor cost a signed webhook: every
// signed one is acknowledged and stored (a 503 "busy", GitHub's cue to
// redeliver, is retried as GitHub's redelivery would be), the record keeps
// at most its bound of rows, every refused request is counted by outcome,
// and the server stays healthy.
func TestAttackRefusedFloodBounded(t *testing.T) {
	h := newHarness(t, "host")
	const floods, workers, signed = 20_000, 16, 40
	var sent atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 30 * time.Second}
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < floods; i += workers {
				id := fmt.Sprintf("flood-%d", i)
				var code int
				if i%2 == 0 {
					code = postWebhook(client, h.url, "push", id, strings.NewReader(`{"zen":"x"}`), "sha256=not-hex")
				} else {
					req, _ := http.NewRequest("POST", h.url+"/webhook", strings.NewReader("{}"))
					req.Header.Set("Content-Type", "text/plain") // refused before its body is read
					req.Header.Set("X-GitHub-Event", "push")
					req.Header.Set("X-GitHub-Delivery", id)
					req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
					if resp, err := client.Do(req); err == nil {
						resp.Body.Close()
						code = resp.StatusCode
					}
				}
				if code == http.StatusUnauthorized || code == http.StatusUnsupportedMediaType {
					sent.Add(1)
				}
			}
		}()
	}
	var busy atomic.Int64
	var lat []time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range signed {
			before := make([]byte, 20)
			rand.Read(before)
			body := payload(t, "push", "payload.json", func(p map[string]any) {
				p["ref"], p["before"], p["after"] = "refs/heads/gone", hex.EncodeToString(before), strings.Repeat("0", 40)
				p["deleted"], p["commits"] = true, []any{}
			})
			for try := 0; ; try++ {
				t0 := time.Now()
				code := postWebhook(client, h.url, "push", fmt.Sprintf("signed-%d", i), strings.NewReader(string(body)),
					webhook.SignatureHeader([]byte(e2eSecret), body))
				if code == http.StatusServiceUnavailable && try < 50 {
					busy.Add(1)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if code != http.StatusAccepted && code != http.StatusOK {
					t.Errorf("signed webhook %d: %d", i, code)
				}
				lat = append(lat, time.Since(t0))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	wg.Wait()
	took := time.Since(start)
	if got := sent.Load(); got != floods {
		t.Fatalf("%d of %d flood requests were refused as expected", got, floods)
	}
	slices.Sort(lat)
	t.Logf("%d refused requests in %s (%.0f/s); %d busy answers to signed webhooks, retried; signed acks p50 %s max %s",
		floods, took.Round(time.Millisecond), floods/took.Seconds(), busy.Load(), lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	bad := h.metricValue(`hookci_webhook_deliveries_total{event="push",outcome="bad_signature"}`)
	malformed := h.metricValue(`hookci_webhook_deliveries_total{event="push",outcome="malformed"}`)
	if bad != floods/2 || malformed != floods/2 {
		t.Errorf("counted %v bad_signature and %v malformed, want %d each", bad, malformed, floods/2)
	}
	dropped := h.metricValue("hookci_webhook_refusals_dropped_total")
	if dropped < 0 {
		t.Fatal("no hookci_webhook_refusals_dropped_total series")
	}
	stored := map[string]bool{}
	var ds []map[string]any
	json.Unmarshal([]byte(h.get("/api/deliveries?per_page=100")), &ds)
	for _, d := range ds {
		stored[fmt.Sprint(d["id"])] = true
	}
	t.Logf("refusals listed before the stop: %d", len(h.refusals()))
	for i := range signed {
		if !stored[fmt.Sprintf("signed-%d", i)] {
			t.Errorf("signed webhook %d was not stored", i)
		}
	}
	if code, _ := h.send("ping", "after", []byte(`{"zen":"z","hook_id":1}`), webhook.SignatureHeader([]byte(e2eSecret), []byte(`{"zen":"z","hook_id":1}`))); code != http.StatusOK {
		t.Errorf("after the flood a signed ping got %d", code)
	}
	h.stop()
	st, err := store.Open(context.Background(), filepath.Join(h.cfg.DataDir, "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := st.Queries().Refusals(context.Background(), 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := st.Queries().RefusedCounts(context.Background(), time.Now().Add(-time.Hour))
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	filepath.Walk(h.cfg.DataDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(filepath.Base(p), ".db") {
			size += fi.Size()
		}
		return nil
	})
	t.Logf("refused rows stored: %d (a sample), counted %v, dropped by the buffer: %v; database files %.1f MiB", len(rows), counts, dropped, float64(size)/(1<<20))
	if len(rows) == 0 || len(rows) > 10_000 {
		t.Errorf("the record holds %d rows, want some and at most its bound of 10,000", len(rows))
	}
	if got := counts["bad_signature"] + counts["malformed"] + int(dropped); got != floods {
		t.Errorf("counted %v + %v dropped, want %d in all: refusals lost without being counted", counts, dropped, floods)
	}
	if size > 64<<20 {
		t.Errorf("database files %.1f MiB after the flood, want under 64 MiB", float64(size)/(1<<20))
	}
	h.start() // t.Cleanup stops it
}

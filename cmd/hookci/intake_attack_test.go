package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/webhook"
)

// Issue 9 item 10: unauthenticated requests to /webhook on a real server
// (real http.Server as `hookci serve` builds it) must not grow memory or
// metric series without bound.

// heapSampler records the peak HeapInuse while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak atomic.Uint64
}

func startHeapSampler() *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > s.peak.Load() {
				s.peak.Store(ms.HeapInuse)
			}
			select {
			case <-s.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *heapSampler) Stop() uint64 { close(s.stop); <-s.done; return s.peak.Load() }

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// postWebhook sends one webhook request on client and returns its status
// (0 when the connection was cut before an answer).
func postWebhook(client *http.Client, url, event, delivery string, body io.Reader, sig string) int {
	req, _ := http.NewRequest("POST", url+"/webhook", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebhookFloodMemoryBounded (item 10a): 40 concurrent 25 MiB requests
// with a bad signature (announced length), and 40 more sent chunked, do not
// grow the heap by 150 MiB (before: ~1.7 GB); good deliveries sent meanwhile
// are acknowledged (a 503 is retried as its Retry-After asks, and counted).
func TestWebhookFloodMemoryBounded(t *testing.T) {
	h := intakeHarness(t, func(*config.Config) {})
	big := bytes.Repeat([]byte("a"), webhook.MaxBody)
	badSig := webhook.SignatureHeader([]byte("not the secret"), big)
	base := heapInuse()
	sampler := startHeapSampler()
	attack := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[int]int{}
	for i := range 80 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body io.Reader = bytes.NewReader(big)
			if i%2 == 1 {
				body = struct{ io.Reader }{body} // no length: sent chunked
			}
			code := postWebhook(attack, h.url, "push", fmt.Sprintf("attack-%d", i), body, badSig)
			mu.Lock()
			answers[code]++
			mu.Unlock()
		}()
	}
	attackDone := make(chan struct{})
	go func() { wg.Wait(); close(attackDone) }()
	good := &http.Client{}
	var lat []time.Duration
	busy := 0
	for i := 0; i < 20 || !isClosed(attackDone); i++ {
		body := []byte(fmt.Sprintf(`{"action":"created","n":%d,"repository":{"full_name":"octo/hello"}}`, i))
		t0 := time.Now()
		for {
			code := postWebhook(good, h.url, "star", fmt.Sprintf("good-%d", i), bytes.NewReader(body), signed(body))
			if code == http.StatusServiceUnavailable {
				busy++
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if code != http.StatusOK {
				t.Fatalf("good delivery %d answered %d during the flood, want 200", i, code)
			}
			break
		}
		lat = append(lat, time.Since(t0))
	}
	peak := sampler.Stop()
	for code, n := range answers {
		if code >= 200 && code < 300 {
			t.Errorf("%d bad-signature requests answered %d", n, code)
		}
	}
	growth := int64(peak) - int64(base)
	slices.Sort(lat)
	p99 := lat[(len(lat)-1)*99/100]
	t.Logf("flood: attackers answered %v; heap in use %d MiB → peak %d MiB (growth %d MiB); %d good deliveries, p99 %v, max %v, %d 503s retried",
		answers, base>>20, peak>>20, growth>>20, len(lat), p99, lat[len(lat)-1], busy)
	if growth > 150<<20 {
		t.Errorf("heap grew by %d MiB under the flood, want < 150 MiB", growth>>20)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

var seriesLabel = regexp.MustCompile(`^hookci_webhook_deliveries_total\{event="([^"]*)",outcome="([^"]*)"\}`)

// TestWebhookEventLabelsBounded (item 10b): 20,000 requests with random
// X-GitHub-Event values (unsigned, and some signed) add no metric series
// beyond the fixed set of event labels.
func TestWebhookEventLabelsBounded(t *testing.T) {
	h := intakeHarness(t, func(*config.Config) {})
	rng := rand.New(rand.NewPCG(1, 2))
	randomEvent := func() string {
		b := make([]byte, 8+rng.IntN(40))
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyz_"[rng.IntN(27)]
		}
		return string(b)
	}
	events := make(chan string)
	var wg sync.WaitGroup
	client := &http.Client{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range events {
				postWebhook(client, h.url, ev, "x", strings.NewReader("{}"), "")
			}
		}()
	}
	for range 20000 {
		events <- randomEvent()
	}
	close(events)
	wg.Wait()
	for i := range 20 {
		body := []byte(fmt.Sprintf(`{"n":%d,"repository":{"full_name":"octo/hello"}}`, i))
		if code := postWebhook(client, h.url, randomEvent(), fmt.Sprintf("signed-%d", i), bytes.NewReader(body), signed(body)); code != 200 {
			t.Fatalf("signed unknown event answered %d, want 200 (ignored)", code)
		}
	}
	metrics := h.get("/metrics")
	known := map[string]bool{}
	for _, l := range webhook.EventLabels() {
		known[l] = true
	}
	var series []string
	for _, line := range strings.Split(metrics, "\n") {
		m := seriesLabel.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		series = append(series, m[1]+"/"+m[2])
		if !known[m[1]] {
			t.Errorf("metric series with event label %q, not one of the fixed set", m[1])
		}
	}
	t.Logf("series after 20,020 random events: %v; /metrics is %d bytes", series, len(metrics))
	if len(series) == 0 || len(series) > 5 {
		t.Errorf("%d hookci_webhook_deliveries_total series, want a handful (other/bad_signature, other/ignored)", len(series))
	}
}

// TestOversizedHeaderRefused (item 10c): requests with a 500 KB header are
// answered 431 by the server and leave no memory behind.
func TestOversizedHeaderRefused(t *testing.T) {
	h := intakeHarness(t, func(*config.Config) {})
	huge := strings.Repeat("x", 500<<10)
	base := heapInuse()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 20 {
		req, _ := http.NewRequest("POST", h.url+"/webhook", strings.NewReader("{}"))
		if i%2 == 0 {
			req.Header.Set("X-GitHub-Event", huge)
		} else {
			req.Header.Set("X-Junk-"+fmt.Sprint(i), huge)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("500 KB header answered %d, want 431", resp.StatusCode)
		}
	}
	after := heapInuse()
	t.Logf("heap in use %d KiB → %d KiB after 20 requests with 500 KB headers", base>>10, after>>10)
	if growth := int64(after) - int64(base); growth > 4<<20 {
		t.Errorf("heap grew by %d KiB after oversized headers, want < 4 MiB", growth>>10)
	}
	if m := h.get("/metrics"); strings.Contains(m, "xxxxxxxx") {
		t.Error("an oversized header reached /metrics")
	}
}

// Command intakeflood measures what an unauthenticated flood does to a real
// `hookci serve` (issue 9 item 10): N concurrent 25 MiB requests with a bad
// signature, while signed good deliveries keep coming. It prints the server's
// resident memory (VmRSS before, VmHWM after: the peak), how the flood was
// answered, and the good deliveries' acknowledgement latency.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/bench/benchserver"
	"github.com/hookci/hookci/bench/hw"
	"github.com/hookci/hookci/internal/webhook"
)

func main() {
	hookci := flag.String("hookci", "bin/hookci", "the hookci binary")
	n := flag.Int("n", 40, "concurrent bad-signature requests")
	chunked := flag.Bool("chunked", false, "send the flood without Content-Length")
	flag.Parse()
	if err := run(*hookci, *n, *chunked); err != nil {
		fmt.Fprintln(os.Stderr, "intakeflood:", err)
		os.Exit(1)
	}
}

func run(hookci string, n int, chunked bool) error {
	tmp, err := os.MkdirTemp("", "hookci-flood-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	srv, err := benchserver.Start(hookci, tmp, tmp+"/data", "HOOKCI_SANDBOX=host", "HOOKCI_WARM_SANDBOXES=0")
	if err != nil {
		return err
	}
	defer srv.Stop()
	before := procStatus(srv.Pid(), "VmRSS")
	big := bytes.Repeat([]byte("a"), webhook.MaxBody)
	bad := webhook.SignatureHeader([]byte("wrong"), big)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body io.Reader = bytes.NewReader(big)
			if chunked {
				body = struct{ io.Reader }{body}
			}
			req, _ := http.NewRequest("POST", srv.Base+"/webhook", body)
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("flood-%d", i))
			req.Header.Set("X-Hub-Signature-256", bad)
			answer := "connection cut"
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answer = resp.Status
			}
			mu.Lock()
			answers[answer]++
			mu.Unlock()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var lat []time.Duration
	busy := 0
	for i := 0; i < 20 || !closed(done); i++ {
		body := []byte(fmt.Sprintf(`{"action":"created","n":%d,"repository":{"full_name":"bench/flood"}}`, i))
		t0 := time.Now()
		req, _ := http.NewRequest("POST", srv.Base+"/webhook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "star")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("good-%d", i))
		req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte("bench-secret"), body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			busy++
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("good delivery answered %s", resp.Status)
		}
		lat = append(lat, time.Since(t0))
	}
	peak := procStatus(srv.Pid(), "VmHWM")
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	mode := "Content-Length"
	if chunked {
		mode = "chunked"
	}
	fmt.Printf("intake flood: %d concurrent 25 MiB bad-signature requests (%s) on hookci serve\n", n, mode)
	fmt.Printf("  server RSS before %s, peak (VmHWM) %s\n", before, peak)
	fmt.Printf("  flood answered: %v\n", answers)
	fmt.Printf("  %d good deliveries meanwhile: p50 %s p99 %s max %s; %d answered 503\n", len(lat),
		lat[len(lat)/2].Round(time.Millisecond), lat[(len(lat)-1)*99/100].Round(time.Millisecond),
		lat[len(lat)-1].Round(time.Millisecond), busy)
	fmt.Printf("  hardware: %s\n", hw.Describe())
	return nil
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// procStatus reads one field of /proc/<pid>/status ("VmRSS", "VmHWM").
func procStatus(pid int, field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

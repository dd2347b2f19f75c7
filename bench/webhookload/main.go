// Command webhookload measures webhook acknowledgement latency: signed push
// deliveries at a steady rate over loopback HTTP to the real handler and the
// real SQLite store (WAL, synchronous=FULL: every 202 is on disk) or, with
// -postgres or -database-url, PostgreSQL, with the queue running. It prints
// p50/p90/p99/max and the hardware.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hookci/hookci/bench/hw"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/store/pgtest"
	"github.com/hookci/hookci/internal/webhook"
)

func main() {
	rate := flag.Int("rate", 100, "requests per second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	corpus := flag.String("corpus", "../shared/corpora", "test corpora directory (for a real push payload)")
	sync := flag.String("sync", "full", "SQLite synchronous setting: full or normal")
	dbURL := flag.String("database-url", "", "measure on this PostgreSQL database instead of SQLite (postgres://…)")
	pg := flag.Bool("postgres", false, "measure on a throwaway local PostgreSQL cluster (Debian's postgresql, fsync on)")
	rates := flag.String("rates", "", "comma-separated rates to sweep (e.g. 200,500,1000,2000,4000): prints each, then the knee")
	both := flag.Bool("both", false, "with -rates: measure each rate on a throwaway PostgreSQL cluster and on SQLite, one after the other")
	noQueue := flag.Bool("noqueue", false, "do not run the queue (planning): intake alone, no other writer on the database")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole measurement (server and client) here (go tool pprof)")
	flag.Parse()
	runQueue = !*noQueue
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "webhookload: -cpuprofile:", err)
			os.Exit(2)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *both && *rates != "" {
		code := 0
		for _, r := range strings.Split(*rates, ",") {
			for _, onPG := range []bool{true, false} {
				code = max(code, sweep(0, *dur, *corpus, *sync, "", onPG, r))
			}
		}
		pprof.StopCPUProfile()
		os.Exit(code)
	}
	if code := sweep(*rate, *dur, *corpus, *sync, *dbURL, *pg, *rates); code != 0 {
		pprof.StopCPUProfile() // a no-op without -cpuprofile
		os.Exit(code)
	}
}

// sweep measures one rate, or each of rates and the knee; it returns the
// exit status.
func sweep(rate int, dur time.Duration, corpus, sync, dbURL string, pg bool, rates string) int {
	if rates == "" {
		if err := measure(rate, dur, corpus, sync, dbURL, pg); err != nil {
			fmt.Fprintln(os.Stderr, "webhookload:", err)
			return 1
		}
		return 0
	}
	// The knee: the highest offered rate acknowledged in full (no request
	// refused) at 95 % of the rate or more.
	knee, broken := 0, false
	for _, f := range strings.Split(rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintln(os.Stderr, "webhookload: -rates:", err)
			return 2
		}
		err = measure(r, dur, corpus, sync, dbURL, pg)
		if err != nil {
			fmt.Println("  ", err)
		}
		if err == nil && lastAchieved >= 0.95*float64(r) && !broken {
			knee = r
		} else {
			broken = true // the knee is below every rate after a failed one
		}
	}
	fmt.Printf("knee: %d/s (highest offered rate fully acknowledged at ≥ 95 %% of it)\n", knee)
	return 0
}

// runQueue: planning runs beside intake (-noqueue turns it off).
var runQueue = true

// lastAchieved is the acknowledged deliveries per second of the last measure.
var lastAchieved float64

// measure runs the load, on a throwaway PostgreSQL cluster when pg is set.
func measure(rate int, dur time.Duration, corpus, sync, dbURL string, pg bool) error {
	if pg {
		c, err := pgtest.StartDurable()
		if err != nil {
			return fmt.Errorf("PostgreSQL: %w", err)
		}
		defer c.Stop()
		if dbURL, err = c.NewDatabase(context.Background()); err != nil {
			return fmt.Errorf("PostgreSQL: %w", err)
		}
	}
	return run(rate, dur, corpus, sync, dbURL)
}

func run(rate int, dur time.Duration, corpus, sync, dbURL string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hookci-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, dir, store.Options{MaxJobs: 4, Sync: sync, DatabaseURL: dbURL})
	if err != nil {
		return err
	}
	defer st.Close()
	// Planning is not measured, but it runs, as in the server, and competes for the database.
	if runQueue {
		err = st.StartQueue(ctx, store.Handlers{Delivery: func(ctx context.Context, id string) error {
			return st.Queries().SetDeliveryStatus(ctx, id, store.DeliveryPlanned, "bench")
		}})
		if err != nil {
			return err
		}
	}
	payload, err := os.ReadFile(filepath.Join(corpus, "octokit-webhooks/payload-examples/api.github.com/push/payload.json"))
	if err != nil {
		return err
	}
	var p map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		return err
	}
	secret := []byte("bench-secret")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: webhook.New(string(secret), st, webhook.Options{})}
	go srv.Serve(l)
	defer srv.Close()
	url := "http://" + l.Addr().String() + "/webhook"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	n := int(float64(rate) * dur.Seconds())
	lat := make([]time.Duration, n)
	ok := make([]bool, n) // answered 202
	errs := make(chan error, n)
	done := make(chan int, n)
	load0 := loadAvg()
	// The bodies and their signatures are made before the clock starts: the
	// sender's own JSON encoding took CPU from the server it measures and
	// made it fall behind the offered rate.
	bodies, sigs := make([][]byte, n), make([]string, n)
	for i := range n {
		p["after"], p["deleted"] = fmt.Sprintf("%040x", i+1), false
		bodies[i], _ = json.Marshal(p)
		sigs[i] = webhook.SignatureHeader(secret, bodies[i])
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	cpu0 := time.Duration(ru0.Utime.Nano() + ru0.Stime.Nano())
	start := time.Now()
	for i := 0; i < n; i++ {
		<-tick.C
		go func(i int, body []byte) {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", i))
			req.Header.Set("X-Hub-Signature-256", sigs[i])
			t0 := time.Now()
			resp, err := client.Do(req)
			lat[i] = time.Since(t0)
			if err == nil {
				defer resp.Body.Close()
				if resp.StatusCode != 202 {
					b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
					err = fmt.Errorf("status %d %s", resp.StatusCode, bytes.TrimSpace(b))
				}
			}
			if err != nil {
				errs <- err
			} else {
				ok[i] = true
			}
			done <- i
		}(i, bodies[i])
	}
	sent := time.Since(start) // the sender's own pace: a ticker drops ticks when it falls behind
	for i := 0; i < n; i++ {
		<-done
	}
	elapsed := time.Since(start)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) - cpu0
	close(errs)
	failed := 0
	kinds := map[string]int{}
	for err := range errs {
		failed++
		kinds[err.Error()]++
	}
	// Latency of the acknowledged deliveries only: a refusal (503) is fast
	// and would flatter the percentiles.
	acked := lat[:0:0]
	for i, d := range lat {
		if ok[i] {
			acked = append(acked, d)
		}
	}
	if len(acked) == 0 {
		acked = []time.Duration{0}
	}
	lat = acked
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	pct := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	stored, _ := st.Queries().CountDeliveries(ctx)
	where := "SQLite WAL synchronous=" + strings.ToUpper(sync)
	if !runQueue {
		where += ", queue not running (intake alone)"
	}
	if dbURL != "" {
		where = "PostgreSQL"
	}
	fmt.Printf("webhook ack latency, %d signed %d-byte push deliveries at %d/s over loopback (%.1fs), %s\n",
		n, len(payload), rate, elapsed.Seconds(), where)
	fmt.Printf("  append+fsync of 48 KiB on this disk (a batch's WAL write), 200 times: %s\n", fsyncCost(dir))
	fmt.Printf("  load average (1 min) before %s, after %s (2 cores shared)\n", load0, loadAvg())
	fmt.Printf("  acknowledged: p50 %s  p90 %s  p99 %s  max %s; refused %d  stored %d\n", ms(pct(.5)), ms(pct(.9)), ms(pct(.99)),
		ms(lat[len(lat)-1]), failed, stored)
	lastAchieved = float64(n-failed) / elapsed.Seconds()
	fmt.Printf("  achieved %.0f acknowledged/s of %d/s offered (sent at %.0f/s: the sender runs in the same process, on the same cores); CPU (server and client, one process) %s per acknowledged delivery\n",
		lastAchieved, rate, float64(n)/sent.Seconds(), ms(cpu/time.Duration(max(n-failed, 1))))
	if failed > 0 {
		fmt.Printf("  failures: %v\n", kinds)
	}
	if is := st.IntakeStats(); is.Batches > 0 && st.Dialect() == "postgres" {
		b := time.Duration(is.Batches)
		fmt.Printf("  group commit: %d batches, %.1f deliveries each, %d stored alone; per batch: BEGIN+locks+lookups %s, insert+COMMIT %s\n",
			is.Batches, float64(is.Deliveries)/float64(is.Batches), is.Alone, ms(is.Begin/b), ms(is.Statements/b))
	} else if is.Batches > 0 {
		b := time.Duration(is.Batches)
		fmt.Printf("  group commit: %d batches, %.1f deliveries each; per batch: write lock wait %s, statements %s, commit (WAL write+fsync) %s, longest commit %s\n",
			is.Batches, float64(is.Deliveries)/float64(is.Batches), ms(is.Begin/b), ms(is.Statements/b), ms(is.Commit/b), ms(is.MaxCommit))
	}
	budget := "within"
	if pct(.99) > 5*time.Millisecond {
		budget = "OVER"
	}
	fmt.Printf("  budget p99 < 5ms: %s\n", budget)
	fmt.Printf("  hardware: %s\n", hw.Describe())
	if failed > 0 {
		return fmt.Errorf("%d requests failed", failed)
	}
	return nil
}

// fsyncCost times 200 appends of 48 KiB each followed by an fsync: p50, p99.
func fsyncCost(dir string) string {
	f, err := os.CreateTemp(dir, "fsync")
	if err != nil {
		return "?"
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 48<<10)
	var ds []time.Duration
	for i := 0; i < 200; i++ {
		t0 := time.Now()
		f.Write(buf)
		f.Sync()
		ds = append(ds, time.Since(t0))
	}
	sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
	return "p50 " + ms(ds[len(ds)/2]) + " p99 " + ms(ds[len(ds)*99/100])
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func ms(d time.Duration) string {
	return strings.TrimRight(fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000), "")
}

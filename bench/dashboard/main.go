// Command dashboard measures the dashboard's server time with a large
// store: it fills a fresh store with -runs runs (each with its delivery and
// one job, spread over -days days, a tenth failed, across 10 repositories
// and 5 branches), then times the overview, /api/overview and the runs list
// (unfiltered and filtered, page 1 and page -page) through the real handler,
// in process (no network): p50/p95/max per page. Budget (issue 10): overview
// and runs pages ≤ 50 ms; page 1,000 as fast as page 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/hookci/hookci/bench/hw"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/web"
)

func main() {
	runs := flag.Int("runs", 100000, "runs to fill the store with")
	days := flag.Int("days", 90, "days the runs are spread over")
	n := flag.Int("n", 50, "requests per page")
	pageNo := flag.Int("page", 1000, "the deep page to time (30 runs a page)")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hookci-dashboard-bench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, dir, store.Options{Sync: "normal"})
	if err != nil {
		fail(err)
	}
	defer st.Close()
	t0 := time.Now()
	if err := fill(ctx, st, *runs, *days); err != nil {
		fail(err)
	}
	fmt.Printf("dashboard: filled %d runs (+ deliveries, jobs) over %d days in %s\n", *runs, *days, time.Since(t0).Round(time.Millisecond))
	h := web.New(st, web.NewMetrics(st.QueueDepth), web.Options{}).Handler(http.NotFoundHandler())
	deep := strconv.Itoa(*runs - 30*(*pageNo-1) + 1) // "before" of page pageNo, unfiltered
	pages := []struct{ name, path string }{
		{"overview /", "/"},
		{"/api/overview", "/api/overview"},
		{"runs page 1", "/runs"},
		{fmt.Sprintf("runs page %d", *pageNo), "/runs?before=" + deep},
		{"runs status=success page 1", "/runs?status=success"},
		{fmt.Sprintf("runs status=success before page %d", *pageNo), "/runs?status=success&before=" + deep},
		{"runs repo+branch page 1", "/runs?repo=octo/repo3&branch=feature-3"},
		{"runs repo+branch deep", "/runs?repo=octo/repo3&branch=feature-3&before=" + strconv.Itoa(*runs/10)},
		{"runs repo+branch, no match", "/runs?repo=octo/repo3&branch=feature-1"},
		{"runs status+actor, no match", "/runs?status=failure&actor=nobody"},
		{"runs actor+branch (no pair index)", "/runs?actor=user3&branch=feature-3"},
		{"runs actor=user7 page 1", "/runs?actor=user7"},
		{"deliveries", "/deliveries"},
	}
	for _, p := range pages {
		var ds []time.Duration
		for range *n {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", p.path, nil)
			req.Host = "127.0.0.1" // a loopback server without a token answers only local requests (web.localRequest)
			start := time.Now()
			h.ServeHTTP(rec, req)
			ds = append(ds, time.Since(start))
			if rec.Code != 200 {
				fail(fmt.Errorf("%s: %d %s", p.path, rec.Code, rec.Body.String()))
			}
		}
		slices.Sort(ds)
		fmt.Printf("  %-40s p50 %7s  p95 %7s  max %7s\n", p.name, ms(ds[len(ds)/2]), ms(ds[len(ds)*95/100]), ms(ds[len(ds)-1]))
	}
	fmt.Printf("  hardware: %s\n", hw.Describe())
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + "ms"
}

// fill inserts the runs in large transactions, straight into the tables
// (the store's one-by-one API would take minutes for 100,000).
func fill(ctx context.Context, st *store.Store, runs, days int) error {
	db := st.DB()
	now := time.Now()
	span := time.Duration(days) * 24 * time.Hour
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 5000
	for start := 0; start < runs; start += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for i := start; i < min(start+batch, runs); i++ {
			created := now.Add(-span + span*time.Duration(i)/time.Duration(runs)).UnixMilli()
			repo := "octo/repo" + strconv.Itoa(i%10)
			branch := "main"
			if i%3 != 0 {
				branch = "feature-" + strconv.Itoa(i%5)
			}
			concl := "success"
			if rng.IntN(10) == 0 {
				concl = "failure"
			}
			dur := int64(20000 + rng.IntN(200000))
			id := "delivery-" + strconv.Itoa(i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, event, action, repo, received_at, payload, status, message)
				VALUES (?, 'push', '', ?, ?, '{}', 'planned', '')`, id, repo, created); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO runs (delivery_id, repo, workflow_file, workflow_name, event, sha, ref,
				run_number, status, conclusion, created_at, started_at, finished_at, actor, branch, title)
				VALUES (?, ?, '.github/workflows/ci.yml', 'CI', 'push', 'abcdef0123456789', ?, ?, 'completed', ?, ?, ?, ?, ?, ?, ?)`,
				id, repo, "refs/heads/"+branch, i+1, concl, created, created+1000, created+1000+dur,
				"user"+strconv.Itoa(i%50), branch, "Commit number "+strconv.Itoa(i))
			if err != nil {
				return err
			}
			runID, _ := res.LastInsertId()
			if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (run_id, job_key, name, status, conclusion, created_at, started_at, finished_at)
				VALUES (?, 'build', 'build', 'completed', ?, ?, ?, ?)`, runID, concl, created, created+1000, created+1000+dur); err != nil {
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	_, err := db.ExecContext(ctx, `ANALYZE`)
	return err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dashboard bench:", err)
	os.Exit(1)
}

package report

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookci/hookci/internal/github"
	"github.com/hookci/hookci/internal/github/githubtest"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/store/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// reportEnv is a run of one job in a store and reporters on the GitHub fake,
// each standing for a host (or one host before and after a restart).
type reportEnv struct {
	gh  *githubtest.Server
	sha string
	run *store.Run
	job *store.Job
}

func newReportEnv(t *testing.T, st *store.Store, app bool, delivery string) (*reportEnv, func(st *store.Store) *Reporter) {
	t.Helper()
	ctx := context.Background()
	e := &reportEnv{gh: githubtest.NewServer(t), sha: strings.Repeat("c", 40)}
	var cfg github.Config
	payload := `{"repository":{"full_name":"o/r"}}`
	if app {
		e.gh.AddRepo("o", "r", 11)
		cfg.AppID, cfg.AppKeyPEM = 1, e.gh.EnableApp(1)
		payload = `{"repository":{"full_name":"o/r"},"installation":{"id":11}}`
	} else {
		e.gh.AddRepo("o", "r", 0)
		e.gh.SetToken("t0k")
		cfg.Token = "t0k"
	}
	cfg.APIURL = e.gh.URL()
	if _, err := st.Intake(ctx, store.Delivery{ID: delivery, Event: "push", Repo: "o/r", SHA: e.sha, ReceivedAt: time.Now(),
		Payload: []byte(payload), Status: store.DeliveryPlanned}, store.IntakeOptions{}); err != nil {
		t.Fatal(err)
	}
	q := st.Queries()
	e.run = &store.Run{DeliveryID: delivery, Repo: "o/r", WorkflowFile: "ci.yml", WorkflowName: "CI", Event: "push", SHA: e.sha,
		Status: store.StatusQueued}
	if err := q.CreateRun(ctx, e.run); err != nil {
		t.Fatal(err)
	}
	e.job = &store.Job{RunID: e.run.ID, Key: "build", Name: "build", Status: store.StatusQueued}
	if err := q.CreateJob(ctx, e.job, false); err != nil {
		t.Fatal(err)
	}
	return e, func(st *store.Store) *Reporter {
		c, err := github.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return New(c, st, "http://ci.example", nil)
	}
}

// finish moves the run and its job to success.
func (e *reportEnv) finish(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	e.job.Status, e.job.Conclusion, e.job.StartedAt, e.job.FinishedAt = store.StatusCompleted, store.ConclusionSuccess, now, now
	e.run.Status, e.run.Conclusion, e.run.StartedAt, e.run.FinishedAt = store.StatusCompleted, store.ConclusionSuccess, now, now
	if err := st.Queries().UpdateJob(ctx, e.job); err != nil {
		t.Fatal(err)
	}
	if err := st.Queries().UpdateRun(ctx, e.run); err != nil {
		t.Fatal(err)
	}
}

// finals counts the non-pending statuses per context and the last state of each.
func (e *reportEnv) finals() (map[string]int, map[string]string) {
	n, last := map[string]int{}, map[string]string{}
	for _, s := range e.gh.Statuses("o/r", e.sha) {
		last[s.Context] = s.State
		if s.State != "pending" {
			n[s.Context]++
		}
	}
	return n, last
}

// TestReportSentOnceAcrossReporters: a run's final state reported by one
// reporter and then by another with its own memory (another host, or the
// same host restarted: the report queue job ran again after a kill -9) is
// sent to GitHub once, commit statuses and check runs alike. With the
// memory of what was sent in each process only, the second reporter sent
// every status again (TestThreeHostsKill9Under200Webhooks saw two final
// statuses for one commit).
func TestReportSentOnceAcrossReporters(t *testing.T) {
	for _, app := range []bool{false, true} {
		t.Run(fmt.Sprintf("app=%v", app), func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, t.TempDir(), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			e, reporter := newReportEnv(t, st, app, "d1")
			a, b := reporter(st), reporter(st)
			if err := a.Report(ctx, e.run.ID); err != nil {
				t.Fatal(err)
			}
			e.finish(t, st)
			for _, r := range []*Reporter{a, b, reporter(st)} {
				if err := r.Report(ctx, e.run.ID); err != nil {
					t.Fatal(err)
				}
			}
			if app {
				crs := e.gh.CheckRuns("o/r")
				if len(crs) != 1 || crs[0].Status != "completed" || crs[0].Conclusion != "success" {
					t.Errorf("check runs: %+v; want one, completed with success", crs)
				}
				return
			}
			n, last := e.finals()
			for _, ctxName := range []string{"hookci/CI", "hookci/CI / build"} {
				if n[ctxName] != 1 || last[ctxName] != "success" {
					t.Errorf("%s: %d final statuses, last %q; want 1, success (all: %+v)", ctxName, n[ctxName], last[ctxName],
						e.gh.Statuses("o/r", e.sha))
				}
			}
		})
	}
}

// TestReportsOrderedAcrossHosts: two hosts on one PostgreSQL database report
// one run from many workers at once while it moves from queued to success;
// the reports of a run hold a lock shared by the hosts, so GitHub's last
// status is the run's last state and the final one is sent once.
func TestReportsOrderedAcrossHosts(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	stA, err := store.Open(ctx, t.TempDir(), store.Options{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer stA.Close()
	stB, err := store.Open(ctx, t.TempDir(), store.Options{DatabaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer stB.Close()
	for round := range 5 {
		e, reporter := newReportEnv(t, stA, false, fmt.Sprint("d", round))
		reporters := []*Reporter{reporter(stA), reporter(stB)}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 4 {
					if err := reporters[i%2].Report(ctx, e.run.ID); err != nil {
						t.Error(err)
					}
				}
			}()
			if i == 3 {
				e.finish(t, stA)
			}
		}
		wg.Wait()
		// The last report after the finish, as the job's end enqueues one.
		if err := reporters[round%2].Report(ctx, e.run.ID); err != nil {
			t.Fatal(err)
		}
		n, last := e.finals()
		if n["hookci/CI"] != 1 || last["hookci/CI"] != "success" {
			t.Errorf("round %d: %d final statuses, last %q; want 1, success (all: %+v)", round, n["hookci/CI"], last["hookci/CI"],
				e.gh.Statuses("o/r", e.sha))
		}
	}
}

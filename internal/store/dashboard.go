package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The dashboard's reads (internal/web's overview, runs list and deliveries
// pages). Every one is answered from an index (the dashboard migration),
// so a page costs the same with a hundred runs or a hundred thousand: the
// runs list pages by keyset on (filter column, id) (and on (repo, branch,
// id), (repo, workflow, id) for the usual pairs; other combinations walk one
// filter's index and test the others), the overview reads the
// last 24 hours through created_at/received_at and the queue through
// jobs(status, created_at). bench/dashboard measures them.

// sqliteDashboardMigration adds what a run's list row shows and filters on but
// the run row did not hold (the actor, the branch, the commit's title, all
// from the delivery that made the run; setRunFacts fills them for new runs),
// back-fills them from the stored payloads, and indexes every filter.
const sqliteDashboardMigration = `ALTER TABLE runs ADD COLUMN actor TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN branch TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN title TEXT NOT NULL DEFAULT '';
	UPDATE runs SET
		actor = COALESCE((SELECT json_extract(CAST(payload AS TEXT), '$.sender.login') FROM deliveries d
			WHERE d.id = runs.delivery_id AND json_valid(CAST(payload AS TEXT))), ''),
		branch = CASE WHEN ref LIKE 'refs/heads/%' THEN substr(ref, 12) ELSE COALESCE((SELECT
			json_extract(CAST(payload AS TEXT), '$.pull_request.head.ref') FROM deliveries d
			WHERE d.id = runs.delivery_id AND json_valid(CAST(payload AS TEXT))), '') END;
	CREATE INDEX runs_repo_id ON runs(repo, id);
	CREATE INDEX runs_branch_id ON runs(branch, id);
	CREATE INDEX runs_workflow_id ON runs(workflow_file, id);
	CREATE INDEX runs_event_id ON runs(event, id);
	CREATE INDEX runs_status_id ON runs(status, id);
	CREATE INDEX runs_conclusion_id ON runs(conclusion, id);
	CREATE INDEX runs_actor_id ON runs(actor, id);
	CREATE INDEX runs_repo_branch_id ON runs(repo, branch, id);
	CREATE INDEX runs_repo_workflow_id ON runs(repo, workflow_file, id);
	CREATE INDEX runs_created ON runs(created_at);
	CREATE INDEX jobs_status_created ON jobs(status, created_at);
	CREATE INDEX deliveries_received ON deliveries(received_at);`

// postgresDashboardMigration is the same on PostgreSQL. Its back-fill takes
// the branch from the ref only: a PostgreSQL store starts empty or is filled
// by "hookci store copy", which copies these columns from a migrated SQLite
// store.
const postgresDashboardMigration = `ALTER TABLE runs ADD COLUMN actor TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN branch TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN title TEXT NOT NULL DEFAULT '';
	UPDATE runs SET branch = substr(ref, 12) WHERE ref LIKE 'refs/heads/%';
	CREATE INDEX runs_repo_id ON runs(repo, id);
	CREATE INDEX runs_branch_id ON runs(branch, id);
	CREATE INDEX runs_workflow_id ON runs(workflow_file, id);
	CREATE INDEX runs_event_id ON runs(event, id);
	CREATE INDEX runs_status_id ON runs(status, id);
	CREATE INDEX runs_conclusion_id ON runs(conclusion, id);
	CREATE INDEX runs_actor_id ON runs(actor, id);
	CREATE INDEX runs_repo_branch_id ON runs(repo, branch, id);
	CREATE INDEX runs_repo_workflow_id ON runs(repo, workflow_file, id);
	CREATE INDEX runs_created ON runs(created_at);
	CREATE INDEX jobs_status_created ON jobs(status, created_at);
	CREATE INDEX deliveries_received ON deliveries(received_at);`

// RunItem is a run as the runs list shows it.
type RunItem struct {
	Run
	Actor  string // who made the delivery (sender.login)
	Branch string // the branch (a pull request's head branch) or tag: GitHub's head_branch
	Title  string // the head commit's first line, or the pull request's title
}

// RunFilter narrows a runs list; "" fields do not filter. Status is a
// status (queued, in_progress, completed, waiting, pending) or a conclusion
// (success, failure, cancelled, skipped, timed_out), as GitHub's filter.
type RunFilter struct {
	Repo, Branch, Workflow, Event, Status, Actor string
}

// RunStatuses are the values RunFilter.Status accepts.
var RunStatuses = []string{StatusQueued, StatusInProgress, StatusCompleted, StatusWaiting, StatusPending,
	ConclusionSuccess, ConclusionFailure, ConclusionCancelled, ConclusionSkipped, ConclusionTimedOut}

const runItemColumns = runColumns + `, actor, branch, title`

func scanRunItem(sc interface{ Scan(...any) error }) (RunItem, error) {
	var it RunItem
	var c, s, f int64
	r := &it.Run
	err := sc.Scan(&r.ID, &r.DeliveryID, &r.Repo, &r.WorkflowFile, &r.WorkflowName, &r.RunName, &r.Event, &r.SHA,
		&r.Ref, &r.PRNumber, &r.RunNumber, &r.Attempt, &r.Status, &r.Conclusion, &r.Message, &c, &s, &f, &r.Concurrency,
		&r.CancelInProgress, &r.FirstID, &it.Actor, &it.Branch, &it.Title)
	r.CreatedAt, r.StartedAt, r.FinishedAt = fromMS(c), fromMS(s), fromMS(f)
	return it, err
}

// RunItems lists up to limit runs matching f, the latest attempt of each,
// newest first, with ids below before (0: from the newest). Each filter has
// an index on (column, id), so page 1,000 is found as fast as page 1; the
// latest-attempt test is a probe of runs_attempts per row.
func (q *Queries) RunItems(ctx context.Context, f RunFilter, before int64, limit int) ([]RunItem, error) {
	conds := []string{latestAttempt}
	var args []any
	add := func(cond string, v any) {
		conds = append(conds, cond)
		args = append(args, v)
	}
	if f.Repo != "" {
		add("repo = ?", f.Repo)
	}
	if f.Branch != "" {
		add("branch = ?", f.Branch)
	}
	if f.Workflow != "" {
		wf := f.Workflow
		if !strings.Contains(wf, "/") {
			wf = ".github/workflows/" + wf
		}
		add("workflow_file = ?", wf)
	}
	if f.Event != "" {
		add("event = ?", f.Event)
	}
	switch f.Status {
	case "":
	case StatusQueued, StatusInProgress, StatusCompleted, StatusWaiting, StatusPending:
		add("status = ?", f.Status)
	default:
		add("conclusion = ?", f.Status)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if before > 0 {
		add("id < ?", before)
	}
	where := "WHERE " + strings.Join(conds, " AND ")
	return queryAll(ctx, q.db, scanRunItem, `SELECT `+runItemColumns+` FROM runs `+where+` ORDER BY id DESC LIMIT ?`,
		append(args, limit)...)
}

// RunItemsForDeliveries lists the runs each delivery made, by delivery id.
func (q *Queries) RunItemsForDeliveries(ctx context.Context, ids []string) (map[string][]RunItem, error) {
	out := map[string][]RunItem{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	items, err := queryAll(ctx, q.db, scanRunItem, `SELECT `+runItemColumns+` FROM runs WHERE delivery_id IN (`+marks+`) ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		out[it.DeliveryID] = append(out[it.DeliveryID], it)
	}
	return out, nil
}

// setRunFacts fills a new run's actor, branch and title from its delivery,
// and its first_id.
func (q *Queries) setRunFacts(ctx context.Context, r *Run) error {
	var payload []byte
	err := q.db.QueryRowContext(ctx, `SELECT payload FROM deliveries WHERE id = ?`, r.DeliveryID).Scan(&payload)
	if err != nil {
		payload = nil // a run without a stored delivery (tests, local runs) keeps the ref's branch only
	}
	actor, branch, title := RunFacts(payload, r.Ref)
	if r.FirstID == 0 { // a first attempt: its own id is the run's (runattempts.go)
		r.FirstID = r.ID
	}
	if _, err := q.db.ExecContext(ctx, `UPDATE runs SET actor = ?, branch = ?, title = ?, first_id = ? WHERE id = ?`,
		actor, branch, title, r.FirstID, r.ID); err != nil {
		return fmt.Errorf("store: run facts: %w", err)
	}
	return nil
}

// RunFacts reads from a webhook payload who made it, the branch and the
// title a runs list shows: sender.login; the pull request's head branch,
// else the branch or tag of ref; the pull request's title, else the head commit's
// first line. A payload that does not decode gives only the ref's branch.
func RunFacts(payload []byte, ref string) (actor, branch, title string) {
	var p struct {
		Sender struct {
			Login string `json:"login"`
		} `json:"sender"`
		HeadCommit *struct {
			Message string `json:"message"`
		} `json:"head_commit"`
		PullRequest *struct {
			Title string `json:"title"`
			Head  struct {
				Ref string `json:"ref"`
			} `json:"head"`
		} `json:"pull_request"`
	}
	if len(payload) > 0 && json.Unmarshal(payload, &p) == nil {
		actor = p.Sender.Login
		if p.PullRequest != nil {
			branch, title = p.PullRequest.Head.Ref, p.PullRequest.Title
		}
		if title == "" && p.HeadCommit != nil {
			title, _, _ = strings.Cut(p.HeadCommit.Message, "\n")
		}
	}
	if branch == "" {
		// A tag's run has the tag's name, as GitHub's head_branch, which its
		// runs list's ?branch= matches (a tag push's run is found by the tag).
		branch, _ = strings.CutPrefix(ref, "refs/heads/")
		branch, _ = strings.CutPrefix(branch, "refs/tags/")
		if strings.HasPrefix(branch, "refs/") {
			branch = ""
		}
	}
	return actor, branch, truncate(strings.TrimSpace(title), 300)
}

// Overview is the dashboard's summary of the store.
type Overview struct {
	LastDelivery     time.Time           // when the newest webhook was received (zero: none)
	QueuedJobs       int                 // jobs waiting for a sandbox
	OldestQueued     time.Time           // when the longest-waiting of them was queued (zero: none)
	WaitingJobs      int                 // jobs waiting for their needs
	RunningJobs      int                 // jobs in progress
	Deliveries       map[string]int      // deliveries since Since by status
	Runs             map[string]int      // runs created since Since by conclusion (status while unfinished)
	Finished         int                 // runs created since Since that completed
	Succeeded        int                 // of them, with success
	Repos            map[string]*RepoDay // the same figures per repository ("" : deliveries naming none)
	Workflows        []WorkflowStat      // per workflow, over runs finished since Since
	RecentFailures   []RunItem           // the newest failed runs
	Since            time.Time
	RecentFailureCap int
}

// RepoDay is one repository's share of the overview's period.
type RepoDay struct {
	Deliveries map[string]int
	Runs       map[string]int
	Finished   int
	Succeeded  int
}

func (o *Overview) repo(name string) *RepoDay {
	d := o.Repos[name]
	if d == nil {
		d = &RepoDay{Deliveries: map[string]int{}, Runs: map[string]int{}}
		o.Repos[name] = d
	}
	return d
}

// WorkflowStat is one workflow's run durations over the overview's period.
type WorkflowStat struct {
	Repo, Workflow string
	Runs           int
	Failed         int
	P50, P95       time.Duration
}

// Overview summarises the store since since, with up to failures recent failed runs.
func (q *Queries) Overview(ctx context.Context, since time.Time, failures int) (*Overview, error) {
	o := &Overview{Deliveries: map[string]int{}, Runs: map[string]int{}, Repos: map[string]*RepoDay{}, Since: since,
		RecentFailureCap: failures}
	var last int64
	if err := q.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(received_at), 0) FROM deliveries`).Scan(&last); err != nil {
		return nil, fmt.Errorf("store: overview: %w", err)
	}
	o.LastDelivery = fromMS(last)
	for _, c := range []struct {
		status string
		n      *int
	}{{StatusQueued, &o.QueuedJobs}, {StatusWaiting, &o.WaitingJobs}, {StatusInProgress, &o.RunningJobs}} {
		if err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE status = ?`, c.status).Scan(c.n); err != nil {
			return nil, fmt.Errorf("store: overview: %w", err)
		}
	}
	var oldest int64
	if err := q.db.QueryRowContext(ctx, `SELECT COALESCE(MIN(created_at), 0) FROM jobs WHERE status = ?`, StatusQueued).Scan(&oldest); err != nil {
		return nil, fmt.Errorf("store: overview: %w", err)
	}
	o.OldestQueued = fromMS(oldest)
	if err := eachRow(ctx, q.db, func(sc interface{ Scan(...any) error }) error {
		var repo, st string
		var n int
		if err := sc.Scan(&repo, &st, &n); err != nil {
			return err
		}
		o.Deliveries[st] += n
		o.repo(repo).Deliveries[st] += n
		return nil
	}, `SELECT repo, status, COUNT(*) FROM deliveries WHERE received_at >= ? GROUP BY repo, status`, ms(since)); err != nil {
		return nil, err
	}
	type key struct{ repo, wf string }
	durs := map[key][]time.Duration{}
	failed := map[key]int{}
	if err := eachRow(ctx, q.db, func(sc interface{ Scan(...any) error }) error {
		var repo, wf, status, concl string
		var started, finished int64
		if err := sc.Scan(&repo, &wf, &status, &concl, &started, &finished); err != nil {
			return err
		}
		rd := o.repo(repo)
		if status != StatusCompleted {
			o.Runs[status]++
			rd.Runs[status]++
			return nil
		}
		o.Runs[concl]++
		rd.Runs[concl]++
		o.Finished++
		rd.Finished++
		k := key{repo, wf}
		if concl == ConclusionSuccess {
			o.Succeeded++
			rd.Succeeded++
		} else if concl == ConclusionFailure || concl == ConclusionTimedOut {
			failed[k]++
		}
		if started > 0 && finished >= started {
			durs[k] = append(durs[k], time.Duration(finished-started)*time.Millisecond)
		} else if _, ok := durs[k]; !ok {
			durs[k] = nil
		}
		return nil
	}, `SELECT repo, workflow_name, status, conclusion, started_at, finished_at FROM runs WHERE created_at >= ?`, ms(since)); err != nil {
		return nil, err
	}
	for k, d := range durs {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		o.Workflows = append(o.Workflows, WorkflowStat{Repo: k.repo, Workflow: k.wf, Runs: len(d), Failed: failed[k],
			P50: percentile(d, 50), P95: percentile(d, 95)})
	}
	sort.Slice(o.Workflows, func(i, j int) bool {
		a, b := o.Workflows[i], o.Workflows[j]
		if a.Repo != b.Repo {
			return a.Repo < b.Repo
		}
		return a.Workflow < b.Workflow
	})
	var err error
	o.RecentFailures, err = q.RunItems(ctx, RunFilter{Status: ConclusionFailure}, 0, failures)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// percentile is the nearest-rank p-th percentile of sorted d (0 when empty).
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (p*len(d) + 99) / 100 // ceil(p/100 × n)
	return d[max(i-1, 0)]
}

// eachRow runs a query and calls fn for each row.
func eachRow(ctx context.Context, db execer, fn func(interface{ Scan(...any) error }) error, query string, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return rows.Err()
}

// LastLogSeq is the seq of a job's newest log chunk (0: none).
func (q *Queries) LastLogSeq(ctx context.Context, jobID int64) (int64, error) {
	var n int64
	err := q.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM log_chunks WHERE job_id = ?`, jobID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: last log seq: %w", err)
	}
	return n, nil
}

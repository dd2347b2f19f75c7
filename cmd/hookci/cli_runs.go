package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// cliRun and cliJob are the fields of the API's runs and jobs the CLI shows.
type cliRun struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	DisplayTitle string    `json:"display_title"`
	Path         string    `json:"path"`
	HeadBranch   string    `json:"head_branch"`
	HeadSHA      string    `json:"head_sha"`
	RunNumber    int       `json:"run_number"`
	RunAttempt   int       `json:"run_attempt"`
	Event        string    `json:"event"`
	Status       string    `json:"status"`
	Conclusion   *string   `json:"conclusion"`
	HTMLURL      string    `json:"html_url"`
	CreatedAt    time.Time `json:"created_at"`
	Actor        struct {
		Login string `json:"login"`
	} `json:"actor"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

type cliJob struct {
	ID         int64   `json:"id"`
	RunID      int64   `json:"run_id"`
	Name       string  `json:"name"`
	Status     string  `json:"status"`
	Conclusion *string `json:"conclusion"`
}

// parseInterspersed parses flags anywhere among the arguments (hookci
// cancel 12 --json) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// cmdRuns implements `hookci runs [--repo OWNER/NAME] [--branch B] [--event E]
// [--status S] [--actor A] [--sha SHA] [--limit N] [--page P] [--json]`.
func cmdRuns(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	repo := fs.String("repo", "", "only this repository (`owner/name`)")
	branch := fs.String("branch", "", "only runs of this `branch`")
	event := fs.String("event", "", "only runs of this `event` (push, pull_request, workflow_dispatch…)")
	status := fs.String("status", "", "only runs with this `status` or conclusion (completed, in_progress, queued, success, failure, cancelled…)")
	actor := fs.String("actor", "", "only runs started by this `login`")
	sha := fs.String("sha", "", "only runs of this `commit`")
	limit := fs.Int("limit", 20, "at most `n` runs (1–100)")
	pageN := fs.Int("page", 1, "page `p` of the list")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hookci runs [--repo OWNER/NAME] [filters] [--json]")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 || *limit < 1 || *limit > 100 || *pageN < 1 || (*repo != "" && !strings.Contains(*repo, "/")) {
		fs.Usage()
		return exitUsage
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintln(stderr, "hookci runs:", err)
		return exitUsage
	}
	q := url.Values{}
	for k, v := range map[string]string{"branch": *branch, "event": *event, "status": *status, "actor": *actor, "head_sha": *sha} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("per_page", strconv.Itoa(*limit))
	q.Set("page", strconv.Itoa(*pageN))
	path := "/api/actions/runs"
	if *repo != "" {
		path = "/api/repos/" + *repo + "/actions/runs"
	}
	var list struct {
		TotalCount int               `json:"total_count"`
		Runs       []json.RawMessage `json:"workflow_runs"`
	}
	if err := c.getJSON(ctx, path+"?"+q.Encode(), &list); err != nil {
		return cliFail(stderr, "runs", err)
	}
	if cf.json {
		cliJSON(stdout, list)
		return exitOK
	}
	p := painter(cliIsTTY(stdout))
	header := []string{p.header("STATUS"), "ID", "WORKFLOW", "RUN", "BRANCH", "EVENT", "COMMIT", "ACTOR", "CREATED", "TITLE"}
	if *repo == "" {
		header = append(header[:2:2], append([]string{"REPOSITORY"}, header[2:]...)...)
	}
	now := time.Now()
	var rows [][]string
	for _, raw := range list.Runs {
		var r cliRun
		if err := json.Unmarshal(raw, &r); err != nil {
			return cliFail(stderr, "runs", err)
		}
		row := []string{p.state(r.Status, r.Conclusion), strconv.FormatInt(r.ID, 10), r.Name,
			fmt.Sprintf("#%d.%d", r.RunNumber, r.RunAttempt), r.HeadBranch, r.Event, cliShort(r.HeadSHA, 7), r.Actor.Login,
			cliAgo(r.CreatedAt, now), cliOneLine(r.DisplayTitle, 60)}
		if *repo == "" {
			row = append(row[:2:2], append([]string{r.Repository.FullName}, row[2:]...)...)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "no runs")
		return exitOK
	}
	cliTable(stdout, header, rows)
	if shown := (*pageN-1)*(*limit) + len(rows); shown < list.TotalCount {
		fmt.Fprintf(stdout, "(%d of %d; --page %d for more)\n", shown, list.TotalCount, *pageN+1)
	}
	return exitOK
}

func cliShort(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func cliOneLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// target is a run or job named on the command line: 12, run:12 or job:45
// (--job makes a bare number a job).
func parseTarget(s string, job bool) (kind string, id int64, ok bool) {
	kind = "run"
	if job {
		kind = "job"
	}
	if k, rest, found := strings.Cut(s, ":"); found {
		if k != "run" && k != "job" {
			return "", 0, false
		}
		kind, s = k, rest
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return kind, id, err == nil && id > 0
}

// cmdLogs implements `hookci logs RUN|job:JOB [--job] [--follow]`: a job's
// log, or every job's of a run, as plain text; --follow streams until the
// job (run) ends, and the exit status says whether it succeeded.
func cmdLogs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	follow := fs.Bool("follow", false, "stream the log until the job (every job of the run) ends; exit 1 unless it succeeded")
	asJob := fs.Bool("job", false, "the id is a job's, not a run's")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hookci logs [--follow] RUN | job:JOB")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	kind, id, ok := parseTarget(pos[0], *asJob)
	if !ok {
		fmt.Fprintf(stderr, "hookci logs: %q: want a run id, run:ID or job:ID\n", pos[0])
		return exitUsage
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintln(stderr, "hookci logs:", err)
		return exitUsage
	}
	if kind == "job" {
		concl, err := c.jobLog(ctx, id, *follow, stdout)
		if err != nil {
			return cliFail(stderr, "logs", err)
		}
		if *follow && concl != "success" {
			return exitFailed
		}
		return exitOK
	}
	done := map[int64]bool{}
	for {
		var jobs struct {
			Jobs []cliJob `json:"jobs"`
		}
		if err := c.getJSON(ctx, fmt.Sprintf("/api/actions/runs/%d/jobs", id), &jobs); err != nil {
			return cliFail(stderr, "logs", err)
		}
		for _, j := range jobs.Jobs {
			if done[j.ID] {
				continue
			}
			done[j.ID] = true
			fmt.Fprintf(stdout, "==> %s (job %d) <==\n", j.Name, j.ID)
			if _, err := c.jobLog(ctx, j.ID, *follow, stdout); err != nil {
				return cliFail(stderr, "logs", err)
			}
		}
		var run cliRun
		if err := c.getJSON(ctx, fmt.Sprintf("/api/actions/runs/%d", id), &run); err != nil {
			return cliFail(stderr, "logs", err)
		}
		if !*follow {
			return exitOK
		}
		if run.Status == "completed" {
			if run.Conclusion != nil && *run.Conclusion == "success" {
				return exitOK
			}
			return exitFailed
		}
		// Legs created since (matrix, a later activation): list again.
		select {
		case <-ctx.Done():
			return exitFailed
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// jobLog writes a job's log to w; following, it streams the server's
// server-sent events (GET /api/jobs/{id}/log/stream) until the job ends and
// returns its conclusion.
func (c *apiClient) jobLog(ctx context.Context, id int64, follow bool, w io.Writer) (string, error) {
	if !follow {
		resp, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/actions/jobs/%d/logs", id), nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		_, err = io.Copy(w, resp.Body)
		return "", err
	}
	var after int64
	for {
		end, err := c.streamOnce(ctx, id, &after, w)
		if err != nil || end != nil {
			if end != nil {
				return *end, nil
			}
			var ae *apiError
			if errors.As(err, &ae) || ctx.Err() != nil {
				return "", err
			}
		}
		// The stream broke off (a proxy's timeout, a restart): go on after the last event.
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// streamOnce reads one connection of a job's log stream from *after on; it
// returns the conclusion when the stream ended with the job.
func (c *apiClient) streamOnce(ctx context.Context, id int64, after *int64, w io.Writer) (*string, error) {
	resp, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/jobs/%d/log/stream?after=%d", id, *after), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var event, data, lastID string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, "id: "):
			lastID = strings.TrimPrefix(line, "id: ")
		case line == "":
			switch event {
			case "log":
				var chunk struct {
					Data string `json:"data"`
				}
				if json.Unmarshal([]byte(data), &chunk) == nil {
					io.WriteString(w, chunk.Data)
				}
				if n, err := strconv.ParseInt(lastID, 10, 64); err == nil {
					*after = n
				}
			case "end":
				var concl string
				json.Unmarshal([]byte(data), &concl)
				return &concl, nil
			}
			event, data = "", ""
		}
	}
	return nil, sc.Err()
}

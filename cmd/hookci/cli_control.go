package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// cmdCancel implements `hookci cancel RUN | job:JOB`.
func cmdCancel(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cancel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hookci cancel RUN | job:JOB")
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
	kind, id, ok := parseTarget(pos[0], false)
	if !ok {
		fmt.Fprintf(stderr, "hookci cancel: %q: want a run id or job:ID\n", pos[0])
		return exitUsage
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintln(stderr, "hookci cancel:", err)
		return exitUsage
	}
	resp, err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/actions/%ss/%d/cancel", kind, id), nil)
	if err != nil {
		return cliFail(stderr, "cancel", err)
	}
	resp.Body.Close()
	if cf.json {
		cliJSON(stdout, map[string]any{"kind": kind, "id": id, "cancelling": true})
	} else {
		fmt.Fprintf(stdout, "cancelling %s %d\n", kind, id)
	}
	return exitOK
}

// cmdRerun implements `hookci rerun RUN [--failed]` and `hookci rerun
// job:JOB`: a new attempt of the run, printed with the run's id (kept
// across attempts, as on GitHub) and the new attempt's number.
func cmdRerun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rerun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	failed := fs.Bool("failed", false, "re-run only the failed and cancelled jobs and those that depend on them")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hookci rerun [--failed] RUN | job:JOB")
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
	kind, id, ok := parseTarget(pos[0], false)
	if !ok || (kind == "job" && *failed) {
		fmt.Fprintf(stderr, "hookci rerun: %q: want a run id (with --failed) or job:ID\n", pos[0])
		return exitUsage
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintln(stderr, "hookci rerun:", err)
		return exitUsage
	}
	path := fmt.Sprintf("/api/actions/runs/%d/rerun", id)
	switch {
	case kind == "job":
		path = fmt.Sprintf("/api/actions/jobs/%d/rerun", id)
	case *failed:
		path = fmt.Sprintf("/api/actions/runs/%d/rerun-failed-jobs", id)
	}
	resp, err := c.do(ctx, http.MethodPost, path, nil)
	if err != nil {
		return cliFail(stderr, "rerun", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Path == "" {
		return cliFail(stderr, "rerun", fmt.Errorf("the server did not say which run it started"))
	}
	var run cliRun
	if err := c.getJSON(ctx, loc.Path, &run); err != nil {
		return cliFail(stderr, "rerun", err)
	}
	if cf.json {
		cliJSON(stdout, run)
		return exitOK
	}
	fmt.Fprintf(stdout, "run %d: attempt %d of %s #%d (%s)\n", run.ID, run.RunAttempt, run.Name, run.RunNumber, run.HTMLURL)
	return exitOK
}

// inputFlags collects -f name=value.
type inputFlags map[string]any

func (f inputFlags) String() string { return "" }

func (f inputFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	f[name] = value
	return nil
}

// cmdDispatch implements `hookci dispatch OWNER/NAME WORKFLOW [--ref REF] [-f
// name=value]…`: a workflow_dispatch run of WORKFLOW (its file name, e.g.
// deploy.yml) at REF; the server checks the inputs against the workflow's.
func cmdDispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dispatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	ref := fs.String("ref", "main", "the branch or tag to run the workflow at")
	inputs := inputFlags{}
	fs.Var(inputs, "f", "an input, `name=value` (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hookci dispatch OWNER/NAME WORKFLOW [--ref REF] [-f name=value]…")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 2 || !strings.Contains(pos[0], "/") || strings.Contains(pos[1], "/") && !strings.HasPrefix(pos[1], ".github/workflows/") {
		fs.Usage()
		return exitUsage
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintln(stderr, "hookci dispatch:", err)
		return exitUsage
	}
	file := strings.TrimPrefix(pos[1], ".github/workflows/")
	path := "/api/repos/" + pos[0] + "/actions/workflows/" + url.PathEscape(file) + "/dispatches"
	resp, err := c.do(ctx, http.MethodPost, path, map[string]any{"ref": *ref, "inputs": map[string]any(inputs)})
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity {
		code := cliFail(stderr, "dispatch", err)
		c.printInputs(ctx, stderr, pos[0], file, *ref)
		return code
	}
	if err != nil {
		return cliFail(stderr, "dispatch", err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Hookci-Delivery")
	if cf.json {
		cliJSON(stdout, map[string]any{"repository": pos[0], "workflow": file, "ref": *ref, "delivery": id})
		return exitOK
	}
	fmt.Fprintf(stdout, "dispatched %s on %s of %s (delivery %s)\n", file, *ref, pos[0], id)
	return exitOK
}

// printInputs lists a workflow's declared inputs (after a refused dispatch),
// if the server can say.
func (c *apiClient) printInputs(ctx context.Context, w io.Writer, repo, file, ref string) {
	var wf struct {
		DispatchInputs []struct {
			Name     string   `json:"name"`
			Type     string   `json:"type"`
			Required bool     `json:"required"`
			Default  *string  `json:"default"`
			Options  []string `json:"options"`
		} `json:"dispatch_inputs"`
	}
	if c.getJSON(ctx, "/api/repos/"+repo+"/actions/workflows/"+url.PathEscape(file)+"?ref="+url.QueryEscape(ref), &wf) != nil ||
		len(wf.DispatchInputs) == 0 {
		return
	}
	fmt.Fprintf(w, "inputs of %s:\n", file)
	for _, in := range wf.DispatchInputs {
		var notes []string
		if in.Required {
			notes = append(notes, "required")
		}
		if in.Default != nil {
			notes = append(notes, "default "+strconv.Quote(*in.Default))
		}
		if len(in.Options) > 0 {
			notes = append(notes, "one of "+strings.Join(in.Options, ", "))
		}
		fmt.Fprintf(w, "  -f %s=<%s>  %s\n", in.Name, in.Type, strings.Join(notes, "; "))
	}
}

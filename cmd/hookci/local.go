package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/config"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/trace"
)

// listFlag collects repeated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	*l = append(*l, filepath.ToSlash(filepath.Clean(s)))
	return nil
}

// kvFlag collects repeated NAME=VALUE flags.
type kvFlag map[string]string

func (k kvFlag) String() string { return "" }
func (k kvFlag) Set(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	k[name] = val
	return nil
}

// runLocal is `hookci run`: the workflows of a local repository, triggered by
// an event, through the same planner, dispatcher and runner as the server.
func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, endTrace, err := withTrace(ctx, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, "hookci run:", err)
		return 2
	}
	defer endTrace()
	endConfig := trace.Begin(ctx, "config")
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	event := fs.String("event", "push", "event name")
	eventFile := fs.String("event-file", "", "JSON payload of the event (default: one made from the repository)")
	job := fs.String("job", "", "run only this job (and the jobs it needs)")
	var workflows listFlag
	fs.Var(&workflows, "workflow", "run only this workflow file or directory, relative to the repository (repeatable)")
	sandboxName := fs.String("sandbox", "host", "sandbox backend: host, namespace, microvm")
	cfgPath := fs.String("config", "", "TOML config file (vars, secrets, env, sandbox settings)")
	dataDir := fs.String("data-dir", "", "keep the store and caches here (default: a temporary directory)")
	secrets, vars, env := kvFlag{}, kvFlag{}, kvFlag{}
	fs.Var(secrets, "secret", "secret NAME=VALUE (repeatable)")
	fs.Var(vars, "var", "variable NAME=VALUE for the vars context (repeatable)")
	fs.Var(env, "env", "environment NAME=VALUE for every job (repeatable)")
	verbose := fs.Bool("v", false, "log what the server parts do")
	anyLabel := fs.Bool("run-any-label", false, "run jobs whose runs-on labels no backend serves (windows-latest, macos-latest, arm64 on x64, "+
		"custom labels) on Linux anyway; by default they fail with \"no runner for labels [...]\"")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir := "."
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "hookci run: at most one directory")
		return 2
	} else if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	cfg, err := config.Load(*cfgPath, os.LookupEnv)
	endConfig()
	if err != nil {
		fmt.Fprintln(stderr, "hookci run:", err)
		return 2
	}
	cfg.Sandbox = *sandboxName
	cfg.AnyLabel = cfg.AnyLabel || *anyLabel
	merge := func(dst *map[string]string, src map[string]string) {
		if *dst == nil {
			*dst = map[string]string{}
		}
		for k, v := range src {
			(*dst)[k] = v
		}
	}
	merge(&cfg.Secrets, secrets)
	merge(&cfg.Vars, vars)
	merge(&cfg.Env, env)
	cfg.GitHubToken, cfg.GitHubAppID, cfg.GitHubAppKeyFile = "", 0, "" // never report local runs
	opts := serverOptions{onlyJob: *job, onlyWorkflows: workflows, noListen: true}
	if *dataDir == "" {
		opts.scratch = true // nothing in it to prune
		tmp, err := os.MkdirTemp("", "hookci-run-")
		if err != nil {
			fmt.Fprintln(stderr, "hookci run:", err)
			return 1
		}
		defer func() {
			defer trace.Begin(ctx, "remove the scratch directory")()
			os.RemoveAll(tmp)
		}()
		*dataDir = tmp
	}
	cfg.DataDir = *dataDir
	cfg.WarmSandboxes = 0 // one-shot: nothing to keep warm for
	cfg.DatabaseURL = ""  // a local run keeps its scratch store in its own SQLite
	// Someone is waiting at the terminal: a planning failure is reported
	// after a few quick retries, not after the server's hours of backoff.
	cfg.PlanRetryMin, cfg.PlanRetryMax, cfg.PlanRetryBudget = config.Duration(100*time.Millisecond),
		config.Duration(500*time.Millisecond), config.Duration(2*time.Second)
	if cfg.SQLiteSync == "" {
		// A kept --data-dir survives hookci crashing, not the machine; a
		// scratch one (opts.scratch) is not synced at all (store.Options.Scratch).
		cfg.SQLiteSync = "normal"
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ok, err := localRun(ctx, cfg, log, dir, *event, *eventFile, opts, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "hookci run:", err)
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

func localRun(ctx context.Context, cfg config.Config, log *slog.Logger, dir, event, eventFile string, opts serverOptions, out io.Writer) (bool, error) {
	wt, err := openWorktree(dir)
	if err != nil {
		return false, err
	}
	// The snapshot's git processes run beside the wiring (on another core).
	type snap struct {
		sha, branch string
		err         error
	}
	snapped := make(chan snap, 1)
	go func() {
		defer trace.Begin(ctx, "snapshot of the working tree (git)")()
		sha, branch, err := snapshot(wt)
		snapped <- snap{sha, branch, err}
	}()
	endWire := trace.Begin(ctx, "server wiring (store, sandboxes, actions)")
	if err := prepareLocalStore(ctx, cfg.DataDir, log); err != nil {
		log.Debug("no prepared store: migrating a new one", "err", err)
	}
	s, err := newServer(ctx, cfg, log, opts)
	endWire()
	sn := <-snapped
	if err != nil {
		return false, err
	}
	defer func() {
		defer trace.Begin(ctx, "close (queue stop, store close)")()
		s.close()
	}()
	if sn.err != nil {
		return false, sn.err
	}
	sha, root := sn.sha, wt.root
	payload, repo, err := localPayload(root, event, eventFile, sha, sn.branch)
	if err != nil {
		return false, err
	}
	s.git.SetCloneURL(repo, "file://"+root)
	// The planning mirror reads the repository's own objects rather than
	// copying them (it is thrown away with the data directory); a kept
	// --data-dir whose mirror exists already fetches as before.
	if err := s.git.Borrow(ctx, repo, wt.gitDir); err != nil {
		log.Debug("planning mirror fetches instead of borrowing", "err", err)
	}
	id := fmt.Sprintf("local-%d", time.Now().UnixNano())
	d := store.Delivery{ID: id, Event: event, Repo: repo, ReceivedAt: time.Now(), Payload: payload, Status: store.DeliveryQueued}
	var p struct {
		Action string `json:"action"`
	}
	json.Unmarshal(payload, &p)
	d.Action = p.Action
	endAdd := trace.Begin(ctx, "store the delivery")
	_, err = s.store.AddDelivery(ctx, d, true)
	endAdd()
	if err != nil {
		return false, err
	}
	endStart := trace.Begin(ctx, "queue start")
	err = s.start(ctx)
	endStart()
	if err != nil {
		return false, err
	}
	defer trace.Begin(ctx, "follow (planning to run completed)")()
	fmt.Fprintf(out, "hookci: planning %s of %s at %.12s\n", event, repo, sha)
	// Planning retries for PlanRetryBudget, an attempt may take the
	// planning timeout: past both, stop waiting whatever the queue says.
	limit := time.Duration(cfg.PlanRetryBudget) + time.Duration(cfg.PlanRetryMax) + planAttemptLimit
	return follow(ctx, s.store, id, out, limit) // woken by the store's writes, no poll
}

// localPayload is the event file (with this commit put in), or a payload made
// from the repository.
func localPayload(root, event, eventFile, sha, branch string) ([]byte, string, error) {
	p := map[string]any{}
	if eventFile != "" {
		b, err := os.ReadFile(eventFile)
		if err != nil {
			return nil, "", err
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, "", fmt.Errorf("%s: %w", eventFile, err)
		}
	}
	repoObj, _ := p["repository"].(map[string]any)
	if repoObj == nil {
		repoObj = map[string]any{}
		p["repository"] = repoObj
	}
	full, _ := repoObj["full_name"].(string)
	if !strings.Contains(full, "/") {
		full = "local/" + sanitize(filepath.Base(root))
		repoObj["full_name"] = full
	}
	owner, name, _ := strings.Cut(full, "/")
	setDefault(repoObj, "name", name)
	setDefault(repoObj, "owner", map[string]any{"login": owner})
	setDefault(repoObj, "default_branch", branch)
	setDefault(p, "sender", map[string]any{"login": owner})
	ref := "refs/heads/" + branch
	switch event {
	case "push":
		setDefault(p, "ref", ref)
		setDefault(p, "before", strings.Repeat("0", 40))
		p["after"] = sha
		setDefault(p, "head_commit", map[string]any{"id": sha, "message": "local run"})
	case "pull_request", "pull_request_target":
		setDefault(p, "action", "opened")
		setDefault(p, "number", 1.0)
		pr, _ := p["pull_request"].(map[string]any)
		if pr == nil {
			pr = map[string]any{}
			p["pull_request"] = pr
		}
		setDefault(pr, "number", p["number"])
		head, _ := pr["head"].(map[string]any)
		if head == nil {
			head = map[string]any{}
			pr["head"] = head
		}
		head["sha"] = sha
		setDefault(head, "ref", branch)
		setDefault(head, "repo", map[string]any{"full_name": full})
		base, _ := pr["base"].(map[string]any)
		if base == nil {
			base = map[string]any{}
			pr["base"] = base
		}
		base["sha"] = sha
		setDefault(base, "ref", branch)
		setDefault(base, "repo", map[string]any{"full_name": full})
	default:
		setDefault(p, "ref", ref)
	}
	b, err := json.Marshal(p)
	return b, full, err
}

func setDefault(m map[string]any, k string, v any) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "repo"
	}
	return b.String()
}

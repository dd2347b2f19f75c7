package dispatch

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// noteSchedules re-reads a repository's schedule when a push to its default
// branch arrives, and the first time any delivery of a repository whose
// schedule is unknown names its default branch.
func (d *Dispatcher) noteSchedules(ctx context.Context, ev *event, log *slog.Logger) error {
	if ev.Name == "schedule" || ev.Name == "workflow_run" || d.cfg.NoSchedules {
		return nil
	}
	// A push is the repository activity the 60-day rule counts; any
	// delivery that states the visibility records it.
	if ev.Name == "push" || ev.Public != nil {
		if err := d.cfg.Store.Queries().NoteRepoActivity(ctx, ev.Repo, ev.Public, d.clock(), ev.Name == "push"); err != nil {
			return err
		}
	}
	if ev.DefaultBranch == "" {
		return nil
	}
	branchRef := "refs/heads/" + ev.DefaultBranch
	if ev.Name == "push" && ev.Ref == branchRef && !isZeroSHA(ev.SHA) {
		return d.registerSchedules(ctx, ev.Repo, ev.DefaultBranch, ev.SHA, ev.Actor)
	}
	known, err := d.cfg.Store.Queries().ScheduleRepos(ctx)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(known, func(r store.ScheduleRepo) bool { return r.Repo == ev.Repo }) {
		return nil
	}
	sha, err := d.cfg.Git.ResolveRef(ctx, ev.Repo, branchRef)
	if err != nil {
		log.Warn("schedules: cannot resolve the default branch", "branch", ev.DefaultBranch, "err", err)
		return nil // the next push to the default branch registers them
	}
	return d.registerSchedules(ctx, ev.Repo, ev.DefaultBranch, sha, "")
}

// RegisterSchedules makes the on.schedule crons of the workflows at sha (the
// default branch's head) repo's schedule, and records which workflows' runs
// workflow_run triggers listen to and which events the workflows run on. An
// invalid workflow contributes nothing (GitHub does not schedule it either).
func (d *Dispatcher) RegisterSchedules(ctx context.Context, repo, branch, sha string) error {
	return d.registerSchedules(ctx, repo, branch, sha, "")
}

// registerSchedules is RegisterSchedules; actor (who pushed sha, "" when
// unknown) becomes the actor of the crons sha adds.
func (d *Dispatcher) registerSchedules(ctx context.Context, repo, branch, sha, actor string) error {
	mirror, err := d.cfg.Git.Fetch(ctx, repo, sha)
	if err != nil {
		return fmt.Errorf("schedules of %s: %w", repo, err)
	}
	files, err := mirror.ListFiles(ctx, sha, workflowsDir)
	if err != nil {
		return fmt.Errorf("schedules of %s: %w", repo, err)
	}
	now := d.clock()
	var entries []store.Schedule
	listens, events := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".yml") && !strings.HasSuffix(f, ".yaml") {
			continue
		}
		wf, err := d.loadWorkflow(ctx, mirror, sha, f)
		if errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err != nil {
			continue
		}
		for _, t := range wf.On {
			events[t.Event] = true
		}
		if t := wf.Trigger("workflow_run"); t != nil {
			for _, w := range t.Workflows {
				listens[w] = true
			}
		}
		t := wf.Trigger("schedule")
		if t == nil {
			continue
		}
		name := wf.Name
		if name == "" {
			name = f
		}
		for _, s := range t.Schedules {
			c, err := workflow.ParseCron(s.Cron, s.Timezone)
			if err != nil {
				continue
			}
			entries = append(entries, store.Schedule{Repo: repo, WorkflowFile: f, WorkflowName: name, Cron: s.Cron,
				Timezone: s.Timezone, NextAt: c.Next(now), Actor: actor})
		}
	}
	names, evs := slices.Sorted(maps.Keys(listens)), slices.Sorted(maps.Keys(events))
	err = d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		if err := q.ReplaceSchedules(ctx, repo, branch, sha, entries, now); err != nil {
			return err
		}
		return q.SetWorkflowRunListeners(ctx, repo, names, evs)
	})
	if err == nil {
		d.log.Info("schedules read", "repo", repo, "branch", branch, "sha", sha, "crons", len(entries))
	}
	return err
}

// RefreshSchedules re-reads the schedule of every repository whose default
// branch moved since its schedule was read, and reads it for repositories
// deliveries came from whose schedule was never read (serve calls it at
// start).
func (d *Dispatcher) RefreshSchedules(ctx context.Context) error {
	q := d.cfg.Store.Queries()
	repos, err := q.ScheduleRepos(ctx)
	if err != nil {
		return err
	}
	seen, err := q.DeliveryRepos(ctx)
	if err != nil {
		return err
	}
	for _, r := range seen {
		if slices.ContainsFunc(repos, func(k store.ScheduleRepo) bool { return k.Repo == r }) {
			continue
		}
		if b := d.defaultBranchOf(ctx, q, r); b != "" {
			repos = append(repos, store.ScheduleRepo{Repo: r, DefaultBranch: b})
		}
	}
	var errs []error
	for _, r := range repos {
		sha, err := d.cfg.Git.ResolveRef(ctx, r.Repo, "refs/heads/"+r.DefaultBranch)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Repo, err))
			continue
		}
		if sha == r.SHA {
			continue
		}
		if err := d.RegisterSchedules(ctx, r.Repo, r.DefaultBranch, sha); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// clock is the dispatcher's time (Config.Now, else the wall clock).
func (d *Dispatcher) clock() time.Time {
	if d.cfg.Now != nil {
		return d.cfg.Now().UTC()
	}
	return time.Now().UTC()
}

// FireSchedules starts every schedule that is due at the dispatcher's clock,
// once: each firing is claimed in the store (only while the schedule's last
// firing is still the one read, so two schedulers on one database cannot
// both fire it) together with the synthesized schedule delivery that plans
// the run through the normal path. A schedule missed for a while (hookci
// was down) fires once, for its latest missed time. It returns how many
// schedules fired.
func (d *Dispatcher) FireSchedules(ctx context.Context) (int, error) {
	q := d.cfg.Store.Queries()
	scheds, err := q.Schedules(ctx, "")
	if err != nil {
		return 0, err
	}
	repos, err := q.ScheduleRepos(ctx)
	if err != nil {
		return 0, err
	}
	branch := map[string]string{}
	for _, r := range repos {
		branch[r.Repo] = r.DefaultBranch
	}
	now := d.clock()
	fired := 0
	var errs []error
	states := map[string]map[string]store.WorkflowState{}
	for _, s := range scheds {
		st, ok := states[s.Repo]
		if !ok {
			if st, err = q.WorkflowStates(ctx, s.Repo); err != nil {
				errs = append(errs, err)
				continue
			}
			states[s.Repo] = st
		}
		ws := st[s.WorkflowFile]
		if ws.Disabled() {
			// A disabled workflow's slots pass without a run (and without
			// a catch-up run when it is enabled again).
			if err := d.skipSchedule(ctx, s, now, ws.State); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if inactive, err := d.inactive(ctx, s.Repo, now); err != nil {
			errs = append(errs, err)
			continue
		} else if inactive {
			changed, err := q.DisableInactiveWorkflow(ctx, s.Repo, s.WorkflowFile, now)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if changed {
				d.log.Warn("schedule: workflow disabled for inactivity (a public repository without a push for 60 days, as GitHub's rule); enable it to run again",
					"repo", s.Repo, "workflow", s.WorkflowFile)
			}
			st[s.WorkflowFile] = store.WorkflowState{State: store.WorkflowDisabledInactivity, UpdatedAt: now}
			if err := d.skipSchedule(ctx, s, now, store.WorkflowDisabledInactivity); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		var enabled time.Time
		if ws.State == store.WorkflowActive {
			enabled = ws.UpdatedAt
		}
		ok, err := d.fireSchedule(ctx, s, branch[s.Repo], now, enabled)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			fired++
		}
	}
	return fired, errors.Join(errs...)
}

// fireSchedule fires s if it is due at now. enabled is when its workflow
// was last enabled again (zero: never disabled): its matches count from
// the later of then and its last firing, so the slots it was disabled in
// never run.
func (d *Dispatcher) fireSchedule(ctx context.Context, s store.Schedule, branch string, now, enabled time.Time) (bool, error) {
	c, err := workflow.ParseCron(s.Cron, s.Timezone)
	if err != nil {
		return false, nil // registration keeps only valid crons
	}
	ran := !s.LastFired.IsZero()
	base := s.RegisteredAt
	if ran {
		base = s.LastFired
	}
	if enabled.After(base) {
		base, ran = enabled, false
	}
	at, due := c.Due(base, ran, now)
	if !due {
		if !at.Equal(s.NextAt) {
			return false, d.cfg.Store.Queries().SetScheduleNext(ctx, s, at)
		}
		return false, nil
	}
	body, _ := json.Marshal(map[string]any{
		"schedule": s.Cron, "workflow": s.WorkflowFile,
		"repository": map[string]any{"full_name": s.Repo, "default_branch": branch},
		"sender":     map[string]any{"login": cmp.Or(s.Actor, "hookci-scheduler")},
	})
	key := sha256.Sum256([]byte(s.Repo + "\x00" + s.WorkflowFile + "\x00" + s.Cron + "\x00" + s.Timezone))
	id := fmt.Sprintf("schedule-%s-%d", hex.EncodeToString(key[:8]), at.Unix())
	won := false
	err = d.cfg.Store.InTx(ctx, func(q *store.Queries) error {
		var err error
		if won, err = q.ClaimSchedule(ctx, s, at, c.NextAfterRun(at)); err != nil || !won {
			return err
		}
		dup, err := q.AddDeliveryTx(ctx, store.Delivery{ID: id, Event: "schedule", Repo: s.Repo, ReceivedAt: now,
			Payload: body, Message: "schedule " + s.Cron + " of " + s.WorkflowFile})
		won = !dup
		return err
	})
	if err != nil {
		return false, fmt.Errorf("schedule %q of %s %s: %w", s.Cron, s.Repo, s.WorkflowFile, err)
	}
	if won {
		d.log.Info("schedule fired", "repo", s.Repo, "workflow", s.WorkflowFile, "cron", s.Cron, "for", at, "delivery", id)
	}
	return won, nil
}

// inactivityWindow is GitHub's rule: "In a public repository, scheduled
// workflows are automatically disabled when no repository activity has
// occurred in 60 days."
const inactivityWindow = 60 * 24 * time.Hour

// inactive reports whether repo is public and had no activity (push, or a
// workflow enabled) for inactivityWindow before now. A repository whose
// visibility or activity hookci never saw is not.
func (d *Dispatcher) inactive(ctx context.Context, repo string, now time.Time) (bool, error) {
	last, public, known, err := d.cfg.Store.Queries().RepoActivity(ctx, repo)
	if err != nil || !known || !public {
		return false, err
	}
	return now.Sub(last) > inactivityWindow, nil
}

// skipSchedule lets a due slot of a disabled workflow's cron pass: the
// slot is claimed as fired, with no delivery and no run.
func (d *Dispatcher) skipSchedule(ctx context.Context, s store.Schedule, now time.Time, state string) error {
	c, err := workflow.ParseCron(s.Cron, s.Timezone)
	if err != nil {
		return nil
	}
	base := s.RegisteredAt
	if !s.LastFired.IsZero() {
		base = s.LastFired
	}
	at, due := c.Due(base, !s.LastFired.IsZero(), now)
	if !due {
		return nil
	}
	won, err := d.cfg.Store.Queries().ClaimSchedule(ctx, s, at, c.NextAfterRun(at))
	if err != nil {
		return fmt.Errorf("schedule %q of %s %s: %w", s.Cron, s.Repo, s.WorkflowFile, err)
	}
	if won {
		d.log.Info("schedule not fired: the workflow is disabled", "repo", s.Repo, "workflow", s.WorkflowFile, "cron", s.Cron, "for", at, "state", state)
	}
	return nil
}

// RunScheduler fires due schedules every interval (a minute is GitHub's
// cron resolution) until ctx ends.
func (d *Dispatcher) RunScheduler(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := d.FireSchedules(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("scheduler", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// defaultBranchOf reads a repository's default branch from its recent
// deliveries ("" when none names it).
func (d *Dispatcher) defaultBranchOf(ctx context.Context, q *store.Queries, repo string) string {
	payloads, err := q.RecentPayloads(ctx, repo, 20)
	if err != nil {
		return ""
	}
	for _, b := range payloads {
		var p struct {
			Repository payloadRepo `json:"repository"`
		}
		if json.Unmarshal(b, &p) == nil && p.Repository.DefaultBranch != "" {
			return p.Repository.DefaultBranch
		}
	}
	return ""
}

// machineEvents are frequent events other systems make (checks, statuses):
// planned only when a default-branch workflow runs on them.
var machineEvents = map[string]bool{"check_run": true, "check_suite": true, "status": true}

// screen runs before planning an event: it says why the event starts
// nothing without reading the repository (the payload says so, or a
// machine-made event no default-branch workflow runs on), and keeps the
// repository's schedule current (noteSchedules).
func (d *Dispatcher) screen(ctx context.Context, ev *event, log *slog.Logger) (string, error) {
	if ev.Skip != "" {
		return ev.Skip, nil
	}
	if err := d.noteSchedules(ctx, ev, log); err != nil {
		return "", err
	}
	if !machineEvents[ev.Name] {
		return "", nil
	}
	events, known, err := d.cfg.Store.Queries().TriggerEvents(ctx, ev.Repo)
	if err != nil || !known || slices.Contains(events, ev.Name) {
		return "", err
	}
	return "no workflow of the default branch runs on " + ev.Name, nil
}

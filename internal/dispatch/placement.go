package dispatch

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/sandbox/backends"
	"github.com/hookci/hookci/internal/store"
)

// Placement: which host runs a queued job. Every host fetches from one
// queue; before a job takes a sandbox, place decides whether this host
// takes it or gives it back to the queue (store.WaitError, not an attempt):
//   - labels (shared store only): a host takes a job only when its registry
//     entry covers every runs-on label (hostCovers); when another host's
//     entry covers them the job goes back for it, with the reason on the
//     job row ("waiting for a host serving …", naming whether such hosts
//     are alive). When no registered host covers them, this host decides
//     (Choose fails the job with the reason, as on one host).
//   - fairness (any store): a repository already running its share of the
//     live hosts' job slots (the slots divided among the repositories with
//     jobs running or queued) gives a job back while another repository has
//     a job queued, so one repository's 500 jobs do not starve another's
//     single one. A job given back is queued again behind the jobs queued
//     before it, the other repository's included. This check and the job's
//     start it allows hold a lock shared by every host (holdPlacement), so
//     two slots freed at once are not both given to one repository.

// placeWait is how long a job given back waits before it is offered again.
const placeWait = time.Second

// place returns nil when this host should run job in now, else a
// *store.WaitError.
func (d *Dispatcher) place(ctx context.Context, in *jobInput, labels []string) error {
	if !d.cfg.Store.Shared() {
		return nil
	}
	hosts, err := d.cfg.Store.Queries().Hosts(ctx)
	if err != nil {
		return err
	}
	if w := d.placeByLabels(ctx, in, labels, hosts); w != nil {
		return w
	}
	return nil
}

// holdPlacement checks the job's fair share (placeFairly) and, when it may
// start, returns a release to call once the job is recorded as in
// progress: until then no other job's check runs, in this process or on
// any host sharing the store. Without it two slots freed at once were both
// given to one repository (each host counted the other's start as not yet
// running) while another repository's job waited (TestFairShareAcrossRepos
// failed about one run in five).
func (d *Dispatcher) holdPlacement(ctx context.Context, in *jobInput) (func(), error) {
	d.placing.Lock()
	unlock, err := d.cfg.Store.LockAcrossHosts(ctx, "placement")
	if err != nil {
		d.placing.Unlock()
		return nil, err
	}
	release := func() { unlock(); d.placing.Unlock() }
	hosts, err := d.cfg.Store.Queries().Hosts(ctx)
	if err == nil {
		err = d.placeFairly(ctx, in, hosts)
	}
	if err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// placeByLabels gives the job back when this host does not cover its labels
// and some other registered host does.
func (d *Dispatcher) placeByLabels(ctx context.Context, in *jobInput, labels []string, hosts []store.Host) error {
	self := d.cfg.Store.HostID()
	var alive, dead []string
	for _, h := range hosts {
		if !hostCovers(h.Labels, labels) {
			continue
		}
		if h.ID == self {
			return nil
		}
		if h.Alive {
			alive = append(alive, h.Name)
		} else {
			dead = append(dead, h.Name)
		}
	}
	var reason string
	switch {
	case len(alive) > 0:
		reason = fmt.Sprintf("%s runs-on [%s] (alive: %s)", store.WaitingForHost, strings.Join(labels, ", "), strings.Join(alive, ", "))
	case len(dead) > 0:
		reason = fmt.Sprintf("%s runs-on [%s]: none is alive (last seen: %s)", store.WaitingForHost, strings.Join(labels, ", "),
			strings.Join(dead, ", "))
	default:
		return nil // nobody covers them: Choose says why
	}
	if err := d.cfg.Store.Queries().SetJobWaiting(ctx, in.job.ID, reason); err != nil {
		return err
	}
	return &store.WaitError{After: placeWait, Reason: reason}
}

// hostCovers reports whether a host with registry labels hostLabels serves
// every one of a job's runs-on labels: a label it names (a [labels.<label>]
// whose backend works there, case ignored), or one the default Linux
// backends serve on its architecture ("arch:<goarch>", this host's when
// the entry has none).
func hostCovers(hostLabels, labels []string) bool {
	arch := ""
	for _, l := range hostLabels {
		if a, ok := strings.CutPrefix(l, "arch:"); ok {
			arch = a
		}
	}
	for _, l := range labels {
		if slices.ContainsFunc(hostLabels, func(h string) bool { return strings.EqualFold(h, l) }) {
			continue
		}
		if (arch == "" || arch == runtime.GOARCH) && backends.DefaultServes(l) {
			continue
		}
		return false
	}
	return true
}

// placeFairly gives the job back when its repository already runs its
// share of the live slots while another repository has a job queued.
func (d *Dispatcher) placeFairly(ctx context.Context, in *jobInput, hosts []store.Host) error {
	slots := 0
	for _, h := range hosts {
		if h.Alive {
			slots += max(h.MaxJobs, 1)
		}
	}
	loads, err := d.cfg.Store.Queries().RepoLoads(ctx)
	if err != nil {
		return err
	}
	othersWait := false
	for repo, l := range loads {
		if repo != in.run.Repo && l.Queued > 0 {
			othersWait = true
		}
	}
	if !othersWait || len(loads) == 0 {
		return nil
	}
	share := max(slots/len(loads), 1)
	if running := loads[in.run.Repo].Running; running >= share {
		return &store.WaitError{After: placeWait, Reason: fmt.Sprintf("repository %s runs %d jobs, its share of %d slots among %d repositories",
			in.run.Repo, running, slots, len(loads))}
	}
	return nil
}

package dispatch

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookci/hookci/internal/gitrepo"
	"github.com/hookci/hookci/internal/runner"
	"github.com/hookci/hookci/internal/store"
	"github.com/hookci/hookci/internal/workflow"
)

// Reusable workflows (jobs.<id>.uses). A calling job is a job row like any
// other (store.BackendCall from its creation, so reports leave it out). When
// one of its legs is picked up, RunJob expands it instead of running it
// (expandCall): the called workflow is read at the caller's commit (local
// ./.github/workflows/x.yml) or fetched (owner/repo/.github/workflows/x.yml@ref,
// never with the server's credential for another repository), with: and
// secrets: are checked and evaluated, and every job of the called workflow
// becomes a waiting row of the same run, keyed under the caller leg:
//
//	<caller key>#<caller row id>[@<called commit>]/<called job id>
//
// so that a called job's key names the whole chain of calls (nesting is the
// same rule again) and the commit a remote workflow was resolved to. advance
// activates those rows as their needs (within the called workflow) finish
// (advanceCalls), and when all of a caller leg's jobs are over the leg
// completes with their aggregate result and the called workflow's
// on.workflow_call.outputs as its outputs. A called job is named
// "<caller leg name> / <called job name>", as GitHub names it.

// callScope is one called workflow as seen from a caller leg: what the jobs
// whose keys start with prefix run with.
type callScope struct {
	wf      *workflow.Workflow
	caller  *workflow.Job // the calling job (nil for the run's own workflow)
	ev      *event        // the run's event with this scope's inputs context and scope
	repo    string        // the repository the workflow file belongs to
	sha     string        // its commit
	file    string        // its path in repo
	prefix  string        // key prefix of its jobs ("" for the run's own workflow)
	name    string        // display prefix of its jobs ("" for the run's own workflow)
	depth   int           // 1 for the run's own workflow
	secrets map[string]string
	// perms is the token permissions of the caller leg (App names): the most
	// this workflow's jobs get; nil for the run's own workflow.
	perms map[string]string
	chain []string // repo:file of this workflow and every caller above it
}

// callSeg is one call in a called job's key.
type callSeg struct {
	id  string // the calling job's id in its workflow
	row int64  // the caller leg's row
	sha string // the called workflow's commit when it is remote
}

// isCallKey reports whether a job key belongs to a called workflow.
func isCallKey(key string) bool { return strings.Contains(key, "/") }

// parseCallKey splits a called job's key into its calls and its own id.
func parseCallKey(key string) ([]callSeg, string, error) {
	parts := strings.Split(key, "/")
	var segs []callSeg
	for _, p := range parts[:len(parts)-1] {
		id, rest, ok := strings.Cut(p, "#")
		if !ok {
			return nil, "", fmt.Errorf("malformed called job key %q", key)
		}
		rowStr, sha, _ := strings.Cut(rest, "@")
		row, err := strconv.ParseInt(rowStr, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("malformed called job key %q", key)
		}
		segs = append(segs, callSeg{id: id, row: row, sha: sha})
	}
	return segs, parts[len(parts)-1], nil
}

// callPrefix is the key prefix of the jobs a caller leg calls.
func callPrefix(caller store.Job, sha string) string {
	p := caller.Key + "#" + strconv.FormatInt(caller.ID, 10)
	if sha != "" {
		p += "@" + sha
	}
	return p + "/"
}

// topScope is the run's own workflow as a scope.
func (d *Dispatcher) topScope(run *store.Run, wf *workflow.Workflow, ev *event) *callScope {
	secrets := map[string]string{}
	if !ev.Fork && d.cfg.Secrets != nil { // pull requests from forks never see secrets
		for k, v := range d.cfg.Secrets(run.Repo) {
			secrets[k] = v
		}
	}
	return &callScope{wf: wf, ev: ev, repo: run.Repo, sha: run.SHA, file: run.WorkflowFile, depth: 1,
		secrets: secrets, chain: []string{run.Repo + ":" + run.WorkflowFile}}
}

// scopeFor walks the calls of a key from the run's own workflow to the
// called workflow they lead to.
func (d *Dispatcher) scopeFor(ctx context.Context, q *store.Queries, run *store.Run, top *callScope, segs []callSeg) (*callScope, error) {
	cur := top
	for _, s := range segs {
		row, err := q.Job(ctx, s.row)
		if err != nil {
			return nil, err
		}
		next, err := d.enterCall(ctx, q, run, cur, row, s.sha)
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

// enterCall builds the scope a caller leg (a row of parent) calls, reading
// the called workflow at sha (remote) or at parent's commit (local). It
// evaluates with: and secrets: in the caller leg's contexts.
func (d *Dispatcher) enterCall(ctx context.Context, q *store.Queries, run *store.Run, parent *callScope, row store.Job, sha string) (*callScope, error) {
	_, leaf, err := splitLeaf(row.Key)
	if err != nil {
		return nil, err
	}
	wj := parent.wf.Job(leaf)
	if wj == nil || wj.Uses == "" {
		return nil, fmt.Errorf("workflow %s has no calling job %q", parent.file, leaf)
	}
	ref, err := workflow.ParseCallRef(wj.Uses)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", parent.file, err)
	}
	repo := parent.repo
	if ref.Local {
		sha = parent.sha
	} else {
		repo = ref.Repo
	}
	called, err := d.calledWorkflow(ctx, run, parent.ev.Fork, repo, sha, ref.Path)
	if err != nil {
		return nil, err
	}
	jobs, err := q.RunJobs(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	leg, err := workflow.ParseCombination(row.Matrix)
	if err != nil {
		return nil, err
	}
	needs := needsIn(groupJobs(jobs), parent.prefix, wj)
	env := d.jobExprEnv(parent.ev, run, wj, needs, leg)
	inputs, err := workflow.CallInputs(parent.file, wj, called, env)
	if err != nil {
		return nil, callError(parent.file, ref, err)
	}
	env.Contexts["secrets"] = stringMap(parent.secrets)
	secrets, err := workflow.CallSecrets(parent.file, wj, called, parent.secrets, env)
	if err != nil {
		return nil, callError(parent.file, ref, err)
	}
	callerPerms, _ := jobPermissions(parent.wf.Permissions, wj.Permissions, d.cfg.PermissiveDefault, parent.ev.Fork)
	if parent.perms != nil {
		callerPerms = parent.capPermissions(callerPerms, parent.wf.Permissions == nil && wj.Permissions == nil)
	}
	sc := &callScope{wf: called, caller: wj, repo: repo, sha: sha, file: ref.Path, depth: parent.depth + 1, secrets: secrets, perms: callerPerms,
		prefix: callPrefix(row, remoteSHA(ref, sha)), name: row.Name + " / ",
		chain: append(append([]string{}, parent.chain...), repo+":"+ref.Path)}
	ev := *parent.ev
	ev.Inputs, ev.call = inputs, sc
	sc.ev = &ev
	return sc, nil
}

func remoteSHA(ref workflow.CallRef, sha string) string {
	if ref.Local {
		return ""
	}
	return sha
}

// splitLeaf returns the calls above a key and its own job id.
func splitLeaf(key string) ([]callSeg, string, error) {
	if !isCallKey(key) {
		return nil, key, nil
	}
	return parseCallKey(key)
}

// callError says which call failed, as GitHub does.
func callError(file string, ref workflow.CallRef, err error) error {
	return fmt.Errorf("error parsing called workflow %q -> %q: %w", file, ref.String(), err)
}

// needsIn is the needs context of wj, a job of the scope with key prefix.
func needsIn(keys map[string]*keyState, prefix string, wj *workflow.Job) map[string]runner.NeedResult {
	needs := map[string]runner.NeedResult{}
	for _, n := range wj.Needs {
		if ks := keys[strings.ToLower(prefix+n)]; ks != nil {
			needs[n] = runner.NeedResult{Result: ks.result(), Outputs: ks.outputs()}
		}
	}
	return needs
}

// calledWorkflow reads a called workflow file at a commit: the run's own
// repository through the planning mirror; another repository without any
// credential, unless it is a private one GitHub's access rules share with
// the run's repository (readWithServerCredential).
func (d *Dispatcher) calledWorkflow(ctx context.Context, run *store.Run, fork bool, repo, sha, file string) (*workflow.Workflow, error) {
	key := repo + "@" + sha + ":" + file
	d.mu.Lock()
	wf, ok := d.workflows[key]
	d.mu.Unlock()
	if ok {
		return wf, nil
	}
	own, err := d.readWithServerCredential(ctx, run, fork, repo)
	if err != nil {
		return nil, err
	}
	var m *gitrepo.Mirror
	if own {
		m, err = d.cfg.Git.Fetch(ctx, repo, sha)
	} else {
		m, err = d.cfg.Git.FetchAs(ctx, repo, "", sha)
	}
	if err != nil {
		return nil, fmt.Errorf("fetching %s@%s: %w", repo, sha, err)
	}
	return d.loadWorkflow(ctx, m, sha, file)
}

// resolveCall returns the commit a remote call's ref names (asked of the
// git server: the run's own repository, or a private one shared with it,
// with the server's credential, any other with none), or the caller's
// commit for a local call.
func (d *Dispatcher) resolveCall(ctx context.Context, run *store.Run, parent *callScope, ref workflow.CallRef) (repo, sha string, err error) {
	if ref.Local {
		return parent.repo, parent.sha, nil
	}
	if gitrepo.ValidSHA(strings.ToLower(ref.Ref)) {
		return ref.Repo, strings.ToLower(ref.Ref), nil
	}
	own, err := d.readWithServerCredential(ctx, run, parent.ev.Fork, ref.Repo)
	if err != nil {
		return "", "", err
	}
	var lastErr error
	for _, full := range []string{"refs/tags/" + ref.Ref, "refs/heads/" + ref.Ref} {
		if own {
			sha, err = d.cfg.Git.ResolveRef(ctx, ref.Repo, full)
		} else {
			sha, err = d.cfg.Git.ResolveRefAs(ctx, ref.Repo, full, "")
		}
		if err == nil {
			return ref.Repo, sha, nil
		}
		lastErr = err
	}
	return "", "", fmt.Errorf("resolving %s: %w", ref.String(), lastErr)
}

// scopeOfKey returns the scope a (possibly called) job key belongs to and
// the job's own id.
func (d *Dispatcher) scopeOfKey(ctx context.Context, q *store.Queries, run *store.Run, wf *workflow.Workflow, ev *event, key string) (*callScope, string, error) {
	segs, leaf, err := splitLeaf(key)
	if err != nil {
		return nil, "", err
	}
	sc, err := d.scopeFor(ctx, q, run, d.topScope(run, wf, ev), segs)
	return sc, leaf, err
}

// levels orders permission levels.
var levels = map[string]int{"": 0, "none": 0, "read": 1, "write": 2}

// capPermissions limits a called job's permissions to its caller's: a job
// (and workflow) that sets none gets the caller's (inherit), any other gets
// the lower of the two per scope, as GitHub only lets a called workflow
// reduce them.
func (sc *callScope) capPermissions(perms map[string]string, inherit bool) map[string]string {
	if sc.perms == nil {
		return perms
	}
	out := map[string]string{}
	if inherit {
		for k, v := range sc.perms {
			out[k] = v
		}
		return out
	}
	for k, v := range perms {
		if c := sc.perms[k]; levels[c] < levels[v] {
			v = c
		}
		if levels[v] > 0 {
			out[k] = v
		}
	}
	out["metadata"] = "read"
	return out
}
